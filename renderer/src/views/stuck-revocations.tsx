// Stuck revocations (admins): requests in revoking with their failed attempts, last error and
// next retry; retry now, or mark the revoke canceled (the access was removed by hand on the
// target) one by one or for a selection, with a reason. Each id's outcome is shown: nothing
// half-done goes unsaid. A page at a time ("Load more").

import { useId, useState } from 'react';
import * as Dialog from '@radix-ui/react-dialog';
import { errorDetail } from '../../../common/lapse-api.ts';
import type { StuckRevocation } from '../../../common/lapse-api.ts';
import type { AdminApi } from '../api/http-api.ts';
import { shortTime } from '../format.ts';
import { Frame, useReasonForm } from '../components/dialogs.tsx';
import { useSelectablePages } from '../use-selectable-pages.ts';

/** When the next try is due: in seconds while it is near, else the time; "due now" once past. */
function retryText(at: string | null, now: number): string {
  if (at === null) return 'running now';
  const s = Math.round((Date.parse(at) - now) / 1000);
  if (s <= 0) return 'due now';
  return s < 120 ? `in ${s} s` : shortTime(at);
}

function CancelDialog(props: { open: boolean; onOpenChange(open: boolean): void; ids: string[]; onSubmit(reason: string): Promise<void> }) {
  const id = useId();
  const { reason, setReason, error, busy, submit } = useReasonForm(
    (text) => (text ? null : 'Say why (for example: access removed by hand on the target).'),
    props.onSubmit, props.onOpenChange,
  );
  const n = props.ids.length;
  return (
    <Frame open={props.open} onOpenChange={props.onOpenChange} title={n === 1 ? 'Mark revoke canceled' : `Mark ${n} revokes canceled`}
      description="Lapse stops retrying: do this only once the access is gone from the target.">
      <form onSubmit={submit} noValidate>
        <label htmlFor={`${id}-reason`}>Reason (required)</label>
        <textarea id={`${id}-reason`} rows={2} value={reason} onChange={(e) => setReason(e.target.value)} />
        {error && <p role="alert" className="field-error">{error}</p>}
        <div className="actions">
          <Dialog.Close asChild><button type="button">Cancel</button></Dialog.Close>
          <button type="submit" className="danger" disabled={busy}>Mark canceled</button>
        </div>
      </form>
    </Frame>
  );
}

export function StuckRevocationsView({ admin }: { admin: AdminApi }) {
  const [notice, setNotice] = useState<string | null>(null);
  const [canceling, setCanceling] = useState<string[] | null>(null);
  // The route answers pages of its own size (no limit is passed): a live refresh reads its first page again.
  const { rows, cursor, loaded, error, setError, selected, toggle, load } = useSelectablePages<StuckRevocation>({
    fetch: async (from) => {
      const page = await admin.stuckRevocations(from);
      return { items: page.revocations, nextCursor: page.nextCursor };
    },
    idOf: (r) => r.request.id,
    pageSize: 50,
    deps: [],
  });

  const outcome = (verb: string, done: string[], failed: { id: string; error: string }[]) =>
    `${verb} ${done.length}${failed.length ? `; not done: ${failed.map((f) => `${f.id} (${f.error})`).join(', ')}` : ''}.`;
  const retry = async (ids: string[]) => {
    try {
      const out = await admin.retryRevokes(ids);
      setNotice(outcome('Retrying', out.retried, out.failed));
    } catch (err) {
      setError(errorDetail(err));
    }
    await load(false);
  };

  return (
    <main aria-labelledby="stuck-title">
      <h2 id="stuck-title">Stuck revocations</h2>
      <p>Access whose revoke has not completed on its target: Lapse retries with backoff.</p>
      {notice && <p role="status">{notice}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      <div className="actions">
        <button type="button" onClick={() => void load(false)}>Refresh</button>
        <button type="button" disabled={selected.size === 0} onClick={() => void retry([...selected])}>Retry selected ({selected.size})</button>
        <button type="button" className="danger" disabled={selected.size === 0} onClick={() => setCanceling([...selected])}>Mark selected canceled ({selected.size})</button>
      </div>
      {!loaded && <p aria-busy="true">Loading…</p>}
      {loaded && rows.length === 0 && !error && <p>No revocation is stuck.</p>}
      {rows.length > 0 && (
        <table aria-label="Stuck revocations">
          <thead>
            <tr><th /><th>User</th><th>Flow</th><th>Attempts</th><th>Last error</th><th>Next retry</th><th /></tr>
          </thead>
          <tbody>
            {rows.map(({ request: r, attempts, lastError, nextRetryAt }) => {
              const flow = 'flowName' in r ? r.flowName : r.status;
              const who = 'requester' in r ? r.requester : r.id;
              return (
                <tr key={r.id} data-request-id={r.id}>
                  <td><input type="checkbox" aria-label={`Select ${who} ${flow}`} checked={selected.has(r.id)} onChange={() => toggle(r.id)} /></td>
                  <td>{who}</td>
                  <td>{flow}</td>
                  <td>{attempts}</td>
                  <td className="error">{lastError ?? '—'}</td>
                  <td>{retryText(nextRetryAt, Date.now())}</td>
                  <td>
                    <button type="button" aria-label={`Retry ${who} ${flow} now`} onClick={() => void retry([r.id])}>Retry now</button>
                    <button type="button" className="danger" aria-label={`Mark ${who} ${flow} canceled`} onClick={() => setCanceling([r.id])}>Mark canceled…</button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {cursor && <button type="button" onClick={() => void load(true)}>Load more</button>}
      <CancelDialog
        open={canceling !== null} onOpenChange={(o) => { if (!o) setCanceling(null); }} ids={canceling ?? []}
        onSubmit={async (reason) => {
          const out = await admin.markRevokeCanceled(canceling ?? [], reason);
          setNotice(outcome('Marked canceled:', out.canceled, out.failed));
          await load(false);
        }}
      />
    </main>
  );
}
