// Settings. In the desktop app: server URL and token (the token goes to main and its OS
// keychain, and never comes back), or signing in with the server's single sign-on where it
// offers it (main keeps the token it gives the same way), extra expiry reminders on top of the server's warnings
// (shown as the server gives them), do not disturb, launch at login, embedded mode. In the
// portal: who is signed in, and sign out (of the session single sign-on gave, or forgetting
// the pasted token).

import { useEffect, useId, useState } from 'react';
import { ApiError, type DesktopSettings } from '../../../common/lapse-api.ts';
import { useSession, theApi } from '../stores.ts';
import { expiryWarningsText, shortTime } from '../format.ts';

export function SettingsView({ onSignOut }: { onSignOut(): void | Promise<void> }) {
  const api = theApi();
  const me = useSession((s) => s.me);
  return (
    <main aria-labelledby="settings-title">
      <h2 id="settings-title">{api.host === 'desktop' ? 'Settings' : 'Account'}</h2>
      {me && (
        <p>Signed in as <strong>{me.name ?? me.id}</strong> ({me.id}{me.email ? `, ${me.email}` : ''}) · {me.roles.join(', ')}</p>
      )}
      {api.host === 'desktop' ? <DesktopSettingsForm /> : <SignOutButton onSignOut={onSignOut} />}
    </main>
  );
}

