// Activity (admins): the audit timeline, newest first, with filters (user, flow, integration,
// label, action, time range) kept in the address (#/activity?user=…), a page at a time
// ("Show more" follows the server's cursor), and the activity report (CSV) for the same
// filters. Each event about a request links to that request's page.

import { useEffect, useId, useState } from 'react';
import { errorDetail, type ActivityFilter, type AuditEventView } from '../../../common/lapse-api.ts';
import { theApi } from '../stores.ts';
import { navigate } from '../router.ts';
import { shortTime } from '../format.ts';

const PAGE = 50;
const TEXT_FILTERS = [
  ['user', 'User'],
  ['flow', 'Flow'],
  ['integration', 'Integration'],
  ['label', 'Label'],
  ['action', 'Action'],
] as const;

/** The filters the address names (unknown names ignored). */
export function filterOf(params: URLSearchParams): ActivityFilter {
  const f: ActivityFilter = {};
  for (const key of ['user', 'flow', 'integration', 'label', 'action', 'since', 'until'] as const) {
    const v = params.get(key)?.trim();
    if (v) f[key] = v;
  }
  return f;
}

/** `2026-12-07T10:30` (a datetime-local field, local time) ↔ ISO 8601. */
const toIso = (local: string): string | undefined => (local && !Number.isNaN(Date.parse(local)) ? new Date(local).toISOString() : undefined);
const toLocal = (isoText: string | undefined): string => {
  if (!isoText || Number.isNaN(Date.parse(isoText))) return '';
  const d = new Date(isoText);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

/** The data of an event in a line: `reason: "…"; integration: demo`. */
function dataText(data: Record<string, unknown>): string {
  return Object.entries(data)
    .filter(([, v]) => v !== null && v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('; ');
}

export function ActivityView({ params }: { params: URLSearchParams }) {
  const id = useId();
  const applied = filterOf(params);
  const [form, setForm] = useState({
    ...Object.fromEntries(TEXT_FILTERS.map(([k]) => [k, applied[k] ?? ''])),
    since: toLocal(applied.since), until: toLocal(applied.until),
  } as Record<(typeof TEXT_FILTERS)[number][0] | 'since' | 'until', string>);
  const [events, setEvents] = useState<AuditEventView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const load = async (from?: string) => {
    setBusy(true);
    setError(null);
    try {
      const page = await theApi().activity({ ...applied, limit: PAGE, ...(from ? { cursor: from } : {}) });
      setEvents((prev) => (from ? [...prev, ...page.events] : page.events));
      setCursor(page.nextCursor);
    } catch (err) {
      setError(errorDetail(err));
    } finally {
      setBusy(false);
      setLoaded(true);
    }
  };
  useEffect(() => {
    void load();
  }, []);

  const apply = (ev: React.FormEvent) => {
    ev.preventDefault();
    const next: Record<string, string> = {};
    for (const [k] of TEXT_FILTERS) if (form[k].trim()) next[k] = form[k].trim();
    const since = toIso(form.since);
    const until = toIso(form.until);
    if (since) next.since = since;
    if (until) next.until = until;
    navigate('activity', next);
  };

  const download = async () => {
    setError(null);
    setNotice(null);
    try {
      const csv = await theApi().activityCsv(applied);
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = 'lapse-activity.csv';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setNotice(`Report downloaded: ${Math.max(0, csv.trim().split('\r\n').length - 1)} rows.`);
    } catch (err) {
      setError(`The report could not be made: ${errorDetail(err)}`);
    }
  };

  const field = (k: keyof typeof form) => ({
    id: `${id}-${k}`,
    value: form[k],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value })),
  });
  const filtered = Object.keys(applied).length > 0;

  return (
    <main aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Activity</h2>
      <form onSubmit={apply} className="filters" aria-label="Activity filters">
        {TEXT_FILTERS.map(([k, label]) => (
          <div key={k}>
            <label htmlFor={`${id}-${k}`}>{label}</label>
            <input {...field(k)} placeholder={k === 'action' ? 'e.g. request.approved' : undefined} />
          </div>
        ))}
        <div>
          <label htmlFor={`${id}-since`}>From</label>
          <input type="datetime-local" {...field('since')} />
        </div>
        <div>
          <label htmlFor={`${id}-until`}>Until</label>
          <input type="datetime-local" {...field('until')} />
        </div>
        <div className="actions">
          {filtered && <button type="button" onClick={() => navigate('activity')}>Clear filters</button>}
          <button type="submit" className="primary">Apply filters</button>
        </div>
      </form>
      <div className="actions">
        <button type="button" onClick={() => void download()}>Download CSV report</button>
      </div>
      <p className="hint">The report has one row per request and integration, for the filters above (but for the action).</p>
      {notice && <p role="status">{notice}</p>}
      {error && <p role="alert" className="error">{error}</p>}
      {loaded && events.length === 0 && !error && <p className="empty">No activity{filtered ? ' matches these filters' : ' yet'}.</p>}
      {events.length > 0 && (
        <table aria-label="Activity">
          <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Request</th><th scope="col">Details</th></tr></thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.seq} data-seq={e.seq}>
                <td>{shortTime(e.at)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>{e.requestId ? <a href={`#/requests?${new URLSearchParams({ id: e.requestId })}`}>{e.requestId}</a> : ''}</td>
                <td className="data">{dataText(e.data)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <div className="actions">
          <button type="button" disabled={busy} onClick={() => void load(cursor)}>Show more</button>
        </div>
      )}
    </main>
  );
}
