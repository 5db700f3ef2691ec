// Portal sign-in. Where the server signs people in through an identity provider (single
// sign-on): one button, to the provider and back to where the person was. Else: paste a
// token (kept in this tab's sessionStorage only). A refused single sign-on comes back with
// its reason, shown here as text.

import { useEffect, useId, useState } from 'react';
import { ApiError, type Me } from '../../../common/lapse-api.ts';
import type { PortalAuth } from '../api/http-api.ts';
import { theApi } from '../stores.ts';

type Mode = 'checking' | 'sso' | 'token';

export function SignInView({ onSignedIn, auth, signInError = null }: { onSignedIn(me: Me): void; auth?: PortalAuth; signInError?: string | null }) {
  const [mode, setMode] = useState<Mode>(auth ? 'checking' : 'token');
  const id = useId();
  useEffect(() => {
    if (!auth) return;
    let live = true;
    // A server without single sign-on (or that cannot say): the token, as ever.
    auth.config().then((c) => live && setMode(c.singleSignOn ? 'sso' : 'token'), () => live && setMode('token'));
    return () => { live = false; };
  }, [auth]);
  return (
    <main className="sign-in" aria-labelledby={`${id}-title`} aria-busy={mode === 'checking' || undefined}>
      <h1 id={`${id}-title`}>Sign in to Lapse</h1>
      {signInError !== null && <p role="alert" className="error">Sign-in failed: {signInError}</p>}
      {mode === 'checking' && <p className="loading">Loading…</p>}
      {mode === 'sso' && auth && <SingleSignOn auth={auth} />}
      {mode === 'token' && <TokenForm onSignedIn={onSignedIn} />}
    </main>
  );
}

function SingleSignOn({ auth }: { auth: PortalAuth }) {
  const [leaving, setLeaving] = useState(false);
  const go = async () => {
    setLeaving(true);
    // A token left in this tab would be sent instead of the session to come: gone.
    await theApi().clearToken().catch(() => undefined);
    // Back to this very view after the provider (the query, e.g. a sign-in error, left behind).
    location.assign(auth.loginUrl(`${location.pathname}${location.hash}`));
  };
  return (
    <>
      <p className="hint">You sign in with your organization’s account.</p>
      <button type="button" className="primary" onClick={go} disabled={leaving}>Sign in with SSO</button>
    </>
  );
}

function TokenForm({ onSignedIn }: { onSignedIn(me: Me): void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    if (!token.trim()) return setError('Paste your token.');
    setBusy(true);
    const api = theApi();
    try {
      await api.setToken(token.trim());
      onSignedIn(await api.me());
    } catch (err) {
      await api.clearToken();
      const e = ApiError.from(err);
      setError(e.status === 401 ? 'This token is not valid (unknown, malformed or revoked).' : e.detail);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate>
      <label htmlFor={`${id}-token`}>Token</label>
      <input id={`${id}-token`} type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} aria-invalid={!!error || undefined} aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`} />
      <p id={`${id}-hint`} className="hint">Create one with <code>lapse token create</code>. It is kept in this tab only.</p>
      {error && <p id={`${id}-error`} className="field-error" role="alert">{error}</p>}
      <button type="submit" className="primary" disabled={busy}>Sign in</button>
    </form>
  );
}
