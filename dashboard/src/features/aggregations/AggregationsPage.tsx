// Aggregations: the filtered detail behind the overview's numbers. Group-by
// and interval default to what the filters and range suggest (autoGroupBy,
// autoInterval) and can be overridden; the table sorts, exports as CSV with
// exact amounts, and every row links to its events.
import { useId } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import type { GroupBy, Interval } from '../../lib/api/client';
import { downloadCsv, fileStamp } from '../../lib/csv';
import { formatAmount, formatCount } from '../../lib/format';
import { refetchInterval } from '../../lib/live';
import { Link } from '../../lib/router';
import { autoInterval, rangeLabel } from '../../lib/time-range';
import { formatInstant } from '../../lib/time-zone';
import { Empty, ErrorBox, Loading } from '../../lib/ui';
import { linkTo, useView } from '../../lib/view-state';
import { ViewToolbar } from '../filters/ViewToolbar';
import { aggregationKey, fetchAggregations, type AggregationRequest } from './api';
import { autoGroupBy, intervalOff, readGroupBy, readInterval, readMeasure } from './params';
import { amountOf, groupsCsv, readSort, showsClient, showsMetric, sortGroups, sortParam, type Sort, type SortKey } from './table';
import { TimeSeriesCard } from './TimeSeriesCard';

const GROUP_LABELS: Record<GroupBy, string> = { none: 'none', clientId: 'client', metric: 'metric', both: 'client and metric' };

