// Delivers the notification outbox, off the request path: due rows are claimed (a lease per
// row, so of several replicas one delivers each, and a delivery that dies is taken again
// after its lease), sent on their channel, and marked delivered; a failure is tried again
// after a capped, jittered backoff, and after notifications.maxAttempts is marked failed with
// its last error (visible in the API, the CLI and the metrics; an admin may retry it), and
// the admins are told. At least once: a crash between sending and marking sends again, with
// the same idempotency key (webhooks carry it, an email its Message-ID).

import type { CompiledConfig } from '../domain/catalog.ts';
import { deliveryFailedNotifications } from '../domain/notifications.ts';
import type { OutboxOutcome, OutboxRecord, Store } from '../store/store.ts';
import type { OutboxConnection, OutboxFinish } from '../store/outbox-connection.ts';
import type { Channels } from '../notify/channels.ts';

/**
 * A claimed delivery is this replica's for this long: longer than a claimed row can wait and
 * be sent even when every delivery runs into the channels' 15 s timeout (fewer than BATCH +
 * 2 × concurrency rows are in hand, and of one channel fewer than BATCH + 2 × perChannel:
 * at most seven rounds of 15 s on the event loop, five in the thread), so that another
 * replica does not take a row this one is about to deliver.
 */
const LEASE_MS = 2 * 60_000;
const BATCH = 16;
/** Deliveries in flight at once on the API's event loop: a few, so that a backlog does not crowd out the API. */
const CONCURRENCY = 4;
/** Deliveries in flight at once in the delivery thread (the API's loop is not that one)… */
export const THREAD_CONCURRENCY = 24;
/** …of which one channel takes at most this many: a slow one leaves the others a third. */
export const THREAD_PER_CHANNEL = 16;
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

export type DeliveryOutcome = 'delivered' | 'retried' | 'failed';

/** Outcomes are written together once this many are waiting… */
export const FINISH_BATCH = 16;
/** …or once the oldest has waited this long. */
const FINISH_AFTER_MS = 20;

export interface OutboxDeliveryDeps {
  /** Where rows are claimed and finished: a connection of the deliverer's own, or the API's store (storeOutbox). */
  outbox: OutboxConnection;
  now: () => number;
  owner: string;
  /** The channels of the running configuration (null: notifications are not configured). */
  channels: () => Channels | null;
  /** A delivery given up (after notifications.maxAttempts): the admins are told. */
  onGaveUp: (row: OutboxRecord, error: string, at: number) => Promise<void>;
  log: (level: 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
  /** Counts each delivery's outcome (metrics). */
  onOutcome?: (channel: string, outcome: DeliveryOutcome) => void;
  random?: () => number;
  /**
   * Deliveries in flight at once. On the API's event loop a few (a backlog must not crowd
   * out the API); in the delivery thread more, since nothing else waits on its loop.
   */
  concurrency?: number;
  /**
   * Of those, at most this many on one channel (default: no limit): a slow channel (an SMTP
   * server that answers late) does not hold up the others' rows behind its own.
   */
  perChannel?: number;
  /** Waits before a row is sent while the API is busy (see api-load.ts); none: sent at once. */
  giveWay?: (row: OutboxRecord) => Promise<void>;
  /** A claim begins: what was written before it is seen by it. */
  onClaim?: () => void;
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => { fire = resolve; });
  return { promise, fire };
}

export class OutboxDelivery {
  private running: Promise<DeliveryReport> | null = null;
  /** A run asked for while a pass was under way: another pass follows it (rows written meanwhile are seen). */
  private again: Promise<DeliveryReport> | null = null;
  /** While a pass sends: makes it claim again, with its full number of senders (rows were written). */
  private reopen: (() => void) | null = null;

  constructor(private readonly d: OutboxDeliveryDeps) {}

  /**
   * Delivers everything due now, batch after batch; one pass at a time in this process.
   * Asked while a pass runs, that pass claims again (so that new rows do not wait behind a
   * channel whose receiver holds its senders), and a second pass follows it (one, however
   * many ask meanwhile) for what it no longer takes.
   */
  runDue(): Promise<DeliveryReport> {
    if (!this.running) {
      this.running = this.pass().finally(() => { this.running = null; });
      return this.running;
    }
    this.reopen?.();
    this.again ??= this.running.catch(() => undefined).then(() => {
      this.again = null;
      return this.runDue();
    });
    return this.again;
  }

