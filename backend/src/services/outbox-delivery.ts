// Delivers the notification outbox, off the request path: due rows are claimed (a lease per
// row, so of several replicas one delivers each, and a delivery that dies is taken again
// after its lease), sent on their channel, and marked delivered; a failure is tried again
// after a capped, jittered backoff, and after notifications.maxAttempts is marked failed with
// its last error (visible in the API, the CLI and the metrics; an admin may retry it), and
// the admins are told. At least once: a crash between sending and marking sends again, with
// the same idempotency key (webhooks carry it, an email its Message-ID).

import type { NotificationsConfig } from '../domain/config.ts';
import type { CompiledConfig } from '../domain/catalog.ts';
import { deliveryFailedNotifications } from '../domain/notifications.ts';
import type { OutboxRecord, Store } from '../store/store.ts';
import type { Channels } from '../notify/channels.ts';
import type { Logger } from '../logger.ts';

/**
 * A claimed delivery is this replica's for this long: longer than a batch can take even when
 * every delivery in it runs into the channels' 15 s timeout (BATCH / CONCURRENCY of them in a
 * row), so that another replica does not take a row this one is about to deliver.
 */
const LEASE_MS = 2 * 60_000;
const BATCH = 16;
/** Deliveries in flight at once: a few, so that a backlog does not crowd out the API on the same event loop. */
const CONCURRENCY = 4;
export const BACKOFF_BASE_MS = 5_000;
export const BACKOFF_CAP_MS = 10 * 60_000;

/** The wait before attempt `attempts + 1`: doubling from BACKOFF_BASE_MS up to BACKOFF_CAP_MS, ±25 % jitter. */
export function retryDelay(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

export interface DeliveryReport {
  delivered: number;
  retried: number;
  failed: number;
}

export class OutboxDelivery {
  private running: Promise<DeliveryReport> | null = null;

  constructor(private readonly d: {
    store: Store;
    now: () => number;
    owner: string;
    /** The channels of the running configuration (null: notifications are not configured). */
    channels: () => Channels | null;
    config: () => CompiledConfig;
    logger: Logger;
    /** Counts each delivery's outcome (metrics). */
    onOutcome?: (channel: string, outcome: 'delivered' | 'retried' | 'failed') => void;
    random?: () => number;
  }) {}

  /** Delivers everything due now, batch after batch; one pass at a time in this process. */
  runDue(): Promise<DeliveryReport> {
    this.running ??= this.pass().finally(() => { this.running = null; });
    return this.running;
  }

  /** Resolves once a pass under way (if any) has ended. */
  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0 };
    const channels = this.d.channels();
    if (!channels) return report;
    for (;;) {
      const rows = await this.d.store.claimOutbox(this.d.owner, this.d.now(), LEASE_MS, BATCH);
      // CONCURRENCY workers take the batch's rows one after another (a slow one holds up no other).
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(CONCURRENCY, rows.length) }, async () => {
        while (next < rows.length) {
          report[await this.deliver(rows[next++]!, channels)]++;
          // Between two deliveries, whatever else waits on the event loop (the API) goes first.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }));
      if (rows.length < BATCH) return report;
    }
  }

  private async deliver(row: OutboxRecord, channels: Channels): Promise<keyof DeliveryReport> {
    const channel = channels.get(row.channel);
    let error: string | null = null;
    try {
      if (!channel) throw new Error(`the channel ${row.channel} is no longer configured`);
      await channel.deliver(row);
    } catch (err) {
      error = (err as Error).message || String(err);
    }
    const now = this.d.now();
    if (error === null) {
      await this.d.store.finishOutbox(row.key, this.d.owner, { delivered: true, at: now });
      this.d.onOutcome?.(row.channel, 'delivered');
      return 'delivered';
    }
    const giveUp = row.attempts >= channels.config.maxAttempts;
    const retryAt = giveUp ? null : now + retryDelay(row.attempts, this.d.random);
    if (!(await this.d.store.finishOutbox(row.key, this.d.owner, { delivered: false, at: now, error, retryAt }))) return 'retried';
    this.d.onOutcome?.(row.channel, giveUp ? 'failed' : 'retried');
    this.d.logger.warn({ notification: row.key, channel: row.channel, event: row.message.event, attempt: row.attempts, error, ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}) },
      giveUp ? 'a notification could not be delivered: given up' : 'a notification could not be delivered: tried again later');
    if (giveUp) await this.tellAdmins(row, error, channels.config, now);
    return giveUp ? 'failed' : 'retried';
  }

  /** The admins are told of a delivery given up (never of their own such notice: no loop). */
  private async tellAdmins(row: OutboxRecord, error: string, notifications: NotificationsConfig, now: number): Promise<void> {
    const outbox = deliveryFailedNotifications(row, error, this.d.config(), notifications, now);
    if (outbox.length) await this.d.store.commit({ outbox }).catch((err: unknown) => this.d.logger.error({ error: String(err) }, 'could not tell the admins of a failed delivery'));
  }
}
