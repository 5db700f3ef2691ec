// Active access, for admins (everyone's) and approvers (what they approved): filters by user,
// flow, integration, label and resource; revoke one or a selection; and for admins "Revoke
// all matching" — the panic button — which shows first how many requests, grants and people
// it will end, asks a reason and has the admin type the number of requests before it runs.
// The list comes a page at a time ("Load more").

import { useEffect, useId, useState } from 'react';
import * as Dialog from '@radix-ui/react-dialog';
import { errorDetail, type AccessRequest, type Me } from '../../../common/lapse-api.ts';
import type { RevokeAllPreview } from '../../../common/lapse-api.ts';
import type { AccessListQuery, AdminApi, RevokeAllFilterInput } from '../api/http-api.ts';
import { theApi } from '../stores.ts';
import { entitlementText, shortTime, statusText } from '../format.ts';
import { Frame } from '../components/dialogs.tsx';
import { useSelectablePages } from '../use-selectable-pages.ts';

/** What active access means here: what the panic button ends. */
const ACTIVE_STATUSES = ['scheduled', 'granting', 'active'] as const;
const PAGE = 50;
const FILTERS = [['user', 'User'], ['flow', 'Flow'], ['integration', 'Integration'], ['label', 'Label'], ['resource', 'Resource']] as const;

type Scope = AccessListQuery['scope'];

/** Revoke a selection (one or more) with an optional reason; each request's outcome said. */
function RevokeSelectionDialog(props: { open: boolean; onOpenChange(open: boolean): void; ids: string[]; onDone(failed: { id: string; error: string }[]): void }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const id = useId();
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    setBusy(true);
    const failed: { id: string; error: string }[] = [];
    for (const rid of props.ids) {
      try {
        await theApi().revoke(rid, reason.trim() || undefined);
      } catch (err) {
        failed.push({ id: rid, error: errorDetail(err) });
      }
    }
    setBusy(false);
    setReason('');
    props.onDone(failed);
    props.onOpenChange(false);
  };
  const n = props.ids.length;
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title={n === 1 ? 'Revoke this access' : `Revoke ${n} requests`} description="The access ends on its targets now.">
      <form onSubmit={submit}>
        <label htmlFor={`${id}-reason`}>Reason (optional)</label>
        <textarea id={`${id}-reason`} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
        <div className="actions">
          <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
          <button type="submit" className="danger" disabled={busy}>{n === 1 ? 'Revoke' : `Revoke ${n}`}</button>
        </div>
      </form>
    </Frame>
  );
}

/** The panic button: the preview, a mandatory reason and the count typed back before it runs. */
function RevokeAllDialog(props: { open: boolean; onOpenChange(open: boolean): void; admin: AdminApi; filter: RevokeAllFilterInput; onDone(message: string): void }) {
  const [preview, setPreview] = useState<RevokeAllPreview | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const id = useId();
  useEffect(() => {
    if (!props.open) return;
    setPreview(null);
    setError(null);
    setReason('');
    setTyped('');
    props.admin.previewRevokeAll(props.filter).then(setPreview, (err) => setError(errorDetail(err)));
  }, [props.open]);
  const word = preview ? String(preview.requests) : '';
  const ready = preview !== null && preview.requests > 0 && reason.trim() !== '' && typed.trim() === word;
  const submit = async (ev: React.FormEvent) => {
    ev.preventDefault();
    if (!preview) return;
    if (!reason.trim()) return setError('A reason is required.');
    if (typed.trim() !== word) return setError(`Type ${word} to confirm.`);
    setBusy(true);
    setError(null);
    try {
      const out = await props.admin.revokeAll(props.filter, reason.trim(), preview.requests);
      props.onDone(`Revoking ${out.revoked.length} ${out.revoked.length === 1 ? 'request' : 'requests'}${out.failed.length ? `; ${out.failed.length} could not be revoked: ${out.failed.map((f) => `${f.id} (${f.error})`).join(', ')}` : ''}.`);
      props.onOpenChange(false);
    } catch (err) {
      setError(errorDetail(err));
    } finally {
      setBusy(false);
    }
  };
  const set = Object.entries(props.filter).filter(([, v]) => v);
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title="Revoke all matching access"
      description={set.length ? `Filter: ${set.map(([k, v]) => `${k} = ${v}`).join(', ')}` : 'No filter: everyone\'s active access.'}>
      <form onSubmit={submit} noValidate>
        {!preview && !error && <p aria-busy="true">Counting what this would end…</p>}
        {preview && (
          <div aria-label="Preview" role="group">
            <p className="preview-count">
              This ends <strong data-testid="preview-requests">{preview.requests}</strong> {preview.requests === 1 ? 'request' : 'requests'} and{' '}
              <strong data-testid="preview-grants">{preview.grants}</strong> {preview.grants === 1 ? 'grant' : 'grants'} held by {preview.users} {preview.users === 1 ? 'person' : 'people'}.
            </p>
            {preview.byIntegration.length > 0 && (
              <ul>{preview.byIntegration.map((i) => <li key={i.integration}>{i.integration}: {i.grants} {i.grants === 1 ? 'grant' : 'grants'}</li>)}</ul>
            )}
          </div>
        )}
        {preview && preview.requests > 0 && (
          <>
            <label htmlFor={`${id}-reason`}>Reason (required)</label>
            <textarea id={`${id}-reason`} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
            <label htmlFor={`${id}-confirm`}>Type {word} to confirm</label>
            <input id={`${id}-confirm`} inputMode="numeric" autoComplete="off" value={typed} onChange={(e) => setTyped(e.target.value)} />
          </>
        )}
        {error && <p role="alert" className="field-error">{error}</p>}
        <div className="actions">
          <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
          <button type="submit" className="danger" disabled={busy || !ready}>Revoke all {word}</button>
        </div>
      </form>
    </Frame>
  );
}

