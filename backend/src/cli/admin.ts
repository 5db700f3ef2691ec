// Client verbs on the targets as a whole: revoke-all and reconcile (admin), each
// integration's type and health, and the notification outbox (admin).

import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import { printTable } from './format.ts';
import type { NotificationView } from '../../../common/api/types.ts';

export const revokeAll: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const body: Record<string, unknown> = {};
  for (const k of ['user', 'flow', 'integration', 'label', 'resource', 'reason'] as const) if (v[k]) body[k] = v[k];
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

/** `lapse notifications [--status S]`: the outbox (admin); `lapse notifications retry KEY`: a failed one again. */
export const notifications: Verb = async ([sub, key], v, o) => {
  const api = apiClient(v);
  if (sub === 'retry') {
    await api.post(`/api/v1/notifications/${encodeURIComponent(need(key, 'KEY'))}/retry`, {});
    o.line(`notification ${key} is pending again`);
    return 0;
  }
  if (sub !== undefined) throw new UsageError(`unknown notifications command "${sub}"; expected retry KEY`);
  const result = await api.get<{ notifications: NotificationView[] }>(`/api/v1/notifications${v.status ? `?status=${encodeURIComponent(v.status)}` : ''}`);
  emitter(v, o)(result, () => printTable(o.line, ['key', 'event', 'channel', 'recipient', 'status', 'attempts', 'created', 'last error'], result.notifications.map((n) => [
    n.key.slice(0, 12), n.event, n.channel, n.recipient ?? '-', n.status, String(n.attempts), n.createdAt, n.lastError ?? '-',
  ])));
  return 0;
};
