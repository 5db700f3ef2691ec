// Records the store tests write: a request with every field set, the rest as given.

import type { RequestRecord } from '../domain/request.ts';

/** A pending, automatically approved request of alice's on flow `f` with no entitlements, unless `fields` say otherwise. */
export function requestRecord(id: string, fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id, requester: 'alice', flowId: 'f', bundleId: null, status: 'pending', entitlements: [], durationMs: 3_600_000, justification: null,
    labels: [], breakGlass: false, createdAt: 1, updatedAt: 1, startAt: null, grantedAt: null, expiresAt: null, endedAt: null, endReason: null,
    endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic', decisions: [], extensions: 0, pendingExtension: null, error: null,
    version: 1, ...fields,
  };
}
