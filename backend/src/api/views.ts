// How records are shown over the API: ISO times, durations as text, access details only to
// the requester, approver lists only to those who may see them.

import type { GrantRecord, RequestRecord, Favorite, Entitlement } from '../domain/request.ts';
import type { CompiledConfig } from '../domain/catalog.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { AuditEvent } from '../store/store.ts';
import { approverRolesOf, waitingFor } from '../domain/approvals.ts';
import type { AccessRequest, AuditEventView, Favorite as FavoriteView } from '../../../common/api/types.ts';

/** An instant as ISO 8601; null for none, and for a number no date can hold (never throws). */
export const iso = (t: number | null): string | null => {
  if (t === null || !Number.isFinite(t)) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
};

/** Turns a grant's stored (sealed) access details into what the requester sees. */
export type AccessDetailsOpener = (grant: GrantRecord) => Record<string, string> | null;
const asStored: AccessDetailsOpener = (g) => g.accessDetails;

export function requestView(r: RequestRecord, grants: GrantRecord[], cfg: CompiledConfig, viewer: string, openDetails: AccessDetailsOpener = asStored): AccessRequest {
  const flow = cfg.flows.get(r.flowId);
  const isRequester = viewer === r.requester;
  return {
    id: r.id,
    requester: r.requester,
    flowId: r.flowId,
    flowName: flow?.name ?? r.flowId,
    bundleId: r.bundleId,
    bundleName: r.bundleId ? (cfg.bundles.get(r.bundleId)?.name ?? r.bundleId) : null,
    status: r.status,
    entitlements: r.entitlements,
    duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs),
    justification: r.justification,
    labels: r.labels,
    breakGlass: r.breakGlass,
    createdAt: iso(r.createdAt)!,
    startAt: iso(r.startAt),
    grantedAt: iso(r.grantedAt),
    expiresAt: iso(r.expiresAt),
    endedAt: iso(r.endedAt),
    endReason: r.endReason,
    endedBy: r.endedBy,
    endNote: r.endNote,
    approvalMode: r.approvalMode,
    approverGroups: r.approverGroups,
    waitingFor: waitingFor(r, flow?.settings.requesterCannotApproveOwn ?? true),
    decisions: r.decisions.map((d) => ({ ...d, at: iso(d.at)! })),
    approverReasonRequired: flow?.settings.requireApproverReason ?? false,
    yourApproverRoles: approverRolesOf(r, viewer).filter(() => !(isRequester && (flow?.settings.requesterCannotApproveOwn ?? true))),
    extensions: r.extensions,
    maxExtensions: flow?.settings.maxExtensions ?? 0,
    pendingExtension: r.pendingExtension && {
      number: r.pendingExtension.number,
      duration: formatDuration(r.pendingExtension.durationMs),
      justification: r.pendingExtension.justification,
      requestedAt: iso(r.pendingExtension.requestedAt)!,
    },
    error: r.error,
    grants: grants.map((g) => ({
      integration: g.integration,
      status: g.status,
      entitlements: g.entitlements,
      attempts: g.attempts,
      lastError: g.lastError,
      grantedAt: iso(g.grantedAt),
      revokedAt: iso(g.revokedAt),
      ...(isRequester ? { accessDetails: g.status === 'active' ? openDetails(g) : null } : {}),
    })),
  };
}

export function favoriteView(f: Favorite): FavoriteView {
  return {
    id: f.id,
    name: f.name,
    flowId: f.flowId,
    bundleId: f.bundleId,
    entitlements: f.entitlements,
    duration: f.durationMs === null ? 'indefinite' : formatDuration(f.durationMs),
    justification: f.justification,
    createdAt: iso(f.createdAt),
  };
}

export function auditView(e: AuditEvent): AuditEventView {
  return { seq: e.seq, at: iso(e.at), actor: e.actor, action: e.action, requestId: e.requestId, data: e.data, hash: e.hash };
}

const CSV_COLUMNS = [
  'request_id', 'requester', 'flow', 'bundle', 'integration', 'resources', 'permissions', 'status', 'grant_status',
  'justification', 'approvers', 'approver_reasons', 'break_glass', 'created_at', 'granted_at', 'expires_at', 'ended_at', 'end_reason', 'ended_by',
  'labels', 'revoke_canceled_reason',
];

function csvCell(value: string): string {
  // Quote every cell; neutralise spreadsheet formulas.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function activityCsvHeader(): string {
  return CSV_COLUMNS.join(',') + '\r\n';
}

/** One row per request and integration. */
export function activityCsvRows(r: RequestRecord, grants: GrantRecord[], cfg: CompiledConfig): string {
  const approvals = r.decisions.filter((d) => d.decision === 'approve');
  const rows: string[] = [];
  const byIntegration: { integration: string; entitlements: Entitlement[]; status: string }[] = grants.length
    ? grants
    : [{ integration: '', entitlements: r.entitlements, status: '' }];
  for (const g of byIntegration) {
    const resources = [...new Set(g.entitlements.map((e) => `${e.resourceType}:${e.resource}`))].join('; ');
    const permissions = [...new Set(g.entitlements.map((e) => e.permission))].join('; ');
    rows.push([
      r.id, r.requester, r.flowId, r.bundleId ? (cfg.bundles.get(r.bundleId)?.name ?? r.bundleId) : '', g.integration, resources, permissions,
      r.status, g.status, r.justification ?? '', approvals.map((d) => d.approver).join('; '),
      r.decisions.filter((d) => d.reason).map((d) => `${d.approver} (${d.decision}): ${d.reason}`).join('; '),
      r.breakGlass ? 'yes' : 'no', iso(r.createdAt) ?? '', iso(r.grantedAt) ?? '', iso(r.expiresAt) ?? '', iso(r.endedAt) ?? '', r.endReason ?? '', r.endedBy ?? '',
      r.labels.join('; '), r.status === 'revoke_canceled' ? (r.endNote ?? '') : '',
    ].map(csvCell).join(',') + '\r\n');
  }
  return rows.join('');
}
