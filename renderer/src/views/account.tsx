// Account: who is signed in (and, in the portal, sign out), how they are told of what
// concerns them (email and direct messages in chat, each on or off where the admins allow it), two-factor authentication for
// flows that require MFA (its status; setting it up with a QR code and the secret as text,
// confirmed with a code; removing it with a code), and the person's own API tokens: the list
// (created, expires, last used, revoked), making one (shown once, with a Copy button) and
// revoking one after a confirmation.

import { useEffect, useId, useState } from 'react';
import { ApiError, errorDetail, type CreatedToken, type MfaEnrolmentStarted, type MfaStatusView, type NotificationPreferencesView, type TokenView } from '../../../common/lapse-api.ts';
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
      <Notifications />
      <TwoFactor />
      <ApiTokens />
    </main>
  );
}

/** Email and direct messages, each on or off: shown where the server sends them; a switch only where the admins let people turn it off. */
function Notifications() {
  const [prefs, setPrefs] = useState<NotificationPreferencesView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    theApi().notificationPreferences().then(setPrefs, (err: unknown) => setError(errorDetail(err)));
  }, []);
  const toggle = async (choice: { email?: boolean; chat?: boolean }) => {
    setBusy(true);
    setError(null);
    try {
      setPrefs(await theApi().setNotifications(choice));
    } catch (err) {
      setError(ApiError.from(err).detail);
    } finally {
      setBusy(false);
    }
  };
  const email = prefs?.email;
  const chat = prefs?.chat;
  return (
    <section aria-labelledby="notifications-title">
      <h3 id="notifications-title">Notifications</h3>
      {error && <p role="alert" className="error">{error}</p>}
      {email && !email.available && !chat?.available && <p className="hint">This server sends no email{email.address ? '' : ' (your account has no address)'}: you are told in Lapse itself and in the team&apos;s channels.</p>}
      {email?.available && (
        <label className="option">
          <input type="checkbox" checked={email.on} disabled={busy || !email.mayTurnOff} onChange={(e) => void toggle({ email: e.target.checked })} />
          <span>Email me at {email.address} about my requests and the ones I may approve{email.mayTurnOff ? '' : ' (the admins keep this on)'}</span>
        </label>
      )}
      {chat?.available && (
        <label className="option">
          <input type="checkbox" checked={chat.on} disabled={busy || !chat.mayTurnOff} onChange={(e) => void toggle({ chat: e.target.checked })} />
          <span>Send me a direct message in Slack about the same{chat.mayTurnOff ? '' : ' (the admins keep this on)'}</span>
        </label>
      )}
    </section>
  );
}

/** A QR code the server made: shown only as an image from a data: URL of its own kinds, never as markup. */
const QR_DATA_URL = /^data:image\/(svg\+xml|png);base64,[A-Za-z0-9+/]+=*$/;

