import { describe, expect, it } from 'vitest';
import { mockFetch } from '../../testing/fetch-mock';
import { createApi, Credentials } from './client';

describe('API client', () => {
  it('attaches the bearer token from one source to every service, and none when signed out', async () => {
    const api = mockFetch({ 'GET /query/v1/stats': {}, 'GET /admin/v1/status': {}, 'POST /ingest/v1/events': {} });
    const credentials = new Credentials();
    const clients = createApi('http://127.0.0.1:3000', credentials.token);

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
    expect(clients.queryUrl('/v1/stream')).toBe('http://127.0.0.1:3000/query/v1/stream');
  });
});
