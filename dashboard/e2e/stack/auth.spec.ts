// Sign-in, tenants and key management through the UI, against the mock or
// a real stack. The dashboard server adds its own (admin) key to keyless
// requests, so the views open without a sign-in; these tests sign in with
// keys they create through the admin API, and revoke them at the end. A
// wrong key is refused with 401 and a key without admin with 403 on
// purpose: the browser's log lines for those are expected here.
import type { Page } from '@playwright/test';
import { ago, createKey, expect, HOUR, ingest, revokeKey, test, unique, whoamiStatus, type CreatedKey } from '../fixtures';

test.use({ expectedHttpErrors: [401, 403, 503] });

const made: CreatedKey[] = [];
test.afterAll(async ({ request }) => {
  for (const k of made.splice(0)) await revokeKey(request, k.id);
});

async function readerKey(request: Parameters<typeof createKey>[0], name: string) {
  const k = await createKey(request, { tenant: 'default', scopes: ['query'], name });
  made.push(k);
  return k;
}

async function signIn(page: Page, key: string) {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('sign-in refuses a wrong key, keeps a good one for the tab, and signs out', async ({ page, request }) => {
  const name = unique('e2e-reader');
  const reader = await readerKey(request, name);

  await page.goto('/?range=30d');
  // The server's key: no sign-in step, the tenant shown.
  await expect(page.getByTestId('identity')).toContainText("dashboard server's key");
  await page.getByRole('link', { name: 'Sign in with a key' }).click();
  await expect(page).toHaveURL(/\/sign-in\?next=/);

  await signIn(page, 'tly_this_is_not_a_key');
  await expect(page.getByTestId('sign-in-error')).toContainText('This key was not accepted');
  await expect(page.getByLabel('API key')).toBeFocused();

  await signIn(page, reader.key);
  await expect(page).toHaveURL(/\/\?range=30d$/);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('identity')).toContainText(`key ${name} (${reader.id})`);
  await expect(page.getByTestId('tenant')).toHaveText('default');
  expect(await page.evaluate(() => sessionStorage.getItem('tally.apiKey'))).toBe(reader.key);
  expect(await page.evaluate(() => localStorage.length)).toBe(0);

  // Every call carries the key, the live stream included.
  const stream = page.waitForRequest((r) => r.url().includes('/query/v1/stream'));
  await page.reload();
  expect((await stream).headers()['authorization']).toBe(`Bearer ${reader.key}`);
  await expect(page.getByTestId('identity')).toContainText(reader.id);
  await expect(page.getByText('live', { exact: true })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByTestId('identity')).toContainText("dashboard server's key");
  expect(await page.evaluate(() => sessionStorage.getItem('tally.apiKey'))).toBeNull();
});

test('without a key from the server, the dashboard opens on sign-in', async ({ page, request }) => {
  const reader = await readerKey(request, unique('e2e-nokey'));
  // A server that adds no key: keyless requests are refused, as the API does.
  await page.route('**/query/**', (route) =>
    route.request().headers()['authorization']
      ? route.continue()
      : route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: { code: 'unauthorized', message: 'an API key is required' } }) }),
  );
  await page.goto('/events?range=7d');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
  await signIn(page, reader.key);
  await expect(page.getByRole('heading', { name: 'Events explorer' })).toBeVisible();
  await expect(page).toHaveURL(/\/events\?range=7d$/);
});

test('a key revoked while in use returns to sign-in with the reason', async ({ page, request }) => {
  const reader = await readerKey(request, unique('e2e-revoked'));
  await page.goto('/sign-in');
  await signIn(page, reader.key);
  await expect(page.getByTestId('identity')).toContainText(reader.id);
  await revokeKey(request, reader.id);
  made.splice(made.indexOf(reader), 1);
  // The views refresh every 5 s; revocation reaches every replica within 5 s.
  await expect(page.getByTestId('sign-in-reason')).toContainText('Your key was rejected: the API key was revoked', { timeout: 20_000 });
  expect(await page.evaluate(() => sessionStorage.getItem('tally.apiKey'))).toBeNull();
});

