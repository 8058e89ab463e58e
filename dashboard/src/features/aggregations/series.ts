import type { Group } from '../../lib/api/client';
import { exactText } from '../../lib/decimal';

export type Measure = 'count' | 'sum';

export interface AlignedSeries {
  labels: string[];
  /** [x (unix seconds), y per group…], aligned on one x axis; null = no bucket (when not zero-filled). */
  data: [number[], ...(number | null)[][]];
  /** The exact text of every y value (amounts from the *Exact fields), for the legend. */
  exact: (string | null)[][];
}

export function groupLabel(g: Pick<Group, 'clientId' | 'metric'>): string {
  return [g.clientId, g.metric].filter(Boolean).join(' · ') || 'all events';
}

/**
 * Aligns every group's series on one x axis, as uPlot wants it. With
 * `buckets` (every bucket start of the range, ms) the axis is exactly those
 * and a bucket without events is 0; otherwise it is the union of the
 * buckets present and gaps are null.
 */
export function alignSeries(groups: Group[], measure: Measure, buckets?: number[]): AlignedSeries {
  let x: number[];
  if (buckets) x = buckets.map((b) => b / 1000);
  else {
    const xs = new Set<number>();
    for (const g of groups) for (const p of g.series ?? []) xs.add(Date.parse(p.bucket) / 1000);
    x = [...xs].sort((a, b) => a - b);
  }
  const index = new Map(x.map((v, i) => [v, i]));
  const empty = buckets ? 0 : null;
  const ys: (number | null)[][] = [];
  const exact: (string | null)[][] = [];
  for (const g of groups) {
    const y = new Array<number | null>(x.length).fill(empty);
    const e = new Array<string | null>(x.length).fill(empty === null ? null : '0');
    for (const p of g.series ?? []) {
      const i = index.get(Date.parse(p.bucket) / 1000);
      if (i === undefined) continue;
      y[i] = measure === 'count' ? p.count : p.sum;
      e[i] = measure === 'count' ? String(p.count) : (exactText(p.sumExact, p.sum) ?? null);
    }
    ys.push(y);
    exact.push(e);
  }
  return { labels: groups.map(groupLabel), data: [x, ...ys], exact };
}
