// The notification outbox in the PostgreSQL store: its rows are inserted with the change set
// of the transition that causes them (postgres-changes.ts); here the delivery's claims (rows
// another replica is claiming are skipped, not waited for) and outcomes, and the reads.

import type pg from 'pg';
import type { OutboxInput } from '../domain/notifications.ts';
import type { NotificationChoice, NotificationOptOuts, OutboxFilter, OutboxOutcome, OutboxRecord } from './store.ts';
import { queryCount, queryRows } from './postgres-connection.ts';
import { outboxFromRow } from './outbox-rows.ts';

/** Inserts the change set's notifications in its transaction; one already written (the same key) is left as it is. */
export async function insertOutbox(c: pg.PoolClient, rows: readonly OutboxInput[]): Promise<void> {
  if (rows.length === 0) return;
  await c.query(
    `INSERT INTO outbox (key, event_id, channel, recipient, address, request_id, message, created_at, status, due_at, attempts)
     SELECT k, e, ch, r, a, q, m, t, 'pending', t, 0
     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[]) AS x(k, e, ch, r, a, q, m, t)
     ON CONFLICT (key) DO NOTHING`,
    [rows.map((o) => o.key), rows.map((o) => o.eventId), rows.map((o) => o.channel), rows.map((o) => o.recipient), rows.map((o) => o.address),
      rows.map((o) => o.requestId), rows.map((o) => JSON.stringify(o.message)), rows.map((o) => o.createdAt)],
  );
}

export async function claimOutbox(pool: pg.Pool, owner: string, now: number, leaseMs: number, limit: number, exceptChannels: readonly string[] = []): Promise<OutboxRecord[]> {
  const rows = await queryRows(
    pool,
    `UPDATE outbox SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 WHERE key IN (
       SELECT key FROM outbox WHERE status = 'pending' AND due_at <= $3 AND (lease_until IS NULL OR lease_until < $3) AND NOT (channel = ANY($5::text[]))
       ORDER BY due_at, key COLLATE "C" LIMIT $4 FOR UPDATE SKIP LOCKED
     ) RETURNING *`,
    [owner, now + leaseMs, now, limit, [...exceptChannels]],
  );
  return rows.map(outboxFromRow).sort((a, b) => a.dueAt - b.dueAt || (a.key < b.key ? -1 : 1));
}

export async function finishOutbox(pool: pg.Pool, key: string, owner: string, outcome: OutboxOutcome): Promise<boolean> {
  if (outcome.delivered) {
    return (await queryCount(pool, "UPDATE outbox SET status = 'delivered', delivered_at = $1, last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE key = $2 AND lease_owner = $3 AND status = 'pending'", [outcome.at, key, owner])) === 1;
  }
  return (await queryCount(
    pool,
    "UPDATE outbox SET status = $1, due_at = COALESCE($2, due_at), last_error = $3, lease_owner = NULL, lease_until = NULL WHERE key = $4 AND lease_owner = $5 AND status = 'pending'",
    [outcome.retryAt === null ? 'failed' : 'pending', outcome.retryAt, outcome.error, key, owner],
  )) === 1;
}

export async function retryOutbox(pool: pg.Pool, key: string, now: number): Promise<boolean> {
  return (await queryCount(pool, "UPDATE outbox SET status = 'pending', due_at = $1, attempts = 0, lease_owner = NULL, lease_until = NULL WHERE key = $2 AND status = 'failed'", [now, key])) === 1;
}

export async function listOutbox(pool: pg.Pool, f: OutboxFilter): Promise<OutboxRecord[]> {
  const rows = f.status
    ? await queryRows(pool, 'SELECT * FROM outbox WHERE status = $1 ORDER BY created_at DESC, key COLLATE "C" LIMIT $2', [f.status, f.limit])
    : await queryRows(pool, 'SELECT * FROM outbox ORDER BY created_at DESC, key COLLATE "C" LIMIT $1', [f.limit]);
  return rows.map(outboxFromRow);
}

export async function outboxCounts(pool: pg.Pool): Promise<Record<OutboxRecord['status'], number>> {
  const counts = { pending: 0, delivered: 0, failed: 0 };
  for (const row of await queryRows(pool, 'SELECT status, COUNT(*) AS n FROM outbox GROUP BY status', [])) counts[String(row.status) as OutboxRecord['status']] = Number(row.n);
  return counts;
}

/** Frees the outbox's leases of `owner` (a replica stopping cleanly): see Store.releaseAllLeases. */
export async function releaseLeases(pool: pg.Pool, owner: string): Promise<void> {
  await pool.query('UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [owner]);
}

export async function setNotificationPreference(pool: pg.Pool, userId: string, choice: NotificationChoice, at: number): Promise<void> {
  const email = choice.email === undefined ? null : choice.email ? 1 : 0;
  const chat = choice.chat === undefined ? null : choice.chat ? 1 : 0;
  await pool.query(
    `INSERT INTO notification_preferences (user_id, email, chat, updated_at) VALUES ($1, COALESCE($2::int, 1), COALESCE($3::int, 1), $4)
     ON CONFLICT (user_id) DO UPDATE SET email = COALESCE($2::int, notification_preferences.email), chat = COALESCE($3::int, notification_preferences.chat), updated_at = excluded.updated_at`,
    [userId, email, chat, at],
  );
}

export async function listNotificationOptOuts(pool: pg.Pool): Promise<NotificationOptOuts> {
  const rows = await queryRows(pool, 'SELECT user_id, email, chat FROM notification_preferences WHERE email = 0 OR chat = 0 ORDER BY user_id COLLATE "C"', []);
  return { email: rows.filter((r) => Number(r.email) === 0).map((r) => String(r.user_id)), chat: rows.filter((r) => Number(r.chat) === 0).map((r) => String(r.user_id)) };
}

export async function pruneOutbox(pool: pg.Pool, before: number): Promise<number> {
  return queryCount(pool, "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < $1", [before]);
}
