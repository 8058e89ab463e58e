import { useId, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { admin, unwrap, type FaultRequest, type FaultState } from '../../lib/api/client';
import { formatCount } from '../../lib/format';
import { useStats } from '../../lib/live-stats';
import { ReconciliationLine } from '../../lib/ReconciliationLine';
import { formatInstant } from '../../lib/time-zone';
import { Badge, ErrorBox, Loading } from '../../lib/ui';
import { useView } from '../../lib/view-state';
import { faultsKey, fetchFaults, isFaultInjectionOff } from './api';


export function FailureLab() {
  return (
    <section aria-labelledby="lab-title" className="panel">
      <h2 id="lab-title">Failure lab</h2>
      <Reconciliation />
      <div className="grid-2">
        <Faults />
        <ProcessorStatusCard />
      </div>
    </section>
  );
}

function Reconciliation() {
  const stats = useStats();
  const { tz } = useView().common;
  if (stats.data) {
    const lag = stats.data.lag.reduce((sum, p) => sum + p.lag, 0);
    return (
      <div className="card">
        <h3>Reconciliation</h3>
        <ReconciliationLine stats={stats.data} />
        <p className="muted">
          Consumer lag {formatCount(lag)} · as of {formatInstant(stats.data.asOf, tz)} ({tz})
        </p>
      </div>
    );
  }
  if (stats.isError) return <ErrorBox error={stats.error} title="Stats unavailable" />;
  return <Loading label="Loading stats…" />;
}

function ProcessorStatusCard() {
  const status = useQuery({
    queryKey: ['processor-status'],
    queryFn: () => unwrap(admin.GET('/v1/status')),
    refetchInterval: 2000,
  });
  return (
    <div className="card">
      <h3>Processor</h3>
      {status.isPending ? <Loading /> : null}
      {status.isError ? <ErrorBox error={status.error} title="Processor admin unavailable" /> : null}
      {status.data ? (
        <dl className="facts">
          <dt>Ready</dt>
          <dd>{status.data.ready ? <Badge tone="ok">ready</Badge> : <Badge tone="bad">not ready</Badge>}</dd>
          <dt>Retries</dt>
          <dd data-testid="processor-retries">{formatCount(status.data.retries)}</dd>
          <dt>Batches</dt>
          <dd>{formatCount(status.data.batches)}</dd>
          <dt>Partitions</dt>
          <dd>{status.data.assignedPartitions.length ? status.data.assignedPartitions.join(', ') : 'none'}</dd>
          <dt>Last error</dt>
          <dd className="wrap">{status.data.lastError || 'none'}</dd>
        </dl>
      ) : null}
    </div>
  );
}

function Faults() {
  const client = useQueryClient();
  const faults = useQuery({
    queryKey: faultsKey,
    queryFn: fetchFaults,
    refetchInterval: (q) => (isFaultInjectionOff(q.state.error) ? false : 3000),
    retry: (count, err) => !isFaultInjectionOff(err) && count < 2,
  });
  const onState = (state: FaultState) => client.setQueryData(faultsKey, state);
  const set = useMutation({
    mutationFn: (body: FaultRequest) => unwrap(admin.PUT('/v1/faults', { body })),
    onSuccess: onState,
  });
  const clear = useMutation({
    mutationFn: () => unwrap(admin.DELETE('/v1/faults')),
    onSuccess: onState,
  });

  let body;
  if (faults.isPending) body = <Loading label="Loading faults…" />;
  else if (isFaultInjectionOff(faults.error))
    body = (
      <p className="state state-empty">
        Fault injection is disabled on the processor. Start it with <code>TALLY_FAULT_INJECTION=true</code> (
        <code>make dev</code> does).
      </p>
    );
  else if (faults.isError) body = <ErrorBox error={faults.error} title="Fault switchboard unavailable" />;
  else
    body = (
      <>
        <FaultForm
          target="clickhouse"
          state={faults.data.clickhouse}
          modes={['ok', 'fail', 'slow']}
          busy={set.isPending}
          onApply={(req) => set.mutate(req)}
        />
        <FaultForm
          target="redis"
          state={faults.data.redis}
          modes={['ok', 'fail']}
          busy={set.isPending}
          onApply={(req) => set.mutate(req)}
        />
        <button type="button" onClick={() => clear.mutate()} disabled={clear.isPending}>
          Clear all faults
        </button>
      </>
    );

  return (
    <div className="card">
      <h3>Fault switchboard</h3>
      {body}
      {set.isError ? <ErrorBox error={set.error} title="Could not set fault" /> : null}
      {clear.isError ? <ErrorBox error={clear.error} title="Could not clear faults" /> : null}
    </div>
  );
}

type Mode = FaultRequest['mode'];

interface FaultFormProps {
  target: FaultRequest['target'];
  state: { mode: Mode; until: string | null; slowMs?: number };
  modes: Mode[];
  busy: boolean;
  onApply: (req: FaultRequest) => void;
}

function FaultForm({ target, state, modes, busy, onApply }: FaultFormProps) {
  const id = useId();
  const { tz } = useView().common;
  const [mode, setMode] = useState<Mode>(state.mode);
  const [duration, setDuration] = useState('30');
  const [slowMs, setSlowMs] = useState(String(state.slowMs || 500));
  const title = target === 'clickhouse' ? 'ClickHouse' : 'Redis';

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const req: FaultRequest = { target, mode };
    const seconds = Number.parseInt(duration, 10);
    if (mode !== 'ok' && Number.isFinite(seconds) && seconds > 0) req.durationSeconds = seconds;
    if (mode === 'slow') req.slowMs = Math.max(0, Number.parseInt(slowMs, 10) || 0);
    onApply(req);
  };

  return (
    <form className="fault" onSubmit={submit} aria-label={`${title} fault`}>
      <fieldset>
        <legend>
          {title}{' '}
          <Badge tone={state.mode === 'ok' ? 'ok' : 'bad'}>
            <span data-testid={`fault-${target}`}>{state.mode}</span>
          </Badge>
          {state.until ? <span className="muted"> until {formatInstant(state.until, tz)} ({tz})</span> : null}
        </legend>
        <div className="toolbar">
          {modes.map((m) => (
            <label key={m} className="radio">
              <input type="radio" name={`${id}-mode`} value={m} checked={mode === m} onChange={() => setMode(m)} /> {m}
            </label>
          ))}
        </div>
        <div className="toolbar">
          <label>
            Duration (s){' '}
            <input
              type="number"
              min={0}
              inputMode="numeric"
              value={duration}
              onChange={(e) => setDuration(e.target.value)}
              disabled={mode === 'ok'}
              className="narrow"
            />
          </label>
          {modes.includes('slow') ? (
            <label>
              Slow (ms){' '}
              <input
                type="number"
                min={0}
                inputMode="numeric"
                value={slowMs}
                onChange={(e) => setSlowMs(e.target.value)}
                disabled={mode !== 'slow'}
                className="narrow"
              />
            </label>
          ) : null}
          <button type="submit" disabled={busy}>
            Apply {title}
          </button>
        </div>
      </fieldset>
    </form>
  );
}
