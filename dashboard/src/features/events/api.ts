import { query, unwrap, type EventList, type EventStatus, type EventSummary } from '../../lib/api/client';
import { toCsv } from '../../lib/csv';
import { exactText } from '../../lib/decimal';
import { rangeKey, resolveRange, type TimeRange } from '../../lib/time-range';

export const PAGE_SIZE = 50;

export const STATUSES: readonly EventStatus[] = ['processed', 'duplicate', 'rejected', 'dead_lettered'];

export interface EventFilters {
  range: TimeRange;
  clientId?: string;
  metric?: string;
  status?: EventStatus;
}

export function eventsKey(f: EventFilters) {
  return ['events', rangeKey(f.range), f.clientId ?? null, f.metric ?? null, f.status ?? null] as const;
}

/** One page of GET /v1/events (received time in the range, newest first). */
export function fetchEventsPage(f: EventFilters, cursor: string | undefined, now = Date.now()): Promise<EventList> {
  const { from, to } = resolveRange(f.range, now);
  return unwrap(
    query.GET('/v1/events', {
      params: {
        query: {
          clientId: f.clientId,
          metric: f.metric,
          status: f.status,
          from: from === undefined ? undefined : new Date(from).toISOString(),
          to: to === undefined ? undefined : new Date(to).toISOString(),
          limit: PAGE_SIZE,
          cursor,
        },
      },
    }),
  );
}

export function fetchEvent(id: string) {
  return unwrap(query.GET('/v1/events/{id}', { params: { path: { id } } }));
}

/** Pages flattened, without the repeats a live refresh of later pages can bring. */
export function flattenPages(pages: EventList[]): EventSummary[] {
  const seen = new Set<string>();
  const out: EventSummary[] = [];
  for (const p of pages)
    for (const e of p.events) {
      const key = `${e.id}\u0000${e.status}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(e);
    }
  return out;
}

/** The shown rows as CSV, amounts exact, times as the API sent them (UTC). */
export function eventsCsv(events: EventSummary[]): string {
  const header = ['id', 'eventId', 'status', 'clientId', 'metric', 'amount', 'timestamp', 'receivedAt', 'topic', 'partition', 'offset', 'rejectionCode', 'rejectionField', 'rejectionMessage'];
  const rows = events.map((e) => [
    e.id,
    e.eventId,
    e.status,
    e.clientId,
    e.metric,
    exactText(e.amountExact, e.amount),
    e.timestamp,
    e.receivedAt,
    e.source.topic,
    String(e.source.partition),
    String(e.source.offset),
    e.rejection?.code,
    e.rejection?.field,
    e.rejection?.message,
  ]);
  return toCsv(header, rows);
}
