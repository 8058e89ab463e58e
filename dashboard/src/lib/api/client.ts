// The dashboard's one API client: typed by the generated OpenAPI schema
// (schema.d.ts, from event/openapi/openapi.json via `npm run gen:api`) and
// auth-schema.ts (the key routes, until the document describes them).
// The three services are reached same-origin under /ingest, /query and
// /admin; the dev/preview server (or nginx) strips the prefix.
//
// Authentication is attached in exactly one place, the `authenticate`
// middleware below, from Credentials: the signed-in key as a Bearer header
// (a request that already names a key, as the sign-in check does, keeps
// it), and for an admin reading another tenant, `tenant=` on every read of
// the query API. A request without a key may still be authenticated: the
// dev/preview server adds its own key to keyless requests. A 401 answer to
// a request made with the current credentials is reported to Credentials'
// listeners (the session returns to sign-in); answers to requests made
// with other credentials (a key being tried, a key already signed out) are
// not. The live stream is read with fetch too (live-stats.tsx), since
// EventSource cannot send headers.
import createClient, { type Middleware } from 'openapi-fetch';
import type { AuthPaths } from './auth-schema';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];
export type IngestResponse = Schemas['IngestResponse'];
export type IngestResult = Schemas['IngestResult'];
export type RawEvent = Schemas['RawEvent'];
export type AggregationResponse = Schemas['AggregationResponse'];
export type Group = Schemas['Group'];
export type SeriesPoint = Schemas['SeriesPoint'];
export type GroupBy = Schemas['GroupBy'];
export type Interval = Schemas['Interval'];
export type EventStatus = Schemas['EventStatus'];
export type EventSummary = Schemas['EventSummary'];
export type EventList = Schemas['EventList'];
export type EventDetail = Schemas['EventDetail'];
export type Stats = Schemas['Stats'];
export type ProcessorStatus = Schemas['ProcessorStatus'];
export type FaultState = Schemas['FaultState'];
export type FaultRequest = Schemas['FaultRequest'];
export type ErrorDetail = Schemas['ErrorDetail'];
export type ClientList = Schemas['ClientList'];
export type MetricList = Schemas['MetricList'];

export type { ApiKey, CreatedKey, NewKey, Scope, TopicTenant, WhoAmI } from './auth-schema';

export const prefixes = { ingest: '/ingest', query: '/query', admin: '/admin' } as const;

/** An HTTP or network failure, carrying the API's error code when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfter?: number;

  constructor(status: number, code: string, message: string, retryAfter?: number) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/** Where the bearer token for every request comes from; undefined = anonymous. */
export type TokenSource = () => string | undefined;

/** The signed-in key, the tenant an admin reads, and who hears of a rejected key. */
export class Credentials {
  #token: string | undefined;
  #tenant: TokenSource = () => undefined;
  readonly #rejected = new Set<(error: ApiError) => void>();

  set(token: string | undefined) {
    this.#token = token || undefined;
  }
  readonly token: TokenSource = () => this.#token;

  /** Where the tenant of reads comes from (the URL, for admins); undefined = the key's own. */
  setTenantSource(source: TokenSource) {
    this.#tenant = source;
  }
  readonly tenant: TokenSource = () => this.#tenant() || undefined;

  /** Calls fn when a request made with the current key (or none) is answered 401. */
  onRejected(fn: (error: ApiError) => void): () => void {
    this.#rejected.add(fn);
    return () => this.#rejected.delete(fn);
  }

  /** Reports a 401 to a request that was sent with `sent` (undefined: no key). */
  reject(sent: string | undefined, error: ApiError) {
    if ((sent || undefined) !== this.#token) return;
    for (const fn of [...this.#rejected]) fn(error);
  }
}

const BEARER = /^Bearer\s+(.+)$/i;

/** Routes of the query API that read a tenant's data (admins may name the tenant). */
function isTenantRead(method: string, schemaPath: string): boolean {
  return method === 'GET' && !schemaPath.startsWith('/v1/admin') && schemaPath !== '/v1/whoami';
}

function authenticate(credentials: Credentials, tenantReads: boolean): Middleware {
  return {
    onRequest({ request, schemaPath }) {
      const key = credentials.token();
      if (key && !request.headers.has('Authorization')) request.headers.set('Authorization', `Bearer ${key}`);
      const tenant = credentials.tenant();
      if (tenantReads && tenant && isTenantRead(request.method, schemaPath)) {
        const url = new URL(request.url);
        url.searchParams.set('tenant', tenant);
        return new Request(url, request);
      }
      return request;
    },
    async onResponse({ request, response }) {
      if (response.status !== 401) return response;
      const sent = BEARER.exec(request.headers.get('Authorization') ?? '')?.[1];
      let body: unknown;
      try {
        body = await response.clone().json();
      } catch {
        body = undefined;
      }
      credentials.reject(sent, toApiError(response, body));
      return response;
    },
  };
}

function browserOrigin(): string {
  return typeof window !== 'undefined' ? window.location.origin : 'http://127.0.0.1:3000';
}

/** Builds the three service clients for one origin, all authenticated from one Credentials. */
export function createApi(origin: string, credentials: Credentials) {
  const make = (prefix: string) => {
    const client = createClient<paths & AuthPaths>({
      // Absolute, so Request() accepts it outside a browser too (tests).
      baseUrl: origin + prefix,
      // Looked up per call so tests (and devtools overrides) can replace fetch.
      fetch: (request: Request) => globalThis.fetch(request),
    });
    client.use(authenticate(credentials, prefix === prefixes.query));
    return client;
  };
  return {
    ingest: make(prefixes.ingest),
    query: make(prefixes.query),
    admin: make(prefixes.admin),
  };
}

export const credentials = new Credentials();
const api = createApi(browserOrigin(), credentials);
export const { ingest, query, admin } = api;

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * Returns the body of a successful call or throws an ApiError built from the
 * API's `{"error":{"code","message"}}` body (or whatever the server sent).
 */
export async function unwrap<T>(call: Promise<Outcome<T>>): Promise<T> {
  let outcome: Outcome<T>;
  try {
    outcome = await call;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new ApiError(0, 'network_error', `Network error: ${message}`);
  }
  const { data, error, response } = outcome;
  if (response.ok && error === undefined) {
    return data as T;
  }
  throw toApiError(response, error);
}

export function toApiError(response: Response, body: unknown): ApiError {
  const retry = Number(response.headers.get('Retry-After'));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : undefined;
  const detail = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (detail && typeof detail === 'object' && typeof detail.code === 'string') {
    const message = typeof detail.message === 'string' ? detail.message : detail.code;
    return new ApiError(response.status, detail.code, message, retryAfter);
  }
  const text = typeof body === 'string' && body.trim() !== '' ? body.trim().slice(0, 300) : response.statusText;
  return new ApiError(response.status, `http_${response.status}`, text || `HTTP ${response.status}`, retryAfter);
}
