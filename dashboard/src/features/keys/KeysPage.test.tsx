import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { credentials, type ApiKey, type WhoAmI } from '../../lib/api/client';
import { json, mockFetch } from '../../testing/fetch-mock';
import { at, renderWithProviders } from '../../testing/render';
import { createBrowserSession, type Session } from '../auth/session';
import { KeysPage } from './KeysPage';

const ADMIN: WhoAmI = { keyId: 'k_admin', tenant: 'default', keyTenant: 'default', scopes: ['admin'] };

function backend() {
  const keys: ApiKey[] = [
    { id: 'k_admin', tenant: 'default', scopes: ['admin'], name: 'stack-admin', createdAt: '2026-01-01T10:00:00Z', revoked: false },
    { id: 'k_old', tenant: 'acme', scopes: ['ingest'], createdAt: '2026-01-02T10:00:00Z', revoked: true, revokedAt: '2026-01-03T10:00:00Z' },
    { id: 'k_exp', tenant: 'acme', scopes: ['query'], createdAt: '2026-01-02T11:00:00Z', expiresAt: '2026-01-05T00:00:00Z', revoked: false },
  ];
  const api = mockFetch({
    'GET /query/v1/whoami': ADMIN,
    'GET /query/v1/admin/keys': () => json(200, { keys }),
    'GET /query/v1/admin/topics': { topics: [{ topic: 'events.raw', tenant: 'default' }] },
    'POST /query/v1/admin/keys': (call) => {
      const body = JSON.parse(call.body) as Partial<ApiKey> & { tenant: string };
      if (body.tenant === 'taken') return json(400, { error: { code: 'invalid_body', message: 'no such thing' } });
      const k: ApiKey = { id: 'k_new', createdAt: '2026-02-01T00:00:00Z', revoked: false, scopes: [], ...body };
      keys.push(k);
      return json(201, { ...k, key: 'tly_secret_shown_once' });
    },
    'DELETE /query/v1/admin/keys/k_exp': () => {
      const k = keys.find((x) => x.id === 'k_exp')!;
      Object.assign(k, { revoked: true, revokedAt: '2026-02-02T00:00:00Z' });
      return json(200, k);
    },
  });
  return { api, keys };
}

let session: Session | undefined;

async function open() {
  session = createBrowserSession();
  await session.start();
  return renderWithProviders(<KeysPage />, { session });
}

afterEach(() => {
  session?.dispose();
  credentials.set(undefined);
  vi.useRealTimers();
});

describe('KeysPage', () => {
  it('lists every key with tenant, scopes and status, active ones first', async () => {
    backend();
    await open();
    const rows = await screen.findAllByTestId('key-row');
    expect(rows.map((r) => r.getAttribute('data-key-id'))).toEqual(['k_exp', 'k_admin', 'k_old']);
    expect(rows[0]).toHaveTextContent('acme');
    expect(rows[0]).toHaveTextContent('expired');
    expect(rows[1]).toHaveTextContent('stack-admin');
    expect(rows[1]).toHaveTextContent('this session');
    expect(rows[2]).toHaveTextContent('revoked');
    expect(within(rows[2]!).queryByRole('button', { name: /Revoke/ })).not.toBeInTheDocument();
  });

  it('creates a key from the form and shows its secret once, with a copy button', async () => {
    const { api } = backend();
    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { configurable: true, value: { writeText } });
    at('/keys?tz=Europe%2FBerlin');
    await open();
    await screen.findAllByTestId('key-row');
    const tenant = screen.getByLabelText('Tenant');
    expect(tenant).toHaveValue('default');
    await userEvent.clear(tenant);
    await userEvent.type(tenant, 'Not OK');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(screen.getByRole('alert')).toHaveTextContent('Tenant:');
    expect(api.to('POST', '/query/v1/admin/keys')).toHaveLength(0);

    await userEvent.clear(tenant);
    await userEvent.type(tenant, 'acme');
    await userEvent.click(screen.getByLabelText(/ingest/));
    await userEvent.type(screen.getByLabelText('Name (optional)'), 'reports');
    await userEvent.type(screen.getByLabelText('Rate limit, events/s (optional)'), '25');
    await userEvent.type(screen.getByLabelText('Expires (optional, Europe/Berlin)'), '2099-06-01T12:00');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));

    const created = await screen.findByTestId('new-key');
    expect(JSON.parse(api.to('POST', '/query/v1/admin/keys')[0]!.body)).toEqual({
      tenant: 'acme',
      scopes: ['query'],
      name: 'reports',
      rateLimit: { eventsPerSecond: 25 },
      expiresAt: '2099-06-01T10:00:00.000Z',
    });
    expect(within(created).getByTestId('new-key-secret')).toHaveValue('tly_secret_shown_once');
    await userEvent.click(within(created).getByRole('button', { name: 'Copy' }));
    expect(writeText).toHaveBeenCalledWith('tly_secret_shown_once');
    expect(within(created).getByRole('status')).toHaveTextContent('Copied');
    await waitFor(() => expect(screen.getAllByTestId('key-row')).toHaveLength(4));

    await userEvent.click(within(created).getByRole('button', { name: /Done/ }));
    expect(screen.queryByTestId('new-key')).not.toBeInTheDocument();
    expect(screen.queryByDisplayValue('tly_secret_shown_once')).not.toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Create key' })).toBeInTheDocument();
  });

  it('shows why the API refused a key', async () => {
    backend();
    await open();
    await screen.findAllByTestId('key-row');
    await userEvent.clear(screen.getByLabelText('Tenant'));
    await userEvent.type(screen.getByLabelText('Tenant'), 'taken');
    await userEvent.click(screen.getByRole('button', { name: 'Create key' }));
    expect(await screen.findByText('no such thing')).toBeInTheDocument();
  });

  it('revokes a key only after a confirmation, and can be cancelled', async () => {
    const { api } = backend();
    await open();
    const row = () => screen.getAllByTestId('key-row').find((r) => r.getAttribute('data-key-id') === 'k_exp')!;
    await screen.findAllByTestId('key-row');
    await userEvent.click(within(row()).getByRole('button', { name: 'Revoke key k_exp' }));
    await userEvent.click(within(row()).getByRole('button', { name: 'Cancel' }));
    expect(api.to('DELETE', '/query/v1/admin/keys/k_exp')).toHaveLength(0);

    await userEvent.click(within(row()).getByRole('button', { name: 'Revoke key k_exp' }));
    const confirm = within(row()).getByRole('group', { name: 'Confirm revoking key k_exp' });
    expect(within(confirm).getByRole('button', { name: 'Yes, revoke' })).toHaveFocus();
    await userEvent.click(within(confirm).getByRole('button', { name: 'Yes, revoke' }));
    expect(await screen.findByText('Key k_exp revoked.')).toBeInTheDocument();
    expect(api.to('DELETE', '/query/v1/admin/keys/k_exp')).toHaveLength(1);
    await waitFor(() => expect(row()).toHaveTextContent('revoked'));
  });
});
