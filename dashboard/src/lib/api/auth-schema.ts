// The query API's key routes (docs/api.md, "Authentication and tenants"):
// GET /v1/whoami and the admin routes /v1/admin/keys and /v1/admin/topics.
// Written by hand in the shape openapi-typescript generates, because
// event/openapi/openapi.json does not describe these routes yet. When it
// does, `npm run gen:api` puts them in schema.d.ts: delete this file and
// the `& AuthPaths` in client.ts.
import type { components } from './schema';

type ErrorBody = { headers: { [name: string]: unknown }; content: { 'application/json': components['schemas']['Error'] } };
type Ok<T> = { headers: { [name: string]: unknown }; content: { 'application/json': T } };
type NoParams = { query?: never; header?: never; path?: never; cookie?: never };
/** The methods a path does not have. */
type Without<M extends string> = { [K in Exclude<'get' | 'put' | 'post' | 'delete' | 'options' | 'head' | 'patch' | 'trace', M>]?: never };

export type Scope = 'ingest' | 'query' | 'admin';

/** GET /v1/whoami: the caller's key and the tenant the request acted for. */
export interface WhoAmI {
  keyId: string;
  /** The tenant this request acted for (the key's own, or the one an admin named). */
  tenant: string;
  /** The key's own tenant. */
  keyTenant: string;
  scopes: Scope[];
  name?: string;
  /** true on a test stack started with TALLY_AUTH=disabled. */
  authDisabled?: boolean;
  expiresAt?: string;
}

/** A key as the admin routes show it: never its secret or hash. */
export interface ApiKey {
  id: string;
  tenant: string;
  scopes: Scope[];
  name?: string;
  createdAt: string;
  expiresAt?: string;
  revoked: boolean;
  revokedAt?: string;
  rateLimit?: { eventsPerSecond: number };
  quotaPerDay?: number;
}

/** The answer to POST /v1/admin/keys: the key with its secret, shown once. */
export type CreatedKey = ApiKey & { key: string };

export interface NewKey {
  tenant: string;
  scopes: Scope[];
  name?: string;
  rateLimit?: { eventsPerSecond: number };
  quotaPerDay?: number;
  expiresAt?: string;
}

export interface TopicTenant {
  topic: string;
  tenant: string;
}

export interface AuthPaths {
  '/v1/whoami': Without<'get'> & {
    parameters: NoParams;
    get: {
      parameters: NoParams;
      requestBody?: never;
      responses: { 200: Ok<WhoAmI>; 401: ErrorBody };
    };
  };
  '/v1/admin/keys': Without<'get' | 'post'> & {
    parameters: NoParams;
    get: {
      parameters: NoParams;
      requestBody?: never;
      responses: { 200: Ok<{ keys: ApiKey[] }>; 401: ErrorBody; 403: ErrorBody };
    };
    post: {
      parameters: NoParams;
      requestBody: { content: { 'application/json': NewKey } };
      responses: { 201: Ok<CreatedKey>; 400: ErrorBody; 401: ErrorBody; 403: ErrorBody };
    };
  };
  '/v1/admin/keys/{id}': Without<'delete'> & {
    parameters: NoParams;
    delete: {
      parameters: { query?: never; header?: never; path: { id: string }; cookie?: never };
      requestBody?: never;
      responses: { 200: Ok<ApiKey>; 401: ErrorBody; 403: ErrorBody; 404: ErrorBody };
    };
  };
  '/v1/admin/topics': Without<'get'> & {
    parameters: NoParams;
    get: {
      parameters: NoParams;
      requestBody?: never;
      responses: { 200: Ok<{ topics: TopicTenant[] }>; 401: ErrorBody; 403: ErrorBody };
    };
  };
}
