// Display formatting. Numbers use the user's locale (the browser's language,
// so tests in jsdom and Chromium are deterministic); amounts go through
// decimal.ts and never through a JS number.
import { formatExact } from './decimal';

export function userLocale(): string | undefined {
  return typeof navigator !== 'undefined' ? navigator.language || undefined : undefined;
}

let integerFormat: Intl.NumberFormat | undefined;

export function formatCount(n: number | undefined | null): string {
  if (n === undefined || n === null) return '–';
  integerFormat ??= new Intl.NumberFormat(userLocale(), { maximumFractionDigits: 0 });
  return integerFormat.format(n);
}

/** An amount from its exact text (preferred) or its number, grouped for the user's locale. */
export function formatAmount(exact: string | undefined | null, numeric?: number | null): string {
  return formatExact(exact, numeric, userLocale());
}

let rateFormat: Intl.NumberFormat | undefined;

/** A rate or other measured (not stored) number, one decimal. */
export function formatRate(n: number): string {
  rateFormat ??= new Intl.NumberFormat(userLocale(), { maximumFractionDigits: 1 });
  return rateFormat.format(n);
}

export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
