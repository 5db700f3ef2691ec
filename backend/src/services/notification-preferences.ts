// Each person's choice of how they are told: by email (the default) or not, where the admins
// let people turn email off (notifications.email.optOut). Kept in the store (every replica
// reads it) and held in memory by the engine, which writes the outbox rows: read at start,
// again every half minute, and at once on this replica when someone changes it.

import { LapseError } from '../engine/errors.ts';
import type { Engine } from '../engine/engine.ts';
import type { Store } from '../store/store.ts';
import type { NotificationPreferencesView } from '../../../common/api/types.ts';

export class NotificationPreferences {
  constructor(private readonly d: { store: Store; engine: Engine; now: () => number }) {}

  /** Reads everyone's choices from the store into the engine. */
  async load(): Promise<void> {
    this.d.engine.setEmailOff(new Set(await this.d.store.listEmailOptOuts()));
  }

  view(userId: string): NotificationPreferencesView {
    const email = this.d.engine.config.config.notifications?.email ?? null;
    const address = this.d.engine.config.users.get(userId)?.email ?? null;
    return {
      email: {
        available: email !== null && address !== null,
        address,
        on: email !== null && address !== null && !(email.optOut && this.d.engine.emailOff().has(userId)),
        mayTurnOff: email?.optOut ?? false,
      },
    };
  }

  async setEmail(userId: string, on: boolean): Promise<NotificationPreferencesView> {
    const email = this.d.engine.config.config.notifications?.email ?? null;
    if (!email) throw new LapseError('conflict', 'this server sends no email (notifications.email is not configured)', 'email');
    if (!on && !email.optOut) throw new LapseError('forbidden', 'the admins do not let people turn email off here (notifications.email.optOut: false)');
    const now = this.d.now();
    await this.d.store.setEmailPreference(userId, on, now);
    await this.d.store.appendAudit([{ at: now, actor: userId, action: 'notifications.preference', requestId: null, data: { email: on } }]);
    await this.load();
    return this.view(userId);
  }
}
