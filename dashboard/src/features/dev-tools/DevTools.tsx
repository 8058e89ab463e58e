// Developer tools: submitting events by hand and the failure lab. They are
// for trying the pipeline out, so they live apart from the product views and
// only exist while the processor runs with fault injection (dev only).
import { Link } from '../../lib/router';
import { Empty, ErrorBox, Loading } from '../../lib/ui';
import { linkTo, useView } from '../../lib/view-state';
import { FailureLab } from '../failure-lab/FailureLab';
import { useFaultInjection } from '../failure-lab/api';
import { SubmitPanel } from '../submit/SubmitPanel';

const tools = [
  { path: '/dev/submit', label: 'Submit events' },
  { path: '/dev/lab', label: 'Failure lab' },
] as const;

export function DevTools() {
  const { path, params } = useView();
  const faults = useFaultInjection();
  const active = tools.find((t) => t.path === path) ?? tools[0];

  if (faults.state === 'off') {
    return (
      <section aria-labelledby="dev-title" className="panel">
        <h2 id="dev-title">Developer tools</h2>
        <Empty>
          Developer tools are off: the processor runs without fault injection. Start it with <code>TALLY_FAULT_INJECTION=true</code>{' '}
          (<code>make dev</code> does).
        </Empty>
      </section>
    );
  }
  if (faults.state === 'pending') return <Loading label="Checking the processor…" />;
  if (faults.state === 'error') return <ErrorBox error={faults.error} title="Processor admin unavailable" />;

  return (
    <section aria-labelledby="dev-title" className="panel">
      <h2 id="dev-title">Developer tools</h2>
      <nav aria-label="Developer tools" className="subnav">
        {tools.map((t) => (
          <Link key={t.path} to={linkTo(t.path, params)} aria-current={t === active ? 'page' : undefined}>
            {t.label}
          </Link>
        ))}
      </nav>
      {active.path === '/dev/lab' ? <FailureLab /> : <SubmitPanel />}
    </section>
  );
}
