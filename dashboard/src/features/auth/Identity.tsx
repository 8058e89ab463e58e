// The header's identity: the tenant the views read, the key, sign in/out,
// and for admin keys the tenant switcher. The chosen tenant is view state
// like any other (`tenant=` in the URL, carried between views); the API
// client adds it to every read (api/client.ts).
import { useId, useState, type FormEvent } from 'react';
import { Link, useLocation } from '../../lib/router';
import { useView } from '../../lib/view-state';
import { TENANT_PATTERN, useTenants } from '../keys/api';
import { useSession } from './context';

/** The tenant the views read: the URL's for an admin, else the key's own. */
export function readTenant(params: URLSearchParams, admin: boolean, own: string | undefined): string | undefined {
  return (admin && params.get('tenant')) || own;
}

export function Identity() {
  const { session, state, who, admin } = useSession();
  const { params, href } = useLocation();
  if (!session || state.status !== 'signed-in' || !who) return null;
  const tenant = readTenant(params, admin, who.keyTenant);
  const keyLabel = who.name ? `${who.name} (${who.keyId})` : who.keyId;
  return (
    <div className="identity" data-testid="identity">
      {admin ? (
        <TenantSwitcher tenant={tenant ?? ''} own={who.keyTenant} />
      ) : (
        <span>
          <span className="muted">Tenant</span> <strong data-testid="tenant">{tenant}</strong>
        </span>
      )}
      <span className="muted key-label" title={`Scopes: ${who.scopes.join(', ')}`}>
        {state.via === 'server' ? "dashboard server's key" : `key ${keyLabel}`} · {who.scopes.join(', ')}
      </span>
      {state.via === 'key' ? (
        <button type="button" onClick={() => void session.signOut()}>
          Sign out
        </button>
      ) : (
        <Link to={`/sign-in?next=${encodeURIComponent(href)}`}>Sign in with a key</Link>
      )}
    </div>
  );
}

function TenantSwitcher({ tenant, own }: { tenant: string; own: string }) {
  const id = useId();
  const { update } = useView();
  const tenants = useTenants(true);
  const [text, setText] = useState(tenant);
  const [shown, setShown] = useState(tenant);
  const [error, setError] = useState<string>();
  if (shown !== tenant) {
    // The URL changed (back/forward, a link): show its tenant.
    setShown(tenant);
    setText(tenant);
    setError(undefined);
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = text.trim();
    if (!TENANT_PATTERN.test(next)) {
      setError('A tenant name: lower-case letters, digits, ".", "_" or "-".');
      return;
    }
    setError(undefined);
    // The key's own tenant is the default: left out of the URL.
    update({ tenant: next === own ? undefined : next });
  };
  return (
    <form className="tenant-switcher" onSubmit={submit} aria-label="Tenant">
      <label htmlFor={`${id}-tenant`} className="muted">
        Tenant
      </label>
      <input
        id={`${id}-tenant`}
        list={`${id}-tenants`}
        value={text}
        onChange={(e) => setText(e.target.value)}
        data-testid="tenant-input"
        size={12}
        autoComplete="off"
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      />
      <datalist id={`${id}-tenants`}>
        {tenants.map((t) => (
          <option key={t} value={t} />
        ))}
      </datalist>
      <button type="submit">Switch</button>
      {error ? (
        <span id={`${id}-error`} className="field-error" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}
