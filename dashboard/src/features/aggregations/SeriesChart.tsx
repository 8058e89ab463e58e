// The time-series chart (uPlot, loaded on demand as its own chunk). Times
// are drawn in the display zone; the legend shows each hovered value exactly
// (amounts from the API's decimal text); colours are Okabe–Ito and follow
// the light/dark scheme.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Interval } from '../../lib/api/client';
import { formatDecimal } from '../../lib/decimal';
import { userLocale } from '../../lib/format';
import { usePrefersDark } from '../../lib/theme';
import { formatInstant, UTC } from '../../lib/time-zone';
import { seriesStyle } from './palette';
import type { AlignedSeries, Measure } from './series';

export interface SeriesChartProps {
  series: AlignedSeries;
  measure: Measure;
  interval: Interval;
  tz: string;
  /** The requested window (ms); the x axis spans it. */
  window?: { from?: number; to: number };
  /** Accessible summary, e.g. "Events per hour, last 24 hours". */
  label: string;
}

const HEIGHT = 260;

export default function SeriesChart({ series, measure, interval, tz, window: span, label }: SeriesChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const dark = usePrefersDark();

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const css = getComputedStyle(el);
    const fg = css.getPropertyValue('--fg').trim() || '#1c2430';
    const line = css.getPropertyValue('--line').trim() || '#d9dee5';
    const locale = userLocale();
    const compact = new Intl.NumberFormat(locale, { notation: 'compact', maximumFractionDigits: 1 });
    const axis = { stroke: fg, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 } };
    const width = () => Math.max(280, el.clientWidth);
    const from = span?.from;
    const xRange: uPlot.Range.MinMax | undefined = from !== undefined && span ? [from / 1000, span.to / 1000] : undefined;
    const plot = new uPlot(
      {
        width: width(),
        height: HEIGHT,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), tz === UTC ? 'Etc/UTC' : tz),
        scales: { x: { time: true, ...(xRange ? { range: xRange } : {}) } },
        series: [
          { label: `Time (${tz})`, value: (_u, v) => (v === null || v === undefined ? '–' : formatInstant(v * 1000, tz)) },
          ...series.labels.map((name, i) => ({
            label: name,
            ...seriesStyle(i, dark),
            width: 2,
            points: { show: series.data[0].length <= 60 },
            spanGaps: false,
            value: (_u: uPlot, _v: number | null, sidx: number, idx: number | null) => {
              const text = idx === null ? null : series.exact[sidx - 1]?.[idx];
              return text === null || text === undefined ? '–' : formatDecimal(text, locale);
            },
          })),
        ],
        axes: [axis, { ...axis, size: 60, values: (_u, splits) => splits.map((v) => compact.format(v)) }],
      },
      series.data as uPlot.AlignedData,
      el,
    );
    const observer = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(() => plot.setSize({ width: width(), height: HEIGHT }));
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      plot.destroy();
    };
  }, [series, measure, interval, tz, span, dark]);

  return <div ref={box} className="chart" role="img" aria-label={label} data-testid="series-chart" />;
}
