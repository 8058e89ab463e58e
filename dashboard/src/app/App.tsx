import { useEffect, useState, type KeyboardEvent } from 'react';
import { AggregationsPanel } from '../features/aggregations/AggregationsPanel';
import { EventsExplorer } from '../features/events/EventsExplorer';
import { FailureLab } from '../features/failure-lab/FailureLab';
import { HealthPanel } from '../features/health/HealthPanel';
import { SubmitPanel } from '../features/submit/SubmitPanel';
import { useStats } from '../lib/live-stats';
import { ReconciliationLine } from '../lib/ReconciliationLine';
import { Badge } from '../lib/ui';

const tabs = [
  { id: 'submit', label: 'Submit', view: SubmitPanel },
  { id: 'lab', label: 'Failure lab', view: FailureLab },
  { id: 'aggregations', label: 'Aggregations', view: AggregationsPanel },
  { id: 'events', label: 'Events', view: EventsExplorer },
  { id: 'health', label: 'Pipeline health', view: HealthPanel },
] as const;

type TabId = (typeof tabs)[number]['id'];

function tabFromHash(): TabId {
  const id = window.location.hash.replace(/^#\/?/, '');
  return tabs.some((t) => t.id === id) ? (id as TabId) : 'submit';
}

export function App() {
  const [active, setActive] = useState<TabId>(tabFromHash);

  useEffect(() => {
    const onHash = () => setActive(tabFromHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  const select = (id: TabId) => {
    setActive(id);
    if (window.location.hash !== `#/${id}`) window.history.replaceState(null, '', `#/${id}`);
  };

  // Arrow keys move between tabs (WAI-ARIA tabs pattern).
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const i = tabs.findIndex((t) => t.id === active);
    let next = -1;
    if (e.key === 'ArrowRight') next = (i + 1) % tabs.length;
    else if (e.key === 'ArrowLeft') next = (i - 1 + tabs.length) % tabs.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = tabs.length - 1;
    if (next < 0) return;
    e.preventDefault();
    const id = tabs[next]!.id;
    select(id);
    document.getElementById(`tab-${id}`)?.focus();
  };

  const View = tabs.find((t) => t.id === active)!.view;

  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          <h1>Tally</h1>
          <span className="muted">exact event counts</span>
        </div>
        <StatsBar />
        <div role="tablist" aria-label="Views" className="tabs" onKeyDown={onKeyDown}>
          {tabs.map((t) => (
            <button
              key={t.id}
              id={`tab-${t.id}`}
              role="tab"
              type="button"
              aria-selected={active === t.id}
              aria-controls={`panel-${t.id}`}
              tabIndex={active === t.id ? 0 : -1}
              onClick={() => select(t.id)}
            >
              {t.label}
            </button>
          ))}
        </div>
      </header>
      <main id={`panel-${active}`} role="tabpanel" aria-labelledby={`tab-${active}`}>
        <View />
      </main>
    </div>
  );
}

/** The reconciliation line, always visible. */
function StatsBar() {
  const stats = useStats();
  return (
    <div className="stats-bar" aria-live="off">
      {stats.data ? (
        <ReconciliationLine stats={stats.data} compact />
      ) : stats.isError ? (
        <Badge tone="bad">stats unavailable</Badge>
      ) : (
        <span className="muted">loading stats…</span>
      )}
      <span className="live-mode">
        {stats.mode === 'live' ? <Badge tone="ok">live</Badge> : <Badge tone="info">{stats.mode}</Badge>}
      </span>
    </div>
  );
}
