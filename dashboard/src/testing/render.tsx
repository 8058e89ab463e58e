import type { ReactElement } from 'react';
import { QueryClient } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import { AppProvider } from '../app/provider';
import { vi } from 'vitest';
import type { Group, Stats } from '../lib/api/client';
import type { Session } from '../features/auth/session';

export function renderWithProviders(ui: ReactElement, { session }: { session?: Session } = {}) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, gcTime: Infinity }, mutations: { retry: false } },
  });
  return {
    client,
    ...render(
      <AppProvider client={client} session={session}>
        {ui}
      </AppProvider>,
    ),
  };
}

export function stats(overrides: Partial<Stats> = {}): Stats {
  const base: Stats = {
    received: 10,
    processed: 6,
    duplicates: 2,
    conflicts: 0,
    rejected: 1,
    deadLettered: 1,
    forwarded: 0,
    skipped: 0,
    pending: 0,
    reconciled: true,
    inFlight: 0,
    throughput: { processedPerSecond: 12.5, windowSeconds: 10 },
    lag: [
      { partition: 0, lag: 0, pending: 0 },
      { partition: 1, lag: 0, pending: 0 },
    ],
    rejectedByReason: [{ code: 'amount_invalid', count: 1 }],
    asOf: '2024-01-01T00:00:00.000Z',
  };
  return { ...base, ...overrides };
}

/** An aggregation group whose numbers are derived from exact decimal strings. */
export function group(
  g: { clientId?: string; metric?: string; count: number; sum: string; avg?: string; min?: string; max?: string },
  series?: { bucket: string; count: number; sum: string }[],
): Group {
  const avg = g.avg ?? g.sum;
  const min = g.min ?? g.sum;
  const max = g.max ?? g.sum;
  return {
    ...(g.clientId === undefined ? {} : { clientId: g.clientId }),
    ...(g.metric === undefined ? {} : { metric: g.metric }),
    count: g.count,
    sum: Number(g.sum),
    sumExact: g.sum,
    avg: Number(avg),
    avgExact: avg,
    min: Number(min),
    minExact: min,
    max: Number(max),
    maxExact: max,
    ...(series
      ? {
          series: series.map((p) => ({
            bucket: p.bucket,
            count: p.count,
            sum: Number(p.sum),
            sumExact: p.sum,
            avg: Number(p.sum) / p.count,
            avgExact: p.sum,
            min: Number(p.sum),
            minExact: p.sum,
            max: Number(p.sum),
            maxExact: p.sum,
          })),
        }
      : {}),
  };
}

/** Opens the app at a URL (path and query), as a shared link would. */
export function at(url: string) {
  window.history.replaceState(null, '', url);
}

/** Captures what downloadCsv hands to the browser (jsdom has no object URLs). */
export function captureDownloads() {
  const blobs: Blob[] = [];
  const names: string[] = [];
  Object.defineProperty(URL, 'createObjectURL', {
    configurable: true,
    value: (b: Blob) => {
      blobs.push(b);
      return `blob:${blobs.length}`;
    },
  });
  Object.defineProperty(URL, 'revokeObjectURL', { configurable: true, value: () => {} });
  const click = vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    names.push(this.download);
  });
  return { blobs, names, click, text: async (i = blobs.length - 1) => blobs[i]!.text() };
}
