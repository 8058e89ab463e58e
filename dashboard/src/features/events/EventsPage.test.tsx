import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { EventDetail, EventSummary } from '../../lib/api/client';
import { json, mockFetch } from '../../testing/fetch-mock';
import { at, captureDownloads, renderWithProviders, stats } from '../../testing/render';
import { eventsCsv, flattenPages } from './api';
import { EventsPage } from './EventsPage';

const ID = 'c'.repeat(64);
const source = (partition: number, offset: number) => ({ topic: 'events.raw', partition, offset });

function summary(i: number, extra: Partial<EventSummary> = {}): EventSummary {
  return {
    id: `raw-0-${i}`,
    status: 'rejected',
    receivedAt: '2024-01-01T00:00:00.000Z',
    source: source(0, i),
    rejection: { code: 'amount_invalid', field: 'amount', message: 'not a number' },
    ...extra,
  };
}

const processed: EventSummary = {
  id: ID,
  eventId: ID,
  status: 'processed',
  clientId: 'client_A',
  metric: 'purchase',
  amount: 12345678901234.123,
  amountExact: '12345678901234.123456789',
  timestamp: '2024-01-01T00:00:00.000Z',
  receivedAt: '2024-03-01T10:00:00.000Z',
  source: source(3, 42),
};

const detail: EventDetail = {
  id: ID,
  status: 'processed',
  event: { eventId: ID, clientId: 'client_A', metric: 'purchase', amount: 12345678901234.123, amountExact: '12345678901234.123456789', timestamp: '2024-01-01T00:00:00.000Z' },
  raw: '{"source":"client_A","payload":{"metric":"purchase","amount":"12345678901234.123456789","timestamp":"2024/01/01"}}',
  receivedAt: '2024-03-01T10:00:00.000Z',
  source: source(3, 42),
  conflicts: 0,
  duplicates: {
    count: 2,
    copies: [
      { kind: 'duplicate', source: source(3, 43), receivedAt: '2024-03-01T10:00:01.000Z', detectedAt: '2024-03-01T10:00:01.200Z' },
      { kind: 'duplicate', source: source(3, 44), receivedAt: '2024-03-01T10:00:02.000Z', detectedAt: '2024-03-01T10:00:02.200Z' },
    ],
  },
};

describe('events helpers', () => {
  it('flattens pages without the repeats a refresh can bring', () => {
    const rows = flattenPages([
      { events: [processed, summary(1)], nextCursor: 'x' },
      { events: [summary(1), summary(2)], nextCursor: null },
    ]);
    expect(rows.map((r) => r.id)).toEqual([ID, 'raw-0-1', 'raw-0-2']);
  });

  it('exports rows as CSV with exact amounts and quoted messages', () => {
    const csv = eventsCsv([processed, summary(7, { rejection: { code: 'amount_invalid', field: 'amount', message: 'amount "1,2" is not a number' } })]);
    expect(csv.split('\r\n')).toEqual([
      'id,eventId,status,clientId,metric,amount,timestamp,receivedAt,topic,partition,offset,rejectionCode,rejectionField,rejectionMessage',
      `${ID},${ID},processed,client_A,purchase,12345678901234.123456789,2024-01-01T00:00:00.000Z,2024-03-01T10:00:00.000Z,events.raw,3,42,,,`,
      'raw-0-7,,rejected,,,,,2024-01-01T00:00:00.000Z,events.raw,0,7,amount_invalid,amount,"amount ""1,2"" is not a number"',
      '',
    ]);
  });
});

