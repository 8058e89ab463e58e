// Shows the app once someone is signed in: the sign-in screen while nobody
// is (no key, or the last one was rejected), an error with a retry while the
// query API cannot check the key. A signed-out user keeps their URL: after
// signing in they are where they were (or at `next` from /sign-in).
import type { ReactNode } from 'react';
import { useSession } from '../features/auth/context';
import { SessionUnavailable, SignIn } from '../features/auth/SignIn';
import { safeNext } from '../features/auth/SignInPage';
import { useLocation } from '../lib/router';
import { Loading } from '../lib/ui';

export function AuthGate({ children }: { children: ReactNode }) {
  const { session, state } = useSession();
  const { path, params } = useLocation();
  if (!session || state.status === 'signed-in') return children;
  return (
    <div className="app">
      <header className="app-header">
        <div className="brand">
          <h1>Tally</h1>
          <span className="muted">exact event counts</span>
        </div>
      </header>
      <main id="main">
        {state.status === 'checking' ? (
          <Loading label="Checking the API key…" />
        ) : state.status === 'unavailable' ? (
          <SessionUnavailable session={session} error={state.error} />
        ) : (
          <SignIn session={session} reason={state.reason} next={path === '/sign-in' ? safeNext(params.get('next')) : undefined} />
        )}
      </main>
    </div>
  );
}
