// Views as a user shares and watches them: presets change the data, the URL
// holds the whole view (back/forward, reopening a link), CSV exports hold
// the rows on screen, live refresh shows new events without a reload. Each
// test sends its own events for a run-unique client, so it runs on a shared
// stack. Amounts here are small integers: exactness is checked in e2e/mock.
import { ago, DAY, downloaded, expect, HOUR, ingest, MINUTE, parseCsv, test, unique } from '../fixtures';

test('presets change the data, and back/forward restore each range', async ({ page, request }) => {
  const client = unique('presets');
  const ev = (amount: string, at: string) => ({ clientId: client, metric: 'preset_check', amount, timestamp: at });
  await ingest(request, [ev('1', ago(5 * MINUTE)), ev('2', ago(3 * HOUR)), ev('4', ago(3 * DAY)), ev('8', ago(20 * DAY))]);

  await page.goto(`/?client=${client}&range=30d`);
  await expect(page.getByTestId('total-events')).toHaveText('4');
  await expect(page.getByTestId('total-amount')).toHaveText('15');

  const range = page.getByLabel(/^Range/);
  const cases = [
    { preset: '15m', label: 'Last 15 minutes', events: '1', amount: '1' },
    { preset: '24h', label: 'Last 24 hours', events: '2', amount: '3' },
    { preset: '7d', label: 'Last 7 days', events: '3', amount: '7' },
  ];
  for (const c of cases) {
    await range.selectOption({ label: c.label });
    if (c.preset === '24h') await expect(page).not.toHaveURL(/range=/);
    else await expect(page).toHaveURL(new RegExp(`range=${c.preset}`));
    await expect(page.getByTestId('total-events')).toHaveText(c.events);
    await expect(page.getByTestId('total-amount')).toHaveText(c.amount);
    await expect(page.getByTestId('top-client')).toHaveCount(1);
  }

  await page.goBack();
  await expect(range).toHaveValue('24h');
  await expect(page.getByTestId('total-events')).toHaveText('2');
  await page.goBack();
  await expect(range).toHaveValue('15m');
  await expect(page.getByTestId('total-events')).toHaveText('1');
  await page.goForward();
  await page.goForward();
  await expect(range).toHaveValue('7d');
  await expect(page.getByTestId('total-events')).toHaveText('3');
});

test('a URL reopens the same view', async ({ page, context, request }) => {
  const client = unique('share');
  await ingest(request, [
    { clientId: client, metric: 'alpha', amount: '3', timestamp: ago(2 * HOUR) },
    { clientId: client, metric: 'alpha', amount: '5', timestamp: ago(26 * HOUR) },
    { clientId: client, metric: 'beta', amount: '7', timestamp: ago(2 * HOUR) },
  ]);
  await page.goto(`/aggregations?client=${client}&range=7d`);
  await expect(page.getByTestId('group-row')).toHaveCount(2);

  // Change the view through the controls.
  await page.getByLabel('Group by').selectOption('both');
  await page.getByLabel('Interval').selectOption('hour');
  await page.getByLabel('Time zone').selectOption('Asia/Tokyo');
  await page.getByRole('radio', { name: /amount per hour/i }).check();
  await page.getByRole('button', { name: 'Sum' }).click();
  await page.getByRole('switch', { name: 'Live' }).uncheck();
  await expect(page).toHaveURL(/live=off/);
  const rows = await page.getByTestId('group-row').allTextContents();
  expect(rows).toHaveLength(2);
  expect(rows[0]).toContain('alpha');
  const url = page.url();
  for (const part of ['groupBy=both', 'interval=hour', 'tz=Asia%2FTokyo', 'chart=sum', 'sort=-sum', 'range=7d', `client=${client}`]) expect(url).toContain(part);

  const other = await context.newPage();
  await other.goto(url);
  await expect(other.getByLabel('Group by')).toHaveValue('both');
  await expect(other.getByLabel('Interval')).toHaveValue('hour');
  await expect(other.getByLabel('Time zone')).toHaveValue('Asia/Tokyo');
  await expect(other.getByLabel(/^Range/)).toHaveValue('7d');
  await expect(other.getByRole('radio', { name: /amount per hour/i })).toBeChecked();
  await expect(other.getByRole('switch', { name: 'Live' })).not.toBeChecked();
  await expect(other.getByRole('button', { name: `Remove client ${client}` })).toBeVisible();
  await expect(other.getByRole('columnheader', { name: /Sum/ })).toHaveAttribute('aria-sort', 'descending');
  await expect(other.getByTestId('window')).toContainText('(Asia/Tokyo)');
  await expect(other.getByTestId('group-row')).toHaveText(rows);
  await other.close();
});

