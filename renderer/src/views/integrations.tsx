// Integrations (admins): each one's type, health, last check and last error; its resource
// count and last discovery for those that discover their resources ("declared only" for
// the others). "Check now" asks the server to check every integration at once.

import { useEffect, useState } from 'react';
import { errorDetail, type IntegrationList } from '../../../common/lapse-api.ts';
import { theApi } from '../stores.ts';
import { shortTime } from '../format.ts';

type Item = IntegrationList['integrations'][number];

export function IntegrationsView() {
  const [items, setItems] = useState<Item[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = () => theApi().integrations().then((list) => { setItems(list); setError(null); }, (err) => setError(errorDetail(err)));
  useEffect(() => {
    void load();
  }, []);

  return (
    <main aria-labelledby="int-title">
      <h2 id="int-title">Integrations</h2>
      <div className="actions"><button type="button" onClick={() => void load()}>Refresh</button></div>
      {error && <p role="alert" className="error">{error}</p>}
      {items && items.length === 0 && <p className="empty">No integration is configured.</p>}
      {items && items.length > 0 && (
        <table aria-labelledby="int-title">
          <thead>
            <tr><th scope="col">Integration</th><th scope="col">Type</th><th scope="col">Health</th><th scope="col">Last check</th><th scope="col">Last error</th><th scope="col">Resources</th><th scope="col">Last discovery</th></tr>
          </thead>
          <tbody>
            {items.map((i) => {
              const d = i.discovery;
              return (
                <tr key={i.id} data-integration={i.id}>
                  <td>{i.name}{i.name !== i.id ? ` (${i.id})` : ''}</td>
                  <td>{i.type}</td>
                  <td><span className={`badge ${i.health.ok ? 'status-active' : 'status-failed'}`}>{i.health.ok ? 'Healthy' : 'Failing'}</span></td>
                  <td>{i.health.checkedAt ? shortTime(i.health.checkedAt) : 'not yet'}</td>
                  <td className="error-text">{i.health.error ?? ''}</td>
                  <td>{d ? String(d.resourceCount) : 'declared only'}</td>
                  <td>
                    {d ? (d.running ? 'running now' : d.lastSyncAt ? shortTime(d.lastSyncAt) : 'never') : 'declared only'}
                    {d?.lastError ? <span className="error-text"> — {d.lastError}</span> : null}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </main>
  );
}
