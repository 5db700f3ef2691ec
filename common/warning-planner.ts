// Expiry warnings planned on the client from the access a person holds and the offsets
// they chose (default 10 min and 1 min before expiry). The backend sends its own warnings
// at the server's offsets; both carry the same key for the same moment, so a person who
// kept the defaults is told once.

import type { Clock } from './clock.ts';

export const DEFAULT_WARNING_OFFSETS_MS = [10 * 60_000, 60_000];

export interface ActiveAccess {
  requestId: string;
  expiresAt: number | null;
}

export interface PlannedWarning {
  key: string;
  requestId: string;
  expiresAt: number;
  offsetMs: number;
  /** When it should be shown; at or before `now` means at once. */
  at: number;
}

/** The one key of "the warning `offsetMs` before `expiresAt` of this request". */
export function warningKey(requestId: string, expiresAt: number, offsetMs: number): string {
  return `warn:${requestId}:${expiresAt}:${offsetMs}`;
}

/**
 * The warnings still to give, soonest first. A warning whose moment has passed is given
 * at once only if it is the latest one passed and the access has not expired (a person
 * who opens the app 5 minutes before expiry hears "10 min" late, once, not every
 * warning missed).
 */
export function planWarnings(active: ActiveAccess[], offsetsMs: number[], now: number): PlannedWarning[] {
  const offsets = [...new Set(offsetsMs.filter((o) => Number.isFinite(o) && o > 0))].sort((a, b) => b - a);
  const out: PlannedWarning[] = [];
  for (const a of active) {
    if (a.expiresAt === null || a.expiresAt <= now) continue;
    const passed = offsets.filter((o) => a.expiresAt! - o <= now);
    const latestPassed = passed.length ? Math.min(...passed) : undefined;
    for (const o of offsets) {
      const at = a.expiresAt - o;
      if (at <= now && o !== latestPassed) continue;
      out.push({ key: warningKey(a.requestId, a.expiresAt, o), requestId: a.requestId, expiresAt: a.expiresAt, offsetMs: o, at });
    }
  }
  return out.sort((x, y) => x.at - y.at || x.key.localeCompare(y.key));
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Keeps one timer for the next warning and calls `fire` for each warning when its moment
 * comes. `update` replaces the plan (after any change to what is active); the clock and the
 * timers are injected, so tests move time by hand.
 */
export class WarningScheduler {
  private plan: PlannedWarning[] = [];
  private handle: unknown = null;
  private readonly given = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly timers: Timers,
    private readonly fire: (w: PlannedWarning) => void,
    private offsetsMs: number[] = DEFAULT_WARNING_OFFSETS_MS,
  ) {}

  setOffsets(offsetsMs: number[]): void {
    this.offsetsMs = offsetsMs;
  }

  update(active: ActiveAccess[]): void {
    this.plan = planWarnings(active, this.offsetsMs, this.clock.now()).filter((w) => !this.given.has(w.key));
    this.arm();
  }

  /** Gives every warning whose moment has come, then waits for the next one. */
  tick(): void {
    const now = this.clock.now();
    while (this.plan.length && this.plan[0]!.at <= now) {
      const w = this.plan.shift()!;
      if (this.given.has(w.key) || w.expiresAt <= now) continue;
      this.given.add(w.key);
      this.fire(w);
    }
    this.arm();
  }

  stop(): void {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
    this.plan = [];
  }

  /** The moment of the next warning, or null. */
  get nextAt(): number | null {
    return this.plan[0]?.at ?? null;
  }

  private arm(): void {
    if (this.handle !== null) this.timers.clearTimeout(this.handle);
    this.handle = null;
    const next = this.plan[0];
    if (!next) return;
    this.handle = this.timers.setTimeout(() => {
      this.handle = null;
      this.tick();
    }, Math.max(0, next.at - this.clock.now()));
  }
}
