// Who the dashboard acts as. Either a key the user signed in with (kept by
// KeyStore for this browser session, sent on every request), or, when none
// was given, whatever the server in front of the API adds to keyless
// requests (the dev/preview server's own key, see vite.config.ts): then the
// dashboard works without a sign-in step. GET /v1/whoami decides which: it
// answers for the key, or 401 when there is none to check.
//
// A 401 to any request made with the current key ends the session (back to
// sign-in, with the API's reason); answers for other keys are not the
// session's business (see Credentials.reject).
import { ApiError, credentials as browserCredentials, query, unwrap, type Credentials, type WhoAmI } from '../../lib/api/client';
import { parseKey, sessionKeyStore, type KeyStore } from './key-store';

export type SessionState =
  | { status: 'checking' }
  | { status: 'signed-in'; who: WhoAmI; via: 'key' | 'server' }
  | { status: 'signed-out'; reason?: string }
  /** whoami failed for another reason than the key (network, 5xx): retry. */
  | { status: 'unavailable'; error: unknown };

/** Asks the query API who a key is (undefined: whoever the request is without one). */
export type WhoAmIFn = (key?: string) => Promise<WhoAmI>;

export const whoami: WhoAmIFn = (key) =>
  unwrap(query.GET('/v1/whoami', key ? { headers: { Authorization: `Bearer ${key}` } } : {}));

export const isAdmin = (who: WhoAmI | undefined) => Boolean(who?.scopes.includes('admin'));

const unauthorized = (err: unknown): err is ApiError => err instanceof ApiError && err.status === 401;

export class Session {
  #state: SessionState = { status: 'checking' };
  readonly #listeners = new Set<() => void>();
  readonly #credentials: Credentials;
  readonly #store: KeyStore;
  readonly #whoami: WhoAmIFn;
  #ready: Promise<void> = Promise.resolve();
  readonly #unlisten: () => void;

  constructor(credentials: Credentials, store: KeyStore, ask: WhoAmIFn = whoami) {
    this.#credentials = credentials;
    this.#store = store;
    this.#whoami = ask;
    credentials.set(store.get());
    this.#unlisten = credentials.onRejected((err) => this.#rejected(err));
  }

  /** Stops listening to the credentials (a session replaced by another, in tests). */
  dispose() {
    this.#unlisten();
    this.#listeners.clear();
  }

  readonly subscribe = (fn: () => void) => {
    this.#listeners.add(fn);
    return () => {
      this.#listeners.delete(fn);
    };
  };

  readonly getState = (): SessionState => this.#state;

  /** Settles when the current check is done. */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * May reads name another tenant? Yes for an admin, and while the key is
   * still being checked (so the first requests need not wait; a non-admin's
   * are redone without it, see App).
   */
  readsAsAdmin(): boolean {
    const s = this.#state;
    return s.status === 'checking' || (s.status === 'signed-in' && isAdmin(s.who));
  }

  #set(next: SessionState) {
    this.#state = next;
    for (const fn of [...this.#listeners]) fn();
  }

  /** Checks the stored key, or the keyless identity when there is none. */
  start(): Promise<void> {
    this.#ready = this.#check(this.#store.get(), undefined);
    return this.#ready;
  }

  async #check(key: string | undefined, signedOutReason: string | undefined) {
    this.#set({ status: 'checking' });
    try {
      const who = await this.#whoami(key);
      this.#set({ status: 'signed-in', who, via: key ? 'key' : 'server' });
    } catch (err) {
      if (!unauthorized(err)) {
        this.#set({ status: 'unavailable', error: err });
        return;
      }
      this.#forget();
      this.#set({ status: 'signed-out', reason: key ? `The saved key was not accepted: ${err.message}. Sign in again.` : signedOutReason });
    }
  }

  /** Verifies text as a key; on success keeps it and uses it. Returns why it failed, or undefined. */
  async signIn(text: string): Promise<string | undefined> {
    const key = parseKey(text);
    if (!key) return 'Paste an API key (it starts with tly_ and has no spaces).';
    let who: WhoAmI;
    try {
      who = await this.#whoami(key);
    } catch (err) {
      if (unauthorized(err)) return `This key was not accepted: ${err.message}.`;
      return `The key could not be checked: ${err instanceof Error ? err.message : String(err)}.`;
    }
    this.#store.set(key);
    this.#credentials.set(key);
    this.#set({ status: 'signed-in', who, via: 'key' });
    return undefined;
  }

  /** Forgets the key; the dashboard then acts as the server's key if there is one. */
  signOut(): Promise<void> {
    this.#forget();
    this.#ready = this.#check(undefined, 'Signed out.');
    return this.#ready;
  }

  #forget() {
    this.#store.clear();
    this.#credentials.set(undefined);
  }

  #rejected(err: ApiError) {
    const s = this.#state;
    // While checking, the check itself decides; once signed out, nothing is left to end.
    if (s.status !== 'signed-in') return;
    this.#forget();
    const whose = s.via === 'key' ? 'Your key' : "The dashboard server's key";
    this.#set({ status: 'signed-out', reason: `${whose} was rejected: ${err.message}. Sign in with an API key.` });
  }
}

/**
 * The dashboard's session: the browser tab's key store and the API
 * client's credentials. Admins read the tenant named in the URL (tenant=),
 * like any other view state.
 */
export function createBrowserSession(): Session {
  const session = new Session(browserCredentials, sessionKeyStore());
  browserCredentials.setTenantSource(() =>
    session.readsAsAdmin() ? (new URLSearchParams(window.location.search).get('tenant') ?? undefined) : undefined,
  );
  return session;
}
