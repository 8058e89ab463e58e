import { query, unwrap, type AggregationResponse, type GroupBy, type Interval } from '../../lib/api/client';
import { rangeKey, resolveRange, type TimeRange } from '../../lib/time-range';

export interface AggregationRequest {
  range: TimeRange;
  clients: string[];
  metrics: string[];
  groupBy: GroupBy;
  interval?: Interval;
}

export interface AggregationResult {
  response: AggregationResponse;
  /** The instants the request covered; from is undefined for all time. */
  window: { from?: number; to: number };
}

export function aggregationKey(r: AggregationRequest) {
  return ['aggregations', rangeKey(r.range), r.clients, r.metrics, r.groupBy, r.interval ?? null] as const;
}

/** GET /v1/aggregations for a request, a relative range resolved against now. */
export async function fetchAggregations(r: AggregationRequest, now = Date.now()): Promise<AggregationResult> {
  const { from, to } = resolveRange(r.range, now);
  const response = await unwrap(
    query.GET('/v1/aggregations', {
      params: {
        query: {
          clientId: r.clients.length ? r.clients : undefined,
          metric: r.metrics.length ? r.metrics : undefined,
          from: from === undefined ? undefined : new Date(from).toISOString(),
          to: to === undefined ? undefined : new Date(to).toISOString(),
          groupBy: r.groupBy,
          interval: r.interval,
        },
      },
    }),
  );
  return { response, window: { from, to: to ?? now } };
}
