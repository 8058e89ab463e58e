import { lazy, Suspense, useId, useState, type FormEvent } from 'react';
import { useQuery } from '@tanstack/react-query';
import { query, unwrap, type AggregationResponse, type GroupBy, type Interval } from '../../lib/api/client';
import { formatAmount, formatCount, localInputToIso } from '../../lib/format';
import { Empty, ErrorBox, Loading } from '../../lib/ui';

const SeriesChart = lazy(() => import('./SeriesChart'));

export interface AggregationFilters {
  clientIds: string[];
  metrics: string[];
  from?: string;
  to?: string;
  groupBy: GroupBy;
  interval?: Interval;
}

const initial: AggregationFilters = { clientIds: [], metrics: [], groupBy: 'both', interval: 'day' };

function list(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export function fetchAggregations(f: AggregationFilters): Promise<AggregationResponse> {
  return unwrap(
    query.GET('/v1/aggregations', {
      params: {
        query: {
          clientId: f.clientIds.length ? f.clientIds : undefined,
          metric: f.metrics.length ? f.metrics : undefined,
          from: f.from,
          to: f.to,
          groupBy: f.groupBy,
          interval: f.interval,
        },
      },
    }),
  );
}

export function AggregationsPanel() {
  const id = useId();
  const [filters, setFilters] = useState<AggregationFilters>(initial);
  const [measure, setMeasure] = useState<'sum' | 'count'>('sum');
  const result = useQuery({
    queryKey: ['aggregations', filters],
    queryFn: () => fetchAggregations(filters),
    placeholderData: (prev) => prev,
  });

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const text = (name: string) => String(form.get(name) ?? '');
    const interval = text('interval');
    setFilters({
      clientIds: list(text('clientId')),
      metrics: list(text('metric')),
      from: localInputToIso(text('from')),
      to: localInputToIso(text('to')),
      groupBy: text('groupBy') as GroupBy,
      interval: interval ? (interval as Interval) : undefined,
    });
  };

  const groups = result.data?.groups ?? [];
  const showClient = filters.groupBy === 'clientId' || filters.groupBy === 'both';
  const showMetric = filters.groupBy === 'metric' || filters.groupBy === 'both';

  return (
    <section aria-labelledby="agg-title" className="panel">
      <h2 id="agg-title">Aggregations</h2>
      <form className="filters" onSubmit={apply} aria-label="Aggregation filters">
        <label>
          Clients <span className="muted">(comma-separated)</span>
          <input name="clientId" id={`${id}-client`} placeholder="client_A, client_B" />
        </label>
        <label>
          Metrics <span className="muted">(comma-separated)</span>
          <input name="metric" placeholder="purchase" />
        </label>
        <label>
          From (UTC)
          <input name="from" type="datetime-local" step={1} />
        </label>
        <label>
          To (UTC)
          <input name="to" type="datetime-local" step={1} />
        </label>
        <label>
          Group by
          <select name="groupBy" defaultValue={initial.groupBy}>
            <option value="none">none</option>
            <option value="clientId">client</option>
            <option value="metric">metric</option>
            <option value="both">client and metric</option>
          </select>
        </label>
        <label>
          Interval
          <select name="interval" defaultValue={initial.interval}>
            <option value="">none</option>
            <option value="minute">minute</option>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </label>
        <button type="submit" className="primary">
          Apply
        </button>
      </form>

      {result.isPending ? <Loading label="Loading aggregations…" /> : null}
      {result.isError ? <ErrorBox error={result.error} title="Aggregations unavailable" /> : null}
      {result.isSuccess && groups.length === 0 ? <Empty>No events match these filters.</Empty> : null}
      {groups.length > 0 ? (
        <>
          <div className="table-wrap">
            <table aria-label="Aggregation groups">
              <thead>
                <tr>
                  {showClient ? <th scope="col">Client</th> : null}
                  {showMetric ? <th scope="col">Metric</th> : null}
                  <th scope="col" className="num">Count</th>
                  <th scope="col" className="num">Sum</th>
                  <th scope="col" className="num">Avg</th>
                  <th scope="col" className="num">Min</th>
                  <th scope="col" className="num">Max</th>
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => (
                  <tr key={`${g.clientId ?? ''}\u0000${g.metric ?? ''}`}>
                    {showClient ? <td>{g.clientId}</td> : null}
                    {showMetric ? <td>{g.metric}</td> : null}
                    <td className="num">{formatCount(g.count)}</td>
                    <td className="num">{formatAmount(g.sum)}</td>
                    <td className="num">{formatAmount(g.avg)}</td>
                    <td className="num">{formatAmount(g.min)}</td>
                    <td className="num">{formatAmount(g.max)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {filters.interval ? (
            <div className="chart-box">
              <div className="toolbar" role="radiogroup" aria-label="Chart value">
                {(['sum', 'count'] as const).map((m) => (
                  <label key={m} className="radio">
                    <input type="radio" name={`${id}-measure`} checked={measure === m} onChange={() => setMeasure(m)} />{' '}
                    {m} per {filters.interval}
                  </label>
                ))}
              </div>
              <Suspense fallback={<Loading label="Loading chart…" />}>
                <SeriesChart groups={groups} measure={measure} />
              </Suspense>
            </div>
          ) : null}
        </>
      ) : null}
    </section>
  );
}
