import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlignedSeries } from '../aggregations/series';
import { json, mockFetch } from '../../testing/fetch-mock';
import { at, group, renderWithProviders, stats } from '../../testing/render';
import { Overview, topGroups } from './Overview';

// uPlot needs a real canvas; the chart shows the aligned data it would plot.
vi.mock('../aggregations/SeriesChart', () => ({
  default: ({ series, label }: { series: AlignedSeries; label: string }) => (
    <pre data-testid="chart" aria-label={label}>
      {JSON.stringify(series)}
    </pre>
  ),
}));

afterEach(() => vi.useRealTimers());

const filters = { clientId: [], metric: [], from: null, to: null, groupBy: 'none', interval: null };
const BIG = '12345678901234.123456789';

function backend(byGroup: Record<string, unknown[]>) {
  return mockFetch({
    'GET /query/v1/stats': stats(),
    'GET /admin/v1/faults': () => json(403, { error: { code: 'forbidden', message: 'off' } }),
    'GET /query/v1/aggregations': ({ url }) => json(200, { groups: byGroup[url.searchParams.get('groupBy') ?? ''] ?? [], filters }),
  });
}

const today = new Date(Date.now() - (Date.now() % 86_400_000)).toISOString();
const totals = [group({ count: 3, sum: BIG }, [{ bucket: today, count: 3, sum: BIG }])];
const byClient = [
  group({ clientId: 'client_A', count: 1, sum: '0.5' }),
  group({ clientId: 'client_B', count: 2, sum: BIG }),
];
const byMetric = [group({ metric: 'purchase', count: 3, sum: BIG })];

