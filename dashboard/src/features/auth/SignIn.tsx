// The sign-in screen: paste a key, checked with GET /v1/whoami before it is
// kept (for this browser session only). Shown instead of the app while
// nobody is signed in, and at /sign-in to switch keys.
import { useId, useRef, useState, type FormEvent } from 'react';
import { navigate } from '../../lib/router';
import { ErrorBox } from '../../lib/ui';
import type { Session } from './session';

interface Props {
  session: Session;
  /** Why the user is here (a rejected key, signed out). */
  reason?: string;
  /** Where to go once signed in; undefined stays on the current URL. */
  next?: string;
  /** Offered when the dashboard already works without a key. */
  onCancel?: () => void;
}

export function SignIn({ session, reason, next, onCancel }: Props) {
  const id = useId();
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    const failed = await session.signIn(text);
    setBusy(false);
    setError(failed);
    if (failed) {
      input.current?.focus();
      input.current?.select();
      return;
    }
    setText('');
    if (next !== undefined) navigate(next, { replace: true });
  };

  return (
    <section className="panel sign-in" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Sign in</h2>
      {reason ? (
        <p className="state state-notice" role="alert" data-testid="sign-in-reason">
          {reason}
        </p>
      ) : null}
      <form className="card stack" onSubmit={(e) => void submit(e)} noValidate>
        <label htmlFor={`${id}-key`}>API key</label>
        <input
          ref={input}
          id={`${id}-key`}
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          autoFocus
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-describedby={`${id}-help${error ? ` ${id}-error` : ''}`}
          aria-invalid={error ? true : undefined}
        />
        <p id={`${id}-help`} className="muted hint">
          A key with the <code>query</code> scope (or <code>admin</code>), from your Tally admin: <code>tly_…</code>. It is checked with the
          query API, sent only to it, and kept for this browser tab until you sign out or close it.
        </p>
        {error ? (
          <p id={`${id}-error`} className="field-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        ) : null}
        <div className="toolbar">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Checking…' : 'Sign in'}
          </button>
          {onCancel ? (
            <button type="button" onClick={onCancel}>
              Cancel
            </button>
          ) : null}
        </div>
      </form>
    </section>
  );
}

/** Shown while the session cannot be checked (the query API is down). */
export function SessionUnavailable({ session, error }: { session: Session; error: unknown }) {
  return (
    <section className="panel sign-in" aria-labelledby="unavailable-title">
      <h2 id="unavailable-title">Cannot reach the query API</h2>
      <ErrorBox error={error} title="Checking the API key failed" />
      <div className="toolbar">
        <button type="button" className="primary" onClick={() => void session.start()}>
          Try again
        </button>
      </div>
    </section>
  );
}
