// Replicas talk through PostgreSQL only: LISTEN/NOTIFY carries (1) the events each replica's
// engine publishes, so that an events-stream client on any replica sees a change made on
// another, and (2) wake-ups for the schedulers when a replica plans work earlier than the
// others would look. No other broker.
//
// Events are sent after the change they describe committed (the engine publishes after its
// commit), batched per turn of the event loop. A replica ignores its own notifications, so
// its local clients get each event once. Notifications sent while this replica's listening
// connection is down are lost for its clients (they resync by refetching, as after any
// reconnect); the listening connection reconnects by itself.

import type pg from 'pg';
import type { EventBus, LapseEvent } from '../engine/events.ts';
import type { PostgresStore } from './postgres-store.ts';

/** PostgreSQL refuses a payload of 8000 bytes or more. */
const MAX_PAYLOAD = 7900;
const RECONNECT_MS = 1000;
const WAKE_COALESCE_MS = 20;
const WATCHDOG_MS = 3000;

export interface RelayOptions {
  /** This replica's id: notifications it sent itself are ignored. */
  origin: string;
  /** Another replica planned work due at `at`. */
  onWake: (at: number) => void;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export class PgReplicaRelay {
  private listener: pg.Client | null = null;
  private unsubscribe: (() => void) | null = null;
  private republishing = false;
  private outbox: LapseEvent[] = [];
  private flushScheduled = false;
  private wakeAt: number | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private eventsChannel = 'lapse_events';
  private wakeChannel = 'lapse_wake';
  /** Whether the listening connection is up (for diagnostics). */
  listening = false;

  constructor(
    private readonly store: PostgresStore,
    private readonly bus: EventBus,
    private readonly opts: RelayOptions,
  ) {}

  async start(): Promise<void> {
    // Channels are per database; a store in its own schema (tests) gets channels of its own.
    const row = (await this.store.pool.query('SELECT current_schema() AS s')).rows[0] as { s: string | null };
    const suffix = row.s && row.s !== 'public' ? `_${row.s}` : '';
    this.eventsChannel = `lapse_events${suffix}`.slice(0, 63);
    this.wakeChannel = `lapse_wake${suffix}`.slice(0, 63);
    this.unsubscribe = this.bus.subscribe((e) => this.onLocalEvent(e));
    await this.connect();
    // A watchdog: a listening connection that died silently is noticed by a ping, and a
    // reconnect that is not under way (whatever stopped it) is started again.
    this.watchdog = setInterval(() => void this.check(), WATCHDOG_MS);
  }

  private watchdog: NodeJS.Timeout | null = null;
  private connecting = false;

  private async check(): Promise<void> {
    if (this.stopped || this.connecting) return;
    const client = this.listener;
    if (client === null) {
      if (!this.reconnectTimer) void this.connect();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('no answer to a ping')), WATCHDOG_MS); }),
      ]);
    } catch (err) {
      if (this.listener !== client) return;
      this.opts.log('warn', 'the replica notification connection stopped answering; reconnecting', { error: String(err) });
      this.dropListener(client);
      void client.end().catch(() => undefined);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.unsubscribe?.();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.flush();
    const client = this.listener;
    this.listener = null;
    this.listening = false;
    await client?.end().catch(() => undefined);
  }

  /** Tells the other replicas that work falls due at `at` (coalesced: the earliest in a short window). */
  notifyWake(at: number): void {
    if (this.stopped) return;
    if (this.wakeAt === null || at < this.wakeAt) this.wakeAt = at;
    if (this.wakeTimer) return;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      const wakeAt = this.wakeAt;
      this.wakeAt = null;
      if (wakeAt === null) return;
      this.send(this.wakeChannel, JSON.stringify({ o: this.opts.origin, at: wakeAt }));
    }, WAKE_COALESCE_MS);
  }

  private async connect(): Promise<void> {
    if (this.connecting || this.stopped) return;
    this.connecting = true;
    try {
      await this.connectOnce();
    } finally {
      this.connecting = false;
    }
  }

  private async connectOnce(): Promise<void> {
    const wasDown = this.droppedOnce;
    const client = this.store.newClient();
    client.on('error', (err) => {
      this.opts.log('warn', 'the replica notification connection failed; reconnecting', { error: err.message });
      this.dropListener(client);
    });
    client.on('end', () => this.dropListener(client));
    client.on('notification', (n) => this.onNotification(n.channel, n.payload));
    let timer: NodeJS.Timeout | undefined;
    try {
      // Bounded: an attempt that hangs (a half-open connection) must not stop the retries.
      await Promise.race([
        (async () => {
          await client.connect();
          await client.query(`LISTEN "${this.eventsChannel}"`);
          await client.query(`LISTEN "${this.wakeChannel}"`);
        })(),
        new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('connecting took too long')), this.store.settings.connectTimeoutMs + WATCHDOG_MS); }),
      ]);
    } catch (err) {
      clearTimeout(timer);
      this.dropListener(client);
      // Not awaited: ending a connection that never fully opened may not settle.
      void client.end().catch(() => undefined);
      if (this.listener === null && !this.stopped) this.scheduleReconnect();
      this.opts.log('warn', 'could not listen for other replicas; retrying', { error: String(err) });
      return;
    }
    clearTimeout(timer);
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.listening = true;
    if (wasDown) this.opts.log('info', 'listening for other replicas again');
  }

  /** Whether a listening connection was lost before (to log its recovery). */
  private droppedOnce = false;

  private dropListener(client: pg.Client): void {
    if (this.listener === client) {
      this.droppedOnce = true;
      this.listener = null;
      this.listening = false;
    }
    if (!this.stopped && this.listener === null) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.stopped) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.stopped && this.listener === null) void this.connect().then(() => {
        // A failed attempt inside connect() could not schedule the next one while it ran.
        if (!this.stopped && this.listener === null) this.scheduleReconnect();
      });
    }, RECONNECT_MS);
  }

  private onNotification(channel: string, payload: string | undefined): void {
    if (!payload) return;
    let msg: { o?: string; e?: LapseEvent[]; at?: number };
    try {
      msg = JSON.parse(payload) as typeof msg;
    } catch {
      return;
    }
    if (msg.o === this.opts.origin) return;
    if (channel === this.wakeChannel && typeof msg.at === 'number') {
      this.opts.onWake(msg.at);
      return;
    }
    if (channel !== this.eventsChannel || !Array.isArray(msg.e)) return;
    this.republishing = true;
    try {
      for (const e of msg.e) this.bus.publish(e);
    } finally {
      this.republishing = false;
    }
  }

  private onLocalEvent(e: LapseEvent): void {
    if (this.republishing || this.stopped) return;
    this.outbox.push(e);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends the outbox in as few notifications as fit under the payload limit. */
  private flush(): void {
    this.flushScheduled = false;
    const events = this.outbox;
    this.outbox = [];
    let batch: string[] = [];
    let size = 0;
    const head = `{"o":${JSON.stringify(this.opts.origin)},"e":[`;
    const send = () => {
      if (batch.length) this.send(this.eventsChannel, head + batch.join(',') + ']}');
      batch = [];
      size = 0;
    };
    for (const e of events) {
      let text = JSON.stringify(e);
      // An oversized event travels without its extra data (clients refetch the request anyway).
      if (Buffer.byteLength(text) + head.length + 2 > MAX_PAYLOAD) text = JSON.stringify({ ...e, data: { status: e.data.status } });
      const bytes = Buffer.byteLength(text);
      if (size + bytes + head.length + 2 > MAX_PAYLOAD) send();
      batch.push(text);
      size += bytes + 1;
    }
    send();
  }

  private send(channel: string, payload: string): void {
    this.store.pool.query('SELECT pg_notify($1, $2)', [channel, payload]).catch((err: unknown) => {
      if (!this.stopped) this.opts.log('warn', 'could not notify the other replicas', { error: String(err) });
    });
  }
}
