// Each person's choice of how they are told: by email and by direct message in chat (both on
// by default, where the admins set them up), each of which a person may turn off where the
// admins allow it (notifications.email.optOut, notifications.directMessages.optOut). Kept in
// the store (every replica reads it) and held in memory by the engine, which writes the
// outbox rows: read at start, again every half minute, and at once on this replica when
// someone changes it.

import { LapseError } from '../engine/errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { NotificationChoice, Store } from '../store/store.ts';
import type { NotificationPreferencesView } from '../../../common/api/types.ts';

export class NotificationPreferences {
  constructor(private readonly d: { store: Store; engine: Engine; now: () => number }) {}

  /** Reads everyone's choices from the store into the engine. */
  async load(): Promise<void> {
    const off = await this.d.store.listNotificationOptOuts();
    this.d.engine.setOptedOut({ email: new Set(off.email), chat: new Set(off.chat) });
  }

  view(userId: string): NotificationPreferencesView {
    const notifications = this.d.engine.config.config.notifications;
    const address = this.d.engine.config.users.get(userId)?.email ?? null;
    const off = this.d.engine.optedOut();
    const channel = (config: { optOut: boolean } | null | undefined, optedOut: ReadonlySet<string>) => ({
      available: !!config && address !== null,
      on: !!config && address !== null && !(config.optOut && optedOut.has(userId)),
      mayTurnOff: config?.optOut ?? false,
    });
    return {
      email: { ...channel(notifications?.email, off.email), address },
      chat: { ...channel(notifications?.directMessages, off.chat), service: notifications?.directMessages?.type ?? null },
    };
  }

  /** Turns email or direct messages on or off for `userId`; a channel not named keeps its choice. */
  async set(userId: string, choice: NotificationChoice): Promise<NotificationPreferencesView> {
    const notifications = this.d.engine.config.config.notifications;
    const channels = [
      ['email', choice.email, notifications?.email, 'this server sends no email (notifications.email is not configured)', 'the admins do not let people turn email off here (notifications.email.optOut: false)'],
      ['chat', choice.chat, notifications?.directMessages, 'this server sends no direct messages in chat (notifications.directMessages is not configured)', 'the admins do not let people turn direct messages off here (notifications.directMessages.optOut: false)'],
    ] as const;
    for (const [field, on, config, absent, locked] of channels) {
      if (on === undefined) continue;
      if (!config) throw new LapseError('conflict', absent, field);
      if (!on && !config.optOut) throw new LapseError('forbidden', locked);
    }
    const now = this.d.now();
    await this.d.store.setNotificationPreference(userId, choice, now);
    await this.d.store.appendAudit([{ at: now, actor: userId, action: 'notifications.preference', requestId: null, data: { ...choice } }]);
    await this.load();
    return this.view(userId);
  }
}
