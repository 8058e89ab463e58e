import { useEffect, useRef } from 'react';
import { useQuery } from '@tanstack/react-query';
import { query, unwrap, type EventStatus } from '../../lib/api/client';
import { formatAmount, formatCount, formatTime, prettyJson } from '../../lib/format';
import { Badge, ErrorBox, Loading } from '../../lib/ui';

const tones: Record<EventStatus, 'ok' | 'bad' | 'warn' | 'info'> = {
  processed: 'ok',
  duplicate: 'warn',
  rejected: 'bad',
  dead_lettered: 'bad',
};

export function StatusBadge({ status }: { status: EventStatus }) {
  return <Badge tone={tones[status] ?? 'info'}>{status.replace('_', '-')}</Badge>;
}

export function fetchEvent(id: string) {
  return unwrap(query.GET('/v1/events/{id}', { params: { path: { id } } }));
}

interface Props {
  id: string;
  onSelect: (id: string) => void;
  onClose: () => void;
}

export function EventDetailPanel({ id, onSelect, onClose }: Props) {
  const detail = useQuery({ queryKey: ['event', id], queryFn: () => fetchEvent(id) });
  const box = useRef<HTMLElement>(null);
  // On a narrow window the detail sits below the list: bring it into view.
  useEffect(() => {
    if (typeof window.matchMedia === 'function' && window.matchMedia('(max-width: 760px)').matches) {
      box.current?.scrollIntoView({ behavior: 'smooth', block: 'start' });
    }
  }, [id]);
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
      {detail.data ? (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>
              <StatusBadge status={detail.data.status} />
            </dd>
            <dt>Received</dt>
            <dd>{formatTime(detail.data.receivedAt)}</dd>
            <dt>Source</dt>
            <dd className="mono">
              {detail.data.source.topic} / {detail.data.source.partition} @ {detail.data.source.offset}
            </dd>
            {detail.data.originalEventId ? (
              <>
                <dt>Duplicate of</dt>
                <dd>
                  <button type="button" className="link mono wrap" onClick={() => onSelect(detail.data.originalEventId!)}>
                    {detail.data.originalEventId}
                  </button>
                </dd>
              </>
            ) : null}
          </dl>

          {detail.data.rejection ? (
            <div className="state state-error" role="note">
              <strong>Rejected:</strong> <code>{detail.data.rejection.code}</code>
              {detail.data.rejection.field ? ` (field ${detail.data.rejection.field})` : ''} — {detail.data.rejection.message}
            </div>
          ) : null}

          {detail.data.event ? (
            <>
              <h4>Canonical</h4>
              <dl className="facts">
                <dt>Event id</dt>
                <dd className="mono wrap">{detail.data.event.eventId}</dd>
                <dt>Client</dt>
                <dd>{detail.data.event.clientId}</dd>
                <dt>Metric</dt>
                <dd>{detail.data.event.metric}</dd>
                <dt>Amount</dt>
                <dd>{formatAmount(detail.data.event.amount)}</dd>
                <dt>Timestamp</dt>
                <dd>
                  {formatTime(detail.data.event.timestamp)}
                  {detail.data.event.timestampDefaulted ? ' (defaulted to received time)' : ''}
                </dd>
                {detail.data.event.idempotencyKey ? (
                  <>
                    <dt>Idempotency key</dt>
                    <dd className="mono wrap">{detail.data.event.idempotencyKey}</dd>
                  </>
                ) : null}
              </dl>
            </>
          ) : null}

          <h4>Raw payload</h4>
          <pre className="raw">{prettyJson(detail.data.raw)}</pre>

          <h4>Duplicate lineage</h4>
          {detail.data.duplicates && detail.data.duplicates.count > 0 ? (
            <>
              <p>
                <span data-testid="duplicate-count">{formatCount(detail.data.duplicates.count)}</span> duplicate
                {detail.data.duplicates.count === 1 ? ' copy' : ' copies'} recognized and not counted.
              </p>
              <div className="table-wrap">
                <table aria-label="Duplicate copies">
                  <thead>
                    <tr>
                      <th scope="col">Source</th>
                      <th scope="col">Received</th>
                      <th scope="col">Detected</th>
                    </tr>
                  </thead>
                  <tbody>
                    {detail.data.duplicates.copies.map((c) => (
                      <tr key={`${c.source.topic}/${c.source.partition}/${c.source.offset}`}>
                        <td className="mono">
                          {c.source.topic} / {c.source.partition} @ {c.source.offset}
                        </td>
                        <td className="nowrap">{formatTime(c.receivedAt)}</td>
                        <td className="nowrap">{formatTime(c.detectedAt)}</td>
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
