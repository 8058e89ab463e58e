import { act, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { credentials, type Stats } from '../../lib/api/client';
import { mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { HealthPanel } from './HealthPanel';

/** /query/v1/stream answered with an event stream the test writes to. */
function fakeStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const encoder = new TextEncoder();
  return {
    route: () => new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } }),
    emit: (s: Stats) => controller.enqueue(encoder.encode(`event: stats\ndata: ${JSON.stringify(s)}\n\n`)),
    cut: () => controller.error(new Error('connection reset')),
  };
}

afterEach(() => {
  credentials.set(undefined);
});

describe('HealthPanel', () => {
  it('polls /v1/stats while the stream is unavailable and shows lag per partition, DLQ and rejected by reason', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats({
        lag: [
          { partition: 1, lag: 7, pending: 7 },
          { partition: 0, lag: 3, pending: 3 },
        ],
        pending: 10,
        received: 20,
        deadLettered: 1,
        rejectedByReason: [
          { code: 'amount_invalid', count: 1 },
          { code: 'client_missing', count: 4 },
        ],
        rejected: 5,
        processed: 2,
      }),
    });
    renderWithProviders(<HealthPanel />);
    const lag = await screen.findByRole('table', { name: 'Lag per partition' });
    const lagRows = within(lag).getAllByRole('row').slice(1);
    expect(lagRows.map((r) => r.textContent)).toEqual(['03', '17']);
    expect(screen.getByText('10', { selector: '.tile-value' })).toBeInTheDocument();
    expect(screen.getByTestId('dlq-size')).toHaveTextContent('1');
    const reasons = within(screen.getByRole('table', { name: 'Rejected by reason' })).getAllByRole('row').slice(1);
    expect(reasons.map((r) => r.textContent)).toEqual(['client_missing4', 'amount_invalid1']);
    expect(screen.getByText('polling')).toBeInTheDocument();
    expect(api.to('GET', '/query/v1/stats').length).toBeGreaterThan(0);
  });

  it('goes live on the SSE stream, read with the key like every call, and updates from its frames', async () => {
    const stream = fakeStream();
    credentials.set('tly_signed_in');
    const api = mockFetch({ 'GET /query/v1/stats': stats(), 'GET /query/v1/stream': stream.route });
    renderWithProviders(<HealthPanel />);
    await waitFor(() => expect(api.to('GET', '/query/v1/stream')).toHaveLength(1));
    expect(api.to('GET', '/query/v1/stream')[0]!.headers.get('Authorization')).toBe('Bearer tly_signed_in');

    act(() => stream.emit(stats({ processed: 7, received: 11, throughput: { processedPerSecond: 321.5, windowSeconds: 10 } })));
    expect(await screen.findByText('live')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('throughput')).toHaveTextContent('321.5/s'));
    expect(screen.getByTestId('stat-processed')).toHaveTextContent('7');
    expect(screen.getByTestId('recon-badge')).toHaveTextContent(/^reconciled$/);

    act(() => stream.emit(stats({ processed: 7, received: 12 })));
    await waitFor(() => expect(screen.getByTestId('recon-badge')).toHaveTextContent('not reconciled'));
  });

  it('falls back to polling when the stream fails', async () => {
    const stream = fakeStream();
    const api = mockFetch({ 'GET /query/v1/stats': stats({ processed: 6 }), 'GET /query/v1/stream': stream.route });
    renderWithProviders(<HealthPanel />);
    await waitFor(() => expect(api.to('GET', '/query/v1/stream')).toHaveLength(1));
    act(() => stream.cut());
    expect(await screen.findByText('polling')).toBeInTheDocument();
    expect(await screen.findByTestId('stat-processed')).toHaveTextContent('6');
    expect(api.to('GET', '/query/v1/stats').length).toBeGreaterThan(0);
    // Retried later (STREAM_RETRY_MS), not at once.
    expect(api.to('GET', '/query/v1/stream')).toHaveLength(1);
  });
});
