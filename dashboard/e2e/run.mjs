// End-to-end check of the dashboard against a running stack (make up), driven
// through the UI with Debian's Chromium via playwright-core.
//
//   DASHBOARD_URL=http://127.0.0.1:3000 npm run e2e
//
// Needs the processor and ingestor started with TALLY_FAULT_INJECTION=true
// (make dev does) for the simulated-failure step. Counts are read from the
// always-visible reconciliation line and polled (up to E2E_TIMEOUT_MS) because
// processing is asynchronous. Any console error or page error fails the run.
// Screenshots go to test-results/. Exits non-zero on any failure.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE = (process.env.DASHBOARD_URL || 'http://127.0.0.1:3000').replace(/\/$/, '');
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS || 30_000);
const SETTLE_MS = Number(process.env.E2E_SETTLE_MS || 2_500);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'test-results');
const RUN = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const CLIENT = `e2e-${RUN}`;

mkdirSync(OUT, { recursive: true });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or the timeout passes; returns the value or throws with describe(). */
async function eventually(what, fn, describe = () => '') {
  const deadline = Date.now() + TIMEOUT;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) throw new Error(`timed out after ${TIMEOUT} ms waiting for ${what}${describe() ? `: ${describe()}` : ''}`);
    await sleep(250);
  }
}

function uniqueEvent(amount) {
  return JSON.stringify({ clientId: CLIENT, metric: 'e2e_check', amount, timestamp: new Date().toISOString() }, null, 2);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (msg) => {
  if (msg.type() === 'error') consoleErrors.push(`console.error: ${msg.text()} (${msg.location().url || 'no url'})`);
});
page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));

let passed = 0;
let failed = 0;
let shot = 0;

