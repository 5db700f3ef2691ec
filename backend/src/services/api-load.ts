// How busy the API's thread is, as the delivery thread sees it: the API's side measures its
// event loop's utilization (the share of time it ran code rather than waited) every 20 ms and
// writes it into memory both threads share; the delivery thread reads it before each
// delivery and, while the API's thread is busy, gives way: on a machine of few cores a burst
// of requests is also a burst of deliveries, and the two compete for the processor. A
// notification waits this way at most GIVE_WAY_MAX_MS after its transition, so under a load
// that does not end notifications still leave, as fast as before.

import { performance } from 'node:perf_hooks';

/** The API's thread counts as busy above this share of the last interval. */
const BUSY_ABOVE = 0.5;
const MEASURE_EVERY_MS = 20;
/** A measurement older than this means the API's thread could not even run its timer: busy. */
const STALE_AFTER_MS = 10 * MEASURE_EVERY_MS;
/** A notification gives way to the API for at most this long after its transition. */
const GIVE_WAY_MAX_MS = 5_000;
/** How often a delivery that gives way looks again. */
const LOOK_AGAIN_MS = 10;

/** [0]: utilization in thousandths; [1]: when it was measured (Date.now(), low 31 bits; -1: not measuring, never busy). */
const SLOTS = 2;
const stamp = (ms: number) => ms & 0x7fffffff;

/** The API's side of the shared memory: measuring from start() to stop(). */
export interface ApiLoad {
  readonly memory: SharedArrayBuffer;
  start(): void;
  stop(): void;
}

/** The API's side: measures its own event loop into `memory`. */
export class ApiLoadGauge implements ApiLoad {
  private readonly slots: Int32Array;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(SLOTS * 4), private readonly now: () => number = Date.now) {
    // Measuring starts with start(): until then nothing is held back.
    this.slots = new Int32Array(memory, 0, SLOTS);
    Atomics.store(this.slots, 1, -1);
  }

  start(): void {
    if (this.timer) return;
    this.write(0);
    let last = performance.eventLoopUtilization();
    this.timer = setInterval(() => {
      const current = performance.eventLoopUtilization();
      this.write(performance.eventLoopUtilization(current, last).utilization);
      last = current;
    }, MEASURE_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    // A service that stops does not hold its last deliveries back.
    Atomics.store(this.slots, 1, -1);
  }

  /** Records a measurement (the timer's, or a test's). */
  write(utilization: number): void {
    Atomics.store(this.slots, 0, Math.round(Math.min(1, Math.max(0, utilization)) * 1000));
    Atomics.store(this.slots, 1, stamp(this.now()));
  }
}

/** The delivery thread's side: whether the API's thread is busy now. */
export function apiLoadReader(memory: SharedArrayBuffer, now: () => number = Date.now): { busy(): boolean } {
  const slots = new Int32Array(memory, 0, SLOTS);
  return {
    busy() {
      const at = Atomics.load(slots, 1);
      if (at < 0) return false;
      const age = (stamp(now()) - at) & 0x7fffffff;
      return age > STALE_AFTER_MS || Atomics.load(slots, 0) > BUSY_ABOVE * 1000;
    },
  };
}

/**
 * The deliveries that wait for the API to be quiet: one timer looks for all of them (every
 * LOOK_AGAIN_MS while any waits), rather than one per delivery.
 */
export class GiveWay {
  private waiters: { until: number; resolve: () => void }[] = [];
  private timer: NodeJS.Timeout | null = null;

  /** `now`: the service's clock, which the notifications' creation times are in. */
  constructor(private readonly d: { busy: () => boolean; now: () => number }) {}

  /** Resolves once the API is quiet, or the notification written at `createdAt` is GIVE_WAY_MAX_MS old. */
  wait(createdAt: number): Promise<void> {
    const until = createdAt + GIVE_WAY_MAX_MS;
    if (!this.d.busy() || this.d.now() >= until) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ until, resolve });
      this.timer ??= setInterval(() => this.look(), LOOK_AGAIN_MS);
    });
  }

  /** How many deliveries wait now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Lets go of every waiter once the API is quiet, else of those whose time is up. */
  look(): void {
    const quiet = !this.d.busy();
    const now = this.d.now();
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (quiet || now >= w.until) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
    if (still.length === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
