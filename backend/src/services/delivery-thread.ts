// The outbox's deliveries in a thread of their own (a worker thread: delivery-worker.ts),
// so that a burst of notifications never runs on the API's event loop: claiming rows,
// rendering messages, SMTP and HTTP sending and writing outcomes all happen there, over the
// thread's own store connection. This side starts and stops the thread, starts it again
// if it dies (its leases are released, so that the rows it held are taken again at once),
// asks for a pass when rows are written (and on the scheduler's poll), hands it the
// configuration's channels when a reload changes them, and does on the API's side what
// needs the service: the metrics, the admins' notice of a delivery given up, the log.

import { Worker } from 'node:worker_threads';
import type { NotificationsConfig } from '../domain/config.ts';
import { storeOutbox, type OutboxConnectionSpec } from '../store/outbox-connection.ts';
import { SharedWriteLock } from '../store/sqlite-write-lock.ts';
import type { OutboxRecord, Store } from '../store/store.ts';
import { Channels } from '../notify/channels.ts';
import { OutboxDelivery, type DeliveryOutcome, type DeliveryReport } from './outbox-delivery.ts';
import { ApiLoadGauge, type ApiLoad } from './api-load.ts';

export interface DeliveryThreadData {
  spec: OutboxConnectionSpec;
  owner: string;
  env: Record<string, string | undefined>;
  notifications: NotificationsConfig | null;
  /** Free the leases `owner` holds first (the thread before this one died). */
  releaseLeases: boolean;
  /**
   * One Int32 shared by both sides: 1 while a wake-up is posted and no claim has begun since.
   * The service posts another only when it finds 0; the thread sets 0 as a claim begins, so
   * a wake-up left out is one whose rows that claim still sees. A wake-up that reaches a pass
   * under way makes it claim again (see OutboxDelivery.runDue); while its deliveries give way
   * to a busy API and it claims nothing, the transitions post nothing.
   */
  wakeFlag: SharedArrayBuffer;
  lowerPriority: boolean;
  /** How busy the API's thread is (api-load.ts): the thread gives way to it; null: never. */
  apiLoad: SharedArrayBuffer | null;
}

/** `id`: null for a wake-up nobody waits on, else answered by `ran` with that id. */
export type ToDelivery =
  | { type: 'run'; id: number | null; offsetMs: number }
  | { type: 'config'; notifications: NotificationsConfig | null }
  | { type: 'stop' };

export type FromDelivery =
  | { type: 'ready' }
  | { type: 'fatal'; error: string }
  | { type: 'ran'; id: number; report?: DeliveryReport; error?: string }
  | { type: 'outcome'; channel: string; outcome: DeliveryOutcome }
  | { type: 'gave-up'; row: OutboxRecord; error: string; at: number }
  | { type: 'log'; level: 'warn' | 'error'; fields: Record<string, unknown>; message: string }
  | { type: 'stopped' };

/** A thread that died is started again after this long, doubling up to RESTART_MAX_MS while it keeps dying. */
const RESTART_MS = 500;
const RESTART_MAX_MS = 30_000;
/** How long a stopping thread may take to end its pass before it is terminated. */
const STOP_TIMEOUT_MS = 20_000;

/**
 * The worker's module: beside this one when run from source (the TypeScript loader is
 * inherited by the worker), `delivery-worker.js` at the top of the compiled backend
 * (backend/build.ts makes it an entry of its own) when run from a bundle.
 */
export function deliveryWorkerUrl(here: string = import.meta.url): URL {
  if (here.endsWith('.ts')) return new URL('./delivery-worker.ts', here);
  return new URL(/\/chunks\/[^/]+$/.test(here) ? '../delivery-worker.js' : './delivery-worker.js', here);
}

