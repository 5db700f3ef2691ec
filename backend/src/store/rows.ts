// Rows of the store's tables as records: the same columns in SQLite and PostgreSQL.

import type { JobRecord } from '../domain/request.ts';
import type { AuditEvent, TokenRecord } from './store.ts';

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
  };
}
