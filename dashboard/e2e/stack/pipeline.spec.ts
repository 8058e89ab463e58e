// The pipeline's promise, checked through the UI: a unique event is counted
// once, a resend is a duplicate and not counted, the duplicate shows in the
// lineage, a simulated failure is retried and counted once, and the books
// reconcile. Counts come from the always-visible reconciliation line, which
// is global, so the tests assert differences from a baseline. Needs fault
// injection on (make dev; scripts/test-integration.sh sets it).
import type { Page } from '@playwright/test';
import { expect, test, unique } from '../fixtures';

interface Counts {
  processed: number;
  duplicates: number;
  received: number;
  pending: number;
}

async function counts(page: Page): Promise<Counts> {
  const read = async (name: string) => Number(((await page.getByTestId(`stat-${name}`).first().textContent()) ?? '').replace(/[^0-9-]/g, ''));
  return { processed: await read('processed'), duplicates: await read('duplicates'), received: await read('received'), pending: await read('pending') };
}

/** The stats frame the header shows (changes with every SSE frame or poll). */
const asOf = (page: Page) => page.locator('.stats-bar').getAttribute('data-as-of');

/**
 * Waits until processed/duplicates reach want, then checks they hold exactly
 * over the next three stats frames (a late double count would show there).
 */
async function expectCounts(page: Page, want: { processed: number; duplicates: number }) {
  await expect
    .poll(async () => {
      const c = await counts(page);
      return { processed: c.processed, duplicates: c.duplicates };
    })
    .toEqual(want);
  for (let frame = 0; frame < 3; frame++) {
    const seen = await asOf(page);
    await expect.poll(() => asOf(page)).not.toBe(seen);
    const c = await counts(page);
    expect({ processed: c.processed, duplicates: c.duplicates }, `counts after ${frame + 1} more stats frames`).toEqual(want);
  }
}

async function send(page: Page, text: string, simulateFailure: boolean) {
  await page.getByRole('navigation', { name: 'Developer tools' }).getByRole('link', { name: 'Submit events' }).click();
  await page.getByLabel('Event JSON').fill(text);
  const toggle = page.getByRole('switch', { name: /simulate failure/i });
  if ((await toggle.isChecked()) !== simulateFailure) await toggle.click();
  const answered = page.waitForResponse((r) => r.url().includes('/ingest/v1/events') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const response = await answered;
  expect(response.status(), await response.text()).toBe(202);
  const row = page.getByTestId('ingest-result').first();
  await expect(row.getByText('accepted', { exact: true })).toBeVisible();
  return { id: (await row.getByTestId('result-event-id').textContent())?.trim(), row };
}

test('every event is counted exactly once, through resends and a simulated failure, and the books reconcile', async ({ page }) => {
  const client = unique('e2e');
  const eventText = (amount: string) => JSON.stringify({ clientId: client, metric: 'e2e_check', amount, timestamp: new Date().toISOString() }, null, 2);
  let base!: Counts;
  let first!: string;
  let firstId: string | undefined;

  await test.step('the dashboard loads with live stats and developer tools', async () => {
    await page.goto('/');
    await expect(page.getByRole('heading', { name: 'Tally' })).toBeVisible();
    await expect(page.getByTestId('stat-processed').first()).toBeVisible();
    await expect.poll(async () => (await counts(page)).pending).toBe(0);
    base = await counts(page);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Developer tools' }).click();
    await expect(page).toHaveURL(/\/dev/);
  });

  await test.step('a unique event is counted exactly once', async () => {
    first = eventText((Math.floor(Math.random() * 100000) / 100).toFixed(2));
    ({ id: firstId } = await send(page, first, false));
    expect(firstId).toMatch(/^[0-9a-f]{64}$/);
    await expectCounts(page, { processed: base.processed + 1, duplicates: base.duplicates });
  });

  await test.step('a resend is a duplicate and is not counted', async () => {
    const { id, row } = await send(page, first, false);
    expect(id).toBe(firstId);
    await expect(row.getByText(/duplicate:/)).toBeVisible();
    await expectCounts(page, { processed: base.processed + 1, duplicates: base.duplicates + 1 });
  });

  await test.step('the duplicate shows in the event lineage', async () => {
    await page.goto(`/events?client=${client}&status=processed&range=all`);
    const row = page.getByTestId('event-row');
    await expect(row).toHaveCount(1);
    await row.getByRole('button').click();
    await expect(page).toHaveURL(new RegExp(`event=${firstId}`));
    await expect(page.getByRole('article').getByTestId('duplicate-count')).toHaveText('1');
    await expect(page.getByRole('table', { name: 'Duplicate copies' }).getByRole('row')).toHaveCount(2);
  });

  await test.step('a simulated failure is retried and counted once', async () => {
    await page.goto('/dev/submit');
    const { id } = await send(page, eventText('77.70'), true);
    expect(id).not.toBe(firstId);
    await expectCounts(page, { processed: base.processed + 2, duplicates: base.duplicates + 1 });
  });

  await test.step('the books reconcile', async () => {
    await expect(page.getByTestId('recon-badge').first()).toHaveText('reconciled');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('link', { name: 'Pipeline health' }).click();
    await expect(page.getByRole('heading', { name: /pipeline health/i })).toBeVisible();
    await expect(page.getByTestId('recon-badge').first()).toHaveText('reconciled');
  });
});
