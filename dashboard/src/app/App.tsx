// The app shell: brand, who is signed in (tenant, key, tenant switcher for
// admins), the always-visible reconciliation line, the main navigation and
// the current view. The path picks the view (see lib/router.tsx); views
// other than the overview load on demand.
import { lazy, Suspense, useEffect, useRef, type ComponentType } from 'react';
import { Overview } from '../features/overview/Overview';
import { useSession } from '../features/auth/context';
import { Identity } from '../features/auth/Identity';
import { SignInPage } from '../features/auth/SignInPage';
import { useFaultInjection } from '../features/failure-lab/api';
import { useStats } from '../lib/live-stats';
import { ReconciliationLine } from '../lib/ReconciliationLine';
import { Link, navigate, useLocation } from '../lib/router';
import { Badge, Empty, ErrorBoundary, Loading } from '../lib/ui';
import { linkTo } from '../lib/view-state';

const AggregationsPage = lazy(() => import('../features/aggregations/AggregationsPage').then((m) => ({ default: m.AggregationsPage })));
const EventsPage = lazy(() => import('../features/events/EventsPage').then((m) => ({ default: m.EventsPage })));
const HealthPanel = lazy(() => import('../features/health/HealthPanel').then((m) => ({ default: m.HealthPanel })));
const KeysPage = lazy(() => import('../features/keys/KeysPage').then((m) => ({ default: m.KeysPage })));
const DevTools = lazy(() => import('../features/dev-tools/DevTools').then((m) => ({ default: m.DevTools })));

interface Route {
  path: string;
  label: string;
  view: ComponentType;
  /** Shown only while fault injection is on. */
  dev?: boolean;
  /** In the navigation only for admin keys (the view explains itself to others). */
  admin?: boolean;
  /** Never in the navigation. */
  hidden?: boolean;
}

export const routes: Route[] = [
  { path: '/', label: 'Overview', view: Overview },
  { path: '/aggregations', label: 'Aggregations', view: AggregationsPage },
  { path: '/events', label: 'Events', view: EventsPage },
  { path: '/health', label: 'Pipeline health', view: HealthPanel },
  { path: '/keys', label: 'API keys', view: KeysPage, admin: true },
  { path: '/dev', label: 'Developer tools', view: DevTools, dev: true },
  { path: '/sign-in', label: 'Sign in', view: SignInPage, hidden: true },
];

export function matchRoute(path: string): Route | undefined {
  const clean = path.length > 1 ? path.replace(/\/+$/, '') : path;
  return routes.find((r) => r.path === clean || (r.path !== '/' && clean.startsWith(`${r.path}/`)));
}

/** Links from the tab-based dashboard (#/events) keep working. */
const legacyHashes: Record<string, string> = {
  '#/submit': '/dev/submit',
  '#/lab': '/dev/lab',
  '#/aggregations': '/aggregations',
  '#/events': '/events',
  '#/health': '/health',
};

export function App() {
  const { path, params } = useLocation();
  const faults = useFaultInjection();
  const { admin } = useSession();
  const route = matchRoute(path);
  const main = useRef<HTMLElement>(null);
  const firstPath = useRef(path);

  useEffect(() => {
    const legacy = legacyHashes[window.location.hash];
    if (legacy) navigate(legacy, { replace: true });
  }, []);

  // After moving to another view, put focus at the start of the new content
  // (not on first load), and name the page.
  useEffect(() => {
    document.title = route ? `${route.label} · Tally` : 'Not found · Tally';
    if (path !== firstPath.current) {
      firstPath.current = path;
      main.current?.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
  }, [path, route]);

  const View = route?.view;
  return (
    <div className="app">
      <a
        href="#main"
        className="skip-link"
        onClick={(e) => {
          e.preventDefault();
          main.current?.focus();
        }}
      >
        Skip to content
      </a>
      <header className="app-header">
        <div className="header-top">
          <div className="brand">
            <h1>Tally</h1>
            <span className="muted">exact event counts</span>
          </div>
          <Identity />
        </div>
        <StatsBar />
        <nav aria-label="Main" className="nav">
          {routes
            .filter((r) => !r.hidden && (!r.dev || faults.state === 'on') && (!r.admin || admin))
            .map((r) => (
              <Link key={r.path} to={linkTo(r.path, params)} aria-current={route === r ? 'page' : undefined}>
                {r.label}
              </Link>
            ))}
        </nav>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <ErrorBoundary resetKey={path}>
          <Suspense fallback={<Loading />}>
            {View ? (
              <View />
            ) : (
              <section className="panel" aria-labelledby="nf-title">
                <h2 id="nf-title">Page not found</h2>
                <Empty>
                  There is no view at <code>{path}</code>. <Link to="/">Go to the overview</Link>.
                </Empty>
              </section>
            )}
          </Suspense>
        </ErrorBoundary>
      </main>
    </div>
  );
}

/** The reconciliation line, always visible. */
function StatsBar() {
  const stats = useStats();
  return (
    // data-as-of lets tools (and the browser tests) see each new stats frame arrive.
    <div className="stats-bar" data-as-of={stats.data?.asOf}>
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
