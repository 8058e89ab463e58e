// The page people open every morning: for the chosen range and filters,
// total events and amount, a time series, top clients and metrics, and the
// reconciliation line. Every number links to the view behind it.
import { useMemo } from 'react';
import { keepPreviousData, useQuery, type QueryClient } from '@tanstack/react-query';
import type { Group, GroupBy } from '../../lib/api/client';
import { compareDecimal, exactText } from '../../lib/decimal';
import { formatAmount, formatCount } from '../../lib/format';
import { refetchInterval } from '../../lib/live';
import { useStats } from '../../lib/live-stats';
import { ReconciliationLine } from '../../lib/ReconciliationLine';
import { Link } from '../../lib/router';
import { autoInterval, rangeLabel } from '../../lib/time-range';
import { formatInstant } from '../../lib/time-zone';
import { Empty, ErrorBox, Loading } from '../../lib/ui';
import { linkTo, readCommon, useView } from '../../lib/view-state';
import { aggregationKey, fetchAggregations, type AggregationRequest } from '../aggregations/api';
import { readInterval, readMeasure } from '../aggregations/params';
import { TimeSeriesCard } from '../aggregations/TimeSeriesCard';
import { ViewToolbar } from '../filters/ViewToolbar';

export const TOP_N = 5;

/** Groups by count, then amount, descending. */
export function topGroups(groups: Group[], n = TOP_N): Group[] {
  return [...groups]
    .sort((a, b) => b.count - a.count || compareDecimal(exactText(b.sumExact, b.sum) ?? '0', exactText(a.sumExact, a.sum) ?? '0'))
    .slice(0, n);
}

/** The overview's three requests: totals with a series, by client, by metric. */
export function overviewRequests(params: URLSearchParams) {
  const common = readCommon(params);
  const interval = readInterval(params) ?? autoInterval(common.range);
  const request = (groupBy: GroupBy, withInterval: boolean): AggregationRequest => ({
    range: common.range,
    clients: common.clients,
    metrics: common.metrics,
    groupBy,
    interval: withInterval ? interval : undefined,
  });
  return { interval, totalReq: request('none', true), clientReq: request('clientId', false), metricReq: request('metric', false) };
}

/**
 * Starts the overview's requests before the app renders (main.tsx). The
 * promise settles when all three have (prefetchQuery never rejects).
 */
export function prefetchOverview(client: QueryClient, params: URLSearchParams): Promise<unknown> {
  const { totalReq, clientReq, metricReq } = overviewRequests(params);
  return Promise.all([totalReq, clientReq, metricReq].map((r) => client.prefetchQuery({ queryKey: aggregationKey(r), queryFn: () => fetchAggregations(r) })));
}

export function Overview() {
  const { common, params, setCommon, update } = useView();
  const { interval, totalReq, clientReq, metricReq } = useMemo(() => overviewRequests(params), [params]);
  const measure = readMeasure(params);
  const options = { refetchInterval: refetchInterval(common.live), placeholderData: keepPreviousData };
  const total = useQuery({ queryKey: aggregationKey(totalReq), queryFn: () => fetchAggregations(totalReq), ...options });
  const byClient = useQuery({ queryKey: aggregationKey(clientReq), queryFn: () => fetchAggregations(clientReq), ...options });
  const byMetric = useQuery({ queryKey: aggregationKey(metricReq), queryFn: () => fetchAggregations(metricReq), ...options });
  const all = [total, byClient, byMetric];

  const sum = total.data?.response.groups[0];
  const span = total.data?.window;
  const rangeText = rangeLabel(common.range).toLowerCase();
  const toAggregations = (patch = {}) => linkTo('/aggregations', params, patch);

  return (
    <section aria-labelledby="overview-title" className="panel">
      <h2 id="overview-title">Overview</h2>
      <ViewToolbar
        view={common}
        basis="event time"
        onChange={(c) => setCommon(c)}
        refresh={{
          updatedAt: all.every((q) => q.dataUpdatedAt > 0) ? Math.min(...all.map((q) => q.dataUpdatedAt)) : 0,
          fetching: all.some((q) => q.isFetching),
          refreshError: all.some((q) => q.isRefetchError),
          onRefresh: () => all.forEach((q) => void q.refetch()),
        }}
      />
      {span ? (
        <p className="muted window" data-testid="window">
          {rangeLabel(common.range)}
          {span.from !== undefined ? `: ${formatInstant(span.from, common.tz)} → ${formatInstant(span.to, common.tz)} (${common.tz})` : ''}
          {common.clients.length ? ` · clients ${common.clients.join(', ')}` : ''}
          {common.metrics.length ? ` · metrics ${common.metrics.join(', ')}` : ''}
        </p>
      ) : null}

      {total.isError && !total.data ? <ErrorBox error={total.error} title="Totals unavailable" /> : null}
      <div className="tiles" aria-busy={total.isPlaceholderData || total.isPending}>
        <Tile label="Events" testId="total-events" to={toAggregations()} pending={total.isPending}>
          {formatCount(sum?.count ?? 0)}
        </Tile>
        <Tile label="Amount" testId="total-amount" to={toAggregations({ chart: 'sum' })} pending={total.isPending}>
          {formatAmount(sum ? sum.sumExact : '0', sum?.sum)}
        </Tile>
        <Tile label="Clients" testId="total-clients" to={toAggregations({ groupBy: 'clientId' })} pending={byClient.isPending}>
          {formatCount(byClient.data?.response.groups.length ?? 0)}
        </Tile>
        <Tile label="Metrics" testId="total-metrics" to={toAggregations({ groupBy: 'metric' })} pending={byMetric.isPending}>
          {formatCount(byMetric.data?.response.groups.length ?? 0)}
        </Tile>
      </div>

      {total.isPending ? (
        <Loading label="Loading time series…" />
      ) : total.data && span ? (
        <TimeSeriesCard
          title={measure === 'count' ? `Events per ${interval}` : `Amount per ${interval}`}
          groups={total.data.response.groups}
          measure={measure}
          onMeasure={(m) => update({ chart: m === 'count' ? undefined : m })}
          interval={interval}
          tz={common.tz}
          window={span}
          rangeText={rangeText}
        />
      ) : null}

      <div className="grid-2">
        <TopList
          title="Top clients"
          field="clientId"
          noun="client"
          query={byClient}
          rowLink={(g) => toAggregations({ client: g.clientId!, groupBy: undefined })}
          allLink={toAggregations({ groupBy: 'clientId' })}
        />
        <TopList
          title="Top metrics"
          field="metric"
          noun="metric"
          query={byMetric}
          rowLink={(g) => toAggregations({ metric: g.metric!, groupBy: undefined })}
          allLink={toAggregations({ groupBy: 'metric' })}
        />
      </div>

      <ReconciliationCard />
    </section>
  );
}

