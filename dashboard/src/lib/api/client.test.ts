import { describe, expect, it, vi } from 'vitest';
import { json, mockFetch } from '../../testing/fetch-mock';
import { ApiError, createApi, Credentials, unwrap } from './client';

const ORIGIN = 'http://127.0.0.1:3000';

describe('API client', () => {
  it('attaches the bearer token from one source to every service, and none when signed out', async () => {
    const api = mockFetch({ 'GET /query/v1/stats': {}, 'GET /admin/v1/status': {}, 'POST /ingest/v1/events': {} });
    const credentials = new Credentials();
    const clients = createApi(ORIGIN, credentials);

    await clients.query.GET('/v1/stats');
    expect(api.calls[0]!.headers.get('Authorization')).toBeNull();

    credentials.set('tk_123');
    await clients.query.GET('/v1/stats');
    await clients.admin.GET('/v1/status');
    await clients.ingest.POST('/v1/events', { params: { query: {}, header: {} }, body: { clientId: 'a' } });
    expect(api.calls.slice(1).map((c) => c.headers.get('Authorization'))).toEqual(['Bearer tk_123', 'Bearer tk_123', 'Bearer tk_123']);

    credentials.set(undefined);
    await clients.query.GET('/v1/stats');
    expect(api.calls[4]!.headers.get('Authorization')).toBeNull();
  });

  it('keeps a key the request names itself (a key being tried at sign-in)', async () => {
    const api = mockFetch({ 'GET /query/v1/whoami': { keyId: 'k2', tenant: 'acme', keyTenant: 'acme', scopes: ['query'] } });
    const credentials = new Credentials();
    credentials.set('tly_signed_in');
    const clients = createApi(ORIGIN, credentials);
    await clients.query.GET('/v1/whoami', { headers: { Authorization: 'Bearer tly_candidate' } });
    expect(api.calls[0]!.headers.get('Authorization')).toBe('Bearer tly_candidate');
  });

  it('adds the chosen tenant to reads of the query API only, and not to whoami, admin routes, writes or other services', async () => {
    const api = mockFetch({
      'GET /query/v1/aggregations': { groups: [], filters: {} },
      'GET /query/v1/stream': () => new Response('', { headers: { 'Content-Type': 'text/event-stream' } }),
      'GET /query/v1/whoami': { keyId: 'k', tenant: 'default', keyTenant: 'default', scopes: ['admin'] },
      'GET /query/v1/admin/keys': { keys: [] },
      'POST /query/v1/admin/keys': () => json(201, { id: 'k9', key: 'tly_x', tenant: 'acme', scopes: ['query'], createdAt: '2026-01-01T00:00:00Z', revoked: false }),
      'GET /admin/v1/status': {},
    });
    const credentials = new Credentials();
    let tenant: string | undefined = 'acme';
    credentials.setTenantSource(() => tenant);
    const clients = createApi(ORIGIN, credentials);

    await clients.query.GET('/v1/aggregations', { params: { query: { groupBy: 'clientId', clientId: ['a', 'b'] } } });
    await clients.query.GET('/v1/stream', { parseAs: 'stream' });
    await clients.query.GET('/v1/whoami');
    await clients.query.GET('/v1/admin/keys');
    await clients.query.POST('/v1/admin/keys', { body: { tenant: 'acme', scopes: ['query'] } });
    await clients.admin.GET('/v1/status');
    expect(api.calls.map((c) => c.url.searchParams.get('tenant'))).toEqual(['acme', 'acme', null, null, null, null]);
    // The request's own parameters survive.
    expect(api.calls[0]!.url.searchParams.getAll('clientId')).toEqual(['a', 'b']);

    tenant = undefined;
    await clients.query.GET('/v1/aggregations', { params: { query: { groupBy: 'none' } } });
    expect(api.calls.at(-1)!.url.searchParams.has('tenant')).toBe(false);
  });

  it('reports a 401 to the current credentials once, with the API reason, and ignores 401s to other keys and other statuses', async () => {
    mockFetch({
      'GET /query/v1/stats': (call) =>
        call.headers.get('Authorization') === 'Bearer tly_good'
          ? json(200, {})
          : json(401, { error: { code: 'unauthorized', message: 'the API key was revoked' } }),
      'GET /query/v1/events': () => json(403, { error: { code: 'forbidden', message: 'only an admin key may act for another tenant' } }),
    });
    const credentials = new Credentials();
    const rejected = vi.fn();
    const stop = credentials.onRejected(rejected);
    const clients = createApi(ORIGIN, credentials);

    credentials.set('tly_revoked');
    await expect(unwrap(clients.query.GET('/v1/stats'))).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(rejected).toHaveBeenCalledTimes(1);
    const err = rejected.mock.calls[0]![0] as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('the API key was revoked');

    // A 401 to a request sent with another key than the current one: not the session's.
    credentials.set('tly_good');
    await clients.query.GET('/v1/stats', { headers: { Authorization: 'Bearer tly_other' } });
    // A 403 is not a rejected key.
    await clients.query.GET('/v1/events');
    expect(rejected).toHaveBeenCalledTimes(1);

    // Without a key (the server may add its own): a 401 is the current credentials' too.
    credentials.set(undefined);
    await clients.query.GET('/v1/stats');
    expect(rejected).toHaveBeenCalledTimes(2);

    stop();
    await clients.query.GET('/v1/stats');
    expect(rejected).toHaveBeenCalledTimes(2);
  });
});
