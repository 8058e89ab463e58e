// The session for React: the provider, and the hook every component reads
// the signed-in identity from.
import { createContext, useContext, useSyncExternalStore, type ReactNode } from 'react';
import type { WhoAmI } from '../../lib/api/client';
import { isAdmin, type Session, type SessionState } from './session';

const SessionContext = createContext<Session | undefined>(undefined);

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

const none = () => () => {};
const unknown: SessionState = { status: 'checking' };

export interface SessionView {
  session: Session | undefined;
  state: SessionState;
  /** The signed-in identity, if any. */
  who: WhoAmI | undefined;
  admin: boolean;
}

export function useSession(): SessionView {
  const session = useContext(SessionContext);
  const state = useSyncExternalStore(session?.subscribe ?? none, session?.getState ?? (() => unknown));
  const who = state.status === 'signed-in' ? state.who : undefined;
  return { session, state, who, admin: isAdmin(who) };
}
