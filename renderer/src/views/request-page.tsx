// A request's own page (#/requests?id=<id>): what was asked, who could approve it, and its
// whole story from the audit — created, each decision with its reason, each grant per
// integration, warnings sent, extensions, the revoke and who did it. Shown to its requester,
// its approvers and admins (the server refuses anyone else). A request that ended without
// being used up (expired, revoked, denied, timed out) can be requested again, pre-filled.

import { useEffect, useState } from 'react';
import { errorDetail, type RequestStatus, type RequestTimeline } from '../../../common/lapse-api.ts';
import { theApi, useSession } from '../stores.ts';
import { navigate } from '../router.ts';
import { entitlementText, requestTitle, shortTime, statusText } from '../format.ts';

/** Statuses a request can be asked again from: it ended, and nothing of it is pending. */
export const AGAIN_STATUSES: readonly RequestStatus[] = ['expired', 'revoked', 'rejected', 'timed_out'];

export function RequestPageView({ id }: { id: string }) {
  const me = useSession((s) => s.me);
  const [data, setData] = useState<RequestTimeline | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!id) return setError('No request named: open a request from My access or Activity.');
    theApi().requestTimeline(id).then(setData, (err) => setError(errorDetail(err)));
  }, [id]);

  if (error) return <main aria-labelledby="rp-title"><h2 id="rp-title">Request</h2><p role="alert" className="error">{error}</p></main>;
  if (!data) return <main aria-busy="true"><p className="loading">Loading…</p></main>;
  const r = data.request;
  const again = r.requester === me?.id && AGAIN_STATUSES.includes(r.status);

  return (
    <main aria-labelledby="rp-title" data-request-id={r.id}>
      <header className="page-head">
        <h2 id="rp-title">{requestTitle(r)}</h2>
        <span className={`badge status-${r.status}`}>{statusText(r.status)}</span>
      </header>
      <dl className="facts">
        <dt>Request</dt><dd>{r.id}</dd>
        <dt>Requester</dt><dd>{r.requester}</dd>
        <dt>Flow</dt><dd>{r.flowName}{r.bundleName ? ` · bundle ${r.bundleName}` : ''}</dd>
        <dt>Access</dt><dd>{r.entitlements.map(entitlementText).join(', ')}</dd>
        <dt>Duration</dt><dd>{r.duration}</dd>
        {r.justification && <><dt>Justification</dt><dd>{r.justification}</dd></>}
        {r.labels.length > 0 && <><dt>Labels</dt><dd>{r.labels.join(', ')}</dd></>}
        {r.endedAt ? <><dt>Ended</dt><dd>{shortTime(r.endedAt)}{r.endedBy ? ` by ${r.endedBy}` : ''}</dd></> : r.expiresAt && <><dt>Expires</dt><dd>{shortTime(r.expiresAt)}</dd></>}
      </dl>
      {again && (
        <div className="actions">
          <button type="button" className="primary" onClick={() => navigate('request', { again: r.id })}>Request again</button>
        </div>
      )}

      <section aria-labelledby="rp-approvers">
        <h3 id="rp-approvers">Who could approve</h3>
        {r.approvalMode === 'automatic' || r.approverGroups.length === 0 ? <p>Approved automatically: no approver needed.</p> : (
          <>
            <p>{r.approvalMode === 'allOf' ? 'One approver of every group:' : 'Any one of:'}</p>
            <ul aria-label="Approvers">
              {r.approverGroups.map((g, i) => <li key={i}>{g.description}: {g.users.join(', ') || 'nobody'}</li>)}
            </ul>
          </>
        )}
        {r.waitingFor && <p>Waiting for {r.waitingFor}.</p>}
      </section>

      <section aria-labelledby="rp-timeline">
        <h3 id="rp-timeline">Timeline</h3>
        <ol className="timeline" aria-labelledby="rp-timeline">
          {data.entries.map((e) => (
            <li key={e.seq} className={`kind-${e.kind}`} data-action={e.action}>
              <time dateTime={e.at ?? undefined}>{shortTime(e.at)}</time>
              <span className="what">{e.text}</span>
              {e.reason && <span className="why">Reason: {e.reason}</span>}
            </li>
          ))}
        </ol>
      </section>
    </main>
  );
}
