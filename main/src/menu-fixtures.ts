// Catalog, favorites and requests shaped as the API returns them, for the menu tests and
// the menu benchmark.

import type { AccessRequest, CatalogFlow, Entitlement, Favorite } from '../../common/lapse-api.ts';

export const ent = (resource: string, permission: string, resourceType = 'database'): Entitlement => ({ integration: 'demo', resourceType, resource, permission });

export function flow(id: string, over: Partial<CatalogFlow> = {}): CatalogFlow {
  return {
    id, name: id, description: '', kind: 'self-serve', available: true, reason: null,
    entitlements: [ent('app', 'read')], bundles: [], defaultDuration: '1h', maxDuration: '8h',
    approval: 'automatic', requireJustification: false, requireMfa: false, breakGlass: false, labels: [], integrationHealth: [], ...over,
  };
}

export function favorite(id: string, flowId: string, over: Partial<Favorite> = {}): Favorite {
  return { id, name: id, flowId, bundleId: null, entitlements: [ent('app', 'read')], duration: '1h', justification: null, createdAt: null, ...over };
}

export function request(id: string, over: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id, requester: 'alice', flowId: 'f', flowName: 'F', bundleId: null, bundleName: null, status: 'active',
    entitlements: [ent('prod-db', 'read')], duration: '1h', justification: null, labels: [], breakGlass: false,
    createdAt: '2026-01-05T11:00:00.000Z', startAt: null, grantedAt: '2026-01-05T11:00:00.000Z', expiresAt: null,
    endedAt: null, endReason: null, endedBy: null, endNote: null, approvalMode: 'automatic', approverGroups: [], decisions: [],
    approverReasonRequired: false, yourApproverRoles: [], extensions: 0, maxExtensions: 2, pendingExtension: null, error: null,
    grants: [{ integration: 'demo', status: 'active', entitlements: [], attempts: 1, lastError: null, grantedAt: null, revokedAt: null, accessDetails: { user: 'u1', password: 'p' } }],
    ...over,
  };
}
