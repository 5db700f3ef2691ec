// The client verbs on access requests: catalog, request, status, approvals, approve, deny,
// revoke, mark-revoke-canceled, cancel and extend.

import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import { expiryText, parseEntitlement, printRequest, printTable } from './format.ts';

export type RequestJson = Parameters<typeof printRequest>[1];

export const catalog: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const data = await api.get<{ flows: { id: string; name: string; available: boolean; reason: string | null; approval: string; defaultDuration: string; maxDuration: string; entitlements: unknown[]; bundles: { id: string }[] }[] }>('/api/v1/catalog');
  emitter(v, o)(data, () => printTable(o.line, ['flow', 'available', 'approval', 'duration', 'max', 'entitlements', 'bundles'], data.flows.map((f) => [
    f.id, f.available ? 'yes' : `no: ${f.reason}`, f.approval, f.defaultDuration, f.maxDuration, String(f.entitlements.length), f.bundles.map((b) => b.id).join(', ') || '-',
  ])));
  return 0;
};

export const request: Verb = async (args, v, o) => {
  const api = apiClient(v);
  const flowId = need(args[0], 'FLOW');
  const body: Record<string, unknown> = { flowId };
  if (v.entitlement?.length) body.entitlements = v.entitlement.map(parseEntitlement);
  if (v.bundle) body.bundleId = v.bundle;
  if (v.duration) body.duration = v.duration;
  if (v.justification) body.justification = v.justification;
  if (v['start-at']) body.startAt = v['start-at'];
  if (v.mfa) body.mfaCode = v.mfa;
  if (v['break-glass']) body.breakGlass = true;
  if (!body.entitlements && !body.bundleId) {
    // Without a choice: everything the flow offers.
    const catalog = await api.get<{ flows: { id: string; entitlements: unknown[] }[] }>('/api/v1/catalog');
    const flow = catalog.flows.find((f) => f.id === flowId);
    if (!flow) throw new UsageError(`flow "${flowId}" is not in your catalog (lapse catalog lists it)`);
    body.entitlements = flow.entitlements;
  }
  const r = await api.post<RequestJson>('/api/v1/requests', body);
  emitter(v, o)(r, () => printRequest(o.line, r));
  return 0;
};

/** One request in detail, or a list of them (an ended one shows when it ended, not its expiry). */
export const status: Verb = async (args, v, o) => {
  const api = apiClient(v);
  const emit = emitter(v, o);
  if (args[0]) {
    const r = await api.get<RequestJson>(`/api/v1/requests/${encodeURIComponent(args[0])}`);
    emit(r, () => printRequest(o.line, r));
    return 0;
  }
  const qs = new URLSearchParams({ mine: v.all ? 'false' : 'true' });
  if (v.status) qs.set('status', v.status);
  if (v.cursor) qs.set('cursor', v.cursor);
  const data = await api.get<{ requests: RequestJson[]; nextCursor?: string | null }>(`/api/v1/requests?${qs}`);
  emit(data, () => {
    printTable(o.line, ['id', 'requester', 'flow', 'status', 'expires', 'entitlements'], data.requests.map((r) => [
      r.id, r.requester, r.flowId, r.status, expiryText(r), String(r.entitlements.length),
    ]));
    // The list comes a page at a time: say how to read the next one.
    if (data.nextCursor) o.line(`more: lapse status${v.all ? ' --all' : ''}${v.status ? ` --status ${v.status}` : ''} --cursor ${data.nextCursor}`);
  });
  return 0;
};

export const approvals: Verb = async (_args, v, o) => {
  const api = apiClient(v);
  const data = await api.get<{ approvals: RequestJson[]; nextCursor?: string | null }>(`/api/v1/approvals${v.cursor ? `?${new URLSearchParams({ cursor: v.cursor })}` : ''}`);
  emitter(v, o)(data, () => {
    printTable(o.line, ['id', 'requester', 'flow', 'duration', 'justification', 'why you'], data.approvals.map((r) => [
      r.id, r.requester, r.flowId, r.pendingExtension ? `extend +${r.pendingExtension.duration}` : r.duration, r.justification ?? '-', r.yourApproverRoles.join('; '),
    ]));
    if (data.nextCursor) o.line(`more: lapse approvals --cursor ${data.nextCursor}`);
  });
  return 0;
};

/** approve, deny and revoke: REQUEST_ID [--reason TEXT]. */
export function decision(action: 'approve' | 'deny' | 'revoke'): Verb {
  return async (args, v, o) => {
    const api = apiClient(v);
    const id = need(args[0], 'REQUEST_ID');
    const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(id)}/${action}`, v.reason ? { reason: v.reason } : {});
    emitter(v, o)(r, () => printRequest(o.line, r));
    return 0;
  };
}

export const cancel: Verb = async (args, v, o) => {
  const api = apiClient(v);
  const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(need(args[0], 'REQUEST_ID'))}/cancel`, {});
  emitter(v, o)(r, () => printRequest(o.line, r));
  return 0;
};

export const extend: Verb = async (args, v, o) => {
  const api = apiClient(v);
  const body: Record<string, unknown> = { duration: need(v.duration, '--duration') };
  if (v.justification) body.justification = v.justification;
  const r = await api.post<RequestJson>(`/api/v1/requests/${encodeURIComponent(need(args[0], 'REQUEST_ID'))}/extend`, body);
  emitter(v, o)(r, () => printRequest(o.line, r));
  return 0;
};
