// Rows of the store's tables as records: the same columns in SQLite and PostgreSQL.

import type { JobRecord } from '../domain/request.ts';
import type { ProviderAuthentication } from '../domain/sign-in.ts';
import type { AuditEvent, MfaEnrolment, ProvisionedUser, Renewal, SessionRecord, SignInAttempt, TokenRecord } from './store.ts';

type Row = Record<string, unknown>;

export function jobFromRow(r: Row): JobRecord {
  return {
    id: String(r.id),
    kind: r.kind as JobRecord['kind'],
    requestId: String(r.request_id),
    integration: r.integration === null ? null : String(r.integration),
    warningOffsetsMs: r.warning_offsets_ms === null ? null : (JSON.parse(String(r.warning_offsets_ms)) as number[]),
    dueAt: Number(r.due_at),
    attempts: Number(r.attempts),
    lastError: r.last_error === null ? null : String(r.last_error),
    leaseOwner: r.lease_owner === null ? null : String(r.lease_owner),
    leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
  };
}

/** A job's warning offsets as its warning_offsets_ms column holds them: a JSON array, or null. */
export function warningOffsetsColumn(j: JobRecord): string | null {
  return j.warningOffsetsMs === null ? null : JSON.stringify(j.warningOffsetsMs);
}

export function auditFromRow(r: Row): AuditEvent {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    actor: String(r.actor),
    action: String(r.action),
    requestId: r.request_id === null ? null : String(r.request_id),
    data: JSON.parse(String(r.data)) as Record<string, unknown>,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

export function tokenFromRow(r: Row): TokenRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    name: String(r.name),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    kind: r.kind as TokenRecord['kind'],
    // Only where single sign-on made the token.
    ...(r.authenticated_at != null ? { authentication: authenticationFromRow(r) } : {}),
  };
}

/** The authentication columns of a session or token row (authenticated_at, acr, amr as JSON). */
function authenticationFromRow(r: Row): ProviderAuthentication | null {
  if (r.authenticated_at === null || r.authenticated_at === undefined) return null;
  return { at: Number(r.authenticated_at), acr: r.acr === null ? null : String(r.acr), amr: r.amr === null ? [] : (JSON.parse(String(r.amr)) as string[]) };
}

/** The values of the authentication columns: authenticated_at, acr, amr. */
export function authenticationColumns(a: ProviderAuthentication | null | undefined): [number | null, string | null, string | null] {
  return a ? [a.at, a.acr, JSON.stringify(a.amr)] : [null, null, null];
}

const numberOrNull = (v: unknown) => (v === null ? null : Number(v));
const stringOrNull = (v: unknown) => (v === null ? null : String(v));

export function sessionFromRow(r: Row): SessionRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    createdAt: Number(r.created_at),
    lastSeenAt: Number(r.last_seen_at),
    expiresAt: Number(r.expires_at),
    idleTimeoutMs: Number(r.idle_timeout_ms),
    csrfHash: String(r.csrf_hash),
    idToken: stringOrNull(r.id_token),
    revokedAt: numberOrNull(r.revoked_at),
    revokedReason: stringOrNull(r.revoked_reason),
    authentication: authenticationFromRow(r),
  };
}

export function signInAttemptFromRow(r: Row): SignInAttempt {
  return {
    state: String(r.state),
    nonce: String(r.nonce),
    codeVerifier: String(r.code_verifier),
    returnTo: String(r.return_to),
    createdAt: Number(r.created_at),
    expiresAt: Number(r.expires_at),
    maxAgeSeconds: numberOrNull(r.max_age_seconds ?? null),
  };
}

/** A provisioned user's groups and attributes are JSON text (an array, an object of strings). */
export function provisionedUserFromRow(r: Row): ProvisionedUser {
  return {
    id: String(r.id),
    issuer: String(r.issuer),
    subject: String(r.subject),
    email: String(r.email),
    name: stringOrNull(r.name),
    groups: JSON.parse(String(r.groups)) as string[],
    manager: stringOrNull(r.manager),
    attributes: JSON.parse(String(r.attributes)) as Record<string, string>,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastSignInAt: Number(r.last_sign_in_at),
    disabledAt: numberOrNull(r.disabled_at),
  };
}

export function mfaEnrolmentFromRow(r: Row): MfaEnrolment {
  return {
    userId: String(r.user_id),
    secret: String(r.secret),
    state: r.state === 'confirmed' ? 'confirmed' : 'pending',
    createdAt: Number(r.created_at),
    confirmedAt: numberOrNull(r.confirmed_at),
  };
}

export function renewalFromRow(r: Row): Renewal {
  return { refreshToken: stringOrNull(r.refresh_token), renewAt: numberOrNull(r.renew_at), error: stringOrNull(r.renewal_error) };
}
