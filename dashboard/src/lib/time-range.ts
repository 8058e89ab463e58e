// Time ranges as analytics tools have them: relative presets that move with
// time ("last 24 hours" means the 24 hours before each refresh), all time,
// or a fixed custom range. A range lives in the URL as `range=24h`, or
// `range=custom&from=…&to=…` (RFC 3339); it is resolved to instants only
// when a request is made, so a live view slides forward.
import type { Interval } from './api/client';

export const PRESETS = [
  { id: '15m', label: 'Last 15 minutes', ms: 15 * 60_000 },
  { id: '1h', label: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: '30d', label: 'Last 30 days', ms: 30 * 86_400_000 },
] as const;

export type PresetId = (typeof PRESETS)[number]['id'];

export type TimeRange =
  | { kind: 'preset'; preset: PresetId }
  | { kind: 'all' }
  | { kind: 'custom'; from: number; to: number };

export const DEFAULT_RANGE: TimeRange = { kind: 'preset', preset: '24h' };

export interface Resolved {
  /** Inclusive start, ms since the epoch; undefined = unbounded. */
  from?: number;
  /** Exclusive end; undefined = unbounded. */
  to?: number;
}

const presetById = new Map<string, (typeof PRESETS)[number]>(PRESETS.map((p) => [p.id, p]));

export function isPreset(id: string): id is PresetId {
  return presetById.has(id);
}

/** Reads the range from URL parameters; anything malformed gives the default. */
export function readRange(params: URLSearchParams): TimeRange {
  const range = params.get('range') ?? '';
  if (isPreset(range)) return { kind: 'preset', preset: range };
  if (range === 'all') return { kind: 'all' };
  if (range === 'custom') {
    const from = Date.parse(params.get('from') ?? '');
    const to = Date.parse(params.get('to') ?? '');
    if (Number.isFinite(from) && Number.isFinite(to) && from < to) return { kind: 'custom', from, to };
  }
  return DEFAULT_RANGE;
}

/** The URL parameters of a range (undefined values are removed); the default range writes nothing. */
export function rangeParams(r: TimeRange): Record<string, string | undefined> {
  if (r.kind === 'custom') return { range: 'custom', from: new Date(r.from).toISOString(), to: new Date(r.to).toISOString() };
  const range = r.kind === 'all' ? 'all' : r.preset === '24h' ? undefined : r.preset;
  return { range, from: undefined, to: undefined };
}

export function rangeKey(r: TimeRange): string {
  return r.kind === 'custom' ? `${r.from}-${r.to}` : r.kind === 'all' ? 'all' : r.preset;
}

export function resolveRange(r: TimeRange, now: number): Resolved {
  if (r.kind === 'custom') return { from: r.from, to: r.to };
  if (r.kind === 'all') return {};
  return { from: now - presetById.get(r.preset)!.ms, to: now };
}

export function rangeLabel(r: TimeRange): string {
  if (r.kind === 'preset') return presetById.get(r.preset)!.label;
  return r.kind === 'all' ? 'All time' : 'Custom range';
}

export const INTERVAL_MS: Record<Interval, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The bucket size that gives a readable chart: ≤ 2 h → minute, ≤ 3 d → hour, else day. */
export function autoInterval(r: TimeRange): Interval {
  const span = r.kind === 'custom' ? r.to - r.from : r.kind === 'all' ? Infinity : presetById.get(r.preset)!.ms;
  if (span <= 2 * 3_600_000) return 'minute';
  if (span <= 3 * 86_400_000) return 'hour';
  return 'day';
}

/** Most buckets a chart fills with zeros; past it only buckets with events are drawn. */
export const MAX_FILLED_BUCKETS = 2000;

/**
 * Every bucket start (ms, UTC-aligned as the API buckets) from the bucket
 * holding `from` up to `to`, or undefined when there would be too many.
 */
export function bucketStarts(from: number, to: number, interval: Interval): number[] | undefined {
  if (!(to > from)) return undefined;
  const size = INTERVAL_MS[interval];
  const first = Math.floor(from / size) * size;
  const count = Math.ceil((to - first) / size);
  if (!(count > 0) || count > MAX_FILLED_BUCKETS) return undefined;
  return Array.from({ length: count }, (_, i) => first + i * size);
}
