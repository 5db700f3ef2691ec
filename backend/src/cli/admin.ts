// Client verbs on the targets as a whole: revoke-all, stuck revocations and reconcile (admin), each
// integration's type, health and discovery, the inventory of resources, and the notification
// outbox (admin).

import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import { printTable } from './format.ts';
import type {
  BulkMarkRevokeCanceledResult, BulkRetryResult, IntegrationList, NotificationView, ResourceList, ResourceSyncResult, RevokeAllPreview, StuckRevocationList,
} from '../../../common/api/types.ts';

/**
 * The panic button: previews what the filters match (requests, grants, people, grants per
 * integration); with --yes, revokes them, provided the server still counts as many (else 409
 * and nothing is revoked: preview again).
 */
export const revokeAll: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const filter: Record<string, unknown> = {};
  for (const k of ['user', 'flow', 'integration', 'label', 'resource'] as const) if (v[k]) filter[k] = v[k];
  const preview = await api.post<RevokeAllPreview>('/api/v1/admin/revoke-all/preview', filter);
  if (!v.yes) {
    emitter(v, o)(preview, () => {
      o.line(`would revoke ${preview.requests} request(s): ${preview.grants} grant(s) of ${preview.users} person(s)`);
      for (const i of preview.byIntegration) o.line(`  ${i.integration}: ${i.grants} grant(s)`);
      o.line(preview.requests ? 'nothing revoked yet: run again with --yes (and --reason TEXT) to revoke them' : 'nothing matches');
    });
    return 0;
  }
  const body = { ...filter, ...(v.reason ? { reason: v.reason } : {}), expectRequests: preview.requests };
  const result = await api.post<{ revoked: string[]; failed: { id: string; error: string }[] }>('/api/v1/admin/revoke-all', body);
  emitter(v, o)(result, () => {
    o.line(`revoking ${result.revoked.length} request(s)`);
    for (const f of result.failed) o.line(`  could not revoke ${f.id}: ${f.error}`);
  });
  return result.failed.length ? 1 : 0;
};

/** Requests stuck in revoking: attempts, last error, next retry (admin), a page at a time. */
export const stuck: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const page = await api.get<StuckRevocationList>(`/api/v1/admin/stuck-revocations${v.cursor ? `?${new URLSearchParams({ cursor: v.cursor })}` : ''}`);
  emitter(v, o)(page, () => {
    printTable(o.line, ['id', 'requester', 'attempts', 'next retry', 'last error'], page.revocations.map((s) => [
      s.request.id, 'requester' in s.request ? s.request.requester : '-', String(s.attempts), s.nextRetryAt ?? '-', s.lastError ?? '-',
    ]));
    if (page.nextCursor) o.line(`more: lapse stuck --cursor ${page.nextCursor}`);
  });
  return 0;
};

/** Retries now the revokes of these requests stuck in revoking (admin). */
export const retryRevoke: Verb = async (args, v, o) => {
  if (args.length === 0) throw new UsageError('REQUEST_ID is required (one or more)');
  const result = await apiClient(v).post<BulkRetryResult>('/api/v1/admin/retry-revoke', { ids: args });
  emitter(v, o)(result, () => {
    if (result.retried.length) o.line(`retrying now: ${result.retried.join(', ')}`);
    for (const f of result.failed) o.line(`  not retried ${f.id}: ${f.error}`);
  });
  return result.failed.length ? 1 : 0;
};

/** Stops retrying the revokes of these requests, once removed by hand (admin): one or several, one reason. */
export const markRevokeCanceled: Verb = async (args, v, o) => {
  if (args.length === 0) throw new UsageError('REQUEST_ID is required (one or more)');
  const reason = need(v.reason, '--reason TEXT');
  const result = await apiClient(v).post<BulkMarkRevokeCanceledResult>('/api/v1/admin/mark-revoke-canceled', { ids: args, reason });
  emitter(v, o)(result, () => {
    if (result.canceled.length) o.line(`marked revoke-canceled: ${result.canceled.join(', ')}`);
    for (const f of result.failed) o.line(`  not marked ${f.id}: ${f.error}`);
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
  const result = await api.get<IntegrationList>('/api/v1/integrations?check=true');
  emitter(v, o)(result, () => {
    for (const i of result.integrations) {
      o.line(`${i.id} (${i.type}): ${i.health.ok ? 'ok' : `UNHEALTHY: ${i.health.error}`}`);
      const d = i.discovery;
      if (d) {
        const when = d.lastSyncAt ? `last synced ${d.lastSyncAt}` : 'not synced yet';
        o.line(`  discovery: ${d.resourceCount} resource(s), ${when}${d.running ? ', syncing now' : ''}${d.lastError ? `; LAST SYNC FAILED: ${d.lastError}` : ''}`);
      }
    }
  });
  return result.integrations.every((i) => i.health.ok && !i.discovery?.lastError) ? 0 : 1;
};

/**
 * `lapse resources [--integration ID] [--type T] [--tag K=V] [--prefix P]`: the inventory with
 * where each resource came from (admins and approvers); `lapse resources sync [INTEGRATION]`:
 * discover now (admin).
 */
export const resources: Verb = async ([sub, id, ...rest], v, o) => {
  const api = apiClient(v);
  if (sub === 'sync') {
    if (rest.length > 0) throw new UsageError('expected at most one integration: lapse resources sync [INTEGRATION]');
    const result = await api.post<ResourceSyncResult>('/api/v1/admin/resources/sync', id === undefined ? {} : { integration: id });
    emitter(v, o)(result, () => {
      for (const r of result.results) {
        if (r.status === 'synced') o.line(`${r.integration}: synced, ${r.resourceCount} resource(s) (${r.added} new, ${r.removed} gone)`);
        else if (r.status === 'failed') o.line(`${r.integration}: FAILED: ${r.error}; the inventory stays as it was`);
        else o.line(`${r.integration}: skipped${r.error ? `: ${r.error}` : ''}`);
        for (const w of r.warnings) o.line(`  warning: ${w}`);
      }
    });
    return result.results.some((r) => r.status === 'failed') ? 1 : 0;
  }
  if (sub !== undefined) throw new UsageError(`unknown resources command "${sub}"; expected sync [INTEGRATION], or options only`);
  if (v.tag !== undefined && !v.tag.includes('=')) throw new UsageError(`--tag expects key=value; got "${v.tag}"`);
  const all: ResourceList['resources'] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams({ limit: '1000' });
    if (v.integration) q.set('integration', v.integration);
    if (v.type) q.set('type', v.type);
    if (v.tag) q.set('tag', v.tag);
    if (v.prefix) q.set('prefix', v.prefix);
    if (cursor) q.set('cursor', cursor);
    const page: ResourceList = await api.get<ResourceList>(`/api/v1/resources?${q}`);
    all.push(...page.resources);
    cursor = page.nextCursor;
  } while (cursor);
  emitter(v, o)({ resources: all }, () => printTable(o.line, ['integration', 'type', 'path', 'origin', 'tags', 'last seen'], all.map((r) => [
    r.integration, r.type, r.path, r.origin, Object.entries(r.tags).map(([k, val]) => `${k}=${val}`).join(' ') || '-', r.lastSeenAt ?? '-',
  ])));
  return 0;
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
