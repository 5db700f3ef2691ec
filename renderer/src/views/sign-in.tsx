// Portal sign-in: paste a token (kept in this tab's sessionStorage only).

import { useId, useState } from 'react';
import { ApiError, type Me } from '../../../common/lapse-api.ts';
import { theApi } from '../stores.ts';

export function SignInView({ onSignedIn }: { onSignedIn(me: Me): void }) {
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
    <main className="sign-in" aria-labelledby={`${id}-title`}>
      <h1 id={`${id}-title`}>Sign in to Lapse</h1>
      <form onSubmit={submit} noValidate>
        <label htmlFor={`${id}-token`}>Token</label>
        <input id={`${id}-token`} type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} aria-invalid={!!error || undefined} aria-describedby={`${id}-hint${error ? ` ${id}-error` : ''}`} />
        <p id={`${id}-hint`} className="hint">Create one with <code>lapse token create</code>. It is kept in this tab only.</p>
        {error && <p id={`${id}-error`} className="field-error" role="alert">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>Sign in</button>
      </form>
    </main>
  );
}
