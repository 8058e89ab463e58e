// The dashboard's one API client: typed by the generated OpenAPI schema
// (schema.d.ts, from event/openapi/openapi.json via `npm run gen:api`).
// The three services are reached same-origin under /ingest, /query and
// /admin; the dev/preview server (or nginx) strips the prefix.
//
// Authentication is attached in exactly one place, the `bearer` middleware
// below, from a TokenSource. Sign-in with API keys (issue #17) only has to
// set the token on `credentials`; no call site changes. EventSource cannot
// send headers, so the live stream will need a cookie or a query token then.
import createClient, { type Middleware } from 'openapi-fetch';
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

/** Holds the signed-in token (none until issue #17 adds sign-in). */
export class Credentials {
  #token: string | undefined;
  set(token: string | undefined) {
    this.#token = token || undefined;
  }
  readonly token: TokenSource = () => this.#token;
}

function bearer(token: TokenSource): Middleware {
  return {
    onRequest({ request }) {
      const t = token();
      if (t) request.headers.set('Authorization', `Bearer ${t}`);
      return request;
    },
  };
}

function browserOrigin(): string {
  return typeof window !== 'undefined' ? window.location.origin : 'http://127.0.0.1:3000';
}

/** Builds the three service clients for one origin, all authenticated by one token source. */
export function createApi(origin: string, token: TokenSource) {
  const auth = bearer(token);
  const make = (prefix: string) => {
    const client = createClient<paths>({
      // Absolute, so Request() accepts it outside a browser too (tests).
      baseUrl: origin + prefix,
      // Looked up per call so tests (and devtools overrides) can replace fetch.
      fetch: (request: Request) => globalThis.fetch(request),
    });
    client.use(auth);
    return client;
  };
  return {
    ingest: make(prefixes.ingest),
    query: make(prefixes.query),
    admin: make(prefixes.admin),
    /** The absolute URL of a query-API path, for EventSource. */
    queryUrl: (path: string) => origin + prefixes.query + path,
  };
}

export const credentials = new Credentials();
const api = createApi(browserOrigin(), credentials.token);
export const { ingest, query, admin, queryUrl } = api;

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
