// Request, grant and job records: the durable state of the engine. Pure types.

/** One (integration, resource type, resource, permission): the unit granted and revoked. */
export interface Entitlement {
  integration: string;
  resourceType: string;
  /** The resource's path inside its integration: `name`, or `parent/name`. */
  resource: string;
  permission: string;
}

export function entitlementKey(e: Entitlement): string {
  return `${e.integration}\u0000${e.resourceType}\u0000${e.resource}\u0000${e.permission}`;
}

export function formatEntitlement(e: Entitlement): string {
  return `${e.integration}/${e.resourceType}:${e.resource}#${e.permission}`;
}

import type { RequestStatus, GrantStatus } from '../../../common/request-status.ts';
export { REQUEST_STATUSES, GRANT_STATUSES, type RequestStatus, type GrantStatus } from '../../../common/request-status.ts';

/** Statuses in which the request's access may exist on a target. */
export const HOLDING_STATUSES: readonly RequestStatus[] = ['granting', 'active', 'revoking'];
/**
 * Statuses in which a request's entitlements cover the same entitlements of its requester's
 * other requests (the overlap check): a revoking request covers nothing any more.
 */
export const coversEntitlements = (status: RequestStatus): boolean => status === 'granting' || status === 'active';
/** Statuses after which nothing more happens. */
export const FINAL_STATUSES: readonly RequestStatus[] = ['expired', 'revoked', 'rejected', 'canceled', 'failed', 'revoke_canceled', 'timed_out'];

/** The people who may approve one approver group of a pending request, fixed when it was made. */
export interface ApproverGroupSnapshot {
  description: string;
  users: string[];
}

export interface Decision {
  approver: string;
  decision: 'approve' | 'deny';
  reason: string | null;
  at: number;
  /** What the decision was about: the request itself, or extension number N. */
  subject: 'request' | `extension:${number}`;
}

export interface PendingExtension {
  number: number;
  durationMs: number;
  justification: string | null;
  requestedAt: number;
}

export type EndReason = 'expiry' | 'self' | 'approver' | 'admin' | 'revoke-all' | 'condition' | 'grant-failed' | 'user-removed' | 'timed-out' | 'integration-removed';

export interface RequestRecord {
  id: string;
  requester: string;
  flowId: string;
  bundleId: string | null;
  status: RequestStatus;
  entitlements: Entitlement[];
  /** null = indefinite. */
  durationMs: number | null;
  justification: string | null;
  labels: string[];
  breakGlass: boolean;
  createdAt: number;
  updatedAt: number;
  /** Requested start; null = as soon as approved. */
  startAt: number | null;
  grantedAt: number | null;
  expiresAt: number | null;
  endedAt: number | null;
  endReason: EndReason | null;
  endedBy: string | null;
  /** Reason given for a denial, revoke or mark-revoke-canceled. */
  endNote: string | null;
  approverGroups: ApproverGroupSnapshot[];
  approvalMode: 'automatic' | 'anyOf' | 'allOf';
  decisions: Decision[];
  extensions: number;
  pendingExtension: PendingExtension | null;
  error: string | null;
  /** Optimistic concurrency: every update increments it. */
  version: number;
}

/** A request after an update: the fields set, and the next version (the store applies exactly this). */
export function applyRequestUpdate(base: RequestRecord, set: Partial<Omit<RequestRecord, 'id' | 'version'>>): RequestRecord {
  return { ...base, ...set, version: base.version + 1 };
}

export interface GrantRecord {
  requestId: string;
  integration: string;
  status: GrantStatus;
  entitlements: Entitlement[];
  /** Sealed access details (credentials) for the requester; opaque to the store. */
  accessDetails: Record<string, string> | null;
  attempts: number;
  lastError: string | null;
  grantedAt: number | null;
  revokedAt: number | null;
}

/** A request and its grants, as of one moment. */
export interface RequestWithGrants {
  request: RequestRecord;
  grants: GrantRecord[];
}

/** start, grant, expire, revoke; and while a request (or an extension) waits for approval: its timeout, and the approvers' reminder. */
export type JobKind = 'start' | 'grant' | 'expire' | 'revoke' | 'timeout' | 'remind';

/**
 * A job's id: its request's id first, then the kind and, for a grant or revoke, the
 * integration. A request's jobs so sort together, and the SQLite store finds them by that
 * prefix (jobIdRange) instead of keeping an index for it.
 */
export function jobId(kind: JobKind, requestId: string, integration = ''): string {
  return `${requestId}:${kind}:${integration}`;
}

/** Every id jobId can give for this request lies in [from, to). */
export function jobIdRange(requestId: string): { from: string; to: string } {
  return { from: `${requestId}:`, to: `${requestId};` };
}

export interface JobRecord {
  /** jobId(kind, requestId, integration); for start and expire jobs jobId(kind, requestId). */
  id: string;
  kind: JobKind;
  requestId: string;
  /** For grant and revoke: which integration; null for the other kinds. */
  integration: string | null;
  /** For expire: the expiry warnings still ahead, in ms before it, latest first; null for the other kinds. */
  warningOffsetsMs: number[] | null;
  dueAt: number;
  attempts: number;
  lastError: string | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
}

export interface Favorite {
  id: string;
  owner: string;
  name: string;
  flowId: string;
  bundleId: string | null;
  entitlements: Entitlement[];
  durationMs: number | null;
  justification: string | null;
  createdAt: number;
}

/** Whether approvers may decide on the request now: it awaits approval, or an extension of it does. */
export const awaitsDecision = (r: RequestRecord): boolean => r.status === 'pending' || r.pendingExtension !== null;