  /** Resolves once a pass under way (if any) and the one asked for after it have ended. */
  async idle(): Promise<void> {
    await (this.again ?? this.running)?.catch(() => undefined);
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<DeliveryReport> {
    const report: DeliveryReport = { delivered: 0, retried: 0, failed: 0 };
    const channels = this.d.channels();
    if (!channels) return report;
    const concurrency = this.d.concurrency ?? CONCURRENCY;
    const perChannel = Math.min(concurrency, this.d.perChannel ?? concurrency);
    const inFlight = new Map<string, number>();
    let sendEnded = signal();
    const outcomes = new OutcomeWriter(this.d.outbox, this.d.owner);
    // Claimed rows wait here for a free sender; the next batch is claimed while the last
    // rows of this one are being sent, so that no sender waits for the slowest of a batch.
    // A claim that comes back short means the backlog is done: this pass claims no more
    // (rows written since wake the deliverer, whose next pass takes them).
    const queue: OutboxRecord[] = [];
    let caughtUp = false;
    /** Sends ended so far; after a claim that left channels out came back short, the next waits for one more. */
    let ended = 0;
    let claimOnceEnded = 0;
    let claiming: Promise<void> | null = null;
    let failure: unknown = null;
    const sendable = (r: OutboxRecord) => (inFlight.get(r.channel) ?? 0) < perChannel;
    // A channel with twice its share in hand (sending or waiting) is left out of the next claim.
    const enoughOf = (): string[] => {
      if (perChannel >= concurrency) return [];
      const held = new Map(inFlight);
      for (const r of queue) held.set(r.channel, (held.get(r.channel) ?? 0) + 1);
      return [...held].filter(([, n]) => n >= 2 * perChannel).map(([channel]) => channel);
    };
    const claim = () => {
      if (claiming) return claiming;
      this.d.onClaim?.();
      const except = enoughOf();
      const endedBefore = ended;
      claiming = this.d.outbox.claim(this.d.owner, this.d.now(), LEASE_MS, BATCH, except).then((rows) => {
        queue.push(...rows);
        if (rows.length < BATCH && except.length === 0) caughtUp = true;
        else if (rows.length < BATCH) claimOnceEnded = endedBefore + 1;
      }, (err: unknown) => {
        failure ??= err;
        caughtUp = true;
      }).finally(() => { claiming = null; });
      return claiming;
    };
    // Each delivery's outcome is written a little later, with others (OutcomeWriter): the
    // next delivery does not wait for it. The pass ends once every outcome is written.
    const recorded: Promise<void>[] = [];
    const sender = async () => {
      // After a failure to claim or to write outcomes, nothing more is sent (what is left is
      // leased; the lease runs out and the rows are taken again).
      while (failure === null) {
        // More rows while fewer than the senders wait that could be sent (at most 2 × concurrency in hand).
        if (!caughtUp && !claiming && ended >= claimOnceEnded && queue.length < 2 * concurrency && queue.filter(sendable).length < concurrency) void claim();
        // The oldest row whose channel has a sender to spare.
        const i = queue.findIndex(sendable);
        if (i < 0) {
          if (queue.length === 0 && caughtUp && !claiming) return;
          // Rows only of busy channels, or channels left out of the claims: until a send
          // ends; none: until the claim.
          await (claiming ?? sendEnded.promise);
          continue;
        }
        const row = queue.splice(i, 1)[0]!;
        inFlight.set(row.channel, (inFlight.get(row.channel) ?? 0) + 1);
        await this.d.giveWay?.(row);
        const error = await this.send(row, channels);
        inFlight.set(row.channel, inFlight.get(row.channel)! - 1);
        ended++;
        sendEnded.fire();
        sendEnded = signal();
        recorded.push(this.record(row, error, channels, outcomes).then((outcome) => { report[outcome]++; }, (err: unknown) => {
          failure ??= err;
          caughtUp = true;
        }));
        // Between two deliveries, whatever else waits on the event loop goes first.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    };
    const senders = new Set<Promise<void>>();
    const startSenders = () => {
      while (senders.size < concurrency) {
        const s: Promise<void> = sender().finally(() => senders.delete(s));
        senders.add(s);
      }
    };
    // Rows written while this pass sends (the service asks for a run): claimed by this pass,
    // with senders again where some have ended (those still held by a slow channel do not
    // hold the new rows back).
    this.reopen = () => {
      if (failure !== null) return;
      caughtUp = false;
      claimOnceEnded = ended;
      startSenders();
      sendEnded.fire();
      sendEnded = signal();
    };
    try {
      await claim();
      startSenders();
      while (senders.size > 0) await Promise.all([...senders]);
    } finally {
      this.reopen = null;
      await outcomes.flush();
      await Promise.all(recorded);
    }
    if (failure !== null) throw failure;
    return report;
  }

  /** Sends one row on its channel: null, or what went wrong. */
  private async send(row: OutboxRecord, channels: Channels): Promise<string | null> {
    const channel = channels.get(row.channel);
    try {
      if (!channel) throw new Error(`the channel ${row.channel} is no longer configured`);
      await channel.deliver(row);
      return null;
    } catch (err) {
      return (err as Error).message || String(err);
    }
  }

  /** Records a delivery's outcome: delivered, tried again after a backoff, or given up (the admins are told). */
  private async record(row: OutboxRecord, error: string | null, channels: Channels, outcomes: OutcomeWriter): Promise<DeliveryOutcome> {
    const now = this.d.now();
    if (error === null) {
      await outcomes.add(row.key, { delivered: true, at: now });
      this.d.onOutcome?.(row.channel, 'delivered');
      return 'delivered';
    }
    const giveUp = row.attempts >= channels.config.maxAttempts;
    const retryAt = giveUp ? null : now + retryDelay(row.attempts, this.d.random);
    if (!(await outcomes.add(row.key, { delivered: false, at: now, error, retryAt }))) return 'retried';
    this.d.onOutcome?.(row.channel, giveUp ? 'failed' : 'retried');
    this.d.log('warn', { notification: row.key, channel: row.channel, event: row.message.event, attempt: row.attempts, error, ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}) },
      giveUp ? 'a notification could not be delivered: given up' : 'a notification could not be delivered: tried again later');
    if (giveUp) await this.d.onGaveUp(row, error, now).catch((err: unknown) => this.d.log('error', { error: String(err) }, 'could not tell the admins of a failed delivery'));
    return giveUp ? 'failed' : 'retried';
  }
}

/**
 * Writes deliveries' outcomes a few at a time (FINISH_BATCH, or after FINISH_AFTER_MS): one
 * write for many rows. A crash before a write sends those rows again (with their keys), as
 * a crash between a send and its write always could.
 */
class OutcomeWriter {
  private waiting: { finish: OutboxFinish; resolve: (ours: boolean) => void; reject: (err: unknown) => void }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly outbox: OutboxConnection, private readonly owner: string) {}

  /** Resolves, once written, with whether the row was still ours. */
  add(key: string, outcome: OutboxOutcome): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ finish: { key, outcome }, resolve, reject });
      if (this.waiting.length >= FINISH_BATCH) void this.flush();
      else this.timer ??= setTimeout(() => void this.flush(), FINISH_AFTER_MS);
    });
  }

  /** Writes what waits (after any write under way); resolves once all is written. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.waiting.splice(0);
    if (batch.length > 0) {
      this.writing = this.writing.then(async () => {
        try {
          const ours = await this.outbox.finish(this.owner, batch.map((b) => b.finish));
          batch.forEach((b, i) => b.resolve(ours[i]!));
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      });
    }
    return this.writing;
  }
}

/** The admins are told of a delivery given up (never of their own such notice: no loop). */
export async function tellAdminsOfFailure(store: Store, config: CompiledConfig, row: OutboxRecord, error: string, now: number): Promise<void> {
  const notifications = config.config.notifications;
  if (!notifications) return;
  const outbox = deliveryFailedNotifications(row, error, config, notifications, now);
  if (outbox.length) await store.commit({ outbox });
}
