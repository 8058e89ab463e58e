import type { Group } from '../../lib/api/client';

export interface AlignedSeries {
  labels: string[];
  /** [x (unix seconds), y per group…], aligned on the union of buckets; null = no events. */
  data: [number[], ...(number | null)[][]];
}

export function groupLabel(g: Group): string {
  return [g.clientId, g.metric].filter(Boolean).join(' · ') || 'all events';
}

/** Aligns every group's series on one x axis, as uPlot wants it. */
export function alignSeries(groups: Group[], measure: 'sum' | 'count'): AlignedSeries {
  const xs = new Set<number>();
  for (const g of groups) for (const p of g.series ?? []) xs.add(Date.parse(p.bucket) / 1000);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const ys = groups.map((g) => {
    const y: (number | null)[] = new Array<number | null>(x.length).fill(null);
    for (const p of g.series ?? []) y[index.get(Date.parse(p.bucket) / 1000)!] = p[measure];
    return y;
  });
  return { labels: groups.map(groupLabel), data: [x, ...ys] };
}
