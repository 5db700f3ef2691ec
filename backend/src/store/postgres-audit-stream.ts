// The audit stream's cursors in the PostgreSQL store (table audit_stream, migration 12): one
// row per subscriber with the last event delivered to it, its failures and a lease. Of several
// replicas, the one holding a subscriber's lease delivers to it; the lease is taken in one
// conditional upsert (free, lapsed, or already the caller's), and every write after it is
// conditional on still holding it.

import type pg from 'pg';
import type { AuditStreamCursor } from './store.ts';
import { queryCount, queryOne, queryRows } from './postgres-connection.ts';
import { auditStreamFromRow } from './sqlite-audit-stream.ts';

export async function claimAuditStream(pool: pg.Pool, subscriber: string, owner: string, now: number, leaseUntil: number): Promise<AuditStreamCursor | null> {
  const row = await queryOne(
    pool,
    `INSERT INTO audit_stream (subscriber, delivered_seq, attempts, owner, lease_until) VALUES ($1, 0, 0, $2, $3)
     ON CONFLICT (subscriber) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
     WHERE audit_stream.owner IS NULL OR audit_stream.owner = excluded.owner OR audit_stream.lease_until IS NULL OR audit_stream.lease_until < $4
     RETURNING *`,
    [subscriber, owner, leaseUntil, now],
  );
  return row ? auditStreamFromRow(row) : null;
}

export async function advanceAuditStream(pool: pg.Pool, subscriber: string, owner: string, seq: number, at: number): Promise<boolean> {
  return (await queryCount(
    pool,
    `UPDATE audit_stream SET delivered_seq = greatest(delivered_seq, $1), delivered_at = $2, attempts = 0, retry_at = NULL
     WHERE subscriber = $3 AND owner = $4`,
    [seq, at, subscriber, owner],
  )) === 1;
}

export async function failAuditStream(pool: pg.Pool, subscriber: string, owner: string, error: string, at: number, retryAt: number): Promise<boolean> {
  return (await queryCount(
    pool,
    'UPDATE audit_stream SET attempts = attempts + 1, last_error = $1, last_error_at = $2, retry_at = $3 WHERE subscriber = $4 AND owner = $5',
    [error, at, retryAt, subscriber, owner],
  )) === 1;
}

export async function releaseAuditStream(pool: pg.Pool, subscriber: string, owner: string): Promise<void> {
  await queryCount(pool, 'UPDATE audit_stream SET owner = NULL, lease_until = NULL WHERE subscriber = $1 AND owner = $2', [subscriber, owner]);
}

export async function listAuditStreams(pool: pg.Pool): Promise<AuditStreamCursor[]> {
  return (await queryRows(pool, 'SELECT * FROM audit_stream ORDER BY subscriber')).map(auditStreamFromRow);
}
