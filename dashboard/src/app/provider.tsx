import { useEffect, useRef, useState, type ReactNode } from 'react';
import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import { ApiError, credentials } from '../lib/api/client';
import { LiveStatsProvider } from '../lib/live-stats';
import { navigate, useLocation, withParams, hrefOf } from '../lib/router';
import { SessionProvider, useSession } from '../features/auth/context';
import type { Session } from '../features/auth/session';

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // 4xx answers are final; retry only network errors and 5xx/503 once.
        retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 1,
        refetchOnWindowFocus: false,
      },
    },
  });
}

interface Props {
  children: ReactNode;
  client?: QueryClient;
  /** Who the dashboard acts as; without one (unit tests of views) requests go without a key. */
  session?: Session;
}

export function AppProvider({ children, client, session }: Props) {
  const [queryClient] = useState(() => client ?? makeQueryClient());
  const tree = (
    <QueryClientProvider client={queryClient}>
      <CredentialScope>{children}</CredentialScope>
    </QueryClientProvider>
  );
  return session ? <SessionProvider session={session}>{tree}</SessionProvider> : tree;
}

/**
 * The cache holds one identity's data: its queries are keyed by what they
 * ask, not by who asks. When the key or the tenant sent with reads changes
 * (sign-in, sign-out, a rejected key, the tenant switcher, back/forward),
 * every query is reset (refetched, nothing of the last identity shown) and
 * the live stream reopened. The first check of the key changes neither, so
 * the overview's early requests (main.tsx) stay valid.
 */
function CredentialScope({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const { session, state, admin } = useSession();
  const { path, params } = useLocation();
  const readsAsAdmin = session ? session.readsAsAdmin() : false;
  const tenant = readsAsAdmin ? (params.get('tenant') ?? '') : '';
  const scope = `${credentials.token() ?? ''}|${tenant}`;
  const last = useRef(scope);

  useEffect(() => {
    if (last.current === scope) return;
    last.current = scope;
    void client.resetQueries();
  }, [client, scope]);

  // Only admins may read another tenant: a shared link's tenant= is dropped for other keys.
  const foreignTenant = state.status === 'signed-in' && !admin && params.has('tenant');
  useEffect(() => {
    if (foreignTenant) navigate(hrefOf(path, withParams(params, { tenant: undefined })), { replace: true });
  }, [foreignTenant, path, params]);

  if (state.status === 'signed-out' || state.status === 'unavailable') return children;
  return <LiveStatsProvider key={scope}>{children}</LiveStatsProvider>;
}
