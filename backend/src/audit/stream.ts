// The audit stream's delivery: for each configured subscriber, a loop that takes the lease on
// the subscriber's cursor in the store, reads the events after it in seq order and hands them
// to the subscriber's sender, moving the cursor forward as they are delivered. At least once
// and in order: the cursor moves only after delivery, so an event may be sent again (after a
// failure or a takeover) but none is skipped. The cursor and the lease are in the store, so a
// restart, or another replica when this one dies, goes on from where delivery stopped. A
// failing subscriber is tried again after a capped, jittered backoff kept in the store too.
// Nothing here runs on the request path: the loops run beside the API.

import { hostname as osHostname } from 'node:os';
import { backoffMs, DEFAULT_AUDIT_STREAM_BACKOFF, subscriberTarget, type AuditSubscriberConfig, type Backoff } from '../domain/audit-stream.ts';
import type { Store } from '../store/store.ts';
import { SyslogSender, WebhookSender, type Sender } from './stream-senders.ts';

/** How often a subscriber's loop looks for new events (and renews its lease) by default. */
export const DEFAULT_AUDIT_STREAM_POLL_MS = 1000;
/** Events read from the store per delivery. */
const BATCH = 500;

export interface AuditStreamOptions {
  store: Store;
  subscribers: AuditSubscriberConfig[];
  /** This process's name as a lease holder (unique per process). */
  owner: string;
  /** How long a lease lasts without renewal: how long a dead holder's subscribers wait. */
  leaseMs: number;
  now: () => number;
  env?: NodeJS.ProcessEnv;
  /** How often each loop looks for new events; below leaseMs / 2. */
  pollMs?: number;
  backoff?: Backoff;
  /** The HOSTNAME of syslog messages (default the machine's). */
  hostname?: string;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Test hook: the senders (default: syslog or webhook by type). */
  senderFor?: (s: AuditSubscriberConfig) => Sender;
}

/** One subscriber as GET /api/v1/audit/stream and the metrics show it. */
export interface AuditStreamStatus {
  id: string;
  type: AuditSubscriberConfig['type'];
  target: string;
  /** The seq of the last event delivered (0: none yet). */
  deliveredSeq: number;
  deliveredAt: number | null;
  /** The audit chain's head. */
  headSeq: number;
  /** Events not delivered yet: headSeq - deliveredSeq. */
  lag: number;
  /** Failures in a row since the last delivery. */
  attempts: number;
  retryAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
}

export class AuditStream {
  private readonly pollMs: number;
  private readonly backoff: Backoff;
  private readonly senders = new Map<string, Sender>();
  private readonly loops: Promise<void>[] = [];
  private readonly sleepers = new Set<() => void>();
  private stopped = false;

  constructor(private readonly opts: AuditStreamOptions) {
    this.pollMs = opts.pollMs ?? DEFAULT_AUDIT_STREAM_POLL_MS;
    this.backoff = opts.backoff ?? DEFAULT_AUDIT_STREAM_BACKOFF;
    const host = opts.hostname ?? osHostname();
    for (const s of opts.subscribers) {
      this.senders.set(s.id, opts.senderFor?.(s) ?? (s.type === 'syslog' ? new SyslogSender(s, host) : new WebhookSender(s, opts.env ?? process.env)));
    }
  }

  start(): void {
    for (const s of this.opts.subscribers) this.loops.push(this.loop(s));
  }

  /** Ends the loops (a delivery under way finishes first) and gives their leases up, for another replica to go on at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const wake of this.sleepers) wake();
    await Promise.all(this.loops);
  }

  async status(): Promise<AuditStreamStatus[]> {
    const [cursors, head] = await Promise.all([this.opts.store.listAuditStreams(), this.opts.store.auditHead()]);
    const headSeq = head?.seq ?? 0;
    return this.opts.subscribers.map((s) => {
      const c = cursors.find((x) => x.subscriber === s.id);
      const deliveredSeq = c?.deliveredSeq ?? 0;
      return {
        id: s.id, type: s.type, target: subscriberTarget(s), deliveredSeq, deliveredAt: c?.deliveredAt ?? null, headSeq, lag: Math.max(0, headSeq - deliveredSeq),
        attempts: c?.attempts ?? 0, retryAt: c?.retryAt ?? null, lastError: c?.lastError ?? null, lastErrorAt: c?.lastErrorAt ?? null,
      };
    });
  }

  private async loop(s: AuditSubscriberConfig): Promise<void> {
    while (!this.stopped) {
      let waitMs = this.pollMs;
      try {
        waitMs = await this.step(s);
      } catch (err) {
        // The store itself failed (a database outage): looked at again after the usual wait.
        this.opts.log?.('error', 'audit stream: could not read or move the cursor', { subscriber: s.id, error: String(err) });
      }
      if (waitMs > 0) await this.sleep(waitMs);
    }
    await this.opts.store.releaseAuditStream(s.id, this.opts.owner).catch(() => undefined);
  }

  /** One look: takes the lease, delivers what follows the cursor. How long to wait before the next look. */
  private async step(s: AuditSubscriberConfig): Promise<number> {
    const { store, owner, leaseMs } = this.opts;
    const now = this.opts.now();
    const cursor = await store.claimAuditStream(s.id, owner, now, now + leaseMs);
    // Another replica delivers to this subscriber: it takes over from it if that one's lease lapses.
    if (cursor === null) return this.pollMs;
    if (cursor.retryAt !== null && cursor.retryAt > now) return Math.min(cursor.retryAt - now, this.pollMs);
    const events = await store.listAudit({ afterSeq: cursor.deliveredSeq, limit: BATCH });
    if (events.length === 0) return this.pollMs;
    // A delivery slower than the lease keeps it: renewed while it runs.
    const renew = setInterval(() => {
      const t = this.opts.now();
      store.claimAuditStream(s.id, owner, t, t + leaseMs).catch(() => undefined);
    }, Math.max(50, Math.floor(leaseMs / 3)));
    let progressed = false;
    let leaseLost = false;
    try {
      await this.senders.get(s.id)!.deliver(events, async (seq) => {
        const moved = await store.advanceAuditStream(s.id, owner, seq, this.opts.now());
        if (moved) progressed = true;
        else leaseLost = true;
        return moved;
      });
    } catch (err) {
      const error = String((err as Error).message ?? err).slice(0, 1000);
      const attempts = progressed ? 1 : cursor.attempts + 1;
      const at = this.opts.now();
      const retryAt = at + backoffMs(attempts, this.backoff);
      await store.failAuditStream(s.id, owner, error, at, retryAt);
      if (attempts === 1) this.opts.log?.('warn', 'audit stream: delivery failed; retrying with backoff', { subscriber: s.id, target: subscriberTarget(s), error });
      return Math.min(retryAt - at, this.pollMs);
    } finally {
      clearInterval(renew);
    }
    if (cursor.attempts > 0 && !leaseLost) this.opts.log?.('info', 'audit stream: delivering again', { subscriber: s.id, failures: cursor.attempts });
    return events.length === BATCH && !leaseLost ? 0 : this.pollMs;
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }
}