test('CSV export downloads the rows on screen', async ({ page, request }) => {
  const client = unique('csv');
  const ids = await ingest(request, [
    { clientId: client, metric: 'csv,check', amount: '10', timestamp: ago(10 * MINUTE) },
    { clientId: client, metric: 'csv,check', amount: '20', timestamp: ago(20 * MINUTE) },
    { clientId: client, metric: 'say "hi"', amount: '30', timestamp: ago(30 * MINUTE) },
  ]);

  await test.step('the event list', async () => {
    await page.goto(`/events?client=${client}&range=1h`);
    await expect(page.getByTestId('event-row')).toHaveCount(3);
    const shown = await page.getByTestId('event-row').locator('button.row-open').evaluateAll((els) => els.map((e) => e.getAttribute('title')));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^tally-events-.*\.csv$/);
    const csv = parseCsv(await downloaded(download));
    expect(csv[0]).toEqual(['id', 'eventId', 'status', 'clientId', 'metric', 'amount', 'timestamp', 'receivedAt', 'topic', 'partition', 'offset', 'rejectionCode', 'rejectionField', 'rejectionMessage']);
    expect(csv.slice(1).map((r) => r[0])).toEqual(shown);
    expect(new Set(csv.slice(1).map((r) => r[1]))).toEqual(new Set(ids));
    expect(csv.slice(1).map((r) => r[4]).sort()).toEqual(['csv,check', 'csv,check', 'say "hi"']);
  });

  await test.step('the aggregation', async () => {
    await page.goto(`/aggregations?client=${client}&range=1h&groupBy=metric`);
    await expect(page.getByTestId('group-row')).toHaveCount(2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^tally-aggregation-metric-.*\.csv$/);
    const text = await downloaded(download);
    expect(text).toContain('"csv,check",2,30,15,10,20\r\n');
    expect(text).toContain('"say ""hi""",1,30,30,30,30\r\n');
    expect(parseCsv(text)).toEqual([
      ['metric', 'count', 'sum', 'avg', 'min', 'max'],
      ['csv,check', '2', '30', '15', '10', '20'],
      ['say "hi"', '1', '30', '30', '30', '30'],
    ]);
  });
});

test('live refresh picks up a new event without a reload', async ({ page, request }) => {
  const client = unique('live');
  await ingest(request, [{ clientId: client, metric: 'live_check', amount: '1', timestamp: ago(MINUTE) }]);
  await page.goto(`/?client=${client}&range=15m`);
  await expect(page.getByTestId('total-events')).toHaveText('1');
  await expect(page.getByTestId('updated-ago')).toHaveText(/updated \d+ s ago/);
  const navigations: string[] = [];
  page.on('framenavigated', (f) => navigations.push(f.url()));

  await ingest(request, [{ clientId: client, metric: 'live_check', amount: '2', timestamp: new Date().toISOString() }]);
  await expect(page.getByTestId('total-events')).toHaveText('2');
  await expect(page.getByTestId('total-amount')).toHaveText('3');
  expect(navigations, 'no reload').toEqual([]);

  await test.step('paused, a new event shows only on a manual refresh', async () => {
    await page.getByRole('switch', { name: 'Live' }).uncheck();
    await expect(page).toHaveURL(/live=off/);
    await expect(page.getByTestId('updated-ago')).toContainText('paused');
    await ingest(request, [{ clientId: client, metric: 'live_check', amount: '4', timestamp: new Date().toISOString() }]);
    await expect(async () => {
      await page.getByRole('button', { name: 'Refresh now' }).click();
      await expect(page.getByTestId('total-events')).toHaveText('3', { timeout: 1000 });
    }).toPass();
    await page.getByRole('switch', { name: 'Live' }).check();
    await expect(page).not.toHaveURL(/live=off/);
  });
});
