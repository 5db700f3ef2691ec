// The approver inbox: every pending request the caller may decide, with what is asked and
// why they are an approver; approve or deny with a reason. Rows are memoized: a live update
// re-renders only the row that changed.

import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useState } from 'react';
import { errorDetail, type AccessRequest } from '../../../common/lapse-api.ts';
import { useApprovals, useSession, theApi } from '../stores.ts';
import { integrationsOf, permissionsOf, resourcesOf, requestTitle, shortTime } from '../format.ts';
import { ReasonDialog } from '../components/dialogs.tsx';
import { WindowList } from '../components/window-list.tsx';

const keyOf = (r: AccessRequest) => r.id;

type Decide = (r: AccessRequest, verb: 'Approve' | 'Deny') => void;

const InboxRow = memo(function InboxRow({ r, onDecide, index, total, focused }: { r: AccessRequest; onDecide: Decide; index: number; total: number; focused: boolean }) {
  const titleId = `inbox-${r.id}-title`;
  const ext = r.pendingExtension;
  return (
    <article className={focused ? 'card inbox-row focused' : 'card inbox-row'} aria-current={focused || undefined} aria-labelledby={titleId} aria-posinset={index + 1} aria-setsize={total} data-request-id={r.id}>
      <header>
        <h3 id={titleId}>{r.requester} · {requestTitle(r)}</h3>
        <span className="badge">{ext ? `extension by ${ext.duration}` : r.duration}</span>
        {r.breakGlass && <span className="badge warn">break-glass</span>}
      </header>
      <dl className="facts">
        <dt>Requester</dt><dd>{r.requester}</dd>
        <dt>Flow</dt><dd>{r.flowName}</dd>
        {r.bundleName && <><dt>Bundle</dt><dd>{r.bundleName}</dd></>}
        <dt>Integrations</dt><dd>{integrationsOf(r.entitlements).join(', ')}</dd>
        <dt>Resources</dt><dd>{resourcesOf(r.entitlements).join(', ')}</dd>
        <dt>Permissions</dt><dd>{permissionsOf(r.entitlements).join(', ')}</dd>
        <dt>Duration</dt><dd>{ext ? `${ext.duration} more (extension ${ext.number})` : r.duration}</dd>
        <dt>Justification</dt><dd>{(ext ? ext.justification : r.justification) ?? '—'}</dd>
        <dt>You approve as</dt><dd>{r.yourApproverRoles.join('; ') || '—'}</dd>
        <dt>Requested</dt><dd>{shortTime(ext ? ext.requestedAt : r.createdAt)}</dd>
      </dl>
      <div className="actions">
        <button type="button" className="primary" aria-label={`Approve request by ${r.requester}: ${r.flowName}`} onClick={() => onDecide(r, 'Approve')}>Approve</button>
        <button type="button" className="danger" aria-label={`Deny request by ${r.requester}: ${r.flowName}`} onClick={() => onDecide(r, 'Deny')}>Deny</button>
      </div>
    </article>
  );
});

/** The list alone (no loading): used by the view and by the benchmark page. */
export function InboxList(props: { list: AccessRequest[]; onDecide: Decide; onCommit?: () => void; focusId?: string }) {
  useLayoutEffect(() => props.onCommit?.());
  if (props.list.length === 0) return <p className="empty">Nothing waits for your decision.</p>;
  return (
    <WindowList
      label="Pending approvals" className="list" items={props.list} getKey={keyOf} estimate={250}
      renderItem={(r, i) => <InboxRow key={r.id} r={r} onDecide={props.onDecide} index={i} total={props.list.length} focused={r.id === props.focusId} />}
    />
  );
}

/**
 * `focusId` (from `#/inbox?request=<id>`, e.g. a notification's click) puts that request
 * first and marks it. `onCommit` runs after each commit of the list (the benchmark's marker
 * that rows are in the DOM).
 */
export function InboxView({ onCommit, focusId }: { onCommit?: (rows: number) => void; focusId?: string } = {}) {
  const all = useApprovals((s) => s.list);
  const list = useMemo(() => {
    const i = focusId ? all.findIndex((r) => r.id === focusId) : -1;
    return i <= 0 ? all : [all[i]!, ...all.slice(0, i), ...all.slice(i + 1)];
  }, [all, focusId]);
  const loaded = useApprovals((s) => s.loaded);
  const me = useSession((s) => s.me);
  const [deciding, setDeciding] = useState<{ r: AccessRequest; verb: 'Approve' | 'Deny' } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    useApprovals.getState().load().catch((err) => setError(errorDetail(err)));
  }, []);
  const onDecide = useCallback<Decide>((r, verb) => setDeciding({ r, verb }), []);
  const submit = async (reason: string) => {
    if (!deciding || !me) return;
    const api = theApi();
    const after = deciding.verb === 'Approve' ? await api.approve(deciding.r.id, reason || undefined) : await api.deny(deciding.r.id, reason || undefined);
    useApprovals.getState().apply(after, me.id);
  };
  return (
    <main aria-labelledby="inbox-title">
      <h2 id="inbox-title">Approvals{loaded ? ` (${list.length})` : ''}</h2>
      {error && <p role="alert" className="error">{error}</p>}
      {loaded && focusId && !all.some((r) => r.id === focusId) && <p role="status" className="hint">That request no longer waits for your decision.</p>}
      {loaded ? <InboxList list={list} focusId={focusId} onDecide={onDecide} onCommit={onCommit && (() => onCommit(list.length))} /> : <p aria-busy="true">Loading…</p>}
      {deciding && (
        <ReasonDialog
          open onOpenChange={(open) => !open && setDeciding(null)}
          verb={deciding.verb} subject={`${deciding.r.requester} · ${requestTitle(deciding.r)}`}
          required={deciding.r.approverReasonRequired} onSubmit={submit}
        />
      )}
    </main>
  );
}