export function AggregationsPage() {
  const id = useId();
  const { common, params, setCommon, update } = useView();
  const suggestedGroupBy = autoGroupBy(common.clients, common.metrics);
  const groupBy = readGroupBy(params) ?? suggestedGroupBy;
  const suggestedInterval = autoInterval(common.range);
  const interval: Interval | undefined = intervalOff(params) ? undefined : (readInterval(params) ?? suggestedInterval);
  const measure = readMeasure(params);
  const sort = readSort(params);

  const request: AggregationRequest = { range: common.range, clients: common.clients, metrics: common.metrics, groupBy, interval };
  const result = useQuery({
    queryKey: aggregationKey(request),
    queryFn: () => fetchAggregations(request),
    refetchInterval: refetchInterval(common.live),
    placeholderData: keepPreviousData,
  });

  const groups = sortGroups(result.data?.response.groups ?? [], sort);
  const span = result.data?.window;
  const withClient = showsClient(groupBy);
  const withMetric = showsMetric(groupBy);

  const exportCsv = () => {
    if (!span) return;
    const range = `${span.from === undefined ? 'all' : fileStamp(span.from)}-${fileStamp(span.to)}`;
    downloadCsv(`tally-aggregation-${groupBy}-${range}.csv`, groupsCsv(groups, groupBy));
  };

  const sortButton = (key: SortKey, label: string) => {
    const active = sort.key === key;
    const next: Sort = { key, desc: active ? !sort.desc : key !== 'clientId' && key !== 'metric' };
    return (
      <th scope="col" className={key === 'clientId' || key === 'metric' ? undefined : 'num'} aria-sort={active ? (sort.desc ? 'descending' : 'ascending') : undefined}>
        <button type="button" className="sort" onClick={() => update({ sort: sortParam(next) }, { replace: true })}>
          {label}
          <span aria-hidden="true">{active ? (sort.desc ? ' ▾' : ' ▴') : ''}</span>
        </button>
      </th>
    );
  };

  const eventsLink = (clientId?: string, metric?: string, status?: string) =>
    linkTo('/events', params, {
      client: clientId ?? common.clients.slice(0, 1),
      metric: metric ?? common.metrics.slice(0, 1),
      status,
    });

  return (
    <section aria-labelledby="agg-title" className="panel">
      <h2 id="agg-title">Aggregations</h2>
      <ViewToolbar
        view={common}
        basis="event time"
        onChange={(c) => setCommon(c)}
        refresh={{
          updatedAt: result.dataUpdatedAt,
          fetching: result.isFetching,
          refreshError: result.isRefetchError,
          onRefresh: () => void result.refetch(),
        }}
      >
        <div>
          <label htmlFor={`${id}-group`}>Group by</label>
          <select id={`${id}-group`} value={readGroupBy(params) ?? ''} onChange={(e) => update({ groupBy: e.target.value || undefined, sort: undefined })}>
            <option value="">auto ({GROUP_LABELS[suggestedGroupBy]})</option>
            {(Object.keys(GROUP_LABELS) as GroupBy[]).map((g) => (
              <option key={g} value={g}>
                {GROUP_LABELS[g]}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label htmlFor={`${id}-interval`}>Interval</label>
          <select id={`${id}-interval`} value={params.get('interval') ?? ''} onChange={(e) => update({ interval: e.target.value || undefined })}>
            <option value="">auto ({suggestedInterval})</option>
            <option value="none">none</option>
            <option value="minute">minute</option>
            <option value="hour">hour</option>
            <option value="day">day</option>
          </select>
        </div>
      </ViewToolbar>

      {span ? (
        <p className="muted window" data-testid="window">
          {rangeLabel(common.range)}
          {span.from !== undefined ? `: ${formatInstant(span.from, common.tz)} → ${formatInstant(span.to, common.tz)} (${common.tz})` : ''} · grouped by{' '}
          {GROUP_LABELS[groupBy]}
          {interval ? ` · per ${interval}` : ''}
        </p>
      ) : null}

      {result.isPending ? <Loading label="Loading aggregations…" /> : null}
      {result.isError && !result.data ? <ErrorBox error={result.error} title="Aggregations unavailable" /> : null}
      {result.isSuccess && groups.length === 0 ? <Empty>No events match these filters in this range.</Empty> : null}
      {groups.length > 0 && span ? (
        <>
          {interval ? (
            <TimeSeriesCard
              title={`${measure === 'count' ? 'Events' : 'Amount'} per ${interval}`}
              groups={groups}
              measure={measure}
              onMeasure={(m) => update({ chart: m === 'count' ? undefined : m })}
              interval={interval}
              tz={common.tz}
              window={span}
              rangeText={rangeLabel(common.range).toLowerCase()}
            />
          ) : null}
          <div className="toolbar">
            <span className="muted" data-testid="group-count">
              {groups.length === 1 ? '1 group' : `${formatCount(groups.length)} groups`}
            </span>
            <button type="button" onClick={exportCsv}>
              Export CSV
            </button>
          </div>
          <div className="table-wrap">
            <table aria-label="Aggregation groups" aria-busy={result.isPlaceholderData}>
              <thead>
                <tr>
                  {withClient ? sortButton('clientId', 'Client') : null}
                  {withMetric ? sortButton('metric', 'Metric') : null}
                  {sortButton('count', 'Count')}
                  {sortButton('sum', 'Sum')}
                  {sortButton('avg', 'Avg')}
                  {sortButton('min', 'Min')}
                  {sortButton('max', 'Max')}
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => (
                  <tr key={`${g.clientId ?? ''}\u0000${g.metric ?? ''}`} data-testid="group-row">
                    {withClient ? (
                      <td className="wrap">
                        <Link to={eventsLink(g.clientId, withMetric ? g.metric : undefined)}>{g.clientId}</Link>
                      </td>
                    ) : null}
                    {withMetric ? (
                      <td className="wrap">
                        <Link to={eventsLink(withClient ? g.clientId : undefined, g.metric)}>{g.metric}</Link>
                      </td>
                    ) : null}
                    <td className="num">
                      <Link to={eventsLink(g.clientId, g.metric, 'processed')}>{formatCount(g.count)}</Link>
                    </td>
                    <td className="num">{formatAmount(amountOf(g, 'sum'))}</td>
                    <td className="num">{formatAmount(amountOf(g, 'avg'))}</td>
                    <td className="num">{formatAmount(amountOf(g, 'min'))}</td>
                    <td className="num">{formatAmount(amountOf(g, 'max'))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p className="muted">
            Amounts are exact. Event lists filter on the time the pipeline received each event; these totals use the event's own
            time.
          </p>
        </>
      ) : null}
    </section>
  );
}