describe('EventsPage', () => {
  it('pages with the cursor: "Load more" requests nextCursor and appends rows', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': ({ url }) =>
        url.searchParams.get('cursor') === 'page-2'
          ? json(200, { events: [summary(3)], nextCursor: null })
          : json(200, { events: [processed, summary(1), summary(2)], nextCursor: 'page-2' }),
    });
    renderWithProviders(<EventsPage />);
    expect(await screen.findAllByTestId('event-row')).toHaveLength(3);
    const first = api.to('GET', '/query/v1/events')[0]!.url.searchParams;
    expect(first.has('cursor')).toBe(false);
    expect(first.get('limit')).toBe('50');
    expect(Date.parse(first.get('to')!) - Date.parse(first.get('from')!)).toBe(86_400_000);
    expect(screen.getAllByTestId('event-row')[0]).toHaveTextContent('12,345,678,901,234.123456789');

    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(screen.getAllByTestId('event-row')).toHaveLength(4));
    expect(api.to('GET', '/query/v1/events')[1]!.url.searchParams.get('cursor')).toBe('page-2');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
    expect(screen.getByText('end of list')).toBeInTheDocument();
    expect(screen.getByTestId('shown-count')).toHaveTextContent('4 shown');
  });

  it('takes its filters from the URL and puts status changes there', async () => {
    at('/events?client=client_A&client=ignored&metric=purchase&range=all');
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [summary(1)], nextCursor: null },
    });
    renderWithProviders(<EventsPage />);
    await screen.findAllByTestId('event-row');
    let params = api.to('GET', '/query/v1/events')[0]!.url.searchParams;
    expect(params.get('clientId')).toBe('client_A');
    expect(params.get('metric')).toBe('purchase');
    expect(params.has('from')).toBe(false);
    expect(params.has('to')).toBe(false);
    expect(screen.getByRole('button', { name: 'Remove client client_A' })).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Remove client ignored' })).not.toBeInTheDocument();

    await userEvent.selectOptions(screen.getByLabelText('Status'), 'dead_lettered');
    expect(new URLSearchParams(window.location.search).get('status')).toBe('dead_lettered');
    await waitFor(() => expect(api.to('GET', '/query/v1/events')).toHaveLength(2));
    params = api.to('GET', '/query/v1/events')[1]!.url.searchParams;
    expect(params.get('status')).toBe('dead_lettered');
    expect(params.has('cursor')).toBe(false);
  });

  it('opens a row into the URL: canonical form, raw payload and duplicate lineage', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [processed], nextCursor: null },
      [`GET /query/v1/events/${ID}`]: detail,
    });
    at('/events?tz=Asia%2FTokyo');
    renderWithProviders(<EventsPage />);
    const [row] = await screen.findAllByTestId('event-row');
    await userEvent.click(within(row!).getByRole('button', { name: `Open event ${ID}` }));
    expect(new URLSearchParams(window.location.search).get('event')).toBe(ID);

    const panel = await screen.findByRole('article');
    await within(panel).findByText('Canonical');
    expect(api.to('GET', `/query/v1/events/${ID}`)).toHaveLength(1);
    expect(within(panel).getByTestId('canonical-amount')).toHaveTextContent('12,345,678,901,234.123456789');
    expect(within(panel).getByText('2024-01-01 09:00:00.000')).toBeInTheDocument(); // Tokyo is UTC+9
    expect(within(panel).getByText(/"amount": "12345678901234.123456789"/)).toBeInTheDocument();
    expect(within(panel).getByTestId('duplicate-count')).toHaveTextContent('2');
    expect(within(panel).getByRole('table', { name: 'Duplicate copies' })).toHaveTextContent('events.raw / 3 @ 44');

    await userEvent.keyboard('{Escape}');
    expect(window.location.search).toBe('?tz=Asia%2FTokyo');
    expect(screen.queryByRole('article')).not.toBeInTheDocument();
  });

  it('moves between rows with the arrow keys', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [summary(1), summary(2), summary(3)], nextCursor: null },
    });
    renderWithProviders(<EventsPage />);
    await screen.findAllByTestId('event-row');
    const buttons = screen.getAllByRole('button', { name: /^Open event/ });
    buttons[0]!.focus();
    await userEvent.keyboard('{ArrowDown}{ArrowDown}');
    expect(buttons[2]).toHaveFocus();
    await userEvent.keyboard('{ArrowDown}');
    expect(buttons[2]).toHaveFocus();
    await userEvent.keyboard('{Home}');
    expect(buttons[0]).toHaveFocus();
    await userEvent.keyboard('{Enter}');
    expect(new URLSearchParams(window.location.search).get('event')).toBe('raw-0-1');
  });

  it('shows a rejection reason and links a duplicate copy to its original', async () => {
    at('/events?event=raw-0-7');
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [summary(7), { ...summary(8), status: 'duplicate', eventId: ID, rejection: undefined }], nextCursor: null },
      'GET /query/v1/events/raw-0-7': {
        id: 'raw-0-7',
        status: 'rejected',
        raw: '{"amount":"twelve"}',
        receivedAt: '2024-01-01T00:00:00.000Z',
        source: source(0, 7),
        rejection: { code: 'amount_invalid', field: 'amount', message: 'amount "twelve" is not a number' },
        duplicates: { count: 0, copies: [] },
      },
      'GET /query/v1/events/raw-0-8': { ...detail, id: 'raw-0-8', status: 'duplicate', originalEventId: ID, source: source(0, 8) },
      [`GET /query/v1/events/${ID}`]: detail,
    });
    renderWithProviders(<EventsPage />);
    expect(await screen.findByRole('note')).toHaveTextContent('amount_invalid (field amount) — amount "twelve" is not a number');

    const rows = await screen.findAllByTestId('event-row');
    await userEvent.click(rows[1]!);
    await userEvent.click(await screen.findByRole('button', { name: ID }));
    await waitFor(() => expect(screen.getByRole('heading', { name: `Event ${ID}` })).toBeInTheDocument());
    expect(new URLSearchParams(window.location.search).get('event')).toBe(ID);
  });

  it('exports the shown rows as CSV', async () => {
    mockFetch({ 'GET /query/v1/stats': stats(), 'GET /query/v1/events': { events: [processed, summary(1)], nextCursor: 'more' } });
    const downloads = captureDownloads();
    renderWithProviders(<EventsPage />);
    await screen.findAllByTestId('event-row');
    await userEvent.click(screen.getByRole('button', { name: 'Export CSV' }));
    expect(downloads.names[0]).toMatch(/^tally-events-.*\.csv$/);
    const lines = (await downloads.text()).split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain(',12345678901234.123456789,');
  });

  it('shows the empty state, errors and a 404 for an unknown event', async () => {
    at('/events?event=nope');
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [], nextCursor: null },
      'GET /query/v1/events/nope': () => json(404, { error: { code: 'event_not_found', message: 'no event nope' } }),
    });
    renderWithProviders(<EventsPage />);
    expect(await screen.findByText(/no events match/i)).toBeInTheDocument();
    expect(await screen.findByRole('alert')).toHaveTextContent('event_not_found');
  });
});
