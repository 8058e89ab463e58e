// Display time zones. Tally stores and queries instants in UTC; the chosen
// zone (UTC by default) only changes how instants are shown and how a
// custom range typed as wall-clock time is read. Everything goes through
// Intl, so daylight-saving rules are the browser's, with no library.

export const UTC = 'UTC';

const partsCache = new Map<string, Intl.DateTimeFormat>();

function wallFormat(tz: string): Intl.DateTimeFormat {
  let f = partsCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsCache.set(tz, f);
  }
  return f;
}

/** True when the browser knows this IANA zone name. */
export function isTimeZone(tz: string): boolean {
  if (!tz) return false;
  try {
    wallFormat(tz);
    return true;
  } catch {
    return false;
  }
}

/** UTC first, then every zone the browser knows. */
export function timeZones(): string[] {
  const known = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return [UTC, ...known.filter((z) => z !== UTC && z !== 'Etc/UTC')];
}

/** The browser's own zone (for the "local" shortcut). */
export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || UTC;
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallOf(ms: number, tz: string): Wall {
  const out: Record<string, number> = {};
  for (const p of wallFormat(tz).formatToParts(new Date(ms))) if (p.type !== 'literal') out[p.type] = Number(p.value);
  return {
    year: out.year ?? 1970,
    month: out.month ?? 1,
    day: out.day ?? 1,
    hour: out.hour ?? 0,
    minute: out.minute ?? 0,
    second: out.second ?? 0,
  };
}

/** Offset of the zone from UTC at an instant, in ms (Berlin in summer: +7_200_000). */
export function zoneOffsetMs(ms: number, tz: string): number {
  const w = wallOf(ms, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (ms - (((ms % 1000) + 1000) % 1000));
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** "2024-01-01 13:05:09" (with ".123" when millis) as wall-clock time in the zone. */
export function formatInstant(value: number | string | null | undefined, tz: string, opts: { millis?: boolean } = {}): string {
  if (value === null || value === undefined || value === '') return '–';
  const ms = typeof value === 'number' ? value : Date.parse(value);
  if (Number.isNaN(ms)) return String(value);
  const w = wallOf(ms, tz);
  const base = `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
  return opts.millis ? `${base}.${pad(((ms % 1000) + 1000) % 1000, 3)}` : base;
}

/** "UTC" or "UTC+02:00" for the zone at an instant. */
export function offsetLabel(ms: number, tz: string): string {
  const off = zoneOffsetMs(ms, tz);
  if (off === 0) return 'UTC';
  const a = Math.abs(off) / 60_000;
  return `UTC${off < 0 ? '−' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** The value of an <input type="datetime-local"> showing the instant in the zone. */
export function toWallInput(ms: number, tz: string): string {
  return formatInstant(ms, tz).replace(' ', 'T');
}

const WALL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

/**
 * Reads wall-clock text ("2024-03-31T02:30" or with seconds) as a time in the
 * zone and returns the UTC instant in ms. In a daylight-saving gap the time
 * is read with the offset before the change; in an overlap, the earlier one.
 */
export function fromWallInput(text: string, tz: string): number | undefined {
  const m = WALL.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0)) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return undefined;
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  // Try the offsets in force just before and just after this wall time; keep
  // the earliest instant that shows this wall time, else (a gap) the first guess.
  const candidates = [zoneOffsetMs(asUtc - 86_400_000, tz), zoneOffsetMs(asUtc, tz), zoneOffsetMs(asUtc + 86_400_000, tz)]
    .map((off) => asUtc - off)
    .sort((a, b) => a - b);
  const exact = candidates.find((t) => toWallInput(t, tz) === `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${pad(s)}`);
  return exact ?? asUtc - zoneOffsetMs(asUtc - 86_400_000, tz);
}
