import { describe, expect, it } from 'vitest';
import { autoInterval, bucketStarts, DEFAULT_RANGE, MAX_FILLED_BUCKETS, rangeParams, readRange, resolveRange, type TimeRange } from './time-range';

const NOW = Date.UTC(2024, 5, 15, 12, 30, 0);
const params = (q: string) => new URLSearchParams(q);

describe('time ranges in the URL', () => {
  it('reads presets, all time and custom ranges, and falls back to the last 24 hours', () => {
    expect(readRange(params('range=15m'))).toEqual({ kind: 'preset', preset: '15m' });
    expect(readRange(params('range=all'))).toEqual({ kind: 'all' });
    expect(readRange(params('range=custom&from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00.000Z'))).toEqual({
      kind: 'custom',
      from: Date.UTC(2024, 0, 1),
      to: Date.UTC(2024, 0, 2),
    });
    for (const bad of ['', 'range=2h', 'range=custom', 'range=custom&from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z', 'range=custom&from=x&to=y'])
      expect(readRange(params(bad))).toEqual(DEFAULT_RANGE);
  });

  it('round-trips through its parameters; the default writes nothing', () => {
    const ranges: TimeRange[] = [{ kind: 'preset', preset: '7d' }, { kind: 'all' }, { kind: 'custom', from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 3) }];
    for (const r of ranges) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(rangeParams(r))) if (v !== undefined) p.set(k, v);
      expect(readRange(p)).toEqual(r);
    }
    expect(Object.values(rangeParams(DEFAULT_RANGE)).every((v) => v === undefined)).toBe(true);
  });
});

describe('resolveRange', () => {
  it('moves relative ranges with now and keeps fixed ones', () => {
    expect(resolveRange({ kind: 'preset', preset: '1h' }, NOW)).toEqual({ from: NOW - 3_600_000, to: NOW });
    expect(resolveRange({ kind: 'preset', preset: '1h' }, NOW + 60_000)).toEqual({ from: NOW - 3_540_000, to: NOW + 60_000 });
    expect(resolveRange({ kind: 'all' }, NOW)).toEqual({});
    expect(resolveRange({ kind: 'custom', from: 1, to: 2 }, NOW)).toEqual({ from: 1, to: 2 });
  });
});

describe('autoInterval', () => {
  it('≤ 2 h → minute, ≤ 3 d → hour, else day', () => {
    expect(autoInterval({ kind: 'preset', preset: '15m' })).toBe('minute');
    expect(autoInterval({ kind: 'preset', preset: '1h' })).toBe('minute');
    expect(autoInterval({ kind: 'preset', preset: '24h' })).toBe('hour');
    expect(autoInterval({ kind: 'preset', preset: '7d' })).toBe('day');
    expect(autoInterval({ kind: 'preset', preset: '30d' })).toBe('day');
    expect(autoInterval({ kind: 'all' })).toBe('day');
    expect(autoInterval({ kind: 'custom', from: 0, to: 2 * 3_600_000 })).toBe('minute');
    expect(autoInterval({ kind: 'custom', from: 0, to: 2 * 3_600_000 + 1 })).toBe('hour');
    expect(autoInterval({ kind: 'custom', from: 0, to: 3 * 86_400_000 })).toBe('hour');
    expect(autoInterval({ kind: 'custom', from: 0, to: 3 * 86_400_000 + 1 })).toBe('day');
  });
});

describe('bucketStarts', () => {
  it('covers the window from the bucket holding from, aligned in UTC', () => {
    const from = Date.UTC(2024, 0, 1, 10, 30);
    const to = Date.UTC(2024, 0, 1, 13, 0);
    expect(bucketStarts(from, to, 'hour')).toEqual([10, 11, 12].map((h) => Date.UTC(2024, 0, 1, h)));
    expect(bucketStarts(from, to + 1, 'hour')).toHaveLength(4);
    expect(bucketStarts(from, from + 86_400_000 * 30, 'day')).toHaveLength(31);
  });

  it('gives up past the fill limit instead of building huge arrays', () => {
    expect(bucketStarts(0, MAX_FILLED_BUCKETS * 60_000, 'minute')).toHaveLength(MAX_FILLED_BUCKETS);
    expect(bucketStarts(0, (MAX_FILLED_BUCKETS + 1) * 60_000, 'minute')).toBeUndefined();
    expect(bucketStarts(10, 10, 'minute')).toBeUndefined();
    expect(bucketStarts(10, 5, 'minute')).toBeUndefined();
  });
});
