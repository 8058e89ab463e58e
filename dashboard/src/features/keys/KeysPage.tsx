// API key management for admins: every key (never a secret), create one
// (its secret shown once, with a copy button), revoke one after a
// confirmation. Other keys see a 403 state here, and no link to the page.
import { useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import type { ApiKey, CreatedKey, NewKey, Scope } from '../../lib/api/client';
import { useNow } from '../../lib/live';
import { formatInstant, fromWallInput } from '../../lib/time-zone';
import { Badge, Empty, ErrorBox, Loading } from '../../lib/ui';
import { useView } from '../../lib/view-state';
import { useSession } from '../auth/context';
import { readTenant } from '../auth/Identity';
import { createKey, fetchKeys, keysKey, revokeKey, TENANT_PATTERN, useTenants } from './api';

const SCOPES: { scope: Scope; label: string }[] = [
  { scope: 'ingest', label: 'ingest — send events' },
  { scope: 'query', label: 'query — read data' },
  { scope: 'admin', label: 'admin — everything, any tenant' },
];

export function KeysPage() {
  const { who, admin, state } = useSession();
  if (state.status === 'signed-in' && !admin) return <Forbidden keyId={who?.keyId ?? ''} scopes={who?.scopes ?? []} />;
  return <KeyManagement />;
}

function Forbidden({ keyId, scopes }: { keyId: string; scopes: string[] }) {
  return (
    <section className="panel" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <div className="state state-error" role="alert" data-testid="keys-forbidden">
        <strong>403 · Admins only.</strong> Managing API keys needs a key with the <code>admin</code> scope; the key you are signed in
        with ({keyId}) has {scopes.length ? scopes.join(', ') : 'no scopes'}.
      </div>
    </section>
  );
}

function KeyManagement() {
  const keys = useQuery({ queryKey: keysKey, queryFn: fetchKeys });
  const [created, setCreated] = useState<CreatedKey>();
  return (
    <section className="panel" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <p className="muted">
        Keys authenticate producers (<code>ingest</code>), readers (<code>query</code>) and operators (<code>admin</code>). Only a hash is stored:
        a key&apos;s secret is shown once, when it is created. Revoking takes effect on every replica within 5 s.
      </p>
      {created ? <NewSecret created={created} onDone={() => setCreated(undefined)} /> : <CreateKeyForm onCreated={setCreated} />}
      <KeyTable result={keys} />
    </section>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (k: CreatedKey) => void }) {
  const id = useId();
  const client = useQueryClient();
  const { params, common } = useView();
  const { who } = useSession();
  const tenants = useTenants(true);
  const [tenant, setTenant] = useState(() => readTenant(params, true, who?.keyTenant) ?? '');
  const [scopes, setScopes] = useState<Scope[]>(['ingest', 'query']);
  const [name, setName] = useState('');
  const [rate, setRate] = useState('');
  const [expires, setExpires] = useState('');
  const [invalid, setInvalid] = useState<string>();

  const create = useMutation({
    mutationFn: createKey,
    onSuccess: (k) => {
      void client.invalidateQueries({ queryKey: keysKey });
      setName('');
      setRate('');
      setExpires('');
      onCreated(k);
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: NewKey = { tenant: tenant.trim(), scopes };
    let problem: string | undefined;
    if (!TENANT_PATTERN.test(body.tenant)) problem = 'Tenant: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit.';
    else if (!scopes.length) problem = 'Choose at least one scope.';
    if (name.trim()) body.name = name.trim();
    if (!problem && rate.trim()) {
      const n = Number(rate);
      if (!Number.isFinite(n) || n <= 0) problem = 'Rate limit: a positive number of events per second, or empty for none.';
      else body.rateLimit = { eventsPerSecond: n };
    }
    if (!problem && expires) {
      const at = fromWallInput(expires, common.tz);
      if (at === undefined) problem = 'Expiry: a date and time.';
      else if (at <= Date.now()) problem = 'Expiry: a time in the future.';
      else body.expiresAt = new Date(at).toISOString();
    }
    setInvalid(problem);
    if (!problem) create.mutate(body);
  };

  const toggle = (scope: Scope, on: boolean) => setScopes((s) => (on ? [...s, scope] : s.filter((x) => x !== scope)));

  return (
    <form className="card stack key-form" onSubmit={submit} aria-labelledby={`${id}-title`} noValidate>
      <h3 id={`${id}-title`}>Create a key</h3>
      <div className="form-grid">
        <label htmlFor={`${id}-tenant`}>Tenant</label>
        <div>
          <input id={`${id}-tenant`} list={`${id}-tenants`} value={tenant} onChange={(e) => setTenant(e.target.value)} autoComplete="off" spellCheck={false} required />
          <datalist id={`${id}-tenants`}>
            {tenants.map((t) => (
              <option key={t} value={t} />
            ))}
          </datalist>
        </div>
        <span id={`${id}-scopes`}>Scopes</span>
        <div role="group" aria-labelledby={`${id}-scopes`} className="segmented">
          {SCOPES.map(({ scope, label }) => (
            <label key={scope} className="switch">
              <input type="checkbox" checked={scopes.includes(scope)} onChange={(e) => toggle(scope, e.target.checked)} /> {label}
            </label>
          ))}
        </div>
        <label htmlFor={`${id}-name`}>Name (optional)</label>
        <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} maxLength={256} placeholder="billing export" />
        <label htmlFor={`${id}-rate`}>Rate limit, events/s (optional)</label>
        <input id={`${id}-rate`} className="narrow" type="number" min="0" step="any" inputMode="decimal" value={rate} onChange={(e) => setRate(e.target.value)} />
        <label htmlFor={`${id}-expires`}>Expires (optional, {common.tz})</label>
        <input id={`${id}-expires`} type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
      </div>
      {invalid ? (
        <p className="field-error" role="alert">
          {invalid}
        </p>
      ) : null}
      {create.isError ? <ErrorBox error={create.error} title="The key was not created" /> : null}
      <div className="toolbar">
        <button type="submit" className="primary" disabled={create.isPending}>
          {create.isPending ? 'Creating…' : 'Create key'}
        </button>
      </div>
    </form>
  );
}

/** The new key's secret, shown this once. */
function NewSecret({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  const id = useId();
  const field = useRef<HTMLInputElement>(null);
  const [copied, setCopied] = useState<'yes' | 'failed'>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied('yes');
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it for a manual copy.
      field.current?.select();
      setCopied('failed');
    }
  };
  return (
    <div className="card stack new-secret" role="region" aria-labelledby={`${id}-title`} data-testid="new-key">
      <h3 id={`${id}-title`}>
        Key {created.id} created for tenant {created.tenant}
      </h3>
      <p className="state state-notice">Copy the secret now: it is shown only this once and cannot be retrieved later.</p>
      <label htmlFor={`${id}-secret`}>Secret</label>
      <div className="toolbar">
        <input
          ref={field}
          id={`${id}-secret`}
          className="mono secret"
          readOnly
          value={created.key}
          onFocus={(e) => e.target.select()}
          data-testid="new-key-secret"
          spellCheck={false}
        />
        <button type="button" className="primary" onClick={() => void copy()}>
          Copy
        </button>
        <span role="status" className="muted">
          {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'failed' ? 'Copying failed: the secret is selected, copy it by hand.' : ''}
        </span>
      </div>
      <div className="toolbar">
        <button type="button" onClick={onDone}>
          Done — I have saved it
        </button>
      </div>
    </div>
  );
}

function keyStatus(k: ApiKey, now: number): { tone: 'ok' | 'bad' | 'warn'; text: string } {
  if (k.revoked) return { tone: 'bad', text: 'revoked' };
  if (k.expiresAt && Date.parse(k.expiresAt) <= now) return { tone: 'warn', text: 'expired' };
  return { tone: 'ok', text: 'active' };
}

function KeyTable({ result }: { result: UseQueryResult<ApiKey[]> }) {
  const { common } = useView();
  const { who } = useSession();
  const client = useQueryClient();
  const [confirming, setConfirming] = useState<string>();
  const [message, setMessage] = useState('');
  // Keys expire while the page is open.
  const now = useNow(60_000);
  const revoke = useMutation({
    mutationFn: revokeKey,
    onSuccess: (k) => {
      setConfirming(undefined);
      setMessage(`Key ${k.id} revoked.`);
      void client.invalidateQueries({ queryKey: keysKey });
    },
  });

  if (result.isPending) return <Loading label="Loading keys…" />;
  if (result.isError) return <ErrorBox error={result.error} title="The keys could not be loaded" />;
  const keys = [...result.data].sort((a, b) => Number(a.revoked) - Number(b.revoked) || b.createdAt.localeCompare(a.createdAt));
  const when = (v: string | undefined) => (v ? formatInstant(v, common.tz) : '—');
  return (
    <div className="stack">
      <h3>All keys ({keys.length})</h3>
      <p role="status" className="muted status-line">
        {message}
      </p>
      {revoke.isError ? <ErrorBox error={revoke.error} title="The key was not revoked" /> : null}
      {keys.length === 0 ? (
        <Empty>No keys yet.</Empty>
      ) : (
        <div className="table-wrap">
          <table data-testid="keys-table">
            <caption className="visually-hidden">API keys, newest first; times in {common.tz}</caption>
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Tenant</th>
                <th scope="col">Scopes</th>
                <th scope="col">Rate limit</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Status</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => {
                const status = keyStatus(k, now);
                const self = k.id === who?.keyId;
                return (
                  <tr key={k.id} data-testid="key-row" data-key-id={k.id}>
                    <td>
                      {k.name ? <div>{k.name}</div> : null}
                      <code>{k.id}</code>
                      {self ? <Badge tone="info">this session</Badge> : null}
                    </td>
                    <td>{k.tenant}</td>
                    <td>{k.scopes.join(', ')}</td>
                    <td className="num">{k.rateLimit ? `${k.rateLimit.eventsPerSecond}/s` : '—'}</td>
                    <td className="nowrap">{when(k.createdAt)}</td>
                    <td className="nowrap">{when(k.expiresAt)}</td>
                    <td>
                      <Badge tone={status.tone}>{status.text}</Badge>
                      {k.revokedAt ? <div className="muted nowrap">{when(k.revokedAt)}</div> : null}
                    </td>
                    <td>
                      {k.revoked ? null : confirming === k.id ? (
                        <div className="confirm" role="group" aria-label={`Confirm revoking key ${k.id}`}>
                          <span>
                            Revoke {k.name || k.id}?{self ? ' This signs you out.' : ''} Clients using it are refused within 5 s.
                          </span>
                          <button type="button" className="danger" autoFocus disabled={revoke.isPending} onClick={() => revoke.mutate(k.id)}>
                            Yes, revoke
                          </button>
                          <button type="button" onClick={() => setConfirming(undefined)}>
                            Cancel
                          </button>
                        </div>
                      ) : (
                        <button type="button" onClick={() => setConfirming(k.id)} aria-label={`Revoke key ${k.name || k.id}`}>
                          Revoke
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
