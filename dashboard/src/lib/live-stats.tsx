// Live pipeline stats shared by every view: one stream of /query/v1/stream
// (Server-Sent Events, read with fetch so it carries the API key and the
// tenant like every other request) feeds the ['stats'] query; while the
// stream is down the query polls /query/v1/stats instead, and the stream is
// retried later. The provider is remounted when the key or the tenant
// changes (App), which reopens the stream for them.
import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { query, toApiError, unwrap, type Stats } from './api/client';
import { readEventStream, type StreamMessage } from './sse';

export type StatsMode = 'connecting' | 'live' | 'polling';

export const statsKey = ['stats'] as const;
export const POLL_MS = 2000;
export const STREAM_RETRY_MS = 15000;

const ModeContext = createContext<StatsMode>('polling');

export function fetchStats(): Promise<Stats> {
  return unwrap(query.GET('/v1/stats'));
}

const canStream = () => typeof ReadableStream !== 'undefined' && typeof AbortController !== 'undefined';

export function LiveStatsProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const [mode, setMode] = useState<StatsMode>(() => (canStream() ? 'connecting' : 'polling'));

  useEffect(() => {
    if (!canStream()) return;
    let abort: AbortController | undefined;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;

    const onFrame = (message: StreamMessage) => {
      // docs/api.md names the event `stats`; unnamed frames are accepted too.
      if (message.event !== 'stats' && message.event !== 'message') return;
      let next: Stats;
      try {
        next = JSON.parse(message.data) as Stats;
      } catch {
        return; // A malformed frame is skipped; the next one arrives within a second.
      }
      // An in-flight poll must not land after (and overwrite) this newer frame.
      void client.cancelQueries({ queryKey: statsKey }).then(() => {
        if (stopped) return;
        client.setQueryData(statsKey, next);
        setMode('live');
      });
    };

    const connect = async () => {
      abort = new AbortController();
      try {
        const { data, error, response } = await query.GET('/v1/stream', { parseAs: 'stream', signal: abort.signal });
        if (!response.ok || !data) throw toApiError(response, error);
        await readEventStream(data, onFrame);
      } catch {
        // Down, refused (a 401 also ends the session, see api/client.ts) or cut.
      }
      if (stopped) return;
      // Fall back to polling and try the stream again later, instead of
      // reconnecting (and logging) every few seconds.
      setMode('polling');
      retry = setTimeout(() => void connect(), STREAM_RETRY_MS);
    };
    void connect();
    return () => {
      stopped = true;
      abort?.abort();
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