function Tile({ label, testId, to, pending, children }: { label: string; testId: string; to: string; pending: boolean; children: string }) {
  return (
    <Link to={to} className="tile tile-link">
      <span className="tile-label">{label}</span>
      <span className="tile-value" data-testid={testId}>
        {pending ? '…' : children}
      </span>
    </Link>
  );
}

interface TopListProps {
  title: string;
  field: 'clientId' | 'metric';
  noun: string;
  query: { data?: { response: { groups: Group[] } }; isPending: boolean; isError: boolean; error: unknown };
  rowLink: (g: Group) => string;
  allLink: string;
}

function TopList({ title, field, noun, query, rowLink, allLink }: TopListProps) {
  const groups = query.data?.response.groups ?? [];
  const top = topGroups(groups);
  const max = Math.max(1, ...top.map((g) => g.count));
  return (
    <section className="card" aria-label={title}>
      <div className="card-head">
        <h3>{title}</h3>
        {groups.length > top.length ? (
          <Link to={allLink} className="muted-link">
            All {groups.length} {noun}s
          </Link>
        ) : null}
      </div>
      {query.isPending ? <Loading /> : null}
      {query.isError && !query.data ? <ErrorBox error={query.error} title={`${title} unavailable`} /> : null}
      {query.data && top.length === 0 ? <Empty>No {noun}s in this range.</Empty> : null}
      {top.length > 0 ? (
        <table aria-label={title} className="top-list">
          <thead>
            <tr>
              <th scope="col">{noun === 'client' ? 'Client' : 'Metric'}</th>
              <th scope="col" className="num">
                Events
              </th>
              <th scope="col" className="num">
                Amount
              </th>
            </tr>
          </thead>
          <tbody>
            {top.map((g) => {
              const to = rowLink(g);
              return (
                <tr key={g[field]} data-testid={`top-${noun}`}>
                  <td className="wrap">
                    <Link to={to}>{g[field]}</Link>
                    <span className="share" aria-hidden="true">
                      <span style={{ width: `${(g.count / max) * 100}%` }} />
                    </span>
                  </td>
                  <td className="num">
                    <Link to={to}>{formatCount(g.count)}</Link>
                  </td>
                  <td className="num">
                    <Link to={to}>{formatAmount(g.sumExact, g.sum)}</Link>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function ReconciliationCard() {
  const stats = useStats();
  const { common } = useView();
  return (
    <section className="card" aria-labelledby="recon-title">
      <h3 id="recon-title">Reconciliation (all time)</h3>
      {stats.data ? (
        <>
          <ReconciliationLine stats={stats.data} />
          <p className="muted">
            As of {formatInstant(stats.data.asOf, common.tz)} ({common.tz}) · {stats.mode === 'live' ? 'live' : stats.mode}
          </p>
        </>
      ) : stats.isError ? (
        <ErrorBox error={stats.error} title="Stats unavailable" />
      ) : (
        <Loading label="Loading stats…" />
      )}
    </section>
  );
}
