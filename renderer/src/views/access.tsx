// My access: favorites (one-click request), open requests with live countdowns, access
// details (reveal, copy), extend, revoke or cancel; then the history with statuses.
// `extendId` (#/access?extend=<id>, how the tray opens its extend window) opens the extend
// dialog on that request once it is read.

import { memo, useEffect, useState } from 'react';
import { ApiError, errorDetail, type AccessRequest } from '../../../common/lapse-api.ts';
import { useCatalog, useFavorites, useRequests, theApi } from '../stores.ts';
import { countdownText, denialOf, isOpen, requestTitle, shortTime, statusText } from '../format.ts';
import { useNow } from '../use-now.ts';
import { navigate } from '../router.ts';
import { ConfirmDialog, ExtendDialog } from '../components/dialogs.tsx';
import type { PortalAuth } from '../api/http-api.ts';
import { AGAIN_STATUSES } from './request-page.tsx';

type Action = { kind: 'revoke' | 'cancel' | 'extend'; r: AccessRequest };

function AccessDetails({ r }: { r: AccessRequest }) {
  const [details, setDetails] = useState<Record<string, Record<string, string>> | null>(null);
  const [copied, setCopied] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const load = async () => details ?? (await theApi().accessDetails(r.id));
  const text = (d: Record<string, Record<string, string>>) =>
    Object.entries(d).map(([integration, kv]) => [`# ${integration}`, ...Object.entries(kv).map(([k, v]) => `${k}=${v}`)].join('\n')).join('\n');
  const reveal = async () => {
    try {
      setDetails(details ? null : await load());
    } catch (err) {
      setError(errorDetail(err));
    }
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text(await load()));
      setCopied(true);
      setTimeout(() => setCopied(false), 2000);
    } catch (err) {
      setError(`Could not copy: ${errorDetail(err)}`);
    }
  };
  return (
    <div className="details">
      <button type="button" aria-expanded={!!details} onClick={reveal}>{details ? 'Hide access details' : 'Reveal access details'}</button>
      <button type="button" onClick={copy}>Copy access details</button>
      {copied && <span role="status">Copied</span>}
      {error && <p role="alert" className="error">{error}</p>}
      {details && <pre aria-label="Access details">{text(details) || 'No details for this access.'}</pre>}
    </div>
  );
}

const OpenRow = memo(function OpenRow({ r, now, onAction }: { r: AccessRequest; now: number; onAction(a: Action): void }) {
  const titleId = `req-${r.id}-title`;
  return (
    <article className="card" aria-labelledby={titleId} data-request-id={r.id}>
      <header>
        <h3 id={titleId}>{requestTitle(r)}</h3>
        <span className={`badge status-${r.status}`}>{statusText(r.status)}</span>
      </header>
      {r.status === 'active' && <p className="countdown" role="timer" aria-label={`Time left for ${r.flowName}`}>{countdownText(r.expiresAt, now)}</p>}
      {r.status === 'scheduled' && <p>Starts {shortTime(r.startAt)}</p>}
      {r.status === 'pending' && <p>Waiting for {r.waitingFor ?? (r.approverGroups.map((g) => g.description).join(' or ') || 'approval')}</p>}
      {r.pendingExtension && <p>Extension by {r.pendingExtension.duration} waiting for {r.waitingFor ?? 'approval'}</p>}
      {r.error && <p className="error">{r.error}</p>}
      <p><a href={`#/requests?${new URLSearchParams({ id: r.id })}`} aria-label={`Details of ${requestTitle(r)}`}>Details and timeline</a></p>
      {r.status === 'active' && <AccessDetails r={r} />}
      <div className="actions">
        {canExtend(r) && (
          <button type="button" onClick={() => onAction({ kind: 'extend', r })}>Extend</button>
        )}
        {(r.status === 'active' || r.status === 'granting') && (
          <button type="button" className="danger" aria-label={`Revoke ${r.flowName} now`} onClick={() => onAction({ kind: 'revoke', r })}>Revoke now</button>
        )}
        {(r.status === 'pending' || r.status === 'scheduled') && (
          <button type="button" aria-label={`Cancel request for ${r.flowName}`} onClick={() => onAction({ kind: 'cancel', r })}>Cancel request</button>
        )}
      </div>
    </article>
  );
});

