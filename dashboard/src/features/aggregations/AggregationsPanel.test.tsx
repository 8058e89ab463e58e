import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { Group } from '../../lib/api/client';
import { json, mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { AggregationsPanel } from './AggregationsPanel';
import { alignSeries } from './series';

// uPlot needs a real canvas; the chart gets the aligned data it would plot.
vi.mock('./SeriesChart', () => ({
  default: ({ groups, measure }: { groups: Group[]; measure: 'sum' | 'count' }) => (
    <pre data-testid="chart">{JSON.stringify(alignSeries(groups, measure))}</pre>
  ),
}));

const groups: Group[] = [
  {
    clientId: 'client_A',
    metric: 'purchase',
    count: 2,
    sum: 1300.5,
    avg: 650.25,
    min: 100.5,
    max: 1200,
    series: [
      { bucket: '2024-01-01T00:00:00.000Z', count: 1, sum: 1200, avg: 1200, min: 1200, max: 1200 },
      { bucket: '2024-01-02T00:00:00.000Z', count: 1, sum: 100.5, avg: 100.5, min: 100.5, max: 100.5 },
    ],
  },
  {
    clientId: 'client_B',
    metric: 'click',
    count: 1,
    sum: 500,
    avg: 500,
    min: 500,
    max: 500,
    series: [{ bucket: '2024-01-02T00:00:00.000Z', count: 1, sum: 500, avg: 500, min: 500, max: 500 }],
  },
];

const filters = { clientId: [], metric: [], from: null, to: null, groupBy: 'both', interval: 'day' };

describe('alignSeries', () => {
  it('aligns groups on the union of buckets with gaps as null', () => {
    const { labels, data } = alignSeries(groups, 'sum');
    expect(labels).toEqual(['client_A · purchase', 'client_B · click']);
    expect(data).toEqual([[1704067200, 1704153600], [1200, 100.5], [null, 500]]);
    expect(alignSeries(groups, 'count').data[2]).toEqual([null, 1]);
  });
});

describe('AggregationsPanel', () => {
  it('renders groups in a table and the series chart', async () => {
    const api = mockFetch({ 'GET /query/v1/stats': stats(), 'GET /query/v1/aggregations': { groups, filters } });
    renderWithProviders(<AggregationsPanel />);
    const table = await screen.findByRole('table', { name: 'Aggregation groups' });
    const rows = within(table).getAllByRole('row');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toHaveTextContent(/client_A\s*purchase\s*2\s*1,300\.5\s*650\.25\s*100\.5\s*1,200/);
    const first = api.to('GET', '/query/v1/aggregations')[0]!.url.searchParams;
    expect(first.get('groupBy')).toBe('both');
    expect(first.get('interval')).toBe('day');

    const chart = await screen.findByTestId('chart');
    expect(JSON.parse(chart.textContent!).data[1]).toEqual([1200, 100.5]);
    await userEvent.click(screen.getByRole('radio', { name: /count per day/i }));
    expect(JSON.parse(screen.getByTestId('chart').textContent!).data[1]).toEqual([1, 1]);
  });

  it('sends filters: repeated clientId, metric, time range in UTC, groupBy and no interval', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/aggregations': ({ url }) =>
        json(200, {
          groups: url.searchParams.get('groupBy') === 'none' ? [{ count: 3, sum: 1800.5, avg: 600.1666, min: 100.5, max: 1200 }] : groups,
          filters,
        }),
    });
    renderWithProviders(<AggregationsPanel />);
    await screen.findByRole('table', { name: 'Aggregation groups' });

    await userEvent.type(screen.getByLabelText(/clients/i), 'client_A, client_B');
    await userEvent.type(screen.getByLabelText(/metrics/i), 'purchase');
    await userEvent.type(screen.getByLabelText(/from/i), '2024-01-01T00:00:00');
    await userEvent.selectOptions(screen.getByLabelText(/group by/i), 'none');
    await userEvent.selectOptions(screen.getByLabelText(/interval/i), '');
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));

    await waitFor(() => expect(api.to('GET', '/query/v1/aggregations')).toHaveLength(2));
    const params = api.to('GET', '/query/v1/aggregations')[1]!.url.searchParams;
    expect(params.getAll('clientId')).toEqual(['client_A', 'client_B']);
    expect(params.getAll('metric')).toEqual(['purchase']);
    expect(params.get('from')).toBe('2024-01-01T00:00:00.000Z');
    expect(params.has('to')).toBe(false);
    expect(params.get('groupBy')).toBe('none');
    expect(params.has('interval')).toBe(false);

    await waitFor(() => expect(screen.getAllByRole('row')).toHaveLength(2));
    expect(screen.getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Count', 'Sum', 'Avg', 'Min', 'Max']);
    expect(screen.queryByTestId('chart')).not.toBeInTheDocument();
  });

  it('shows the empty state and API errors', async () => {
    let fail = false;
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/aggregations': () =>
        fail ? json(400, { error: { code: 'time_range_invalid', message: 'from must be before to' } }) : json(200, { groups: [], filters }),
    });
    renderWithProviders(<AggregationsPanel />);
    expect(await screen.findByText(/no events match/i)).toBeInTheDocument();
    fail = true;
    await userEvent.type(screen.getByLabelText(/clients/i), 'x');
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('time_range_invalid');
  });
});