export interface DeliveryThreadDeps {
  spec: OutboxConnectionSpec;
  owner: string;
  env: NodeJS.ProcessEnv;
  /** The running configuration's notifications (handed to the thread again when a reload changes them). */
  notifications: () => NotificationsConfig | null;
  /** The service's clock: the thread's clock keeps its distance from this machine's. */
  now: () => number;
  onOutcome: (channel: string, outcome: DeliveryOutcome) => void;
  onGaveUp: (row: OutboxRecord, error: string, at: number) => Promise<void>;
  log: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
  /** Lower the thread's priority where the platform allows (default true). */
  lowerPriority?: boolean;
  /** How busy the API's thread is, for the thread to give way to it (api-load.ts): default a gauge of this thread's event loop; null: it never gives way. */
  apiLoad?: ApiLoad | null;
  workerUrl?: URL;
}

export class DeliveryThread implements Deliverer {
  private worker: Worker | null = null;
  private sentConfig: NotificationsConfig | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (r: DeliveryReport) => void; reject: (err: Error) => void }>();
  /** See DeliveryThreadData.wakeFlag. */
  private wakeFlag = new Int32Array(new SharedArrayBuffer(4));
  private started = false;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private restartDelay = RESTART_MS;
  private stopped: (() => void) | null = null;
  /** How many times a thread was started. */
  starts = 0;
  /** How busy this (the API's) thread is, for the delivery thread to give way (null: it never does). */
  private readonly apiLoad: ApiLoad | null;

  constructor(private readonly d: DeliveryThreadDeps) {
    this.apiLoad = d.apiLoad === undefined ? new ApiLoadGauge() : d.apiLoad;
  }

  /**
   * Starts the thread, without waiting for it (the service's start does not wait for its
   * modules to load; what is asked of it meanwhile waits in its queue). Without notifications
   * configured, none is started until a reload configures them.
   */
  async start(): Promise<void> {
    this.started = true;
    this.ensureThread();
  }

  private ensureThread(): void {
    if (this.worker || this.restartTimer || this.stopping || !this.started || !this.d.notifications()) return;
    this.spawn();
  }

  private spawn(): void {
    this.starts++;
    // The API's load is measured while a thread reads it (not without notifications).
    this.apiLoad?.start();
    const notifications = this.d.notifications();
    // Leases this replica's owner holds were a thread's before this one, which is gone.
    const wakeFlag = new SharedArrayBuffer(4);
    this.wakeFlag = new Int32Array(wakeFlag);
    const data: DeliveryThreadData = {
      spec: this.d.spec, owner: this.d.owner, env: { ...this.d.env }, notifications, releaseLeases: this.starts > 1, lowerPriority: this.d.lowerPriority ?? true, wakeFlag,
      apiLoad: this.apiLoad?.memory ?? null,
    };
    const worker = new Worker(this.d.workerUrl ?? deliveryWorkerUrl(), { workerData: data, name: 'lapse-delivery' });
    this.worker = worker;
    this.sentConfig = notifications;
    worker.on('message', (m: FromDelivery) => this.onMessage(m));
    worker.on('error', (err) => this.d.log('error', { error: err.stack ?? String(err) }, 'the delivery thread failed'));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      // A thread that ended inside a write leaves the store's write lock to the API's writer.
      if (this.d.spec.kind === 'sqlite' && this.d.spec.writeLock) new SharedWriteLock(this.d.spec.writeLock).release('delivery');
      this.failWaiting(new Error(`the delivery thread ended (exit code ${code})`));
      if (this.stopping) {
        this.stopped?.();
        return;
      }
      // Died under way: started again; the rows it held are released and taken again.
      this.d.log('error', { code, restartInMs: this.restartDelay }, 'the delivery thread ended; it is started again');
      const delay = this.restartDelay;
      this.restartDelay = Math.min(RESTART_MAX_MS, this.restartDelay * 2);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        this.ensureThread();
        this.wake();
      }, delay);
      this.restartTimer.unref();
    });
  }

  private onMessage(m: FromDelivery): void {
    switch (m.type) {
      case 'ready':
        this.restartDelay = RESTART_MS;
        return;
      case 'fatal':
        this.d.log('error', { error: m.error }, 'the delivery thread could not open its store connection');
        return;
      case 'ran': {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.report) w?.resolve(m.report);
        else w?.reject(new Error(m.error ?? 'the delivery pass failed'));
        return;
      }
      case 'outcome':
        this.d.onOutcome(m.channel, m.outcome);
        return;
      case 'gave-up':
        void this.d.onGaveUp(m.row, m.error, m.at).catch((err: unknown) => this.d.log('error', { error: String(err) }, 'could not tell the admins of a failed delivery'));
        return;
      case 'log':
        this.d.log(m.level, m.fields, m.message);
        return;
      default:
    }
  }

  private failWaiting(err: Error): void {
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  /** Posts to the thread, the running configuration's channels first if a reload changed them. */
  private post(m: ToDelivery): boolean {
    this.ensureThread();
    if (!this.worker || this.stopping) return false;
    const notifications = this.d.notifications();
    if (notifications !== this.sentConfig) {
      this.sentConfig = notifications;
      this.worker.postMessage({ type: 'config', notifications } satisfies ToDelivery);
    }
    this.worker.postMessage(m);
    return true;
  }

  /** Delivers everything due now (a pass in the thread; asked during one, the pass after it). */
  runDue(): Promise<DeliveryReport> {
    this.ensureThread();
    if (!this.worker && !this.stopping && !this.restartTimer && !this.d.notifications()) return Promise.resolve({ delivered: 0, retried: 0, failed: 0 });
    if (!this.worker || this.stopping) return Promise.reject(new Error(this.stopping ? 'the delivery thread is stopping' : 'the delivery thread is not running (it is being started again)'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.post({ type: 'run', id, offsetMs: this.d.now() - Date.now() });
    });
  }

  /** Rows were written: a pass, without waiting for the next poll. Cheap to call often: one wake-up is in flight at most. */
  wake(): void {
    if (Atomics.exchange(this.wakeFlag, 0, 1) === 1) return;
    if (!this.post({ type: 'run', id: null, offsetMs: this.d.now() - Date.now() })) Atomics.store(this.wakeFlag, 0, 0);
  }

  /** Ends the pass under way (its outcomes written), closes the channels and the connection, ends the thread. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.apiLoad?.stop();
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
      this.stopped = () => {
        clearTimeout(timer);
        resolve();
      };
      worker.postMessage({ type: 'stop' } satisfies ToDelivery);
    });
  }

  /** Ends the thread at once, as a crash would (tests). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }
}

/** Where the outbox's deliveries run, as the service drives them. */
export interface Deliverer {
  start(): Promise<void>;
  /** Delivers everything due now. */
  runDue(): Promise<DeliveryReport>;
  /** Rows were written: deliver them now rather than at the next poll. */
  wake(): void;
  stop(): Promise<void>;
}

/**
 * The deliveries on the API's own event loop, over the API's store: for a store a second
 * connection cannot reach (SQLite in memory) and for the desktop app's embedded server (one
 * person's notifications; its main process is a single bundle, without the thread's module).
 */
export function eventLoopDelivery(d: Omit<DeliveryThreadDeps, 'spec' | 'lowerPriority' | 'apiLoad' | 'workerUrl'> & { store: Store }): Deliverer {
  let channels: { of: NotificationsConfig; channels: Channels } | null = null;
  const channelsNow = (): Channels | null => {
    const wanted = d.notifications();
    if (channels?.of !== wanted) {
      channels?.channels.close();
      channels = wanted ? { of: wanted, channels: new Channels(wanted, d.env) } : null;
    }
    return channels?.channels ?? null;
  };
  const delivery = new OutboxDelivery({
    outbox: storeOutbox(d.store), owner: d.owner, now: d.now, channels: channelsNow, log: d.log, onOutcome: d.onOutcome, onGaveUp: d.onGaveUp,
  });
  let stopped = false;
  return {
    start: async () => undefined,
    runDue: () => delivery.runDue(),
    wake: () => {
      if (!stopped) void delivery.runDue().catch((err: unknown) => d.log('error', { error: String(err) }, 'a delivery pass failed; the next one tries again'));
    },
    stop: async () => {
      stopped = true;
      await delivery.idle();
      channels?.channels.close();
      channels = null;
    },
  };
}
