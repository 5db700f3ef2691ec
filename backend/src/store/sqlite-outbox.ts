// The notification outbox in the SQLite store: its rows are inserted with the change set of
// the transition that causes them (sqlite-writer.ts); here the delivery's claims and outcomes
// (writes, on the single writer's connection) and the reads.

import type { OutboxInput } from '../domain/notifications.ts';
import type { StatementCache } from './sqlite-connection.ts';
import type { NotificationChoice, NotificationOptOuts, OutboxFilter, OutboxOutcome, OutboxRecord } from './store.ts';
import { outboxFromRow } from './outbox-rows.ts';

/** Inserts the change set's notifications; one already written (the same key) is left as it is. */
export function insertOutbox(sql: StatementCache, rows: readonly OutboxInput[]): void {
  for (const o of rows) {
    sql.run(
      `INSERT INTO outbox (key, event_id, channel, recipient, address, request_id, message, created_at, status, due_at, attempts)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0) ON CONFLICT (key) DO NOTHING`,
      o.key, o.eventId, o.channel, o.recipient, o.address, o.requestId, JSON.stringify(o.message), o.createdAt, o.createdAt,
    );
  }
}

export class SqliteOutboxWrites {
  constructor(private readonly sql: StatementCache) {}

  /** See Store.claimOutbox. */
  claim(owner: string, now: number, leaseMs: number, limit: number, exceptChannels: readonly string[] = []): OutboxRecord[] {
    return this.sql.all(
      `UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1 WHERE key IN (
         SELECT key FROM outbox WHERE status = 'pending' AND due_at <= ? AND (lease_until IS NULL OR lease_until < ?)
           AND channel NOT IN (SELECT value FROM json_each(?)) ORDER BY due_at, key LIMIT ?
       ) RETURNING *`,
      owner, now + leaseMs, now, now, JSON.stringify(exceptChannels), limit,
    ).map(outboxFromRow).sort((a, b) => a.dueAt - b.dueAt || a.key.localeCompare(b.key));
  }

  /** See Store.finishOutbox. */
  finish(key: string, owner: string, outcome: OutboxOutcome): boolean {
    if (outcome.delivered) {
      return this.sql.run("UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = NULL, lease_owner = NULL, lease_until = NULL WHERE key = ? AND lease_owner = ? AND status = 'pending'", outcome.at, key, owner) === 1;
    }
    return this.sql.run(
      "UPDATE outbox SET status = ?, due_at = COALESCE(?, due_at), last_error = ?, lease_owner = NULL, lease_until = NULL WHERE key = ? AND lease_owner = ? AND status = 'pending'",
      outcome.retryAt === null ? 'failed' : 'pending', outcome.retryAt, outcome.error, key, owner,
    ) === 1;
  }

  /** See Store.setNotificationPreference. */
  setNotificationPreference(userId: string, choice: NotificationChoice, at: number): void {
    const email = choice.email === undefined ? null : choice.email ? 1 : 0;
    const chat = choice.chat === undefined ? null : choice.chat ? 1 : 0;
    this.sql.run(
      `INSERT INTO notification_preferences (user_id, email, chat, updated_at) VALUES (?, COALESCE(?, 1), COALESCE(?, 1), ?)
       ON CONFLICT (user_id) DO UPDATE SET email = COALESCE(?, email), chat = COALESCE(?, chat), updated_at = excluded.updated_at`,
      userId, email, chat, at, email, chat,
    );
  }

  prune(before: number): number {
    return this.sql.run("DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?", before);
  }

  /** See Store.retryOutbox. */
  retry(key: string, now: number): boolean {
    return this.sql.run("UPDATE outbox SET status = 'pending', due_at = ?, attempts = 0, lease_owner = NULL, lease_until = NULL WHERE key = ? AND status = 'failed'", now, key) === 1;
  }
}

export function listOutbox(sql: StatementCache, f: OutboxFilter): OutboxRecord[] {
  const where = f.status ? 'WHERE status = ?' : '';
  const params: unknown[] = f.status ? [f.status] : [];
  return sql.all(`SELECT * FROM outbox ${where} ORDER BY created_at DESC, key LIMIT ?`, ...params, f.limit).map(outboxFromRow);
}

export function outboxCounts(sql: StatementCache): Record<OutboxRecord['status'], number> {
  const counts = { pending: 0, delivered: 0, failed: 0 };
  for (const row of sql.all('SELECT status, COUNT(*) AS n FROM outbox GROUP BY status')) counts[String(row.status) as OutboxRecord['status']] = Number(row.n);
  return counts;
}

export function listNotificationOptOuts(sql: StatementCache): NotificationOptOuts {
  const rows = sql.all('SELECT user_id, email, chat FROM notification_preferences WHERE email = 0 OR chat = 0 ORDER BY user_id');
  return { email: rows.filter((r) => Number(r.email) === 0).map((r) => String(r.user_id)), chat: rows.filter((r) => Number(r.chat) === 0).map((r) => String(r.user_id)) };
}
