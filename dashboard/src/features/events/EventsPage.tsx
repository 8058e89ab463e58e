// The event explorer: records filtered by status, client, metric and the
// time they were received, newest first, paged by cursor. The open event is
// in the URL (event=…), so a link shows the same list with the same detail.
import { useId, useRef, type KeyboardEvent } from 'react';
import { useInfiniteQuery } from '@tanstack/react-query';
import type { EventStatus } from '../../lib/api/client';
import { downloadCsv, fileStamp } from '../../lib/csv';
import { formatAmount, formatCount } from '../../lib/format';
import { refetchInterval } from '../../lib/live';
import { formatInstant } from '../../lib/time-zone';
import { Badge, Empty, ErrorBox, Loading } from '../../lib/ui';
import { useView } from '../../lib/view-state';
import { ViewToolbar } from '../filters/ViewToolbar';
import { eventsCsv, eventsKey, fetchEventsPage, flattenPages, STATUSES, type EventFilters } from './api';
import { EventDetailPanel, StatusBadge } from './EventDetailPanel';

const MAX_LIVE_PAGES = 4;

export function EventsPage() {
  const id = useId();
  const { common, params, setCommon, update } = useView();
  const statusParam = params.get('status') ?? '';
  const status = (STATUSES as readonly string[]).includes(statusParam) ? (statusParam as EventStatus) : undefined;
  const selected = params.get('event') ?? undefined;
  const filters: EventFilters = { range: common.range, clientId: common.clients[0], metric: common.metrics[0], status };
  const tableRef = useRef<HTMLTableElement>(null);

  const pages = useInfiniteQuery({
    queryKey: eventsKey(filters),
    queryFn: ({ pageParam }) => fetchEventsPage(filters, pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // A refresh re-reads every loaded page; past a few pages the list stops
    // polling (the age shown keeps growing) instead of multiplying requests.
    refetchInterval: (q) => ((q.state.data?.pages.length ?? 0) <= MAX_LIVE_PAGES ? refetchInterval(common.live) : false),
  });
  const events = flattenPages(pages.data?.pages ?? []);

  const open = (eventId: string | undefined) => update({ event: eventId });

  // Arrow keys move between rows, Home/End to the ends (the row's button holds focus).
  const onKeyDown = (e: KeyboardEvent<HTMLTableSectionElement>) => {
    if (!['ArrowDown', 'ArrowUp', 'Home', 'End'].includes(e.key)) return;
    const buttons = [...(tableRef.current?.querySelectorAll<HTMLButtonElement>('tbody button.row-open') ?? [])];
    const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (i < 0) return;
    e.preventDefault();
    const next = e.key === 'Home' ? 0 : e.key === 'End' ? buttons.length - 1 : i + (e.key === 'ArrowDown' ? 1 : -1);
    buttons[Math.max(0, Math.min(buttons.length - 1, next))]?.focus();
  };

  // Stamped with the time the shown rows were fetched.
  const exportCsv = () => downloadCsv(`tally-events-${fileStamp(pages.dataUpdatedAt)}.csv`, eventsCsv(events));

  return (
    <section
      aria-labelledby="events-title"
      className="panel"
      // Escape closes the open event from anywhere in the explorer (a picker that is open takes it first).
      onKeyDown={(e) => {
        if (e.key === 'Escape' && selected && !e.defaultPrevented) open(undefined);
      }}
    >
      <h2 id="events-title">Events explorer</h2>
      <ViewToolbar
        view={common}
        basis="received time"
        single
        onChange={(c) => setCommon(c)}
        refresh={{
          updatedAt: pages.dataUpdatedAt,
          fetching: pages.isFetching,
          refreshError: pages.isRefetchError,
          onRefresh: () => void pages.refetch(),
        }}
      >
        <div>
          <label htmlFor={`${id}-status`}>Status</label>
          <select id={`${id}-status`} value={status ?? ''} onChange={(e) => update({ status: e.target.value || undefined })}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace('_', '-')}
              </option>
            ))}
          </select>
        </div>
      </ViewToolbar>

      <div className="split">
        <div className="split-main">
          {pages.isPending ? <Loading label="Loading events…" /> : null}
          {pages.isError && !pages.data ? <ErrorBox error={pages.error} title="Events unavailable" /> : null}
          {pages.isSuccess && events.length === 0 ? <Empty>No events match these filters.</Empty> : null}
          {events.length > 0 ? (
            <div className="table-wrap">
              <table aria-label="Events" className="rows-clickable" ref={tableRef}>
                <thead>
                  <tr>
                    <th scope="col">Event</th>
                    <th scope="col">Status</th>
                    <th scope="col">Client</th>
                    <th scope="col">Metric</th>
                    <th scope="col" className="num">
                      Amount
                    </th>
                    <th scope="col">Received ({common.tz})</th>
                  </tr>
                </thead>
                <tbody onKeyDown={onKeyDown}>
                  {events.map((ev) => (
                    <tr key={`${ev.id}\u0000${ev.status}`} aria-selected={selected === ev.id} onClick={() => open(ev.id)} data-testid="event-row">
                      <td className="mono">
                        <button type="button" className="link row-open" onClick={() => open(ev.id)} title={ev.id} aria-label={`Open event ${ev.id}`}>
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
                      <td className="wrap">{ev.clientId ?? '–'}</td>
                      <td className="wrap">{ev.metric ?? '–'}</td>
                      <td className="num">{formatAmount(ev.amountExact, ev.amount)}</td>
                      <td className="nowrap">{formatInstant(ev.receivedAt, common.tz)}</td>
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
              <Badge tone="info">end of list</Badge>
            ) : null}
            {events.length > 0 ? (
              <>
                <span className="muted" data-testid="shown-count">
                  {formatCount(events.length)} shown
                </span>
                <button type="button" onClick={exportCsv}>
                  Export CSV
                </button>
              </>
            ) : null}
          </div>
        </div>
        <div className="split-side">
          {selected ? (
            <EventDetailPanel id={selected} tz={common.tz} onSelect={open} onClose={() => open(undefined)} />
          ) : (
            <Empty>Select an event to see its canonical form, raw payload, rejection reason and duplicate lineage.</Empty>
          )}
        </div>
      </div>
    </section>
  );
}
