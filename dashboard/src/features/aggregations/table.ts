import type { Group, GroupBy } from '../../lib/api/client';
import { toCsv } from '../../lib/csv';
import { compareDecimal, exactText } from '../../lib/decimal';

export type SortKey = 'clientId' | 'metric' | 'count' | 'sum' | 'avg' | 'min' | 'max';
export interface Sort {
  key: SortKey;
  desc: boolean;
}

const SORT_KEYS: readonly string[] = ['clientId', 'metric', 'count', 'sum', 'avg', 'min', 'max'];
export const DEFAULT_SORT: Sort = { key: 'count', desc: true };

/** sort=count (ascending) or sort=-count (descending) from the URL. */
export function readSort(params: URLSearchParams): Sort {
  const v = params.get('sort') ?? '';
  const desc = v.startsWith('-');
  const key = desc ? v.slice(1) : v;
  return SORT_KEYS.includes(key) ? { key: key as SortKey, desc } : DEFAULT_SORT;
}

export function sortParam(s: Sort): string | undefined {
  return s.key === DEFAULT_SORT.key && s.desc === DEFAULT_SORT.desc ? undefined : `${s.desc ? '-' : ''}${s.key}`;
}

export const showsClient = (g: GroupBy) => g === 'clientId' || g === 'both';
export const showsMetric = (g: GroupBy) => g === 'metric' || g === 'both';

/** The exact text of a group's amount column. */
export function amountOf(g: Group, key: 'sum' | 'avg' | 'min' | 'max'): string {
  const exact = { sum: g.sumExact, avg: g.avgExact, min: g.minExact, max: g.maxExact }[key];
  return exactText(exact, g[key]) ?? '';
}

export function sortGroups(groups: Group[], s: Sort): Group[] {
  const dir = s.desc ? -1 : 1;
  const cmp = (a: Group, b: Group): number => {
    switch (s.key) {
      case 'clientId':
      case 'metric':
        return (a[s.key] ?? '').localeCompare(b[s.key] ?? '');
      case 'count':
        return a.count - b.count;
      default:
        return compareDecimal(amountOf(a, s.key), amountOf(b, s.key));
    }
  };
  // Ties keep a stable, readable order: by label.
  return [...groups].sort((a, b) => dir * cmp(a, b) || `${a.clientId ?? ''}\u0000${a.metric ?? ''}`.localeCompare(`${b.clientId ?? ''}\u0000${b.metric ?? ''}`));
}

/** The table as CSV: the grouping columns, then count and the exact amounts. */
export function groupsCsv(groups: Group[], groupBy: GroupBy): string {
  const header = [...(showsClient(groupBy) ? ['clientId'] : []), ...(showsMetric(groupBy) ? ['metric'] : []), 'count', 'sum', 'avg', 'min', 'max'];
  const rows = groups.map((g) => [
    ...(showsClient(groupBy) ? [g.clientId ?? ''] : []),
    ...(showsMetric(groupBy) ? [g.metric ?? ''] : []),
    String(g.count),
    amountOf(g, 'sum'),
    amountOf(g, 'avg'),
    amountOf(g, 'min'),
    amountOf(g, 'max'),
  ]);
  return toCsv(header, rows);
}
