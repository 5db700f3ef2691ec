// The outbox as admins see it: the notifications by status (failed ones with their last
// error), and a failed one retried. Recipients and channels, never the message's secrets
// (it holds none: a granted request is a link).

import { LapseError } from '../engine/errors.ts';
import type { OutboxRecord, Store } from '../store/store.ts';
import type { NotificationView } from '../../../common/api/types.ts';
import { iso } from '../api/views.ts';

export function notificationView(o: OutboxRecord): NotificationView {
  return {
    key: o.key, event: o.message.event, eventId: o.eventId, channel: o.channel, recipient: o.recipient, requestId: o.requestId, status: o.status,
    attempts: o.attempts, lastError: o.lastError, createdAt: iso(o.createdAt)!, nextAttemptAt: o.status === 'pending' ? iso(o.dueAt) : null, deliveredAt: iso(o.deliveredAt),
  };
}

export class NotificationAdmin {
  constructor(private readonly d: { store: Store; now: () => number }) {}

  async list(caller: { admin: boolean }, status: OutboxRecord['status'] | undefined, limit: number): Promise<NotificationView[]> {
    if (!caller.admin) throw new LapseError('forbidden', 'this needs the admin role');
    return (await this.d.store.listOutbox({ ...(status ? { status } : {}), limit })).map(notificationView);
  }

  async retry(caller: { id: string; admin: boolean }, key: string): Promise<void> {
    if (!caller.admin) throw new LapseError('forbidden', 'this needs the admin role');
    const now = this.d.now();
    if (!(await this.d.store.retryOutbox(key, now))) throw new LapseError('not-found', `no failed notification ${key}`);
    await this.d.store.appendAudit([{ at: now, actor: caller.id, action: 'notification.retried', requestId: null, data: { key } }]);
  }
}
