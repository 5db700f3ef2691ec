// The notifications already shown and the last event handled (seen keys), kept in the
// settings so that a restart, or events sent again after a reconnect, show nothing twice.

import { SeenKeys } from '../../common/seen-keys.ts';
import type { SettingsStore } from './settings.ts';

export class SeenNotifications {
  private readonly seen: SeenKeys;

  constructor(private readonly settings: Pick<SettingsStore, 'get' | 'patch'>) {
    this.seen = new SeenKeys(settings.get().notificationState);
  }

  /** Where the events stream resumes. */
  get lastEventId(): string | null {
    return this.seen.lastEventId;
  }

  has(key: string): boolean {
    return this.seen.has(key);
  }

  /** Records `key` (and saves); true when it is new (show it), false when it was shown already. */
  add(key: string): boolean {
    if (!this.seen.add(key)) return false;
    this.save();
    return true;
  }

  /** Records the event as the last one handled (and saves). */
  handled(eventId: string): void {
    this.seen.lastEventId = eventId;
    this.save();
  }

  private save(): void {
    this.settings.patch({ notificationState: this.seen.toJSON() });
  }
}