describe('Overview', () => {
  it('shows totals with exact amounts, top lists and links that carry the view', async () => {
    at('/?range=7d&client=client_A&client=client_B&tz=Asia%2FTokyo');
    const api = backend({ none: totals, clientId: byClient, metric: byMetric });
    renderWithProviders(<Overview />);

    await waitFor(() => expect(screen.getByTestId('total-amount')).toHaveTextContent(/^12,345,678,901,234\.123456789$/));
    expect(screen.getByTestId('total-events')).toHaveTextContent(/^3$/);
    expect(screen.getByTestId('total-clients')).toHaveTextContent(/^2$/);
    expect(screen.getByTestId('total-metrics')).toHaveTextContent(/^1$/);

    const calls = api.to('GET', '/query/v1/aggregations').map((c) => c.url.searchParams);
    expect(calls.map((p) => p.get('groupBy')).sort()).toEqual(['clientId', 'metric', 'none']);
    for (const p of calls) {
      expect(p.getAll('clientId')).toEqual(['client_A', 'client_B']);
      expect(Date.parse(p.get('to')!) - Date.parse(p.get('from')!)).toBe(7 * 86_400_000);
    }
    expect(calls.find((p) => p.get('groupBy') === 'none')!.get('interval')).toBe('day');
    expect(calls.find((p) => p.get('groupBy') === 'clientId')!.has('interval')).toBe(false);

    // Top clients: by count, each number linking to the filtered aggregation.
    const top = screen.getByRole('table', { name: 'Top clients' });
    const rows = within(top).getAllByTestId('top-client');
    expect(rows.map((r) => r.textContent)).toEqual(['client_B212,345,678,901,234.123456789', 'client_A10.5']);
    for (const link of within(rows[0]!).getAllByRole('link')) expect(link).toHaveAttribute('href', '/aggregations?client=client_B&range=7d&tz=Asia%2FTokyo');
    expect(screen.getByTestId('total-events').closest('a')).toHaveAttribute('href', '/aggregations?client=client_A&client=client_B&range=7d&tz=Asia%2FTokyo');
    expect(screen.getByTestId('total-amount').closest('a')).toHaveAttribute('href', expect.stringContaining('chart=sum'));

    // The series is zero-filled across the window, one bucket per day.
    const chart = JSON.parse((await screen.findByTestId('chart')).textContent!) as AlignedSeries;
    expect(chart.data[0]).toHaveLength(8);
    expect(chart.data[1]!.filter((v) => v !== 0)).toEqual([3]);
    expect(screen.getByTestId('window')).toHaveTextContent('(Asia/Tokyo)');

    // The reconciliation line links every count to the records behind it.
    expect(within(screen.getByRole('region', { name: /reconciliation/i })).getByTestId('stat-duplicates').closest('a')).toHaveAttribute(
      'href',
      '/events?range=all&status=duplicate&tz=Asia%2FTokyo',
    );
  });

  it('changes the range in the URL and asks again', async () => {
    const api = backend({ none: totals, clientId: byClient, metric: byMetric });
    renderWithProviders(<Overview />);
    await screen.findByTestId('chart');
    await userEvent.selectOptions(screen.getByLabelText(/^Range/), 'Last 15 minutes');
    expect(window.location.search).toBe('?range=15m');
    await waitFor(() => expect(api.to('GET', '/query/v1/aggregations').length).toBeGreaterThanOrEqual(6));
    const last = api.to('GET', '/query/v1/aggregations').at(-1)!.url.searchParams;
    expect(Date.parse(last.get('to')!) - Date.parse(last.get('from')!)).toBe(15 * 60_000);
    expect(api.to('GET', '/query/v1/aggregations').find((c) => c.url.searchParams.get('groupBy') === 'none' && c.url.searchParams.get('interval') === 'minute')).toBeDefined();
  });

  it('shows empty and error states', async () => {
    backend({});
    const first = renderWithProviders(<Overview />);
    expect(await screen.findByText('No events in this range.')).toBeInTheDocument();
    expect(screen.getByText('No clients in this range.')).toBeInTheDocument();
    expect(screen.getByTestId('total-amount')).toHaveTextContent(/^0$/);
    first.unmount();

    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/aggregations': () => json(503, { error: { code: 'clickhouse_unavailable', message: 'ClickHouse is down' } }, { 'Retry-After': '5' }),
    });
    renderWithProviders(<Overview />);
    const alert = (await screen.findAllByRole('alert'))[0]!;
    expect(alert).toHaveTextContent('Totals unavailable');
    expect(alert).toHaveTextContent('clickhouse_unavailable');
    expect(alert).toHaveTextContent('Retry after 5 s.');
  });

  it('polls while live and stops when paused', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    at('/?range=1h');
    const api = backend({ none: totals, clientId: byClient, metric: byMetric });
    renderWithProviders(<Overview />);
    await screen.findByTestId('chart');
    const calls = () => api.to('GET', '/query/v1/aggregations').length;
    expect(calls()).toBe(3);
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    await waitFor(() => expect(calls()).toBe(6));
    expect(screen.getByTestId('updated-ago')).toHaveTextContent(/updated \d+ s ago/);

    await act(async () => screen.getByRole('switch', { name: 'Live' }).click());
    expect(window.location.search).toBe('?live=off&range=1h');
    expect(screen.getByTestId('updated-ago')).toHaveTextContent('paused');
    await act(() => vi.advanceTimersByTimeAsync(30_000));
    expect(calls()).toBe(6);

    await act(async () => screen.getByRole('button', { name: 'Refresh now' }).click());
    await waitFor(() => expect(calls()).toBe(9));
  });
});

describe('topGroups', () => {
  it('ranks by count, then by exact amount', () => {
    const ranked = topGroups([
      group({ clientId: 'a', count: 1, sum: '5' }),
      group({ clientId: 'b', count: 2, sum: '1' }),
      group({ clientId: 'c', count: 1, sum: '12345678901234.123456790' }),
      group({ clientId: 'd', count: 1, sum: '12345678901234.123456789' }),
    ]);
    expect(ranked.map((g) => g.clientId)).toEqual(['b', 'c', 'd', 'a']);
  });
});
