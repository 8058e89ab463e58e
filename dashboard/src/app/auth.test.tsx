import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { createBrowserSession, type Session } from '../features/auth/session';
import { credentials, type WhoAmI } from '../lib/api/client';
import { navigate } from '../lib/router';
import { json, mockFetch, type Call } from '../testing/fetch-mock';
import { at, renderWithProviders, stats } from '../testing/render';
import { App } from './App';
import { AuthGate } from './AuthGate';

const ADMIN: WhoAmI = { keyId: 'k_admin', tenant: 'default', keyTenant: 'default', scopes: ['admin'], name: 'ops' };
const READER: WhoAmI = { keyId: 'k_read', tenant: 'acme', keyTenant: 'acme', scopes: ['query'] };

const sent = (c: Call) => c.headers.get('Authorization')?.replace(/^Bearer /, '');

/** The query API with two keys; `server` is the identity of keyless requests (the dev server's key). */
function backend({ server, revoked = new Set<string>() }: { server?: WhoAmI; revoked?: Set<string> } = {}) {
  const keys: Record<string, WhoAmI> = { tly_admin: ADMIN, tly_read: READER };
  const who = (c: Call): WhoAmI | undefined => {
    const key = sent(c);
    if (key === undefined) return server;
    return revoked.has(key) ? undefined : keys[key];
  };
  const guarded = (body: (c: Call, w: WhoAmI) => Response) => (c: Call) => {
    const w = who(c);
    if (!w) return json(401, { error: { code: 'unauthorized', message: sent(c) && revoked.has(sent(c)!) ? 'the API key was revoked' : 'the API key is not valid' } });
    return body(c, w);
  };
  return mockFetch({
    'GET /query/v1/whoami': guarded((_, w) => json(200, w)),
    'GET /query/v1/stats': guarded(() => json(200, stats())),
    'GET /query/v1/aggregations': guarded(() => json(200, { groups: [], filters: {} })),
    'GET /query/v1/admin/keys': guarded((_, w) => (w.scopes.includes('admin') ? json(200, { keys: [] }) : json(403, { error: { code: 'forbidden', message: 'admin only' } }))),
    'GET /query/v1/admin/topics': guarded(() => json(200, { topics: [{ topic: 'events.raw', tenant: 'default' }, { topic: 'acme.raw', tenant: 'acme' }] })),
    'GET /admin/v1/faults': () => json(403, { error: { code: 'forbidden', message: 'admin only' } }),
  });
}

let session: Session | undefined;

function open() {
  session = createBrowserSession();
  void session.start();
  return renderWithProviders(
    <AuthGate>
      <App />
    </AuthGate>,
    { session },
  );
}

afterEach(() => {
  session?.dispose();
  session = undefined;
  credentials.set(undefined);
  window.sessionStorage.clear();
});

