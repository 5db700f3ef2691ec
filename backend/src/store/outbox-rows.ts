// The outbox's rows as records, the same columns in SQLite and PostgreSQL.

import type { NotificationMessage } from '../domain/notifications.ts';
import type { OutboxRecord } from './store.ts';

export function outboxFromRow(r: Record<string, unknown>): OutboxRecord {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    key: String(r.key), eventId: String(r.event_id), channel: String(r.channel), recipient: str(r.recipient), address: str(r.address),
    requestId: str(r.request_id), message: JSON.parse(String(r.message)) as NotificationMessage, createdAt: Number(r.created_at),
    status: String(r.status) as OutboxRecord['status'], dueAt: Number(r.due_at), attempts: Number(r.attempts), lastError: str(r.last_error),
    leaseOwner: str(r.lease_owner), leaseUntil: num(r.lease_until), deliveredAt: num(r.delivered_at),
  };
}
