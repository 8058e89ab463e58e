import type { ReactNode } from 'react';
import { formatCount } from './format';
import { reconcile } from './live-stats';
import type { Stats } from './api/client';
import { Link, useLocation } from './router';
import { linkTo } from './view-state';
import { Badge } from './ui';

/**
 * received = processed + duplicates + conflicts + rejected + dead-lettered + forwarded + skipped + pending
 * (+ in flight), with a verdict. Terms that are zero (conflicts, forwarded, skipped) are shown only when not.
 * Every number links to the records behind it (all time, as the counts are).
 */
export function ReconciliationLine({ stats, compact = false }: { stats: Stats; compact?: boolean }) {
  const { params } = useLocation();
  const r = reconcile(stats);
  const events = (status: string) => linkTo('/events', params, { status, range: 'all', from: undefined, to: undefined, client: undefined, metric: undefined });
  const health = linkTo('/health', params);
  const term = (name: string, value: number, testId: string, to: string, title: string): ReactNode => (
    <span className="term">
      <span className="term-label">{name}</span>{' '}
      <Link to={to} className="term-link" title={title}>
        <strong data-testid={testId}>{formatCount(value)}</strong>
      </Link>
    </span>
  );
  return (
    <p className={compact ? 'recon recon-compact' : 'recon'} aria-label="Reconciliation">
      {term('received', stats.received, 'stat-received', health, 'Pipeline health')}
      <span className="op">=</span>
      {term('processed', stats.processed, 'stat-processed', events('processed'), 'Processed events')}
      <span className="op">+</span>
      {term('duplicates', stats.duplicates, 'stat-duplicates', events('duplicate'), 'Duplicate copies')}
      <span className="op">+</span>
      {stats.conflicts > 0 ? (
        <>
          <span className="op">+</span>
          {term('conflicts', stats.conflicts, 'stat-conflicts', events('conflict'), 'Reused ids with other content (never counted)')}
        </>
      ) : null}
      <span className="op">+</span>
      {term('rejected', stats.rejected, 'stat-rejected', events('rejected'), 'Rejected records')}
      <span className="op">+</span>
      {term('dead-lettered', stats.deadLettered, 'stat-dead-lettered', events('dead_lettered'), 'Dead-lettered records')}
      {stats.forwarded > 0 ? (
        <>
          <span className="op">+</span>
          {term('forwarded', stats.forwarded, 'stat-forwarded', events('forwarded'), 'Records produced again to the partition that owns their client')}
        </>
      ) : null}
      {stats.skipped > 0 ? (
        <>
          <span className="op">+</span>
          {term('skipped', stats.skipped, 'stat-skipped', health, 'Offsets without a data record (transaction markers, aborted records)')}
        </>
      ) : null}
      <span className="op">+</span>
      {term('pending', stats.pending, 'stat-pending', health, 'Consumer lag in Pipeline health')}
      {stats.inFlight !== 0 || !compact ? (
        <>
          <span className="op">(of which</span>
          {term('in flight', stats.inFlight, 'stat-in-flight', health, 'Pipeline health')}
          <span className="op">)</span>
        </>
      ) : null}{' '}
      {r.reconciled ? (
        <Badge tone="ok">
          <span data-testid="recon-badge">reconciled</span>
        </Badge>
      ) : (
        <Badge tone="bad">
          <span data-testid="recon-badge">not reconciled</span>
          {r.difference !== 0 ? ` (off by ${formatCount(r.difference)})` : ''}
        </Badge>
      )}
    </p>
  );
}
