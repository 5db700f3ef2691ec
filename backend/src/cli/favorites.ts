// `lapse favorites`: list favorites and recent requests to save, add or save one, request
// from one, delete one.

import { apiClient, emitter, need, UsageError, type Verb } from './args.ts';
import { parseEntitlement, printRequest, printTable } from './format.ts';
import type { RequestJson } from './requests.ts';

export const favorites: Verb = async (args, v, o) => {
  const api = apiClient(v);
  const emit = emitter(v, o);
  const sub = args[0] ?? 'list';
  if (sub === 'list') {
    const data = await api.get<{ favorites: { id: string; name: string; flowId: string; duration: string }[]; suggestions: { requestId: string; flowId: string; duration: string }[] }>('/api/v1/favorites');
    emit(data, () => {
      printTable(o.line, ['favorite', 'name', 'flow', 'duration'], data.favorites.map((f) => [f.id, f.name, f.flowId, f.duration]));
      if (data.suggestions.length) {
        o.line('');
        o.line('recent (save with `lapse favorites save REQUEST_ID`):');
        printTable(o.line, ['request', 'flow', 'duration'], data.suggestions.map((s) => [s.requestId, s.flowId, s.duration]));
      }
    });
    return 0;
  }
  if (sub === 'add') {
    const body: Record<string, unknown> = { name: need(v.name, '--name'), flowId: need(args[1], 'FLOW') };
    if (v.entitlement?.length) body.entitlements = v.entitlement.map(parseEntitlement);
    if (v.bundle) body.bundleId = v.bundle;
    if (v.duration) body.duration = v.duration;
    if (v.justification) body.justification = v.justification;
    const f = await api.post<{ id: string; name: string }>('/api/v1/favorites', body);
    emit(f, () => o.line(`saved favorite ${f.id} (${f.name})`));
    return 0;
  }
  if (sub === 'save') {
    const f = await api.post<{ id: string; name: string }>('/api/v1/favorites', { fromRequestId: need(args[1], 'REQUEST_ID'), ...(v.name ? { name: v.name } : {}) });
    emit(f, () => o.line(`saved favorite ${f.id} (${f.name})`));
    return 0;
  }
  if (sub === 'request') {
    const body: Record<string, unknown> = {};
    if (v.justification) body.justification = v.justification;
    if (v.mfa) body.mfaCode = v.mfa;
    const r = await api.post<RequestJson>(`/api/v1/favorites/${encodeURIComponent(need(args[1], 'FAVORITE_ID'))}/request`, body);
    emit(r, () => printRequest(o.line, r));
    return 0;
  }
  if (sub === 'delete') {
    await api.delete(`/api/v1/favorites/${encodeURIComponent(need(args[1], 'FAVORITE_ID'))}`);
    o.line('deleted');
    return 0;
  }
  throw new UsageError('expected: lapse favorites list|add|save|request|delete');
};
