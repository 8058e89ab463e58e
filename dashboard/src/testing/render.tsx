import type { ReactElement } from 'react';
import { QueryClient } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { AppProvider } from '../app/provider';
import type { Stats } from '../lib/api/client';

export function renderWithProviders(ui: ReactElement) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } },
  });
  return { client, ...render(<AppProvider client={client}>{ui}</AppProvider>) };
}

export function stats(overrides: Partial<Stats> = {}): Stats {
  const base: Stats = {
    received: 10,
    processed: 6,
    duplicates: 2,
    rejected: 1,
    deadLettered: 1,
    pending: 0,
    reconciled: true,
    inFlight: 0,
    throughput: { processedPerSecond: 12.5, windowSeconds: 10 },
    lag: [
      { partition: 0, lag: 0 },
      { partition: 1, lag: 0 },
    ],
    rejectedByReason: [{ code: 'amount_invalid', count: 1 }],
    asOf: '2024-01-01T00:00:00.000Z',
  };
  return { ...base, ...overrides };
}
