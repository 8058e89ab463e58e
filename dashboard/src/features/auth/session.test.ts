import { describe, expect, it, vi } from 'vitest';
import { ApiError, Credentials, type WhoAmI } from '../../lib/api/client';
import { KeyStore } from './key-store';
import { Session, type SessionState } from './session';

const admin: WhoAmI = { keyId: 'k_admin', tenant: 'default', keyTenant: 'default', scopes: ['admin'] };
const reader: WhoAmI = { keyId: 'k_read', tenant: 'acme', keyTenant: 'acme', scopes: ['query'] };
const rejected = (message = 'the API key is not valid') => new ApiError(401, 'unauthorized', message);

/** A whoami that knows some keys; undefined (no key) is the server's key, if it has one. */
function fakeWhoAmI(keys: Record<string, WhoAmI>, server?: WhoAmI) {
  return vi.fn(async (key?: string) => {
    const who = key === undefined ? server : keys[key];
    if (!who) throw rejected(key === undefined ? 'an API key is required' : 'the API key is not valid');
    return who;
  });
}

function setup(opts: { stored?: string; keys?: Record<string, WhoAmI>; server?: WhoAmI } = {}) {
  const credentials = new Credentials();
  const store = new KeyStore(undefined);
  if (opts.stored) store.set(opts.stored);
  const ask = fakeWhoAmI(opts.keys ?? {}, opts.server);
  const session = new Session(credentials, store, ask);
  const states: SessionState[] = [];
  session.subscribe(() => states.push(session.getState()));
  return { credentials, store, ask, session, states };
}

describe('Session', () => {
  it('without a stored key, acts as the server key when the server adds one: no sign-in step', async () => {
    const { session, ask, credentials } = setup({ server: admin });
    expect(session.getState()).toEqual({ status: 'checking' });
    expect(session.readsAsAdmin()).toBe(true);
    await session.start();
    expect(ask).toHaveBeenCalledWith(undefined);
    expect(session.getState()).toEqual({ status: 'signed-in', who: admin, via: 'server' });
    expect(credentials.token()).toBeUndefined();
  });

  it('without a stored key and no server key, asks to sign in without blaming anyone', async () => {
    const { session } = setup();
    await session.start();
    expect(session.getState()).toEqual({ status: 'signed-out', reason: undefined });
    expect(session.readsAsAdmin()).toBe(false);
  });

  it('uses the key kept for this browser session from the first request on', async () => {
    const { session, ask, credentials } = setup({ stored: 'tly_read', keys: { tly_read: reader } });
    expect(credentials.token()).toBe('tly_read');
    await session.start();
    expect(ask).toHaveBeenCalledWith('tly_read');
    expect(session.getState()).toEqual({ status: 'signed-in', who: reader, via: 'key' });
    expect(session.readsAsAdmin()).toBe(false);
  });

  it('forgets a stored key the API no longer accepts, and says so', async () => {
    const { session, store, credentials } = setup({ stored: 'tly_gone', server: admin });
    await session.start();
    expect(session.getState()).toMatchObject({ status: 'signed-out', reason: expect.stringContaining('The saved key was not accepted') });
    expect(store.get()).toBeUndefined();
    expect(credentials.token()).toBeUndefined();
  });

  it('signs in only with a key whoami accepts, keeping it for the session', async () => {
    const { session, store, credentials, states } = setup({ keys: { tly_read: reader } });
    await session.start();
    expect(await session.signIn('   ')).toMatch(/Paste an API key/);
    expect(await session.signIn('tly_wrong')).toBe('This key was not accepted: the API key is not valid.');
    expect(store.get()).toBeUndefined();
    expect(credentials.token()).toBeUndefined();
    expect(session.getState().status).toBe('signed-out');

    expect(await session.signIn('Bearer tly_read')).toBeUndefined();
    expect(store.get()).toBe('tly_read');
    expect(credentials.token()).toBe('tly_read');
    expect(states.at(-1)).toEqual({ status: 'signed-in', who: reader, via: 'key' });
  });

  it('reports a key that cannot be checked (API down) apart from a wrong key', async () => {
    const credentials = new Credentials();
    const session = new Session(credentials, new KeyStore(undefined), async () => {
      throw new ApiError(0, 'network_error', 'Network error: fetch failed');
    });
    await session.start();
    expect(session.getState()).toMatchObject({ status: 'unavailable' });
    expect(await session.signIn('tly_x')).toBe('The key could not be checked: Network error: fetch failed.');
  });

  it('returns to sign-in with the API reason when a request with the current key is answered 401', async () => {
    const { session, store, credentials } = setup({ stored: 'tly_read', keys: { tly_read: reader } });
    await session.start();
    credentials.reject('tly_read', rejected('the API key was revoked'));
    expect(session.getState()).toEqual({ status: 'signed-out', reason: 'Your key was rejected: the API key was revoked. Sign in with an API key.' });
    expect(store.get()).toBeUndefined();
    expect(credentials.token()).toBeUndefined();
  });

  it('returns to sign-in when the server key is rejected, but not for 401s while checking or to other keys', async () => {
    const { session, credentials } = setup({ server: admin });
    credentials.reject(undefined, rejected()); // an early request, before whoami answered
    expect(session.getState().status).toBe('checking');
    await session.start();
    credentials.reject('tly_other', rejected());
    expect(session.getState().status).toBe('signed-in');
    credentials.reject(undefined, rejected('the API key has expired'));
    expect(session.getState()).toEqual({ status: 'signed-out', reason: "The dashboard server's key was rejected: the API key has expired. Sign in with an API key." });
  });

  it('signs out: forgets the key, then acts as the server key if there is one, else shows sign-in', async () => {
    const withServer = setup({ stored: 'tly_read', keys: { tly_read: reader }, server: admin });
    await withServer.session.start();
    await withServer.session.signOut();
    expect(withServer.store.get()).toBeUndefined();
    expect(withServer.credentials.token()).toBeUndefined();
    expect(withServer.session.getState()).toEqual({ status: 'signed-in', who: admin, via: 'server' });

    const alone = setup({ stored: 'tly_read', keys: { tly_read: reader } });
    await alone.session.start();
    await alone.session.signOut();
    expect(alone.session.getState()).toEqual({ status: 'signed-out', reason: 'Signed out.' });
  });
});
