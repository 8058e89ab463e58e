// Exact amounts end to end: values a double cannot hold are shown digit for
// digit with grouping, and exported as the API's exact text (the query API's
// *Exact string fields).
import { ago, downloaded, expect, ingest, MINUTE, parseCsv, test, unique } from '../fixtures';

const BIG = '12345678901234.123456789'; // 23 significant digits: a double keeps ~16
const TINY = '0.000000001';
const SUM = '12345678901234.12345679';
const AVG = '6172839450617.061728395'; // (BIG + TINY) / 2, rounded half away from zero at 9 digits

test('amounts are shown and exported exactly', async ({ page, request }) => {
  const client = unique('exact');
  const [bigId] = await ingest(request, [
    { clientId: client, metric: 'precise', amount: BIG, timestamp: ago(2 * MINUTE) },
    { clientId: client, metric: 'precise', amount: TINY, timestamp: ago(3 * MINUTE) },
  ]);
  expect(Number(SUM).toString()).not.toBe(SUM); // the point of the test

  await test.step('overview totals and top lists', async () => {
    await page.goto(`/?client=${client}&range=1h`);
    await expect(page.getByTestId('total-events')).toHaveText('2');
    await expect(page.getByTestId('total-amount')).toHaveText('12,345,678,901,234.12345679');
    await expect(page.getByTestId('top-metric')).toContainText('12,345,678,901,234.12345679');
  });

  await test.step('aggregation table and its CSV', async () => {
    await page.getByTestId('total-amount').click();
    await expect(page).toHaveURL(/\/aggregations\?.*chart=sum/);
    const row = page.getByTestId('group-row');
    await expect(row).toHaveCount(1);
    await expect(row.getByRole('cell')).toHaveText(['precise', '2', '12,345,678,901,234.12345679', '6,172,839,450,617.061728395', '0.000000001', '12,345,678,901,234.123456789']);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(parseCsv(await downloaded(download))).toEqual([
      ['metric', 'count', 'sum', 'avg', 'min', 'max'],
      ['precise', '2', SUM, AVG, TINY, BIG],
    ]);
  });

  await test.step('event list, its CSV and the canonical form', async () => {
    await page.goto(`/events?client=${client}&range=1h`);
    await expect(page.getByTestId('event-row')).toHaveCount(2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = parseCsv(await downloaded(download));
    expect(csv.slice(1).map((r) => r[5]).sort()).toEqual([TINY, BIG].sort());
    await page.getByRole('button', { name: `Open event ${bigId}` }).click();
    await expect(page.getByTestId('canonical-amount')).toHaveText('12,345,678,901,234.123456789');
  });

  await test.step('a German locale groups with dots and a decimal comma', async () => {
    const german = await page.context().browser()!.newContext({ locale: 'de-DE', baseURL: new URL(page.url()).origin });
    const p = await german.newPage();
    await p.goto(`/?client=${client}&range=1h`);
    await expect(p.getByTestId('total-amount')).toHaveText('12.345.678.901.234,12345679');
    await german.close();
  });
});
