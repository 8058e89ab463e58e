// Exact amounts. The API sends every amount twice: as a JSON number (which
// JSON.parse turns into a double and may round) and as exact decimal text
// (the *Exact fields). Everything shown or exported uses the text, and is
// formatted here digit by digit — never through a JS number — with the
// user's locale for grouping, decimal separator, minus sign and digits.

/** A decimal split into sign, integer digits (no leading zeros) and fraction digits (no trailing zeros). */
export interface DecimalParts {
  negative: boolean;
  int: string;
  frac: string;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** Parses plain or exponent decimal text exactly; undefined when it is not a decimal number. */
export function parseDecimal(text: string): DecimalParts | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const [, sign, intDigits = '', fracDigits = '', exp] = m;
  if (intDigits === '' && fracDigits === '') return undefined;
  let digits = intDigits + fracDigits;
  let point = intDigits.length; // position of the decimal point within digits
  if (exp !== undefined) point += Number(exp);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  } else if (point > digits.length) {
    digits += '0'.repeat(point - digits.length);
  }
  const int = digits.slice(0, point).replace(/^0+/, '') || '0';
  const frac = digits.slice(point).replace(/0+$/, '');
  return { negative: sign === '-' && (int !== '0' || frac !== ''), int, frac };
}

/** The canonical text of a decimal ("-1200.5"). */
export function decimalString(p: DecimalParts): string {
  return `${p.negative ? '-' : ''}${p.int}${p.frac ? `.${p.frac}` : ''}`;
}

/**
 * The exact text of an amount: the API's *Exact string when present, else the
 * shortest text of the number (servers older than the string fields). Undefined
 * when there is no amount.
 */
export function exactText(exact: string | undefined | null, numeric: number | undefined | null): string | undefined {
  if (typeof exact === 'string' && exact !== '') return exact;
  if (typeof numeric === 'number' && Number.isFinite(numeric)) {
    const p = parseDecimal(String(numeric));
    return p ? decimalString(p) : undefined;
  }
  return undefined;
}

interface LocaleSymbols {
  grouping: Intl.NumberFormat;
  decimal: string;
  minus: string;
  digits: string[];
}

const symbolsCache = new Map<string, LocaleSymbols>();

function symbols(locale: string | undefined): LocaleSymbols {
  const key = locale ?? '';
  let s = symbolsCache.get(key);
  if (!s) {
    const grouping = new Intl.NumberFormat(locale, { useGrouping: true, maximumFractionDigits: 0 });
    const part = (n: number, type: Intl.NumberFormatPartTypes, fallback: string) =>
      new Intl.NumberFormat(locale, { minimumFractionDigits: 1 }).formatToParts(n).find((p) => p.type === type)?.value ?? fallback;
    s = {
      grouping,
      decimal: part(1.5, 'decimal', '.'),
      minus: part(-1.5, 'minusSign', '-'),
      digits: Array.from({ length: 10 }, (_, d) => grouping.format(d)),
    };
    symbolsCache.set(key, s);
  }
  return s;
}

/**
 * Formats exact decimal text with locale grouping, exactly: every digit of
 * the input is kept (trailing fractional zeros are dropped; they do not
 * change the value). Text that is not a decimal is returned unchanged.
 */
export function formatDecimal(text: string, locale?: string): string {
  const p = parseDecimal(text);
  if (!p) return text;
  const s = symbols(locale);
  // Intl formats a BigInt exactly, with the locale's grouping (e.g. en-IN 12,34,567).
  const int = s.grouping.format(BigInt(p.int));
  const frac = p.frac ? s.decimal + [...p.frac].map((d) => s.digits[Number(d)]).join('') : '';
  return `${p.negative ? s.minus : ''}${int}${frac}`;
}

/** formatDecimal of an amount's exact text, or "–" when there is none. */
export function formatExact(exact: string | undefined | null, numeric: number | undefined | null, locale?: string): string {
  const text = exactText(exact, numeric);
  return text === undefined ? '–' : formatDecimal(text, locale);
}

/** Orders two decimal texts by value (for sorting); unparsable text sorts first. */
export function compareDecimal(a: string, b: string): number {
  const x = parseDecimal(a);
  const y = parseDecimal(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  if (x.negative !== y.negative) return x.negative ? -1 : 1;
  const sign = x.negative ? -1 : 1;
  if (x.int.length !== y.int.length) return sign * (x.int.length - y.int.length);
  if (x.int !== y.int) return sign * (x.int < y.int ? -1 : 1);
  const width = Math.max(x.frac.length, y.frac.length);
  const fx = x.frac.padEnd(width, '0');
  const fy = y.frac.padEnd(width, '0');
  return fx === fy ? 0 : sign * (fx < fy ? -1 : 1);
}