export function ActiveAccessView({ admin, me }: { admin: AdminApi; me: Me }) {
  const isAdmin = me.roles.includes('admin');
  const [scope, setScope] = useState<Scope>(isAdmin ? 'all' : 'approved-by-me');
  const [draft, setDraft] = useState<RevokeAllFilterInput>({});
  const [filter, setFilter] = useState<RevokeAllFilterInput>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<string[] | null>(null);
  const [panic, setPanic] = useState(false);

  const query: AccessListQuery = { scope, statuses: [...ACTIVE_STATUSES], ...filter };
  const { rows, cursor, loaded, error, selected, setSelected, toggle, load } = useSelectablePages<AccessRequest>({
    fetch: async (from, limit) => {
      const page = await admin.listRequests(query, { cursor: from, limit });
      return { items: page.requests, nextCursor: page.nextCursor };
    },
    idOf: (r) => r.id,
    pageSize: PAGE,
    deps: [scope, JSON.stringify(filter)],
  });
  const allSelected = rows.length > 0 && rows.every((r) => selected.has(r.id));

  return (
    <main aria-labelledby="active-access-title">
      <h2 id="active-access-title">Active access</h2>
      {isAdmin && (
        <div role="radiogroup" aria-label="Whose access" className="scope">
          <label><input type="radio" name="scope" checked={scope === 'all'} onChange={() => setScope('all')} /> Everyone's</label>
          <label><input type="radio" name="scope" checked={scope === 'approved-by-me'} onChange={() => setScope('approved-by-me')} /> Approved by me</label>
        </div>
      )}
      {!isAdmin && <p>Access you approved, which you may revoke.</p>}
      <form className="filters" aria-label="Filters" onSubmit={(e) => { e.preventDefault(); setFilter({ ...draft }); }}>
        {FILTERS.map(([key, label]) => (
          <label key={key}>{label} <input name={key} value={draft[key] ?? ''} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} /></label>
        ))}
        <button type="submit">Apply filters</button>
      </form>
      {notice && <p role="status">{notice}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions">
        <button type="button" className="danger" disabled={selected.size === 0} onClick={() => setRevoking([...selected])}>Revoke selected ({selected.size})</button>
        {isAdmin && scope === 'all' && <button type="button" className="danger" onClick={() => setPanic(true)}>Revoke all matching…</button>}
      </div>
      {!loaded && <p aria-busy="true">Loading…</p>}
      {loaded && rows.length === 0 && !error && <p>No active access matches.</p>}
      {rows.length > 0 && (
        <table aria-label="Active access">
          <thead>
            <tr>
              <th><input type="checkbox" aria-label="Select all shown" checked={allSelected} onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((r) => r.id)))} /></th>
              <th>User</th><th>Flow</th><th>Access</th><th>Labels</th><th>Status</th><th>Expires</th><th />
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-request-id={r.id}>
                <td><input type="checkbox" aria-label={`Select ${r.requester} ${r.flowName}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} /></td>
                <td>{r.requester}</td>
                <td>{r.flowName}</td>
                <td>{r.entitlements.map(entitlementText).join(', ')}</td>
                <td>{r.labels.join(', ')}</td>
                <td><span className={`badge status-${r.status}`}>{statusText(r.status)}</span></td>
                <td>{r.expiresAt ? shortTime(r.expiresAt) : '—'}</td>
                <td><button type="button" className="danger" aria-label={`Revoke ${r.requester} ${r.flowName}`} onClick={() => setRevoking([r.id])}>Revoke</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && <button type="button" onClick={() => void load(true)}>Load more</button>}
      <RevokeSelectionDialog
        open={revoking !== null} onOpenChange={(o) => { if (!o) setRevoking(null); }} ids={revoking ?? []}
        onDone={(failed) => {
          setNotice(failed.length ? `Could not revoke ${failed.map((f) => `${f.id}: ${f.error}`).join('; ')}` : 'Revoked.');
          void load(false);
        }}
      />
      {isAdmin && (
        <RevokeAllDialog open={panic} onOpenChange={setPanic} admin={admin} filter={filter} onDone={(m) => { setNotice(m); void load(false); }} />
      )}
    </main>
  );
}
