import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { json, mockFetch } from '../../testing/fetch-mock';
import { at, captureDownloads, group, renderWithProviders, stats } from '../../testing/render';
import { AggregationsPage } from './AggregationsPage';
import { alignSeries, type AlignedSeries } from './series';
import { groupsCsv, readSort, sortGroups } from './table';

vi.mock('./SeriesChart', () => ({
  default: ({ series }: { series: AlignedSeries }) => <pre data-testid="chart">{JSON.stringify(series)}</pre>,
}));

const filters = { clientId: [], metric: [], from: null, to: null, groupBy: 'both', interval: 'day' };
const groups = [
  group({ clientId: 'client_A', metric: 'purchase', count: 2, sum: '1300.5', avg: '650.25', min: '100.5', max: '1200' }, [
    { bucket: '2024-01-01T00:00:00.000Z', count: 1, sum: '1200' },
    { bucket: '2024-01-02T00:00:00.000Z', count: 1, sum: '100.5' },
  ]),
  group({ clientId: 'client_B', metric: 'click, "fast"', count: 3, sum: '12345678901234.123456789', avg: '4115226300411.374485596', min: '0.000000001', max: '12345678901234' }, [
    { bucket: '2024-01-02T00:00:00.000Z', count: 3, sum: '12345678901234.123456789' },
  ]),
];

function backend() {
  return mockFetch({
    'GET /query/v1/stats': stats(),
    'GET /query/v1/aggregations': ({ url }) => json(200, { groups: url.searchParams.get('groupBy') === 'none' ? [group({ count: 5, sum: '1' })] : groups, filters }),
  });
}

describe('alignSeries', () => {
  it('aligns groups on the union of buckets with gaps as null, or zero-filled on given buckets', () => {
    const { labels, data, exact } = alignSeries(groups, 'sum');
    expect(labels).toEqual(['client_A · purchase', 'client_B · click, "fast"']);
    expect(data).toEqual([[1704067200, 1704153600], [1200, 100.5], [null, 12345678901234.123]]);
    expect(exact[1]).toEqual([null, '12345678901234.123456789']);
    const filled = alignSeries(groups, 'count', [Date.UTC(2023, 11, 31), Date.UTC(2024, 0, 1), Date.UTC(2024, 0, 2)]);
    expect(filled.data.slice(1)).toEqual([[0, 1, 1], [0, 0, 3]]);
    expect(filled.exact[1]).toEqual(['0', '0', '3']);
  });
});

describe('aggregation table', () => {
  it('sorts by exact amounts and by name, and reads the sort from the URL', () => {
    expect(sortGroups(groups, { key: 'sum', desc: true }).map((g) => g.clientId)).toEqual(['client_B', 'client_A']);
    expect(sortGroups(groups, { key: 'min', desc: false }).map((g) => g.clientId)).toEqual(['client_B', 'client_A']);
    expect(sortGroups(groups, { key: 'metric', desc: false }).map((g) => g.metric)).toEqual(['click, "fast"', 'purchase']);
    expect(readSort(new URLSearchParams('sort=-avg'))).toEqual({ key: 'avg', desc: true });
    expect(readSort(new URLSearchParams('sort=bogus'))).toEqual({ key: 'count', desc: true });
  });

  it('exports exact amounts as RFC 4180 CSV with the grouping columns', () => {
    expect(groupsCsv(groups, 'both')).toBe(
      'clientId,metric,count,sum,avg,min,max\r\n' +
        'client_A,purchase,2,1300.5,650.25,100.5,1200\r\n' +
        'client_B,"click, ""fast""",3,12345678901234.123456789,4115226300411.374485596,0.000000001,12345678901234\r\n',
    );
    expect(groupsCsv([group({ count: 1, sum: '2' })], 'none')).toBe('count,sum,avg,min,max\r\n1,2,2,2,2\r\n');
  });
});

