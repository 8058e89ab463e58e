import { query, unwrap } from '../../lib/api/client';

export type ValueKind = 'clients' | 'metrics';

export const PICKER_LIMIT = 50;

export interface ValuePage {
  values: string[];
  truncated: boolean;
}

/** Client ids or metric names starting with prefix, sorted, from GET /v1/clients or /v1/metrics. */
export async function fetchValues(kind: ValueKind, prefix: string): Promise<ValuePage> {
  const params = { query: { prefix: prefix || undefined, limit: PICKER_LIMIT } };
  if (kind === 'clients') {
    const r = await unwrap(query.GET('/v1/clients', { params }));
    return { values: r.clients, truncated: r.truncated };
  }
  const r = await unwrap(query.GET('/v1/metrics', { params }));
  return { values: r.metrics, truncated: r.truncated };
}
