// Time as a dependency, so that time-dependent logic is tested with a clock (and timers)
// the test moves.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export class ManualClock implements Clock {
  constructor(private t: number) {}
  now(): number {
    return this.t;
  }
  set(t: number): void {
    this.t = t;
  }
  advance(ms: number): number {
    this.t += ms;
    return this.t;
  }
}

/** Timers as a dependency: the platform's in use, ManualTimers in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Timers driven by a ManualClock: advancing runs what falls due, in order, each at its moment. */
export class ManualTimers implements Timers {
  private next = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();
  constructor(private readonly clock: ManualClock) {}
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.clock.now() + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  /** Moves the clock `ms` on. */
  advance(ms: number): void {
    this.advanceTo(this.clock.now() + ms);
  }
  /** Moves the clock to `t`, running each timer due on the way at its moment. */
  advanceTo(t: number): void {
    for (;;) {
      const due = [...this.pending.entries()].filter(([, x]) => x.at <= t).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.pending.delete(due[0]);
      this.clock.set(Math.max(this.clock.now(), due[1].at));
      due[1].fn();
    }
    this.clock.set(t);
  }
  /** Timers still pending. */
  get size(): number {
    return this.pending.size;
  }
}