describe('AggregationsPage', () => {
  it('renders exact amounts, the chart, and links each row to its events', async () => {
    at('/aggregations?range=30d&groupBy=both');
    const api = backend();
    renderWithProviders(<AggregationsPage />);
    const table = await screen.findByRole('table', { name: 'Aggregation groups' });
    const rows = within(table).getAllByTestId('group-row');
    // Count descending by default.
    expect(within(rows[0]!).getAllByRole('cell').map((c) => c.textContent)).toEqual([
      'client_B',
      'click, "fast"',
      '3',
      '12,345,678,901,234.123456789',
      '4,115,226,300,411.374485596',
      '0.000000001',
      '12,345,678,901,234',
    ]);
    expect(within(rows[0]!).getByRole('link', { name: '3' })).toHaveAttribute('href', '/events?client=client_B&metric=click%2C+%22fast%22&range=30d&status=processed');
    const params = api.to('GET', '/query/v1/aggregations')[0]!.url.searchParams;
    expect(params.get('groupBy')).toBe('both');
    expect(params.get('interval')).toBe('day');
    expect(JSON.parse((await screen.findByTestId('chart')).textContent!).labels).toEqual(['client_B · click, "fast"', 'client_A · purchase']);
  });

  it('chooses group-by and interval from the filters and range, and lets the URL override them', async () => {
    at('/aggregations?client=client_A&range=1h');
    const api = backend();
    renderWithProviders(<AggregationsPage />);
    await screen.findByRole('table', { name: 'Aggregation groups' });
    let params = api.to('GET', '/query/v1/aggregations')[0]!.url.searchParams;
    expect(params.get('groupBy')).toBe('metric');
    expect(params.get('interval')).toBe('minute');
    expect(screen.getByLabelText('Group by')).toHaveDisplayValue('auto (metric)');

    await userEvent.selectOptions(screen.getByLabelText('Interval'), 'none');
    await userEvent.selectOptions(screen.getByLabelText('Group by'), 'none');
    expect(window.location.search).toBe('?client=client_A&groupBy=none&interval=none&range=1h');
    await waitFor(() => expect(screen.getAllByRole('columnheader').map((h) => h.textContent)).toEqual(['Count ▾', 'Sum', 'Avg', 'Min', 'Max']));
    params = api.to('GET', '/query/v1/aggregations').at(-1)!.url.searchParams;
    expect(params.get('groupBy')).toBe('none');
    expect(params.has('interval')).toBe(false);
    expect(screen.queryByTestId('chart')).not.toBeInTheDocument();
  });

  it('sorts by a column header, in the URL', async () => {
    at('/aggregations?groupBy=both');
    backend();
    renderWithProviders(<AggregationsPage />);
    await screen.findByRole('table', { name: 'Aggregation groups' });
    await userEvent.click(screen.getByRole('button', { name: 'Max' }));
    expect(window.location.search).toBe('?groupBy=both&sort=-max');
    expect(screen.getByRole('columnheader', { name: /Max/ })).toHaveAttribute('aria-sort', 'descending');
    await userEvent.click(screen.getByRole('button', { name: /Max/ }));
    expect(window.location.search).toBe('?groupBy=both&sort=max');
    expect(screen.getAllByTestId('group-row')[0]).toHaveTextContent('client_A');
  });

  it('downloads the table as CSV', async () => {
    at('/aggregations?groupBy=both&range=7d');
    backend();
    const downloads = captureDownloads();
    renderWithProviders(<AggregationsPage />);
    await screen.findByRole('table', { name: 'Aggregation groups' });
    await userEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    expect(downloads.names[0]).toMatch(/^tally-aggregation-both-\d{4}-\d\d-\d\dT\d{4}Z-\d{4}-\d\d-\d\dT\d{4}Z\.csv$/);
    expect(downloads.blobs[0]!.type).toBe('text/csv;charset=utf-8');
    expect((await downloads.text()).split('\r\n')[1]).toBe('client_B,"click, ""fast""",3,12345678901234.123456789,4115226300411.374485596,0.000000001,12345678901234');
  });

  it('shows the empty state and API errors', async () => {
    let fail = false;
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/aggregations': () =>
        fail ? json(400, { error: { code: 'invalid_parameter', message: 'from must be before to' } }) : json(200, { groups: [], filters }),
    });
    renderWithProviders(<AggregationsPage />);
    expect(await screen.findByText(/no events match/i)).toBeInTheDocument();
    fail = true;
    await userEvent.selectOptions(screen.getByLabelText(/^Range/), 'Last 7 days');
    expect(await screen.findByRole('alert')).toHaveTextContent('invalid_parameter');
  });
});
