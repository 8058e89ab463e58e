// Live pipeline stats shared by every view: one EventSource on
// /query/v1/stream feeds the ['stats'] query; while the stream is down the
// query polls /query/v1/stats instead, and the stream is retried later.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { query, queryUrl, unwrap, type Stats } from './api/client';

export type StatsMode = 'connecting' | 'live' | 'polling';

export const statsKey = ['stats'] as const;
export const POLL_MS = 2000;
export const STREAM_RETRY_MS = 15000;

const ModeContext = createContext<StatsMode>('polling');

export function fetchStats(): Promise<Stats> {
  return unwrap(query.GET('/v1/stats'));
}

export function LiveStatsProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [mode, setMode] = useState<StatsMode>(() => (typeof EventSource === 'undefined' ? 'polling' : 'connecting'));

  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    let source: EventSource | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const connect = () => {
      source = new EventSource(queryUrl('/v1/stream'));
      const onFrame = (message: MessageEvent<string>) => {
        let next: Stats;
        try {
          next = JSON.parse(message.data) as Stats;
        } catch {
          return; // A malformed frame is skipped; the next one arrives within a second.
        }
        // An in-flight poll must not land after (and overwrite) this newer frame.
        void client.cancelQueries({ queryKey: statsKey }).then(() => {
          client.setQueryData(statsKey, next);
          setMode('live');
        });
      };
      // docs/api.md names the event `stats`; unnamed frames are accepted too.
      source.addEventListener('stats', onFrame as EventListener);
      source.onmessage = onFrame;
      source.onerror = () => {
        // Fall back to polling and try the stream again later, instead of
        // letting the browser reconnect (and log) every few seconds.
        source?.close();
        setMode('polling');
        if (!stopped) retry = setTimeout(connect, STREAM_RETRY_MS);
      };
    };
    connect();
    return () => {
      stopped = true;
      source?.close();
      if (retry) clearTimeout(retry);
    };
  }, [client]);

  return <ModeContext.Provider value={mode}>{children}</ModeContext.Provider>;
}

/** The latest stats (pushed by the stream, or polled while it is down). */
export function useStats() {
  const mode = useContext(ModeContext);
  const result = useQuery({
    queryKey: statsKey,
    queryFn: fetchStats,
    refetchInterval: mode === 'live' ? false : POLL_MS,
    staleTime: mode === 'live' ? Infinity : 0,
  });
  return { ...result, mode };
}

export interface Reconciliation {
  /** every outcome + pending (inFlight is counted, only not yet committed) */
  accounted: number;
  /** received − accounted; 0 when every received record is accounted for. */
  difference: number;
  /** The numbers add up and the server agrees. */
  reconciled: boolean;
}

export function reconcile(s: Stats): Reconciliation {
  const accounted =
    s.processed + s.duplicates + s.conflicts + s.rejected + s.deadLettered + s.forwarded + s.skipped + s.pending;
  const difference = s.received - accounted;
  return { accounted, difference, reconciled: difference === 0 && s.reconciled };
}