describe('sign-in', () => {
  it('asks for a key when the server adds none, refuses a bad one, keeps a good one for the session only', async () => {
    const api = backend();
    at('/aggregations?range=7d');
    open();
    const field = await screen.findByLabelText('API key');
    await userEvent.type(field, 'tly_nope');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByTestId('sign-in-error')).toHaveTextContent('This key was not accepted: the API key is not valid.');
    expect(window.sessionStorage.length).toBe(0);

    await userEvent.clear(field);
    await userEvent.type(field, 'tly_read');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    // Signed in where the user was, reading the key's tenant.
    expect(await screen.findByRole('heading', { name: 'Aggregations' })).toBeInTheDocument();
    expect(window.location.search).toBe('?range=7d');
    expect(screen.getByTestId('tenant')).toHaveTextContent('acme');
    expect(window.sessionStorage.getItem('tally.apiKey')).toBe('tly_read');
    expect(window.localStorage.length).toBe(0);
    await waitFor(() => expect(api.to('GET', '/query/v1/aggregations').length).toBeGreaterThan(0));
    expect(api.to('GET', '/query/v1/aggregations').every((c) => sent(c) === 'tly_read')).toBe(true);
    // Not an admin: no key management, no tenant switcher.
    expect(within(screen.getByRole('navigation', { name: 'Main' })).queryByRole('link', { name: 'API keys' })).not.toBeInTheDocument();
    expect(screen.queryByTestId('tenant-input')).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByTestId('sign-in-reason')).toHaveTextContent('Signed out.');
    expect(window.sessionStorage.length).toBe(0);
  });

  it('needs no sign-in when the server adds its key, and still offers one', async () => {
    backend({ server: ADMIN });
    open();
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    expect(screen.getByTestId('identity')).toHaveTextContent("dashboard server's key");
    expect(screen.getByTestId('tenant-input')).toHaveValue('default');
    await userEvent.click(screen.getByRole('link', { name: 'Sign in with a key' }));
    expect(window.location.pathname).toBe('/sign-in');
    await userEvent.type(await screen.findByLabelText('API key'), 'tly_read');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    // Back where the link was followed from.
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    expect(screen.getByTestId('tenant')).toHaveTextContent('acme');
  });

  it('returns to sign-in with the reason when a request is answered 401', async () => {
    const revoked = new Set<string>();
    backend({ revoked });
    window.sessionStorage.setItem('tally.apiKey', 'tly_read');
    open();
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    revoked.add('tly_read');
    await userEvent.click(screen.getAllByRole('button', { name: 'Refresh now' })[0]!);
    expect(await screen.findByTestId('sign-in-reason')).toHaveTextContent('Your key was rejected: the API key was revoked. Sign in with an API key.');
    expect(window.sessionStorage.length).toBe(0);
  });

  it('lets an admin switch tenant: in the URL, sent with every read, back restores it', async () => {
    const api = backend({ server: ADMIN });
    at('/?range=24h');
    open();
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    expect(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'API keys' })).toBeInTheDocument();
    const input = screen.getByTestId('tenant-input');
    // The tenants known from keys and topic mappings are offered.
    await waitFor(() => expect([...document.querySelectorAll('datalist option')].map((o) => o.getAttribute('value'))).toEqual(['acme', 'default']));

    await userEvent.clear(input);
    await userEvent.type(input, 'Bad Name');
    await userEvent.click(screen.getByRole('button', { name: 'Switch' }));
    expect(screen.getByRole('alert')).toHaveTextContent('A tenant name');

    const before = api.calls.length;
    await userEvent.clear(input);
    await userEvent.type(input, 'acme{Enter}');
    expect(window.location.search).toBe('?range=24h&tenant=acme');
    await waitFor(() => expect(api.calls.slice(before).some((c) => c.url.pathname === '/query/v1/aggregations')).toBe(true));
    const reads = api.calls.slice(before).filter((c) => c.url.pathname === '/query/v1/aggregations');
    expect(reads.every((c) => c.url.searchParams.get('tenant') === 'acme')).toBe(true);
    // Links to other views keep the tenant.
    expect(within(screen.getByRole('navigation', { name: 'Main' })).getByRole('link', { name: 'Events' })).toHaveAttribute('href', '/events?range=24h&tenant=acme');

    await act(async () => {
      const popped = new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
      window.history.back();
      await popped;
    });
    await waitFor(() => expect(screen.getByTestId('tenant-input')).toHaveValue('default'));
    const after = api.calls.length;
    await waitFor(() => expect(api.calls.slice(after).some((c) => c.url.pathname === '/query/v1/aggregations')).toBe(true));
    expect(api.calls.slice(after).filter((c) => c.url.pathname === '/query/v1/aggregations').every((c) => !c.url.searchParams.has('tenant'))).toBe(true);
  });

  it("drops another tenant from a shared link for a key that is not an admin's, and shows a 403 at /keys", async () => {
    const api = backend();
    window.sessionStorage.setItem('tally.apiKey', 'tly_read');
    at('/?tenant=default');
    open();
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    await waitFor(() => expect(window.location.search).toBe(''));
    expect(screen.getByTestId('tenant')).toHaveTextContent('acme');
    const count = api.calls.length;
    await waitFor(() => expect(api.calls.slice(count).some((c) => c.url.pathname === '/query/v1/aggregations')).toBe(true));
    expect(api.calls.slice(count).every((c) => !c.url.searchParams.has('tenant'))).toBe(true);

    act(() => navigate('/keys'));
    expect(await screen.findByTestId('keys-forbidden')).toHaveTextContent('403');
    expect(api.to('GET', '/query/v1/admin/keys')).toHaveLength(0);
  });
});