test('an admin switches tenant: every read names it, the URL holds it, back returns', async ({ page, request }) => {
  const client = unique('tenants');
  await ingest(request, [{ clientId: client, metric: 'tenant_check', amount: '2', timestamp: ago(HOUR) }]);
  const other = unique('e2e-tenant').toLowerCase();

  await page.goto(`/?client=${client}`);
  await expect(page.getByTestId('total-events')).toHaveText('1');
  const tenant = page.getByTestId('tenant-input');
  await expect(tenant).toHaveValue('default');

  const read = page.waitForRequest((r) => r.url().includes('/query/v1/aggregations') && new URL(r.url()).searchParams.get('tenant') === other);
  await tenant.fill(other);
  await page.getByRole('button', { name: 'Switch' }).click();
  await read;
  await expect(page).toHaveURL(new RegExp(`tenant=${other}`));
  // The other tenant has none of the default tenant's events.
  await expect(page.getByTestId('total-events')).toHaveText('0');
  // Links to other views keep the tenant.
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' })).toHaveAttribute('href', new RegExp(`tenant=${other}`));

  await page.goBack();
  await expect(tenant).toHaveValue('default');
  await expect(page.getByTestId('total-events')).toHaveText('1');
  await page.goForward();
  await expect(tenant).toHaveValue(other);
  await expect(page.getByTestId('total-events')).toHaveText('0');
});

test('an admin creates a key, copies its secret shown once, and revokes it after confirming', async ({ page, context, request }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const name = unique('e2e-created');
  const tenant = unique('e2e-t').toLowerCase();

  await page.goto('/');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' }).click();
  await expect(page.getByRole('heading', { name: 'API keys', level: 2 })).toBeVisible();
  await expect(page.getByTestId('keys-table')).toBeVisible();

  const form = page.getByRole('form', { name: 'Create a key' });
  await form.getByLabel('Tenant', { exact: true }).fill(tenant);
  await form.getByRole('checkbox', { name: /ingest/ }).uncheck();
  await form.getByLabel('Name (optional)').fill(name);
  await form.getByLabel('Rate limit, events/s (optional)').fill('50');
  await form.getByRole('button', { name: 'Create key' }).click();

  const shown = page.getByTestId('new-key');
  await expect(shown).toContainText(`created for tenant ${tenant}`);
  const secret = await shown.getByTestId('new-key-secret').inputValue();
  expect(secret).toMatch(/^tly_/);
  await shown.getByRole('button', { name: 'Copy' }).click();
  await expect(shown.getByRole('status')).toHaveText('Copied to the clipboard.');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  expect(await whoamiStatus(request, secret)).toBe(200);

  await shown.getByRole('button', { name: /Done/ }).click();
  await expect(page.getByTestId('new-key')).toHaveCount(0);
  await expect(page.getByText(secret)).toHaveCount(0);
  const row = page.getByTestId('key-row').filter({ hasText: name });
  await expect(row).toContainText(tenant);
  await expect(row).toContainText('query');
  await expect(row).toContainText('50/s');
  await expect(row).toContainText('active');

  await row.getByRole('button', { name: `Revoke key ${name}` }).click();
  await row.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toContainText('active');
  await row.getByRole('button', { name: `Revoke key ${name}` }).click();
  await row.getByRole('button', { name: 'Yes, revoke' }).click();
  await expect(page.getByText(/Key .* revoked\./)).toBeVisible();
  await expect(row).toContainText('revoked');
  await expect.poll(() => whoamiStatus(request, secret), { timeout: 15_000 }).toBe(401);
});

test('a key without admin sees no key management, and a 403 at its URL', async ({ page, request }) => {
  const reader = await readerKey(request, unique('e2e-noadmin'));
  await page.goto('/sign-in');
  await signIn(page, reader.key);
  await expect(page.getByTestId('identity')).toContainText(reader.id);
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys' })).toHaveCount(0);
  await expect(page.getByTestId('tenant-input')).toHaveCount(0);

  await page.goto('/keys');
  await expect(page.getByTestId('keys-forbidden')).toContainText('403');
  await expect(page.getByTestId('keys-table')).toHaveCount(0);
  // And the API agrees.
  const direct = await request.get('/query/v1/admin/keys', { headers: { Authorization: `Bearer ${reader.key}` } });
  expect(direct.status()).toBe(403);
});
