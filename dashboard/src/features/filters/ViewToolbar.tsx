import type { ReactNode } from 'react';
import { LiveControl } from '../../lib/live';
import type { CommonView } from '../../lib/view-state';
import { RangeSelect } from './RangeSelect';
import { TimeZoneSelect } from './TimeZoneSelect';
import { ValuePicker } from './ValuePicker';

interface Props {
  view: CommonView;
  onChange: (change: Partial<CommonView>) => void;
  /** What the range filters on. */
  basis: string;
  /** The events API filters on one client and one metric. */
  single?: boolean;
  refresh: { updatedAt: number; fetching: boolean; refreshError?: boolean; onRefresh: () => void };
  children?: ReactNode;
}

/** Range, zone, client and metric pickers, page extras, and the live switch — all kept in the URL. */
export function ViewToolbar({ view, onChange, basis, single = false, refresh, children }: Props) {
  return (
    <div className="view-toolbar">
      <div className="filters" role="group" aria-label="Filters">
        <RangeSelect range={view.range} tz={view.tz} basis={basis} onChange={(range) => onChange({ range })} />
        <ValuePicker
          kind="clients"
          label={single ? 'Client' : 'Clients'}
          noun="client"
          multiple={!single}
          values={single ? view.clients.slice(0, 1) : view.clients}
          onChange={(clients) => onChange({ clients })}
        />
        <ValuePicker
          kind="metrics"
          label={single ? 'Metric' : 'Metrics'}
          noun="metric"
          multiple={!single}
          values={single ? view.metrics.slice(0, 1) : view.metrics}
          onChange={(metrics) => onChange({ metrics })}
        />
        {children}
        <TimeZoneSelect tz={view.tz} onChange={(tz) => onChange({ tz })} />
      </div>
      <LiveControl live={view.live} onLiveChange={(live) => onChange({ live })} {...refresh} />
    </div>
  );
}
