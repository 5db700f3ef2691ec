// The scheduler: claims due jobs from the store (each with a lease, in one statement) and
// hands them to the engine. All its state is in the store, so a restart — or another
// process sharing the store — picks up exactly where it stopped; work that fell due while
// the process was down is simply due now.

import type { Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { Engine } from './engine.ts';

/** Once the due work has run out, look for newly due work at most this often while jobs run. */
const REFILL_MS = 5;

export interface SchedulerOptions {
  owner: string;
  leaseMs?: number;
  /** Jobs claimed per statement. */
  batchSize?: number;
  /** Jobs run at once. */
  concurrency?: number;
  /** Longest sleep between looks at the store. */
  idleMs?: number;
  /** How often automatic flows are re-evaluated. */
  automaticSyncMs?: number;
  /**
   * Work the loop starts every `everyMs` (the first time at start): reconciliation, health
   * checks. Each runs beside the jobs, never twice at once.
   */
  periodic?: PeriodicTask[];
  onError?: (err: unknown) => void;
}

export interface PeriodicTask {
  name: string;
  everyMs: number;
  /** How long after the scheduler starts the first run comes (default 0: at start). */
  firstAfterMs?: number;
  run: () => Promise<unknown>;
}

export class Scheduler {
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private readonly concurrency: number;
  private readonly idleMs: number;
  private readonly automaticSyncMs: number;
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeResolve: (() => void) | null = null;
  private lastAutomaticSync = 0;
  private plannedWakeAt = 0;
  private readonly periodicState = new Map<string, { lastStart: number; running: Promise<void> | null }>();
  /** Jobs completed by this scheduler (for metrics). */
  completed = 0;

  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly clock: Clock,
    private readonly opts: SchedulerOptions,
  ) {
    this.owner = opts.owner;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.batchSize = opts.batchSize ?? 500;
    this.concurrency = opts.concurrency ?? 256;
    this.idleMs = opts.idleMs ?? 250;
    this.automaticSyncMs = opts.automaticSyncMs ?? 15_000;
  }

  /**
   * Claims and runs everything due now, batch after batch, until nothing is due.
   * Returns how many jobs ran. Tests with a manual clock call this directly.
   */
  async runDue(): Promise<number> {
    // A pipeline rather than batch after batch: whenever slots are free, claim more (at most
    // every few ms once the due work ran out), so that work falling due while a large batch
    // runs does not wait for the whole batch to finish.
    let total = 0;
    let running = 0;
    let exhausted = false;
    let lastClaimAt = -Infinity;
    let completedSinceClaim = 0;
    let slotFreed: (() => void) | null = null;
    for (;;) {
      const free = this.concurrency - running;
      const now = this.clock.now();
      // Claim in chunks (a quarter of the slots at least), not one job per freed slot.
      const enoughFree = running === 0 || free >= Math.max(1, Math.floor(this.concurrency / 4));
      // Also look again every idleMs while only slow jobs run: work that fell due meanwhile
      // (or that a dead replica's lapsed lease freed) must not wait for them to finish.
      const mayClaim = enoughFree && (!exhausted || (now - lastClaimAt >= REFILL_MS && completedSinceClaim > 0) || (running === 0 && completedSinceClaim > 0) || (running > 0 && now - lastClaimAt >= this.idleMs));
      if (mayClaim) {
        const limit = Math.min(this.batchSize, free);
        const jobs = await this.store.claimDueJobs(now, this.owner, now + this.leaseMs, limit);
        // One read for the batch's requests and grants; should it fail, each job reads its own.
        await this.engine.prepareJobs(jobs).catch((err: unknown) => this.opts.onError?.(err));
        lastClaimAt = now;
        completedSinceClaim = 0;
        exhausted = jobs.length < limit;
        total += jobs.length;
        for (const job of jobs) {
          running++;
          void this.engine.runJob(job).then(
            () => { this.completed++; },
            (err: unknown) => this.opts.onError?.(err),
          ).finally(() => {
            running--;
            completedSinceClaim++;
            slotFreed?.();
          });
        }
        if (jobs.length > 0) continue;
      }
      if (running === 0 && (exhausted && completedSinceClaim === 0)) return total;
      if (running === 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => slotFreed?.(), this.idleMs);
        slotFreed = () => {
          clearTimeout(timer);
          slotFreed = null;
          resolve();
        };
      });
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
    // A third of a lease apart, the leases of the jobs still running are extended: a slow
    // job keeps its lease while this process lives, and a dead process's leases lapse.
    this.renewTimer = setInterval(() => void this.renewLeases(), Math.max(100, Math.floor(this.leaseMs / 3)));
  }

  private renewTimer: NodeJS.Timeout | null = null;

  /** Extends the leases of the jobs the engine is running now. */
  async renewLeases(): Promise<number> {
    const ids = [...this.engine.runningJobs];
    if (ids.length === 0) return 0;
    try {
      return await this.store.renewLeases(ids, this.owner, this.clock.now() + this.leaseMs);
    } catch (err) {
      this.opts.onError?.(err);
      return 0;
    }
  }

  async stop(): Promise<void> {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
    this.running = false;
    this.wake();
    await this.loop;
    this.loop = null;
    await Promise.all([...this.periodicState.values()].map((s) => s.running));
  }

  /** Tells the loop that work may be due earlier than it planned to look. */
  wake(at?: number): void {
    // Only work due before the planned wake-up matters; the loop re-plans on every pass.
    if (at !== undefined && at >= this.plannedWakeAt) return;
    this.wakeResolve?.();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        this.startPeriodic();
        if (this.clock.now() - this.lastAutomaticSync >= this.automaticSyncMs) {
          this.lastAutomaticSync = this.clock.now();
          await this.engine.syncAutomaticFlows();
        }
        await this.runDue();
      } catch (err) {
        this.opts.onError?.(err);
      }
      if (!this.running) break;
      let sleep = this.idleMs;
      try {
        const next = await this.store.nextDueAt();
        if (next !== null) sleep = Math.max(0, Math.min(this.idleMs, next - this.clock.now()));
      } catch (err) {
        this.opts.onError?.(err);
      }
      if (sleep > 0) await this.sleep(sleep);
    }
  }

  private startPeriodic(): void {
    for (const task of this.opts.periodic ?? []) {
      const now = this.clock.now();
      const state = this.periodicState.get(task.name) ?? { lastStart: now - task.everyMs + (task.firstAfterMs ?? 0), running: null };
      this.periodicState.set(task.name, state);
      if (state.running || now - state.lastStart < task.everyMs) continue;
      state.lastStart = now;
      state.running = task.run().then(() => undefined, (err: unknown) => this.opts.onError?.(err)).finally(() => {
        state.running = null;
      });
    }
  }

  private sleep(ms: number): Promise<void> {
    this.plannedWakeAt = this.clock.now() + ms;
    return new Promise((resolve) => {
      this.wakeResolve = () => {
        if (this.wakeTimer) clearTimeout(this.wakeTimer);
        this.wakeTimer = null;
        this.wakeResolve = null;
        this.plannedWakeAt = 0;
        resolve();
      };
      this.wakeTimer = setTimeout(() => this.wakeResolve?.(), ms);
    });
  }
}
