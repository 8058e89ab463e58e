const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 6 });

export function formatCount(n: number | undefined | null): string {
  return n === undefined || n === null ? '–' : integer.format(n);
}

export function formatAmount(n: number | undefined | null): string {
  return n === undefined || n === null ? '–' : decimal.format(n);
}

/** RFC 3339 → "2024-01-01 00:00:00.000Z" (UTC, readable, sortable). */
export function formatTime(iso: string | undefined | null): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ');
}

/** A <input type="datetime-local"> value (taken as UTC) → RFC 3339, or undefined. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const d = new Date(value.length === 16 ? `${value}:00Z` : `${value}Z`);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

export function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
