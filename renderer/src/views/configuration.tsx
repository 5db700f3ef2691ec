// Configuration (admins): which file the server runs on, since when, and its last reload —
// when, who asked, applied (with what changed) or refused (with each error, file:line where
// the file is at fault). "Reload now" re-reads the file. Only the path and the results are
// shown, never a value of the file.

import { useEffect, useState } from 'react';
import { errorDetail, type ConfigStatus } from '../../../common/lapse-api.ts';
import { theApi } from '../stores.ts';
import { shortTime } from '../format.ts';

type Changes = NonNullable<NonNullable<ConfigStatus['lastReload']>['changes']>;

/** What a reload changed, a line each ("Nothing changed." when nothing did). */
export function changeLines(c: Changes): string[] {
  const lines: string[] = [];
  const ids = (xs: string[]) => xs.join(', ');
  if (c.integrations.added.length) lines.push(`Integrations added: ${ids(c.integrations.added)}`);
  if (c.integrations.changed.length) lines.push(`Integrations changed: ${c.integrations.changed.map((x) => `${x.id} (${x.parts.join(', ')})`).join('; ')}`);
  if (c.integrations.removed.length) lines.push(`Integrations removed: ${ids(c.integrations.removed)}`);
  for (const [what, n] of [['Flows', c.flows], ['Users', c.users]] as const) {
    if (n.added || n.removed) lines.push(`${what}: ${n.added} added, ${n.removed} removed`);
  }
  if (c.revoked.length) lines.push(`Requests revoked: ${ids(c.revoked)}`);
  if (c.leaving.length) lines.push(`Integrations kept until their revokes end: ${ids(c.leaving)}`);
  return lines.length ? lines : ['Nothing changed.'];
}

export function ConfigurationView() {
  const [status, setStatus] = useState<ConfigStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = () => theApi().configStatus().then(setStatus, (err) => setError(errorDetail(err)));
  useEffect(() => {
    void load();
  }, []);

  const reload = async () => {
    setBusy(true);
    setError(null);
    try {
      await theApi().reloadConfig();
    } catch {
      // A refusal is shown below, as the last reload's result.
    } finally {
      await load();
      setBusy(false);
    }
  };

  const last = status?.lastReload ?? null;
  return (
    <main aria-labelledby="cfg-title">
      <h2 id="cfg-title">Configuration</h2>
      {error && <p role="alert" className="error">{error}</p>}
      {status && (
        <dl className="facts" aria-label="Configuration in force">
          <dt>File</dt><dd><code>{status.file}</code></dd>
          <dt>In force since</dt><dd>{shortTime(status.loadedAt)}</dd>
          <dt>Server started</dt><dd>{shortTime(status.startedAt)}</dd>
        </dl>
      )}
      <div className="actions">
        <button type="button" className="primary" disabled={busy} onClick={() => void reload()}>Reload now</button>
      </div>
      <section aria-labelledby="cfg-last">
        <h3 id="cfg-last">Last reload</h3>
        {status && !last && <p className="empty">No reload since the server started.</p>}
        {last && (
          <div className="card" aria-label="Last reload result">
            <p>
              <span className={`badge ${last.ok ? 'status-active' : 'status-failed'}`}>{last.ok ? 'Applied' : 'Refused'}</span>{' '}
              {shortTime(last.at)} by {last.by}
            </p>
            {last.ok && last.changes && <ul aria-label="What changed">{changeLines(last.changes).map((l) => <li key={l}>{l}</li>)}</ul>}
            {!last.ok && (
              <>
                <p>The running configuration stays as it was. Fix the file and reload:</p>
                <ul aria-label="Errors" className="error">{last.errors.map((e, i) => <li key={i}>{e}</li>)}</ul>
              </>
            )}
          </div>
        )}
      </section>
    </main>
  );
}
