import type { GroupBy, Interval } from '../../lib/api/client';
import type { Measure } from './series';

const INTERVALS: readonly string[] = ['minute', 'hour', 'day'];
const GROUP_BYS: readonly string[] = ['none', 'clientId', 'metric', 'both'];

/** interval=minute|hour|day|none from the URL; undefined = choose from the range. */
export function readInterval(params: URLSearchParams): Interval | undefined {
  const v = params.get('interval') ?? '';
  return INTERVALS.includes(v) ? (v as Interval) : undefined;
}

/** True when the URL asks for no time buckets. */
export function intervalOff(params: URLSearchParams): boolean {
  return params.get('interval') === 'none';
}

export function readGroupBy(params: URLSearchParams): GroupBy | undefined {
  const v = params.get('groupBy') ?? '';
  return GROUP_BYS.includes(v) ? (v as GroupBy) : undefined;
}

/**
 * The grouping that answers the obvious next question: across clients, by
 * client; within one client, by metric; one client and one metric, none.
 */
export function autoGroupBy(clients: string[], metrics: string[]): GroupBy {
  if (clients.length === 1 && metrics.length === 1) return 'none';
  if (clients.length === 1) return 'metric';
  return 'clientId';
}

export function readMeasure(params: URLSearchParams): Measure {
  return params.get('chart') === 'sum' ? 'sum' : 'count';
}