/** A 6-digit code from the authenticator app, with its label, hint and error; `onSubmit` gets the code. */
function CodeForm({ label, action, danger, onSubmit, onCancel }: { label: string; action: string; danger?: boolean; onSubmit(code: string): Promise<void>; onCancel?(): void }) {
  const id = useId();
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setError(null);
    const digits = code.replace(/\s/g, '');
    if (!/^\d{6}$/.test(digits)) return setError('Enter the 6-digit code your authenticator app shows now.');
    setBusy(true);
    try {
      await onSubmit(digits);
      setCode('');
    } catch (err) {
      setError(errorDetail(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} noValidate className="settings">
      <label htmlFor={`${id}-code`}>{label}</label>
      <input id={`${id}-code`} value={code} inputMode="numeric" autoComplete="one-time-code" maxLength={12} placeholder="123456"
        onChange={(e) => setCode(e.target.value)} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-error` : undefined} />
      {error && <p className="field-error" role="alert" id={`${id}-error`}>{error}</p>}
      <div className="actions">
        {onCancel && <button type="button" onClick={onCancel}>Cancel</button>}
        <button type="submit" className={danger ? 'danger' : 'primary'} disabled={busy}>{action}</button>
      </div>
    </form>
  );
}

/** The factor just set up: its QR code and its secret as text (both this once), and the code that confirms it. */
function SetUpFactor({ started, onConfirmed }: { started: MfaEnrolmentStarted; onConfirmed(status: MfaStatusView): void }) {
  const id = useId();
  return (
    <section aria-labelledby={`${id}-title`} className="card">
      <h4 id={`${id}-title`}>Set up your authenticator app</h4>
      <p>Scan this QR code with an authenticator app, or type the secret into it. It is shown this once.</p>
      {QR_DATA_URL.test(started.qrCode) && <img src={started.qrCode} alt="QR code of your two-factor secret, for an authenticator app" width={200} height={200} />}
      <label htmlFor={`${id}-secret`}>Secret</label>
      <input id={`${id}-secret`} readOnly value={started.secret} onFocus={(e) => e.target.select()} spellCheck={false} />
      <CodeForm label="Code from the app" action="Confirm" onSubmit={async (code) => onConfirmed(await theApi().confirmMfaEnrolment(code))} />
    </section>
  );
}

function TwoFactor() {
  const [status, setStatus] = useState<MfaStatusView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [started, setStarted] = useState<MfaEnrolmentStarted | null>(null);
  const [removing, setRemoving] = useState(false);
  const [busy, setBusy] = useState(false);
  const load = async () => {
    try {
      setStatus(await theApi().mfaStatus());
      setError(null);
    } catch (err) {
      setError(errorDetail(err));
    }
  };
  useEffect(() => {
    void load();
  }, []);
  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(errorDetail(err));
    } finally {
      setBusy(false);
    }
  };
  const setUp = () => act(async () => {
    const s = await theApi().startMfaEnrolment();
    setStarted(s);
    setStatus({ status: s.status, startedAt: s.startedAt, confirmedAt: s.confirmedAt });
  });
  const cancel = () => act(async () => {
    await theApi().removeMfa();
    setStarted(null);
    await load();
  });
  const state = status?.status;
  return (
    <section aria-labelledby="mfa-title">
      <h3 id="mfa-title">Two-factor authentication</h3>
      {state !== 'provider' && <p className="hint">Flows that require MFA ask for a code from an authenticator app on your phone.</p>}
      {error && <p role="alert" className="error">{error}</p>}
      {status === null ? (!error && <p aria-busy="true">Loading…</p>) : (
        <p id="mfa-status">
          {state === 'none' && 'Not set up.'}
          {state === 'pending' && (started ? 'Set up: confirm it with a code from the app.' : 'Set up, but not confirmed: set it up again to see its QR code.')}
          {state === 'enrolled' && `On since ${shortTime(status.confirmedAt)}.`}
          {state === 'configured' && 'On: your secret is set in the server\'s configuration, which the admin manages.'}
          {state === 'provider' && 'Your identity provider is your second factor: flows that require MFA ask you to sign in there again if your last sign-in is too old.'}
        </p>
      )}
      {started && state === 'pending' && <SetUpFactor started={started} onConfirmed={(s) => { setStarted(null); setStatus(s); }} />}
      {(state === 'none' || state === 'pending') && (
        <div className="actions">
          {state === 'pending' && <button type="button" disabled={busy} onClick={cancel}>Cancel set-up</button>}
          <button type="button" className={state === 'none' ? 'primary' : undefined} disabled={busy} onClick={setUp}>{state === 'pending' ? 'Set up again' : 'Set up'}</button>
        </div>
      )}
      {state === 'enrolled' && (removing
        ? <CodeForm label="Code from the app, to remove it" action="Remove two-factor authentication" danger onCancel={() => setRemoving(false)}
            onSubmit={async (code) => { await theApi().removeMfa(code); setRemoving(false); await load(); }} />
        : <div className="actions"><button type="button" className="danger" onClick={() => setRemoving(true)}>Remove…</button></div>)}
    </section>
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