function HistoryRow({ r }: { r: AccessRequest }) {
  const denial = r.status === 'rejected' ? denialOf(r) : null;
  return (
    <tr>
      <td>{requestTitle(r)}</td>
      <td><span className={`badge status-${r.status}`}>{statusText(r.status)}</span></td>
      <td>
        {denial ? `Denied by ${denial.by}${denial.reason ? `: ${denial.reason}` : ''}` : ''}
        {r.endReason === 'self' ? 'Revoked by you' : r.endReason === 'expiry' ? 'Lapsed' : r.endedBy && r.status === 'revoked' ? `Revoked by ${r.endedBy}` : ''}
        {r.endNote && r.status !== 'rejected' ? ` — ${r.endNote}` : ''}
        {r.error && r.status === 'failed' ? r.error : ''}
      </td>
      <td>{shortTime(r.endedAt ?? r.createdAt)}</td>
      <td className="row-actions">
        <a href={`#/requests?${new URLSearchParams({ id: r.id })}`} aria-label={`Details of ${requestTitle(r)}`}>Details</a>
        {AGAIN_STATUSES.includes(r.status) && (
          <button type="button" aria-label={`Request ${requestTitle(r)} again`} onClick={() => navigate('request', { again: r.id })}>Request again</button>
        )}
      </td>
    </tr>
  );
}

/** Whether `r` may be extended now (the Extend button's condition). */
export function canExtend(r: AccessRequest): boolean {
  return r.status === 'active' && r.expiresAt !== null && r.extensions < r.maxExtensions && !r.pendingExtension;
}

/**
 * `auth`: the portal's sign-in (absent in the desktop app), where a step-up asked by an
 * extension goes to the provider and back to this request's extend window.
 */
