// Live refresh of the data views: while live, their queries poll every
// REFRESH_MS (the stats line is pushed by SSE, see live-stats.tsx); the
// switch pauses polling and is kept in the URL (live=off). The control shows
// how old the data on screen is.
import { useEffect, useId, useState } from 'react';
import { Badge } from './ui';

export const REFRESH_MS = 5000;

export function refetchInterval(live: boolean): number | false {
  return live ? REFRESH_MS : false;
}

/** Date.now(), re-read every `everyMs`. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function agoText(updatedAt: number, now: number): string {
  const s = Math.max(0, Math.round((now - updatedAt) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  return `${Math.floor(m / 60)} h ago`;
}

interface Props {
  live: boolean;
  onLiveChange: (live: boolean) => void;
  /** ms of the last successful update of the view's data; 0 = never. */
  updatedAt: number;
  fetching: boolean;
  /** The last refresh failed while older data is still shown. */
  refreshError?: boolean;
  onRefresh: () => void;
}

export function LiveControl({ live, onLiveChange, updatedAt, fetching, refreshError, onRefresh }: Props) {
  const id = useId();
  const now = useNow();
  return (
    <div className="live-control" role="group" aria-label="Refresh">
      <label className="switch" htmlFor={id}>
        <input id={id} type="checkbox" role="switch" checked={live} onChange={(e) => onLiveChange(e.target.checked)} /> Live
      </label>
      <span className="muted nowrap" data-testid="updated-ago">
        {updatedAt > 0 ? `updated ${agoText(updatedAt, Math.max(now, updatedAt))}` : fetching ? 'loading…' : 'not loaded'}
        {!live ? ' · paused' : ''}
      </span>
      {refreshError ? <Badge tone="warn">refresh failed</Badge> : null}
      <button type="button" onClick={onRefresh} aria-label="Refresh now">
        Refresh
      </button>
    </div>
  );
}
