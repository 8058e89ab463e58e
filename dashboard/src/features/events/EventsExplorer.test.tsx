import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { EventDetail, EventSummary } from '../../lib/api/client';
import { json, mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { EventsExplorer } from './EventsExplorer';

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
  amount: 1200,
  timestamp: '2024-01-01T00:00:00.000Z',
  receivedAt: '2024-03-01T10:00:00.000Z',
  source: source(3, 42),
};

const detail: EventDetail = {
  id: ID,
  status: 'processed',
  event: { eventId: ID, clientId: 'client_A', metric: 'purchase', amount: 1200, timestamp: '2024-01-01T00:00:00.000Z' },
  raw: '{"source":"client_A","payload":{"metric":"purchase","amount":"1200","timestamp":"2024/01/01"}}',
  receivedAt: '2024-03-01T10:00:00.000Z',
  source: source(3, 42),
  duplicates: {
    count: 2,
    copies: [
      { source: source(3, 43), receivedAt: '2024-03-01T10:00:01.000Z', detectedAt: '2024-03-01T10:00:01.200Z' },
      { source: source(3, 44), receivedAt: '2024-03-01T10:00:02.000Z', detectedAt: '2024-03-01T10:00:02.200Z' },
    ],
  },
};

describe('EventsExplorer', () => {
  it('pages with the cursor: "Load more" requests nextCursor and appends rows', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': ({ url }) =>
        url.searchParams.get('cursor') === 'page-2'
          ? json(200, { events: [summary(3)], nextCursor: null })
          : json(200, { events: [processed, summary(1), summary(2)], nextCursor: 'page-2' }),
    });
    renderWithProviders(<EventsExplorer />);
    expect(await screen.findAllByTestId('event-row')).toHaveLength(3);
    expect(api.to('GET', '/query/v1/events')[0]!.url.searchParams.has('cursor')).toBe(false);
    expect(api.to('GET', '/query/v1/events')[0]!.url.searchParams.get('limit')).toBe('50');

    await userEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(screen.getAllByTestId('event-row')).toHaveLength(4));
    expect(api.to('GET', '/query/v1/events')[1]!.url.searchParams.get('cursor')).toBe('page-2');
    expect(screen.queryByRole('button', { name: 'Load more' })).not.toBeInTheDocument();
    expect(screen.getByText(/end of list/)).toBeInTheDocument();
  });

  it('sends the filters and restarts paging', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [summary(1)], nextCursor: null },
    });
    renderWithProviders(<EventsExplorer />);
    await screen.findAllByTestId('event-row');
    await userEvent.type(screen.getByLabelText('Client'), 'client_A');
    await userEvent.selectOptions(screen.getByLabelText('Status'), 'dead_lettered');
    await userEvent.click(screen.getByRole('button', { name: 'Search' }));
    await waitFor(() => expect(api.to('GET', '/query/v1/events')).toHaveLength(2));
    const params = api.to('GET', '/query/v1/events')[1]!.url.searchParams;
    expect(params.get('clientId')).toBe('client_A');
    expect(params.get('status')).toBe('dead_lettered');
    expect(params.has('metric')).toBe(false);
    expect(params.has('cursor')).toBe(false);
  });

  it('opens a row: canonical form, raw payload and duplicate lineage', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [processed], nextCursor: null },
      [`GET /query/v1/events/${ID}`]: detail,
    });
    renderWithProviders(<EventsExplorer />);
    const [row] = await screen.findAllByTestId('event-row');
    await userEvent.click(within(row!).getByRole('button'));

    const panel = await screen.findByRole('article');
    await within(panel).findByText('Canonical');
    expect(api.to('GET', `/query/v1/events/${ID}`)).toHaveLength(1);
    expect(within(panel).getAllByText(ID).length).toBeGreaterThan(0);
    expect(within(panel).getByText(/"amount": "1200"/)).toBeInTheDocument();
    expect(within(panel).getByTestId('duplicate-count')).toHaveTextContent('2');
    expect(within(panel).getByRole('table', { name: 'Duplicate copies' })).toHaveTextContent('events.raw / 3 @ 44');
  });

  it('shows a rejection reason and links a duplicate copy to its original', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': {
        events: [summary(7), { ...summary(8), status: 'duplicate', eventId: ID, rejection: undefined }],
        nextCursor: null,
      },
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
    renderWithProviders(<EventsExplorer />);
    const rows = await screen.findAllByTestId('event-row');
    await userEvent.click(rows[0]!);
    expect(await screen.findByRole('note')).toHaveTextContent('amount_invalid (field amount) — amount "twelve" is not a number');

    await userEvent.click(rows[1]!);
    const original = await screen.findByRole('button', { name: ID });
    await userEvent.click(original);
    await waitFor(() => expect(screen.getByRole('heading', { name: `Event ${ID}` })).toBeInTheDocument());
  });

  it('shows a 404 for an unknown event and the empty state', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /query/v1/events': { events: [], nextCursor: null },
    });
    renderWithProviders(<EventsExplorer />);
    expect(await screen.findByText(/no events match/i)).toBeInTheDocument();
  });
});
