import { formatCount } from './format';
import { reconcile } from './live-stats';
import type { Stats } from './api/client';
import { Badge } from './ui';

/** received = processed + duplicates + rejected + dead-lettered + pending (+ in flight), with a verdict. */
export function ReconciliationLine({ stats, compact = false }: { stats: Stats; compact?: boolean }) {
  const r = reconcile(stats);
  const term = (name: string, value: number, testId: string) => (
    <span className="term">
      <span className="term-label">{name}</span>{' '}
      <strong data-testid={testId}>{formatCount(value)}</strong>
    </span>
  );
  return (
    <p className={compact ? 'recon recon-compact' : 'recon'} aria-label="Reconciliation">
      {term('received', stats.received, 'stat-received')}
      <span className="op">=</span>
      {term('processed', stats.processed, 'stat-processed')}
      <span className="op">+</span>
      {term('duplicates', stats.duplicates, 'stat-duplicates')}
      <span className="op">+</span>
      {term('rejected', stats.rejected, 'stat-rejected')}
      <span className="op">+</span>
      {term('dead-lettered', stats.deadLettered, 'stat-dead-lettered')}
      <span className="op">+</span>
      {term('pending', stats.pending, 'stat-pending')}
      {stats.inFlight !== 0 || !compact ? (
        <>
          <span className="op">(of which</span>
          {term('in flight', stats.inFlight, 'stat-in-flight')}
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
