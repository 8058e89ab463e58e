import { act, screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Stats } from '../../lib/api/client';
import { mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { HealthPanel } from './HealthPanel';

class FakeEventSource {
  static instances: FakeEventSource[] = [];
  readonly url: string;
  onerror: (() => void) | null = null;
  closed = false;
  private listeners = new Map<string, ((e: MessageEvent<string>) => void)[]>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, fn: (e: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  close() {
    this.closed = true;
  }
  emit(s: Stats) {
    for (const fn of this.listeners.get('stats') ?? []) fn(new MessageEvent('stats', { data: JSON.stringify(s) }));
  }
}

afterEach(() => {
  FakeEventSource.instances = [];
});

describe('HealthPanel', () => {
  it('polls /v1/stats without EventSource and shows lag per partition, DLQ and rejected by reason', async () => {
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

  it('goes live on the SSE stream and updates from its frames', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    mockFetch({ 'GET /query/v1/stats': stats() });
    renderWithProviders(<HealthPanel />);
    const source = FakeEventSource.instances[0]!;
    expect(source.url).toBe('http://127.0.0.1:3000/query/v1/stream');

    act(() => source.emit(stats({ processed: 7, received: 11, throughput: { processedPerSecond: 321.5, windowSeconds: 10 } })));
    expect(await screen.findByText('live')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('throughput')).toHaveTextContent('321.5/s'));
    expect(screen.getByTestId('stat-processed')).toHaveTextContent('7');
    expect(screen.getByTestId('recon-badge')).toHaveTextContent(/^reconciled$/);

    act(() => source.emit(stats({ processed: 7, received: 12 })));
    await waitFor(() => expect(screen.getByTestId('recon-badge')).toHaveTextContent('not reconciled'));
  });

  it('falls back to polling when the stream fails', async () => {
    vi.stubGlobal('EventSource', FakeEventSource);
    const api = mockFetch({ 'GET /query/v1/stats': stats({ processed: 6 }) });
    renderWithProviders(<HealthPanel />);
    const source = FakeEventSource.instances[0]!;
    act(() => source.onerror?.());
    expect(source.closed).toBe(true);
    expect(await screen.findByText('polling')).toBeInTheDocument();
    expect(await screen.findByTestId('stat-processed')).toHaveTextContent('6');
    expect(api.to('GET', '/query/v1/stats').length).toBeGreaterThan(0);
  });
});