export function AccessView({ extendId, auth }: { extendId?: string; auth?: PortalAuth } = {}) {
  const list = useRequests((s) => s.list);
  const loaded = useRequests((s) => s.loaded);
  const favorites = useFavorites((s) => s.favorites);
  const flows = useCatalog((s) => s.flows);
  const now = useNow(1000);
  const [action, setAction] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busyFavorite, setBusyFavorite] = useState<string | null>(null);

  // Read afresh on opening (the list kept from before may not hold a request just made).
  const [read, setRead] = useState(false);
  useEffect(() => {
    useRequests.getState().load().catch((err) => setError(errorDetail(err))).finally(() => setRead(true));
    useFavorites.getState().load().catch(() => undefined);
  }, []);

  // Opened on one request's extension (from the tray): its dialog, or why it cannot be extended.
  const [extendHandled, setExtendHandled] = useState<string | null>(null);
  useEffect(() => {
    if (!extendId || !read || extendHandled === extendId) return;
    setExtendHandled(extendId);
    const r = list.find((x) => x.id === extendId);
    if (r && canExtend(r)) setAction({ kind: 'extend', r });
    else setError(r ? `${requestTitle(r)} cannot be extended now${r.pendingExtension ? ': an extension is already waiting for approval' : r.status !== 'active' ? ` (${statusText(r.status).toLowerCase()})` : ''}.` : `Request ${extendId} is not among your access.`);
  }, [extendId, read, list]);

  const open = list.filter(isOpen);
  const history = list.filter((r) => !isOpen(r));

  const requestFavorite = async (id: string) => {
    setError(null);
    setBusyFavorite(id);
    try {
      useRequests.getState().upsert(await theApi().requestFromFavorite(id));
    } catch (err) {
      // Where the favorite needs more (a justification, an MFA code), open the request window pre-filled.
      const e = ApiError.from(err);
      if (e.status === 422 && e.field) navigate('request', { favorite: id });
      else setError(e.detail);
    } finally {
      setBusyFavorite(null);
    }
  };
  const deleteFavorite = async (id: string) => {
    await theApi().deleteFavorite(id);
    await useFavorites.getState().load();
  };

  const a = action;
  return (
    <main aria-labelledby="access-title">
      <h2 id="access-title">My access</h2>
      {error && <p role="alert" className="error">{error}</p>}

      <section aria-labelledby="fav-title">
        <h3 id="fav-title">Favorites</h3>
        {favorites.length === 0 && <p className="empty">No favorites yet: save one from the request window.</p>}
        <ul className="favorites">
          {favorites.map((f) => (
            <li key={f.id}>
              <span>{f.name}</span>
              <button type="button" className="primary" disabled={busyFavorite === f.id} aria-label={`Request ${f.name}`} onClick={() => requestFavorite(f.id)}>Request</button>
              <button type="button" aria-label={`Edit and request ${f.name}`} onClick={() => navigate('request', { favorite: f.id })}>Edit…</button>
              <button type="button" aria-label={`Delete favorite ${f.name}`} onClick={() => deleteFavorite(f.id)}>Delete</button>
            </li>
          ))}
        </ul>
      </section>

      <section aria-labelledby="open-title">
        <h3 id="open-title">Active and pending</h3>
        {loaded && open.length === 0 && <p className="empty">No active access.</p>}
        <div className="list">{open.map((r) => <OpenRow key={r.id} r={r} now={now} onAction={setAction} />)}</div>
      </section>

      <section aria-labelledby="history-title">
        <h3 id="history-title">History</h3>
        {loaded && history.length === 0 ? <p className="empty">Nothing yet.</p> : (
          <table aria-labelledby="history-title">
            <thead><tr><th scope="col">Access</th><th scope="col">Status</th><th scope="col">Note</th><th scope="col">When</th><th scope="col">Actions</th></tr></thead>
            <tbody>{history.map((r) => <HistoryRow key={r.id} r={r} />)}</tbody>
          </table>
        )}
      </section>

      {a?.kind === 'revoke' && (
        <ConfirmDialog
          open onOpenChange={(o) => !o && setAction(null)} title="Revoke access now?" danger confirmLabel="Revoke"
          description={`${requestTitle(a.r)} ends now${a.r.breakGlass ? ' (break-glass access)' : ''}${a.r.bundleName ? `, every permission of the bundle ${a.r.bundleName}` : ''}.`}
          onConfirm={async () => useRequests.getState().upsert(await theApi().revoke(a.r.id))}
        />
      )}
      {a?.kind === 'cancel' && (
        <ConfirmDialog
          open onOpenChange={(o) => !o && setAction(null)} title="Cancel this request?" confirmLabel="Cancel request"
          description={requestTitle(a.r)}
          onConfirm={async () => useRequests.getState().upsert(await theApi().cancel(a.r.id))}
        />
      )}
      {a?.kind === 'extend' && (
        <ExtendDialog
          open onOpenChange={(o) => !o && setAction(null)} subject={requestTitle(a.r)} duration={a.r.duration}
          justificationRequired={flows.find((f) => f.id === a.r.flowId)?.requireJustification ?? false}
          codeRequired={(() => { const f = flows.find((x) => x.id === a.r.flowId); return !!f?.requireMfa && !f.stepUp; })()}
          onSubmit={async (d, j, code) => useRequests.getState().upsert(await theApi().extend(a.r.id, d, j || undefined, code || undefined))}
          onStepUp={async (flowId) => {
            if (auth) return location.assign(auth.loginUrl(`${location.pathname}#/access?${new URLSearchParams({ extend: a.r.id })}`, flowId));
            await theApi().signInWithSso(flowId);
          }}
        />
      )}
    </main>
  );
}
