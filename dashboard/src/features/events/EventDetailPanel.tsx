import { useEffect, useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import type { EventStatus } from '../../lib/api/client';
import { formatAmount, formatCount, prettyJson } from '../../lib/format';
import { formatInstant } from '../../lib/time-zone';
import { Badge, ErrorBox, Loading } from '../../lib/ui';
import { fetchEvent } from './api';

const tones: Record<EventStatus, 'ok' | 'bad' | 'warn' | 'info'> = {
  processed: 'ok',
  duplicate: 'warn',
  conflict: 'bad',
  rejected: 'bad',
  dead_lettered: 'bad',
  forwarded: 'info',
};

export function StatusBadge({ status }: { status: EventStatus }) {
  return <Badge tone={tones[status] ?? 'info'}>{status.replace('_', '-')}</Badge>;
}

interface Props {
  id: string;
  tz: string;
  onSelect: (id: string) => void;
  onClose: () => void;
}

/** One record: status, canonical form, raw payload, rejection reason and every duplicate copy. */
export function EventDetailPanel({ id, tz, onSelect, onClose }: Props) {
  const detail = useQuery({ queryKey: ['event', id], queryFn: () => fetchEvent(id) });
  const box = useRef<HTMLElement>(null);
  // On a narrow window the detail sits below the list: bring it into view.
  useEffect(() => {
    if (typeof window.matchMedia === 'function' && window.matchMedia('(max-width: 760px)').matches) {
      box.current?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  }, [id]);
  const time = (iso: string | undefined) => formatInstant(iso, tz, { millis: true });
  const d = detail.data;
  return (
    <article ref={box} className="card detail" aria-labelledby="detail-title">
      <header className="detail-head">
        <h3 id="detail-title" className="wrap">
          Event <span className="mono">{id}</span>
        </h3>
        <button type="button" onClick={onClose} aria-label="Close event detail">
          ×
        </button>
      </header>
      {detail.isPending ? <Loading label="Loading event…" /> : null}
      {detail.isError ? <ErrorBox error={detail.error} title="Event unavailable" /> : null}
      {d ? (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={d.status} />
            </dd>
            <dt>Received ({tz})</dt>
            <dd>{time(d.receivedAt)}</dd>
            <dt>Source</dt>
            <dd className="mono">
              {d.source.topic} / {d.source.partition} @ {d.source.offset}
            </dd>
            {d.originalEventId ? (
              <>
                <dt>Duplicate of</dt>
                <dd>
                  <button type="button" className="link mono wrap" onClick={() => onSelect(d.originalEventId!)}>
                    {d.originalEventId}
                  </button>
                </dd>
              </>
            ) : null}
          </dl>

          {d.rejection ? (
            <div className="state state-error" role="note">
              <strong>Rejected:</strong> <code>{d.rejection.code}</code>
              {d.rejection.field ? ` (field ${d.rejection.field})` : ''} — {d.rejection.message}
            </div>
          ) : null}

          {d.event ? (
            <>
              <h4>Canonical</h4>
              <dl className="facts">
                <dt>Event id</dt>
                <dd className="mono wrap">{d.event.eventId}</dd>
                <dt>Client</dt>
                <dd className="wrap">{d.event.clientId}</dd>
                <dt>Metric</dt>
                <dd className="wrap">{d.event.metric}</dd>
                <dt>Amount</dt>
                <dd data-testid="canonical-amount">{formatAmount(d.event.amountExact, d.event.amount)}</dd>
                <dt>Timestamp ({tz})</dt>
                <dd>
                  {time(d.event.timestamp)}
                  {d.event.timestampDefaulted ? ' (defaulted to received time)' : ''}
                </dd>
                {d.event.idempotencyKey ? (
                  <>
                    <dt>Idempotency key</dt>
                    <dd className="mono wrap">{d.event.idempotencyKey}</dd>
                  </>
                ) : null}
              </dl>
            </>
          ) : null}

          <h4>Raw payload</h4>
          <pre className="raw" tabIndex={0} aria-label="Raw payload">
            {prettyJson(d.raw)}
          </pre>

          <h4>Duplicate lineage</h4>
          {d.duplicates && d.duplicates.count > 0 ? (
            <>
              <p>
                <span data-testid="duplicate-count">{formatCount(d.duplicates.count)}</span>
                {d.duplicates.count === 1 ? ' copy' : ' copies'} recognized and not counted
                {d.conflicts ? (
                  <>
                    , of which <span data-testid="conflict-count">{formatCount(d.conflicts)}</span> with other content
                    (a reused idempotency key)
                  </>
                ) : null}
                .
              </p>
              <div className="table-wrap">
                <table aria-label="Duplicate copies">
                  <thead>
                    <tr>
                      <th scope="col">Kind</th>
                      <th scope="col">Source</th>
                      <th scope="col">Received</th>
                      <th scope="col">Detected</th>
                      <th scope="col">It said</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.duplicates.copies.map((c) => (
                      <tr key={`${c.source.topic}/${c.source.partition}/${c.source.offset}`}>
                        <td>
                          <StatusBadge status={c.kind} />
                        </td>
                        <td className="mono">
                          {c.source.topic} / {c.source.partition} @ {c.source.offset}
                        </td>
                        <td className="nowrap">{time(c.receivedAt)}</td>
                        <td className="nowrap">{time(c.detectedAt)}</td>
                        <td>{c.claimed ? `${c.claimed.metric} ${formatAmount(c.claimed.amountExact)}` : '—'}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </>
          ) : (
            <p className="muted">
              <span data-testid="duplicate-count">0</span> duplicates.
            </p>
          )}
        </>
      ) : null}
    </article>
  );
}
