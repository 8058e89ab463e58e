import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Group } from '../../lib/api/client';
import { alignSeries } from './series';

const palette = ['#1f5f99', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0e7490', '#a16207', '#be185d'];

export default function SeriesChart({ groups, measure }: { groups: Group[]; measure: 'sum' | 'count' }) {
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const { labels, data } = alignSeries(groups, measure);
    const width = () => Math.max(280, el.clientWidth);
    const plot = new uPlot(
      {
        width: width(),
        height: 260,
        scales: { x: { time: true } },
        series: [
          {},
          ...labels.map((label, i) => ({
            label,
            stroke: palette[i % palette.length],
            width: 2,
            points: { show: true },
            spanGaps: false,
          })),
        ],
        axes: [{}, { label: measure, size: 70 }],
      },
      data as uPlot.AlignedData,
      el,
    );
    const observer = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(() => plot.setSize({ width: width(), height: 260 }));
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      plot.destroy();
    };
  }, [groups, measure]);

  return <div ref={box} className="chart" role="img" aria-label={`Time series of ${measure} per bucket`} />;
}
