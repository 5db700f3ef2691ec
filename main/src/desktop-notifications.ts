// The tray app's notifications: one for each stream event that concerns the person (named
// after its request), and local expiry warnings at the offsets in the settings. Each is
// shown once (seen-notifications.ts), and none while do not disturb is on.

import type { AccessRequest } from '../../common/lapse-api.ts';
import type { Clock } from '../../common/clock.ts';
import { describeAccess } from '../../common/describe.ts';
import { expiringNotification, isQuiet, planEventNotification, type PlannedNotification, type StreamEvent } from '../../common/notifications.ts';
import { WarningScheduler, type Timers } from '../../common/warning-planner.ts';
import type { SettingsStore } from './settings.ts';
import type { SeenNotifications } from './seen-notifications.ts';
import type { Shell } from './shell.ts';

/** The warning offsets of the settings, in milliseconds. */
export function warningOffsetsMs(settings: Pick<SettingsStore, 'get'>): number[] {
  return settings.get().notificationOffsetsMinutes.map((m) => m * 60_000);
}

export interface NotificationsDeps {
  settings: Pick<SettingsStore, 'get'>;
  clock: Clock;
  timers: Timers;
  shell: Pick<Shell, 'notify'>;
  seen: SeenNotifications;
  /** Who is signed in; null until known (no event is notified then). */
  me(): string | null;
  /** One of my requests as last read. */
  myRequest(id: string): AccessRequest | undefined;
  /** One of my requests or one waiting for my approval, as last read. */
  knownRequest(id: string): AccessRequest | undefined;
  /** A request read from the server; undefined when it cannot be. */
  fetchRequest(id: string): Promise<AccessRequest | undefined>;
}

export class Notifications {
  private readonly warnings: WarningScheduler;
  private eventQueue: Promise<void> = Promise.resolve();

  constructor(private readonly d: NotificationsDeps) {
    this.warnings = new WarningScheduler(d.clock, d.timers, (w) => {
      const r = d.myRequest(w.requestId);
      this.deliver(expiringNotification(w, r ? { label: describeAccess(r) } : undefined));
    }, warningOffsetsMs(d.settings));
  }

  /** Notifies about an event: one at a time and in order, as a notification may need the request's name first. */
  onEvent(e: StreamEvent): void {
    this.eventQueue = this.eventQueue.then(() => this.notifyAbout(e)).catch(() => {});
  }

  /** Plans the expiry warnings of my active access, at the offsets the settings give now. */
  planWarnings(myRequests: AccessRequest[]): void {
    this.warnings.setOffsets(warningOffsetsMs(this.d.settings));
    this.warnings.update(myRequests.filter((r) => r.status === 'active').map((r) => ({ requestId: r.id, expiresAt: r.expiresAt === null ? null : Date.parse(r.expiresAt) })));
  }

  stop(): void {
    this.warnings.stop();
  }

  private async notifyAbout(e: StreamEvent): Promise<void> {
    const me = this.d.me();
    const first = me ? planEventNotification(e, me) : null;
    if (me && first && !this.d.seen.has(first.key)) {
      let r = e.requestId ? this.d.knownRequest(e.requestId) : undefined;
      if (!r && e.requestId) r = await this.d.fetchRequest(e.requestId);
      const about = r ? { label: describeAccess(r), hasAccessDetails: r.requester !== me || r.grants.some((g) => g.accessDetails !== null) } : undefined;
      this.deliver(planEventNotification(e, me, about) ?? first);
    }
    this.d.seen.handled(e.id);
  }

  /** Shows a notification once (across restarts), unless do-not-disturb is on. */
  private deliver(n: PlannedNotification): void {
    if (!this.d.seen.add(n.key)) return;
    const s = this.d.settings.get();
    if (isQuiet({ enabled: s.doNotDisturb }, this.d.clock.now())) return;
    this.d.shell.notify(n);
  }
}
