// Client verbs on the targets as a whole: revoke-all and reconcile (admin), and each
// integration's type and health.

import { apiClient, emitter, type Verb } from './args.ts';

export const revokeAll: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const body: Record<string, unknown> = {};
  for (const k of ['user', 'flow', 'integration', 'label', 'reason'] as const) if (v[k]) body[k] = v[k];
  const result = await api.post<{ revoked: string[]; failed: { id: string; error: string }[] }>('/api/v1/admin/revoke-all', body);
  emitter(v, o)(result, () => {
    o.line(`revoking ${result.revoked.length} request(s)`);
    for (const f of result.failed) o.line(`  could not revoke ${f.id}: ${f.error}`);
  });
  return result.failed.length ? 1 : 0;
};

interface ReconcileReport {
  integrations: { integration: string; listed: number; fixed: number; failed: number; error: string | null }[];
  fixes: { integration: string; account: string | null; user: string; entitlements: string[]; ok: boolean; error: string | null }[];
}

export const reconcile: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const report = await api.post<ReconcileReport>('/api/v1/admin/reconcile', {});
  emitter(v, o)(report, () => {
    for (const i of report.integrations) {
      o.line(`${i.integration}: ${i.error ? `not reconciled: ${i.error}` : `${i.listed} listed, ${i.fixed} removed${i.failed ? `, ${i.failed} failed` : ''}`}`);
    }
    for (const f of report.fixes) {
      o.line(`  ${f.ok ? 'removed' : 'FAILED to remove'} ${f.account ?? `${f.user}'s`} on ${f.integration}: ${f.entitlements.join(', ')}${f.error ? ` (${f.error})` : ''}`);
    }
  });
  return report.fixes.some((f) => !f.ok) || report.integrations.some((i) => i.error) ? 1 : 0;
};

export const integrations: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const result = await api.get<{ integrations: { id: string; type: string; health: { ok: boolean; checkedAt: string | null; error: string | null } }[] }>('/api/v1/integrations?check=true');
  emitter(v, o)(result, () => {
    for (const i of result.integrations) o.line(`${i.id} (${i.type}): ${i.health.ok ? 'ok' : `UNHEALTHY: ${i.health.error}`}`);
  });
  return result.integrations.every((i) => i.health.ok) ? 0 : 1;
};
