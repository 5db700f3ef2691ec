// The tray app's notifications: one for each stream event that concerns the person (named
// after its request), and local expiry warnings. The warnings are planned at the server's
// offsets (its `settings.expiryWarnings`, read from `me` with who is signed in; the
// server's default until `me` has answered) plus the person's extra reminders from the
// settings, each offset once. The server also sends its warnings as `request.expiring`
// events; a local warning and the server's event for the same moment have the same key, and
// each key is shown once (seen-notifications.ts), so the person hears each moment once,
// whichever comes first. Nothing is shown while do not disturb is on.

import type { AccessRequest } from '../../common/lapse-api.ts';
import type { Clock } from '../../common/clock.ts';
import { describeAccess } from '../../common/describe.ts';
import { expiringNotification, isQuiet, planEventNotification, type PlannedNotification, type StreamEvent } from '../../common/notifications.ts';
import { WarningScheduler, warningOffsets, type ActiveAccess } from '../../common/warning-planner.ts';
import type { Timers } from '../../common/clock.ts';
import type { SettingsStore } from './settings.ts';
import type { SeenNotifications } from './seen-notifications.ts';
import type { Shell } from './shell.ts';

/**
 * The offsets the tray warns at, in milliseconds, latest first: the server's (null while
 * not known: the server's default) and the settings' extra reminders, each offset once.
 */
export function warningOffsetsMs(serverOffsetsMs: number[] | null, extraReminderMinutes: readonly number[]): number[] {
  return warningOffsets(serverOffsetsMs, extraReminderMinutes.map((m) => m * 60_000));
}

export interface NotificationsDeps {
  settings: Pick<SettingsStore, 'get'>;
  /** The server's expiry warning offsets in ms, as `me` said; null while not known. */
  serverWarningOffsetsMs(): number[] | null;
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
  /** My active access as last planned, for a new plan when the offsets change. */
  private active: ActiveAccess[] = [];

  constructor(private readonly d: NotificationsDeps) {
    this.warnings = new WarningScheduler(d.clock, d.timers, (w) => {
      const r = d.myRequest(w.requestId);
      this.deliver(expiringNotification(w, r ? { label: describeAccess(r) } : undefined));
    }, this.offsetsMs());
  }

  /** The offsets to warn at now (the server's and the extra reminders). */
  offsetsMs(): number[] {
    return warningOffsetsMs(this.d.serverWarningOffsetsMs(), this.d.settings.get().extraReminderMinutes);
  }

  /** Notifies about an event: one at a time and in order, as a notification may need the request's name first. */
  onEvent(e: StreamEvent): void {
    this.eventQueue = this.eventQueue.then(() => this.notifyAbout(e)).catch(() => {});
  }

  /** Plans the expiry warnings of my active access, at the offsets known now. */
  planWarnings(myRequests: AccessRequest[]): void {
    this.active = myRequests.filter((r) => r.status === 'active').map((r) => ({ requestId: r.id, expiresAt: r.expiresAt === null ? null : Date.parse(r.expiresAt) }));
    this.replan();
  }

  /** Plans the same access again, at the offsets known now (after `me` told the server's). */
  replan(): void {
    this.warnings.setOffsets(this.offsetsMs());
    this.warnings.update(this.active);
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
