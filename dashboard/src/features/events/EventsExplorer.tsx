import { useState, type FormEvent } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import { query, unwrap, type EventList, type EventStatus } from '../../lib/api/client';
import { formatAmount, formatTime, localInputToIso } from '../../lib/format';
import { Badge, Empty, ErrorBox, Loading } from '../../lib/ui';
import { EventDetailPanel, StatusBadge } from './EventDetailPanel';

export interface EventFilters {
  clientId?: string;
  metric?: string;
  status?: EventStatus;
  from?: string;
  to?: string;
}

export const PAGE_SIZE = 50;

export function fetchEventsPage(filters: EventFilters, cursor: string | undefined): Promise<EventList> {
  return unwrap(query.GET('/v1/events', { params: { query: { ...filters, limit: PAGE_SIZE, cursor } } }));
}

export function EventsExplorer() {
  const [filters, setFilters] = useState<EventFilters>({});
  const [selected, setSelected] = useState<string>();
  const pages = useInfiniteQuery({
    queryKey: ['events', filters],
    queryFn: ({ pageParam }) => fetchEventsPage(filters, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  });

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '').trim() || undefined;
    setFilters({
      clientId: text('clientId'),
      metric: text('metric'),
      status: text('status') as EventStatus | undefined,
      from: localInputToIso(text('from') ?? ''),
      to: localInputToIso(text('to') ?? ''),
    });
  };

  const events = pages.data?.pages.flatMap((p) => p.events) ?? [];

  return (
    <section aria-labelledby="events-title" className="panel">
      <h2 id="events-title">Events explorer</h2>
      <form className="filters" onSubmit={apply} aria-label="Event filters">
        <label>
          Client
          <input name="clientId" placeholder="client_A" />
        </label>
        <label>
          Metric
          <input name="metric" placeholder="purchase" />
        </label>
        <label>
          Status
          <select name="status" defaultValue="">
            <option value="">any</option>
            <option value="processed">processed</option>
            <option value="duplicate">duplicate</option>
            <option value="rejected">rejected</option>
            <option value="dead_lettered">dead-lettered</option>
          </select>
        </label>
        <label>
          Received from (UTC)
          <input name="from" type="datetime-local" step={1} />
        </label>
        <label>
          Received to (UTC)
          <input name="to" type="datetime-local" step={1} />
        </label>
        <button type="submit" className="primary">
          Search
        </button>
      </form>

      <div className="split">
        <div className="split-main">
          {pages.isPending ? <Loading label="Loading events…" /> : null}
          {pages.isError && !pages.data ? <ErrorBox error={pages.error} title="Events unavailable" /> : null}
          {pages.isSuccess && events.length === 0 ? <Empty>No events match these filters.</Empty> : null}
          {events.length > 0 ? (
            <div className="table-wrap">
              <table aria-label="Events" className="rows-clickable">
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col">Client</th>
                    <th scope="col">Metric</th>
                    <th scope="col" className="num">Amount</th>
                    <th scope="col">Received</th>
                  </tr>
                </thead>
                <tbody>
                  {events.map((ev) => (
                    <tr
                      key={ev.id}
                      aria-selected={selected === ev.id}
                      onClick={() => setSelected(ev.id)}
                      data-testid="event-row"
                    >
                      <td className="mono">
                        <button type="button" className="link" onClick={() => setSelected(ev.id)} title={ev.id}>
                          {ev.id.length > 16 ? `${ev.id.slice(0, 12)}…` : ev.id}
                        </button>
                      </td>
                      <td>
                        <StatusBadge status={ev.status} />
                        {ev.rejection ? (
                          <>
                            {' '}
                            <code>{ev.rejection.code}</code>
                          </>
                        ) : null}
                      </td>
                      <td>{ev.clientId ?? '–'}</td>
                      <td>{ev.metric ?? '–'}</td>
                      <td className="num">{formatAmount(ev.amount)}</td>
                      <td className="nowrap">{formatTime(ev.receivedAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ) : null}
          {pages.isFetchNextPageError ? <ErrorBox error={pages.error} title="Could not load more" /> : null}
          <div className="toolbar">
            {pages.hasNextPage ? (
              <button type="button" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
                {pages.isFetchingNextPage ? 'Loading…' : 'Load more'}
              </button>
            ) : events.length > 0 ? (
              <Badge tone="info">end of list · {events.length} shown</Badge>
            ) : null}
            <button type="button" onClick={() => void pages.refetch()} disabled={pages.isFetching}>
              Refresh
            </button>
          </div>
        </div>
        <div className="split-side">
          {selected ? (
            <EventDetailPanel id={selected} onSelect={setSelected} onClose={() => setSelected(undefined)} />
          ) : (
            <Empty>Select an event to see its canonical form, raw payload and lineage.</Empty>
          )}
        </div>
      </div>
    </section>
  );
}
