import { lazy, Suspense, useId, useMemo } from 'react';
import type { Group, Interval } from '../../lib/api/client';
import { bucketStarts } from '../../lib/time-range';
import { Empty, Loading } from '../../lib/ui';
import { alignSeries, type Measure } from './series';

const SeriesChart = lazy(() => import('./SeriesChart'));

/** Most lines drawn; the table lists every group. */
export const MAX_LINES = 10;

interface Props {
  title: string;
  groups: Group[];
  measure: Measure;
  onMeasure: (m: Measure) => void;
  interval: Interval;
  tz: string;
  window: { from?: number; to: number };
  rangeText: string;
}

/** A chart of count or amount per bucket with its measure switch, zero-filled across the window. */
export function TimeSeriesCard({ title, groups, measure, onMeasure, interval, tz, window: span, rangeText }: Props) {
  const id = useId();
  const shown = groups.slice(0, MAX_LINES);
  const series = useMemo(() => {
    const buckets = span.from === undefined ? undefined : bucketStarts(span.from, span.to, interval);
    return alignSeries(shown, measure, buckets);
    // shown is derived from groups; recompute only when the inputs change.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [groups, measure, interval, span.from, span.to]);
  const hasData = shown.some((g) => (g.series ?? []).length > 0);
  const what = measure === 'count' ? 'Events' : 'Amount';
  return (
    <section className="card chart-card" aria-labelledby={`${id}-title`}>
      <div className="card-head">
        <h3 id={`${id}-title`}>{title}</h3>
        <div className="segmented" role="radiogroup" aria-label="Chart value">
          {(['count', 'sum'] as const).map((m) => (
            <label key={m} className="radio">
              <input type="radio" name={`${id}-measure`} checked={measure === m} onChange={() => onMeasure(m)} />{' '}
              {m === 'count' ? 'Events' : 'Amount'} per {interval}
            </label>
          ))}
        </div>
      </div>
      {!hasData ? (
        <Empty>No events in this range.</Empty>
      ) : (
        <Suspense fallback={<Loading label="Loading chart…" />}>
          <SeriesChart
            series={series}
            measure={measure}
            interval={interval}
            tz={tz}
            window={span}
            label={`${what} per ${interval}, ${rangeText}, ${shown.length === 1 ? 'one series' : `${shown.length} series`}`}
          />
        </Suspense>
      )}
      {groups.length > shown.length ? (
        <p className="muted">
          The chart shows the first {shown.length} of {groups.length} groups; the table lists all.
        </p>
      ) : null}
    </section>
  );
}
