import { useEffect, useRef, useState } from 'react';
import { formatCount, formatRate } from '../../lib/format';
import { useStats } from '../../lib/live-stats';
import { ReconciliationLine } from '../../lib/ReconciliationLine';
import { formatInstant } from '../../lib/time-zone';
import { Badge, Empty, ErrorBox, Loading } from '../../lib/ui';
import { useView } from '../../lib/view-state';

const HISTORY = 60;

/** The last HISTORY throughput samples, one per distinct asOf. */
function useThroughputHistory(asOf: string | undefined, value: number | undefined) {
  const [history, setHistory] = useState<number[]>([]);
  const last = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (asOf === undefined || value === undefined || asOf === last.current) return;
    last.current = asOf;
    setHistory((h) => [...h.slice(-(HISTORY - 1)), value]);
  }, [asOf, value]);
  return history;
}

function Sparkline({ values }: { values: number[] }) {
  if (values.length < 2) return null;
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${(i / (HISTORY - 1)) * 100},${30 - (v / max) * 28}`).join(' ');
  return (
    <svg className="spark" viewBox="0 0 100 30" preserveAspectRatio="none" role="img" aria-label="Throughput, last minute">
      <polyline points={points} fill="none" stroke="currentColor" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}

export function HealthPanel() {
  const stats = useStats();
  const { tz } = useView().common;
  const s = stats.data;
  const history = useThroughputHistory(s?.asOf, s?.throughput.processedPerSecond);

  return (
    <section aria-labelledby="health-title" className="panel">
      <h2 id="health-title">
        Pipeline health{' '}
        {stats.mode === 'live' ? (
          <Badge tone="ok">live</Badge>
        ) : (
          <Badge tone="info">{stats.mode === 'connecting' ? 'connecting…' : 'polling'}</Badge>
        )}
      </h2>
      {!s && stats.isPending ? <Loading label="Loading stats…" /> : null}
      {stats.isError ? <ErrorBox error={stats.error} title="Stats unavailable" /> : null}
      {s ? (
        <>
          <ReconciliationLine stats={s} />
          <div className="tiles">
            <div className="tile">
              <div className="tile-label">Throughput</div>
              <div className="tile-value" data-testid="throughput">
                {formatRate(s.throughput.processedPerSecond)}
                <span className="unit">/s</span>
              </div>
              <div className="muted">over {s.throughput.windowSeconds} s</div>
              <Sparkline values={history} />
            </div>
            <div className="tile">
              <div className="tile-label">Consumer lag</div>
              <div className="tile-value">{formatCount(s.lag.reduce((sum, p) => sum + p.lag, 0))}</div>
              <div className="muted">{s.lag.length} partitions</div>
            </div>
            <div className="tile">
              <div className="tile-label">Dead-letter queue</div>
              <div className="tile-value" data-testid="dlq-size">
                {formatCount(s.deadLettered)}
              </div>
              <div className="muted">replay with processor dlq replay</div>
            </div>
            <div className="tile">
              <div className="tile-label">Rejected</div>
              <div className="tile-value">{formatCount(s.rejected)}</div>
              <div className="muted">{s.rejectedByReason.length} reasons</div>
            </div>
          </div>
          <div className="grid-2">
            <div className="card">
              <h3>Lag per partition</h3>
              {s.lag.length === 0 ? (
                <Empty>No partitions reported.</Empty>
              ) : (
                <LagTable lag={s.lag} />
              )}
            </div>
            <div className="card">
              <h3>Rejected by reason</h3>
              {s.rejectedByReason.length === 0 ? (
                <Empty>No rejections.</Empty>
              ) : (
                <table aria-label="Rejected by reason">
                  <thead>
                    <tr>
                      <th scope="col">Code</th>
                      <th scope="col" className="num">Count</th>
                    </tr>
                  </thead>
                  <tbody>
                    {[...s.rejectedByReason]
                      .sort((a, b) => b.count - a.count)
                      .map((r) => (
                        <tr key={r.code}>
                          <td>
                            <code>{r.code}</code>
                          </td>
                          <td className="num">{formatCount(r.count)}</td>
                        </tr>
                      ))}
                  </tbody>
                </table>
              )}
            </div>
          </div>
          <p className="muted">As of {formatInstant(s.asOf, tz)} ({tz})</p>
        </>
      ) : null}
    </section>
  );
}

function LagTable({ lag }: { lag: { partition: number; lag: number }[] }) {
  const max = Math.max(1, ...lag.map((p) => p.lag));
  return (
    <table aria-label="Lag per partition">
      <thead>
        <tr>
          <th scope="col">Partition</th>
          <th scope="col" className="num">Lag</th>
          <th scope="col" aria-hidden="true" className="bar-col" />
        </tr>
      </thead>
      <tbody>
        {[...lag]
          .sort((a, b) => a.partition - b.partition)
          .map((p) => (
            <tr key={p.partition}>
              <td>{p.partition}</td>
              <td className="num">{formatCount(p.lag)}</td>
              <td aria-hidden="true" className="bar-col">
                <span className="bar" style={{ width: `${(p.lag / max) * 100}%` }} />
              </td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}
