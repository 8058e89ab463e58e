// The state every data view shares, read from and written to the URL:
//   range, from, to   the time range (see time-range.ts)
//   tz                display time zone (UTC when absent)
//   client, metric    filters (repeatable)
//   live=off          refresh paused
//   tenant            the tenant an admin reads (features/auth/Identity.tsx)
// Page-specific keys (groupBy, interval, status, event, sort, chart) are read
// by their pages. Defaults are left out of the URL so links stay short.
import { useCallback, useMemo } from 'react';
import { hrefOf, navigate, useLocation, withParams, type ParamPatch } from './router';
import { rangeParams, readRange, type TimeRange } from './time-range';
import { isTimeZone, UTC } from './time-zone';

export interface CommonView {
  range: TimeRange;
  tz: string;
  clients: string[];
  metrics: string[];
  live: boolean;
}

/** Keys that travel with the user between views. */
export const SHARED_KEYS = ['range', 'from', 'to', 'tz', 'client', 'metric', 'live', 'tenant'] as const;

export function readCommon(params: URLSearchParams): CommonView {
  const tz = params.get('tz') ?? '';
  return {
    range: readRange(params),
    tz: tz && isTimeZone(tz) ? tz : UTC,
    clients: unique(params.getAll('client')),
    metrics: unique(params.getAll('metric')),
    live: params.get('live') !== 'off',
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values.filter(Boolean))];
}

/** The URL patch for a change of common state. */
export function commonPatch(change: Partial<CommonView>): ParamPatch {
  const patch: ParamPatch = {};
  if (change.range) Object.assign(patch, rangeParams(change.range));
  if (change.tz !== undefined) patch.tz = change.tz === UTC ? undefined : change.tz;
  if (change.clients) patch.client = change.clients;
  if (change.metrics) patch.metric = change.metrics;
  if (change.live !== undefined) patch.live = change.live ? undefined : 'off';
  return patch;
}

/** The shared keys of params, to carry into a link to another view. */
export function sharedParams(params: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  for (const key of SHARED_KEYS) for (const v of params.getAll(key)) out.append(key, v);
  return out;
}

/** A link to another view carrying the shared state, with a patch on top. */
export function linkTo(path: string, params: URLSearchParams, patch: ParamPatch = {}): string {
  return hrefOf(path, withParams(sharedParams(params), patch));
}

export function useView() {
  const location = useLocation();
  const { path, params } = location;
  const common = useMemo(() => readCommon(params), [params]);
  /** Applies a patch to this view's URL: a new history entry unless replace. */
  const update = useCallback(
    (patch: ParamPatch, opts?: { replace?: boolean }) => navigate(hrefOf(path, withParams(params, patch)), opts),
    [path, params],
  );
  const setCommon = useCallback((change: Partial<CommonView>, opts?: { replace?: boolean }) => update(commonPatch(change), opts), [update]);
  return { ...location, common, update, setCommon };
}
