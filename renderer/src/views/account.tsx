// Account: who is signed in (and, in the portal, sign out), and the person's own API tokens:
// the list (created, expires, last used, revoked), making one (shown once, with a Copy
// button) and revoking one after a confirmation.

import { useEffect, useId, useState } from 'react';
import { ApiError, errorDetail, type CreatedToken, type TokenView } from '../../../common/lapse-api.ts';
import { useSession, theApi } from '../stores.ts';
import { shortTime } from '../format.ts';
import { ConfirmDialog } from '../components/dialogs.tsx';
import { SignOutButton } from './settings.tsx';

export function AccountView({ onSignOut }: { onSignOut(): void | Promise<void> }) {
  const api = theApi();
  const me = useSession((s) => s.me);
  return (
    <main aria-labelledby="account-title">
      <h2 id="account-title">Account</h2>
      {me && <p>Signed in as <strong>{me.name ?? me.id}</strong> ({me.id}{me.email ? `, ${me.email}` : ''}) · {me.roles.join(', ')}</p>}
      {api.host === 'portal' && <SignOutButton onSignOut={onSignOut} />}
      <ApiTokens />
    </main>
  );
}

function NewTokenForm({ onCreated }: { onCreated(t: CreatedToken): void }) {
  const id = useId();
  const [name, setName] = useState('');
  const [lifetime, setLifetime] = useState('90d');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    if (!name.trim()) return setError({ field: 'name', message: 'Give the token a name, e.g. "laptop".' });
    setBusy(true);
    try {
      const made = await theApi().createToken({ name: name.trim(), ...(lifetime.trim() ? { expiresIn: lifetime.trim() } : {}) });
      setName('');
      onCreated(made);
    } catch (err) {
      const e = ApiError.from(err);
      setError({ ...(e.field ? { field: e.field } : {}), message: e.detail });
    } finally {
      setBusy(false);
    }
  };
  const err = (field: string) => (error?.field === field ? <p className="field-error" role="alert" id={`${id}-${field}-error`}>{error.message}</p> : null);
  return (
    <form onSubmit={submit} noValidate className="settings" aria-labelledby={`${id}-title`}>
      <h4 id={`${id}-title`}>Make a token</h4>
      <label htmlFor={`${id}-name`}>Token name</label>
      <input id={`${id}-name`} value={name} maxLength={200} placeholder="laptop" onChange={(e) => setName(e.target.value)}
        aria-invalid={error?.field === 'name' || undefined} aria-describedby={error?.field === 'name' ? `${id}-name-error` : undefined} />
      {err('name')}
      <label htmlFor={`${id}-lifetime`}>Lifetime</label>
      <input id={`${id}-lifetime`} value={lifetime} maxLength={40} aria-describedby={`${id}-lifetime-hint${error?.field === 'expiresIn' ? ` ${id}-expiresIn-error` : ''}`}
        onChange={(e) => setLifetime(e.target.value)} aria-invalid={error?.field === 'expiresIn' || undefined} />
      <p id={`${id}-lifetime-hint`} className="hint">How long it works, e.g. 30d (at most 366d).</p>
      {err('expiresIn')}
      {error && error.field !== 'name' && error.field !== 'expiresIn' && <p className="error" role="alert">{error.message}</p>}
      <div className="actions"><button type="submit" className="primary" disabled={busy}>Make token</button></div>
    </form>
  );
}

/** The token just made, shown this once, with a Copy button. */
function ShownOnce({ made, onDone }: { made: CreatedToken; onDone(): void }) {
  const id = useId();
  const [copied, setCopied] = useState<string | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(made.token);
      setCopied('Copied');
    } catch (err) {
      setCopied(`Could not copy: ${errorDetail(err)}`);
    }
  };
  return (
    <section aria-labelledby={`${id}-title`} className="card">
      <h4 id={`${id}-title`}>Token “{made.name}” made</h4>
      <label htmlFor={`${id}-value`}>New token</label>
      <input id={`${id}-value`} readOnly value={made.token} aria-describedby={`${id}-hint`} onFocus={(e) => e.target.select()} />
      <p id={`${id}-hint`}>Copy it now: it is not shown again.</p>
      <div className="actions">
        <button type="button" onClick={copy}>Copy</button>
        <button type="button" onClick={onDone}>Done</button>
        {copied && <span role="status">{copied}</span>}
      </div>
    </section>
  );
}

function ApiTokens() {
  const [tokens, setTokens] = useState<TokenView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [made, setMade] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenView | null>(null);
  const load = async () => {
    try {
      setTokens(await theApi().listTokens());
      setError(null);
    } catch (err) {
      setError(errorDetail(err));
    }
  };
  useEffect(() => {
    void load();
  }, []);
  return (
    <section aria-labelledby="tokens-title">
      <h3 id="tokens-title">API tokens</h3>
      <p className="hint">Tokens let scripts and the command line act as you. Revoke one you no longer use.</p>
      {error && <p role="alert" className="error">{error}</p>}
      {made && <ShownOnce made={made} onDone={() => setMade(null)} />}
      <NewTokenForm onCreated={(t) => { setMade(t); void load(); }} />
      {tokens === null ? (!error && <p aria-busy="true">Loading…</p>) : tokens.length === 0 ? <p className="empty">No API tokens yet.</p> : (
        <table aria-labelledby="tokens-title">
          <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Status</th><th scope="col"><span className="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {tokens.map((t) => {
              const expired = !t.revokedAt && t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now();
              return (
              <tr key={t.id} data-token-id={t.id}>
                <td>{t.name}</td>
                <td>{shortTime(t.createdAt)}</td>
                <td>{t.expiresAt ? shortTime(t.expiresAt) : 'never'}</td>
                <td>{t.lastUsedAt ? shortTime(t.lastUsedAt) : 'never used'}</td>
                <td>{t.revokedAt ? `Revoked ${shortTime(t.revokedAt)}` : expired ? 'Expired' : 'Active'}</td>
                <td>{!t.revokedAt && !expired && <button type="button" className="danger" aria-label={`Revoke token ${t.name}`} onClick={() => setRevoking(t)}>Revoke</button>}</td>
              </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {revoking && (
        <ConfirmDialog
          open onOpenChange={(o) => !o && setRevoking(null)} title="Revoke this token?" danger confirmLabel="Revoke token"
          description={`“${revoking.name}” stops working now; whatever uses it is signed out.`}
          onConfirm={async () => {
            await theApi().revokeToken(revoking.id);
            await load();
          }}
        />
      )}
    </section>
  );
}
