// The admin routes of the query API for keys and topic mappings.
import { useQuery } from '@tanstack/react-query';
import { query, unwrap, type ApiKey, type CreatedKey, type NewKey, type TopicTenant } from '../../lib/api/client';

export const keysKey = ['admin', 'keys'] as const;
export const topicsKey = ['admin', 'topics'] as const;

export async function fetchKeys(): Promise<ApiKey[]> {
  return (await unwrap(query.GET('/v1/admin/keys'))).keys;
}

export async function fetchTopics(): Promise<TopicTenant[]> {
  return (await unwrap(query.GET('/v1/admin/topics'))).topics;
}

export function createKey(body: NewKey): Promise<CreatedKey> {
  return unwrap(query.POST('/v1/admin/keys', { body }));
}

export function revokeKey(id: string): Promise<ApiKey> {
  return unwrap(query.DELETE('/v1/admin/keys/{id}', { params: { path: { id } } }));
}

/** What a tenant name may be (event/control.TenantPattern). */
export const TENANT_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** Every tenant an admin can know of: those of keys and of topic mappings, sorted. */
export function tenantsOf(keys: ApiKey[] = [], topics: TopicTenant[] = []): string[] {
  return [...new Set([...keys.map((k) => k.tenant), ...topics.map((t) => t.tenant)])].sort();
}

/** The known tenants, for the tenant switcher (admins only: enabled decides). */
export function useTenants(enabled: boolean): string[] {
  const keys = useQuery({ queryKey: keysKey, queryFn: fetchKeys, enabled, staleTime: 60_000 });
  const topics = useQuery({ queryKey: topicsKey, queryFn: fetchTopics, enabled, staleTime: 60_000 });
  return tenantsOf(keys.data, topics.data);
}
