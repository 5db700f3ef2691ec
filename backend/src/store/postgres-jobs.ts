// Jobs in the PostgreSQL store: due work claimed with FOR UPDATE SKIP LOCKED and a lease,
// leases renewed and released, jobs rescheduled, and the backlog the metrics report.

import type pg from 'pg';
import type { JobRecord } from '../domain/request.ts';
import { queryCount, queryOne, queryRows } from './postgres-connection.ts';
import { jobFromRow } from './rows.ts';

export async function claimDueJobs(pool: pg.Pool, now: number, owner: string, leaseUntil: number, limit: number): Promise<JobRecord[]> {
  // One statement: the rows another replica is claiming at this moment are skipped, not waited for.
  const rows = await queryRows(
    pool,
    `UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
       WHERE id IN (
         SELECT id FROM jobs WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
         ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
    [owner, leaseUntil, now, limit],
  );
  return rows.map(jobFromRow).sort((a, b) => a.dueAt - b.dueAt);
}

export async function renewLeases(pool: pg.Pool, ids: string[], owner: string, leaseUntil: number): Promise<number> {
  if (ids.length === 0) return 0;
  return queryCount(pool, 'UPDATE jobs SET lease_until = $1 WHERE id = ANY($2::text[]) AND lease_owner = $3', [leaseUntil, ids, owner]);
}

export async function rescheduleJob(pool: pg.Pool, id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean> {
  return (await queryCount(
    pool,
    'UPDATE jobs SET due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4',
    [dueAt, lastError, id, owner],
  )) === 1;
}

export async function jobBacklog(pool: pg.Pool, now: number, overdueAfterMs: number): Promise<{ due: number; overdue: number; oldestDueAt: number | null }> {
  const row = await queryOne(pool, 'SELECT coalesce(sum(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0) AS due, coalesce(sum(CASE WHEN due_at <= $2 THEN 1 ELSE 0 END), 0) AS overdue, min(CASE WHEN lease_until IS NULL THEN due_at END) AS oldest FROM jobs', [now, now - overdueAfterMs]);
  return { due: Number(row?.due ?? 0), overdue: Number(row?.overdue ?? 0), oldestDueAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest) };
}

export async function countFailingRevokes(pool: pg.Pool): Promise<number> {
  const row = await queryOne(pool, "SELECT count(*) AS n FROM jobs WHERE kind = 'revoke' AND attempts > 0");
  return Number(row?.n ?? 0);
}

export async function nextDueAt(pool: pg.Pool): Promise<number | null> {
  const row = await queryOne(pool, 'SELECT min(due_at) AS t FROM jobs WHERE lease_until IS NULL');
  return row && row.t !== null && row.t !== undefined ? Number(row.t) : null;
}

/**
 * Several replicas share this store: only the leases of `owner` (this replica) are freed,
 * e.g. on a clean stop so that another replica takes its work over at once. Another
 * replica's leases run out by themselves if it died.
 */
export async function releaseAllLeases(pool: pg.Pool, owner?: string): Promise<number> {
  if (owner === undefined) throw new Error('the PostgreSQL store is shared by replicas: release the leases of one owner only');
  return queryCount(pool, 'UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [owner]);
}

export async function retryBackedOffRevokesNow(pool: pg.Pool, now: number): Promise<number> {
  return queryCount(pool, "UPDATE jobs SET due_at = $1 WHERE kind = 'revoke' AND due_at > $1 AND lease_owner IS NULL", [now]);
}

export async function retryRevokesOfRequestNow(pool: pg.Pool, requestId: string, now: number): Promise<number> {
  return queryCount(pool, "UPDATE jobs SET due_at = $1 WHERE request_id = $2 AND kind = 'revoke' AND lease_owner IS NULL", [now, requestId]);
}

export async function jobsOfRequest(pool: pg.Pool, requestId: string): Promise<JobRecord[]> {
  return (await queryRows(pool, 'SELECT * FROM jobs WHERE request_id = $1 ORDER BY due_at', [requestId])).map(jobFromRow);
}
