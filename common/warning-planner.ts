// Expiry warnings planned on the client from the access a person holds. The server is the
// one source of the warnings: its `settings.expiryWarnings` (sent in `GET /api/v1/me` as
// `expiryWarnings`) are the moments it sends `request.expiring` events at, and the tray
// plans the same moments locally (so a warning comes even while the events stream is
// down), plus the person's own extra reminders. `warningOffsets` makes that one list, each
// offset once; a local warning and the server's event for the same moment carry the same
// key (`warningKey`), so the person is told once. Until the server's offsets are known the
// tray plans at the server's own default, `DEFAULT_WARNING_OFFSETS_MS`.

import type { Clock, Timers } from './clock.ts';
import { parseDuration } from './duration.ts';

/** The server's default `settings.expiryWarnings`: 10 minutes and 1 minute before expiry. */
export const DEFAULT_WARNING_OFFSETS_MS = [10 * 60_000, 60_000];

/**
 * The server's warning offsets in milliseconds from `me.expiryWarnings` (durations as text,
 * e.g. ["10m", "1m"]), latest first; null when the server did not send them (a server older
 * than the field), so that the caller falls back to `DEFAULT_WARNING_OFFSETS_MS`. A value
 * that is not a duration is left out.
 */
export function serverWarningOffsetsMs(expiryWarnings: unknown): number[] | null {
  if (!Array.isArray(expiryWarnings)) return null;
  const out: number[] = [];
  for (const text of expiryWarnings) {
    try {
      out.push(parseDuration(text as string));
    } catch {
      // not a duration: skipped
    }
  }
  return normalizeOffsets(out);
}

/**
 * The offsets to warn at: the server's (its default while they are not known) and the
 * person's extra reminders, each offset once, latest first. An extra reminder at the same
 * offset as one of the server's is the same warning, not a second one.
 */
export function warningOffsets(serverOffsetsMs: number[] | null, extraOffsetsMs: number[]): number[] {
  return normalizeOffsets([...(serverOffsetsMs ?? DEFAULT_WARNING_OFFSETS_MS), ...extraOffsetsMs]);
}

/** Positive, finite offsets, each once, latest (largest) first. */
function normalizeOffsets(offsetsMs: number[]): number[] {
  return [...new Set(offsetsMs.filter((o) => Number.isFinite(o) && o > 0))].sort((a, b) => b - a);
}

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
  const offsets = normalizeOffsets(offsetsMs);
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
