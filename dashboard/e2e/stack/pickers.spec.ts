// Client and metric pickers search the API (GET /v1/clients, /v1/metrics)
// by prefix and are driven from the keyboard; the choice lands in the URL
// and filters the data. Needs those endpoints (mock backend until the real

import { ago, expect, expectAccessible, ingest, MINUTE, test, unique } from '../fixtures';

test('pickers search values from the API and filter by keyboard', async ({ page, request }) => {
  const run = unique('pick');
  const alpha = `${run}-alpha`;
  const beta = `${run}-beta`;
  await ingest(request, [
    { clientId: alpha, metric: `${run}-views`, amount: '1', timestamp: ago(MINUTE) },
    { clientId: alpha, metric: `${run}-buys`, amount: '2', timestamp: ago(MINUTE) },
    { clientId: beta, metric: `${run}-views`, amount: '4', timestamp: ago(MINUTE) },
  ]);
  await page.goto('/?range=1h');
  await expect(page.getByTestId('total-events')).not.toHaveText('0');

  const clients = page.getByRole('combobox', { name: 'Clients' });
  const asked = page.waitForRequest((r) => r.url().includes('/query/v1/clients?') && new URL(r.url()).searchParams.get('prefix') === `${run}-a`);
  await clients.click();
  await clients.pressSequentially(`${run}-a`);
  await asked;
  const list = page.getByRole('listbox', { name: 'Clients' });
  await expect(list.getByRole('option')).toHaveText([alpha]);
  await expectAccessible(page, 'overview with the client picker open');
  await clients.press('Enter');
  await expect(page).toHaveURL(new RegExp(`client=${alpha}`));
  await expect(page.getByRole('button', { name: `Remove client ${alpha}` })).toBeVisible();
  await expect(page.getByTestId('total-events')).toHaveText('2');

  // A second client from the same list, chosen with the arrow keys.
  await clients.pressSequentially(run);
  await expect(list.getByRole('option')).toHaveText([alpha, beta]);
  await expect(list.getByRole('option', { name: alpha })).toHaveAttribute('aria-selected', 'true');
  await clients.press('ArrowDown');
  await clients.press('Enter');
  await expect(page).toHaveURL(new RegExp(`client=${alpha}.*client=${beta}`));
  await expect(page.getByTestId('total-events')).toHaveText('3');
  await clients.press('Escape');
  await expect(list).toBeHidden();

  const metrics = page.getByRole('combobox', { name: 'Metrics' });
  await metrics.click();
  await metrics.pressSequentially(`${run}-v`);
  await expect(page.getByRole('listbox', { name: 'Metrics' }).getByRole('option')).toHaveText([`${run}-views`]);
  await metrics.press('Enter');
  await expect(page.getByTestId('total-events')).toHaveText('2');
  await expect(page.getByTestId('total-amount')).toHaveText('5');

  // Backspace in an empty field removes the last choice; the remove button any.
  await metrics.press('Backspace');
  await expect(page).not.toHaveURL(/metric=/);
  await page.getByRole('button', { name: `Remove client ${alpha}` }).click();
  await expect(page).toHaveURL(new RegExp(`client=${beta}`));
  await expect(page).not.toHaveURL(new RegExp(`client=${alpha}`));
  await expect(page.getByTestId('total-events')).toHaveText('1');

  await page.goBack();
  await expect(page.getByRole('button', { name: `Remove client ${alpha}` })).toBeVisible();
  await expect(page.getByTestId('total-events')).toHaveText('3');
});
