// The audit stream's cursors in the SQLite store (table audit_stream, migration 12): one row
// per subscriber with the last event delivered to it, its failures and a lease. Each write is
// one statement on the store's connection, so it holds or fails whole; one process uses a
// SQLite store, so the lease only matters for the shape both stores share.

import type { AuditStreamCursor } from './store.ts';
import type { StatementCache } from './sqlite-connection.ts';

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** A row of audit_stream (the same columns in both stores) as a cursor. */
export function auditStreamFromRow(r: Row): AuditStreamCursor {
  return {
    subscriber: String(r.subscriber),
    deliveredSeq: Number(r.delivered_seq),
    deliveredAt: num(r.delivered_at),
    attempts: Number(r.attempts),
    retryAt: num(r.retry_at),
    lastError: r.last_error === null || r.last_error === undefined ? null : String(r.last_error),
    lastErrorAt: num(r.last_error_at),
    owner: r.owner === null || r.owner === undefined ? null : String(r.owner),
    leaseUntil: num(r.lease_until),
  };
}

export function claimAuditStream(sql: StatementCache, subscriber: string, owner: string, now: number, leaseUntil: number): AuditStreamCursor | null {
  const row = sql.get(
    `INSERT INTO audit_stream (subscriber, delivered_seq, attempts, owner, lease_until) VALUES (?, 0, 0, ?, ?)
     ON CONFLICT (subscriber) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
     WHERE audit_stream.owner IS NULL OR audit_stream.owner = excluded.owner OR audit_stream.lease_until IS NULL OR audit_stream.lease_until < ?
     RETURNING *`,
    subscriber, owner, leaseUntil, now,
  );
  return row ? auditStreamFromRow(row) : null;
}

export function advanceAuditStream(sql: StatementCache, subscriber: string, owner: string, seq: number, at: number): boolean {
  return sql.run(
    `UPDATE audit_stream SET delivered_seq = max(delivered_seq, ?), delivered_at = ?, attempts = 0, retry_at = NULL
     WHERE subscriber = ? AND owner = ?`,
    seq, at, subscriber, owner,
  ) === 1;
}

export function failAuditStream(sql: StatementCache, subscriber: string, owner: string, error: string, at: number, retryAt: number): boolean {
  return sql.run(
    'UPDATE audit_stream SET attempts = attempts + 1, last_error = ?, last_error_at = ?, retry_at = ? WHERE subscriber = ? AND owner = ?',
    error, at, retryAt, subscriber, owner,
  ) === 1;
}

export function releaseAuditStream(sql: StatementCache, subscriber: string, owner: string): void {
  sql.run('UPDATE audit_stream SET owner = NULL, lease_until = NULL WHERE subscriber = ? AND owner = ?', subscriber, owner);
}

export function listAuditStreams(sql: StatementCache): AuditStreamCursor[] {
  return sql.all('SELECT * FROM audit_stream ORDER BY subscriber').map(auditStreamFromRow);
}