/** Sign out; a failure (the session could not be ended) is shown, and the person stays signed in. */
export function SignOutButton({ onSignOut }: { onSignOut(): void | Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const click = async () => {
    setBusy(true);
    setError(null);
    try {
      await onSignOut();
    } catch (err) {
      setError(`Not signed out: ${ApiError.from(err).detail}`);
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" onClick={click} disabled={busy}>Sign out</button>
      {error && <p role="alert" className="error">{error}</p>}
    </>
  );
}

/** What the server's warnings are, and that the reminders set here come on top of them. */
function serverWarningsHint(expiryWarnings: unknown): string {
  const words = expiryWarningsText(expiryWarnings);
  if (words === null) return 'The server’s expiry warnings come first; the reminders here are extra, on top of them.';
  if (words === '') return 'The server sends no expiry warnings: only the reminders here are given.';
  return `The server warns you ${words} before your access expires: its warnings come first. The reminders here are extra, on top of them (one at the same moment as a server warning is shown once).`;
}

function DesktopSettingsForm() {
  const api = theApi();
  const me = useSession((x) => x.me);
  const id = useId();
  const [s, setS] = useState<DesktopSettings | null>(null);
  const [offsets, setOffsets] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState<{ field?: string; message: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  // Single sign-on: whether the saved server offers it (null: not known, or no server), and the last sign-in.
  const [savedUrl, setSavedUrl] = useState('');
  const [sso, setSso] = useState<boolean | null>(null);
  const [ssoBusy, setSsoBusy] = useState(false);
  const [ssoDone, setSsoDone] = useState<string | null>(null);
  const [ssoError, setSsoError] = useState<string | null>(null);
  const askSso = () => api.ssoAvailable().then(setSso, () => setSso(null));
  useEffect(() => {
    api.getSettings().then((x) => { setS(x); setOffsets(x.extraReminderMinutes.join(', ')); setSavedUrl(x.serverUrl); void askSso(); }, (err) => setError({ message: ApiError.from(err).detail }));
  }, []);
  if (!s) return error ? <p role="alert" className="error">{error.message}</p> : <p aria-busy="true">Loading…</p>;

  const save = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    setSaved(null);
    const parts = offsets.split(',').map((x) => x.trim()).filter(Boolean);
    const minutes = parts.map(Number);
    if (minutes.some((m) => !Number.isInteger(m) || m <= 0)) return setError({ field: 'extraReminderMinutes', message: 'Whole minutes above zero, separated by commas (e.g. 5, 2), or nothing for no extra reminders.' });
    try {
      const next = await api.updateSettings({ serverUrl: s.serverUrl.trim(), extraReminderMinutes: minutes, doNotDisturb: s.doNotDisturb, launchAtLogin: s.launchAtLogin, embedded: s.embedded });
      if (token.trim()) await api.setToken(token.trim());
      setToken('');
      setS({ ...next, hasToken: next.hasToken || !!token.trim() });
      setSaved('Saved.');
      setSavedUrl(next.serverUrl);
      void askSso();
    } catch (err) {
      const e = ApiError.from(err);
      setError({ ...(e.field ? { field: e.field } : {}), message: e.detail });
    }
  };
  const signInWithSso = async () => {
    setSsoBusy(true);
    setSsoError(null);
    setSsoDone(null);
    try {
      const got = await api.signInWithSso();
      setSsoDone(`Signed in as ${got.user}${got.expiresAt ? ` until ${shortTime(got.expiresAt)}` : ''}.`);
      setS((x) => (x ? { ...x, hasToken: true } : x));
    } catch (e) {
      setSsoError(`Not signed in: ${ApiError.from(e).detail}`);
    } finally {
      setSsoBusy(false);
    }
  };
  // Offered for the server as saved (its answer is about that one), not for a URL still being typed.
  const ssoOffered = sso === true && !s.embedded && s.serverUrl.trim() === savedUrl;
  const err = (field: string) => (error?.field === field ? <p className="field-error" role="alert">{error.message}</p> : null);
  return (
    <form onSubmit={save} noValidate className="settings">
      <label className="option"><input type="checkbox" checked={s.embedded} onChange={(e) => setS({ ...s, embedded: e.target.checked })} /> Embedded mode (no server: Lapse runs inside the app on a local file)</label>
      <label htmlFor={`${id}-url`}>Server URL</label>
      <input id={`${id}-url`} type="url" value={s.serverUrl} disabled={s.embedded} placeholder="https://lapse.example.com" onChange={(e) => setS({ ...s, serverUrl: e.target.value })} aria-invalid={error?.field === 'serverUrl' || undefined} />
      {err('serverUrl')}
      <label htmlFor={`${id}-token`}>Token</label>
      <input id={`${id}-token`} type="password" autoComplete="off" value={token} disabled={s.embedded} placeholder={s.hasToken ? 'stored in the OS keychain' : 'paste a token'} onChange={(e) => setToken(e.target.value)} />
      {ssoOffered && (
        <div className="actions">
          <button type="button" onClick={signInWithSso} disabled={ssoBusy}>Sign in with SSO</button>
          {ssoBusy && <span role="status">Sign in in your browser…</span>}
          {ssoDone && <span role="status">{ssoDone}</span>}
        </div>
      )}
      {ssoError && <p className="error" role="alert">{ssoError}</p>}
      {s.keychainProblem && <p className="error" role="alert">{s.keychainProblem}</p>}
      {s.hasToken && <button type="button" onClick={async () => { await api.clearToken(); setS({ ...s, hasToken: false }); }}>Forget the token</button>}
      <label htmlFor={`${id}-offsets`}>Extra reminders (minutes before expiry, comma separated)</label>
      <input id={`${id}-offsets`} value={offsets} placeholder="none" aria-describedby={`${id}-offsets-hint`} onChange={(e) => setOffsets(e.target.value)} aria-invalid={error?.field === 'extraReminderMinutes' || undefined} />
      <p id={`${id}-offsets-hint`} className="hint">{serverWarningsHint(me?.expiryWarnings)}</p>
      {err('extraReminderMinutes')}
      <label className="option"><input type="checkbox" checked={s.doNotDisturb} onChange={(e) => setS({ ...s, doNotDisturb: e.target.checked })} /> Do not disturb</label>
      <label className="option"><input type="checkbox" checked={s.launchAtLogin} onChange={(e) => setS({ ...s, launchAtLogin: e.target.checked })} /> Launch at login</label>
      {error && !error.field && <p className="error" role="alert">{error.message}</p>}
      <div className="actions"><button type="submit" className="primary">Save settings</button>{saved && <span role="status">{saved}</span>}</div>
    </form>
  );
}