async function screenshot(name) {
  const file = join(OUT, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  return file;
}

async function step(name, fn) {
  const started = Date.now();
  const errorsBefore = consoleErrors.length;
  try {
    await fn();
    if (consoleErrors.length > errorsBefore) throw new Error(consoleErrors.slice(errorsBefore).join('\n'));
    passed++;
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
    await screenshot(name.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
  } catch (err) {
    failed++;
    const file = await screenshot(`FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
    console.log(`FAIL ${name} (${Date.now() - started} ms): ${err instanceof Error ? err.message : err}\n     screenshot: ${file}`);
    throw err;
  }
}

// --- page helpers -----------------------------------------------------------

async function count(name) {
  const text = await page.getByTestId(`stat-${name}`).first().textContent({ timeout: TIMEOUT });
  const n = Number(String(text).replace(/[^0-9-]/g, ''));
  if (!Number.isFinite(n)) throw new Error(`stat-${name} is not a number: ${text}`);
  return n;
}

async function counts() {
  return { processed: await count('processed'), duplicates: await count('duplicates'), received: await count('received') };
}

/** Waits until processed/duplicates reach want, then checks they stay there (exactly). */
async function expectCounts(want) {
  let now;
  await eventually(
    `processed=${want.processed}, duplicates=${want.duplicates}`,
    async () => {
      now = await counts();
      if (now.processed > want.processed || now.duplicates > want.duplicates) {
        throw new Error(`counted too much: want ${JSON.stringify(want)}, have ${JSON.stringify(now)}`);
      }
      return now.processed === want.processed && now.duplicates === want.duplicates;
    },
    () => `have ${JSON.stringify(now)}`,
  );
  await sleep(SETTLE_MS);
  now = await counts();
  if (now.processed !== want.processed || now.duplicates !== want.duplicates) {
    throw new Error(`counts moved after settling: want ${JSON.stringify(want)}, have ${JSON.stringify(now)}`);
  }
}

async function openTab(name) {
  await page.getByRole('tab', { name }).click();
}

async function send(text, { simulateFailure }) {
  await openTab('Submit');
  await page.getByLabel('Event JSON').fill(text);
  const toggle = page.getByRole('switch', { name: /simulate failure/i });
  if ((await toggle.isChecked()) !== simulateFailure) await toggle.click();
  const answered = page.waitForResponse((r) => r.url().includes('/ingest/v1/events') && r.request().method() === 'POST', { timeout: TIMEOUT });
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const response = await answered;
  if (response.status() !== 202) throw new Error(`ingest answered ${response.status()}: ${await response.text()}`);
  const row = page.getByTestId('ingest-result').first();
  await row.getByText('accepted', { exact: true }).waitFor({ timeout: TIMEOUT });
  return { id: (await row.getByTestId('result-event-id').textContent())?.trim(), row };
}

/** Opens the processed record of this run's client in the Events explorer and returns its duplicate count. */
async function lineage() {
  await openTab('Events');
  await page.getByLabel('Client').fill(CLIENT);
  await page.getByLabel('Status').selectOption('processed');
  return eventually('the processed event to show duplicate lineage', async () => {
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: 'Refresh' }).click();
    const rows = page.getByTestId('event-row');
    await rows.first().or(page.getByText(/no events match/i)).waitFor({ timeout: TIMEOUT });
    if ((await rows.count()) === 0) return false;
    await rows.first().getByRole('button').click();
    const dup = page.getByRole('article').getByTestId('duplicate-count');
    await dup.waitFor({ timeout: TIMEOUT });
    const n = Number((await dup.textContent())?.replace(/[^0-9]/g, ''));
    if (n >= 1) return n;
    await page.getByRole('button', { name: 'Close event detail' }).click();
    return false;
  });
}

// --- the run ------------------------------------------------------------------

let exitCode = 0;
try {
  let base;
  let eventText;
  let eventId;

  await step('dashboard loads with live stats', async () => {
    const response = await page.goto(BASE, { waitUntil: 'domcontentloaded', timeout: TIMEOUT });
    if (!response || !response.ok()) throw new Error(`GET ${BASE} answered ${response?.status()}`);
    await page.getByRole('heading', { name: 'Tally' }).waitFor({ timeout: TIMEOUT });
    await page.getByTestId('stat-processed').first().waitFor({ timeout: TIMEOUT });
    // Let anything in flight settle before taking the baseline.
    await eventually('pending = 0', async () => (await count('pending')) === 0);
    base = await counts();
    console.log(`     baseline ${JSON.stringify(base)}, client ${CLIENT}`);
  });

  await step('a unique event is counted exactly once', async () => {
    eventText = uniqueEvent((Math.floor(Math.random() * 100000) / 100).toFixed(2));
    ({ id: eventId } = await send(eventText, { simulateFailure: false }));
    if (!/^[0-9a-f]{64}$/.test(eventId ?? '')) throw new Error(`no event id in the result: ${eventId}`);
    await expectCounts({ processed: base.processed + 1, duplicates: base.duplicates });
  });

  await step('a resend is a duplicate and is not counted', async () => {
    const { id, row } = await send(eventText, { simulateFailure: false });
    if (id !== eventId) throw new Error(`resend got event id ${id}, want ${eventId}`);
    await row.getByText(/duplicate:/).waitFor({ timeout: TIMEOUT });
    await expectCounts({ processed: base.processed + 1, duplicates: base.duplicates + 1 });
  });

  await step('the duplicate shows in the event lineage', async () => {
    const n = await lineage();
    if (n !== 1) throw new Error(`lineage shows ${n} duplicate copies, want 1`);
  });

  await step('a simulated failure is retried and counted once', async () => {
    const { id } = await send(uniqueEvent('77.70'), { simulateFailure: true });
    if (id === eventId) throw new Error('the simulated-failure event reused the first event id');
    await expectCounts({ processed: base.processed + 2, duplicates: base.duplicates + 1 });
  });

  await step('the books reconcile', async () => {
    await eventually('the "reconciled" badge', async () => (await page.getByTestId('recon-badge').first().textContent()) === 'reconciled');
    await page.setViewportSize({ width: 420, height: 900 });
    await openTab('Pipeline health');
    await page.getByRole('heading', { name: /pipeline health/i }).waitFor({ timeout: TIMEOUT });
  });
} catch {
  exitCode = 1;
} finally {
  if (consoleErrors.length) {
    console.log(`console errors:\n  ${consoleErrors.join('\n  ')}`);
    exitCode = 1;
  }
  await browser.close();
}
console.log(`e2e: ${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed ? 1 : 0));
