// /sign-in: switch to another key while the dashboard already works (with
// the server's key or a key signed in earlier). `next` is where to return.
import { navigate, useLocation } from '../../lib/router';
import { useSession } from './context';
import { SignIn } from './SignIn';

/** A same-origin path to return to, never another site. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function SignInPage() {
  const { session } = useSession();
  const { params } = useLocation();
  const next = safeNext(params.get('next'));
  if (!session) return null;
  return <SignIn session={session} next={next} onCancel={() => navigate(next)} />;
}
