// The last known health of every integration: checked periodically (the scheduler's loop)
// and on demand (GET /api/v1/integrations?check=true), so that the catalog can say why a
// grant would fail without calling every target on every request.

import type { HealthReport, Integration } from '../integrations/integration.ts';

export const DEFAULT_HEALTH_TIMEOUT_MS = 10_000;

/** A check asked for on demand is answered from one this recent instead of calling the target again. */
export const ON_DEMAND_CHECK_REUSE_MS = 5_000;

export class IntegrationHealth {
  private readonly last = new Map<string, HealthReport>();
  private inFlight: Promise<void> | null = null;
  private readonly checking = new Map<string, Promise<HealthReport | undefined>>();

  constructor(
    private readonly integrations: ReadonlyMap<string, Integration>,
    private readonly now: () => number,
    private readonly timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS,
  ) {}

  /** The last report of one integration; undefined before its first check. */
  get(id: string): HealthReport | undefined {
    return this.last.get(id);
  }

  /** Checks every integration now (a check already running is joined, not repeated). */
  checkAll(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    this.inFlight = Promise.all([...this.integrations.keys()].map((id) => this.check(id))).then(() => undefined).finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  /**
   * Checks one integration now, for a caller that asked (GET /integrations?check=true): a
   * check already running is joined, and one finished within `reuseMs` is answered as it
   * is, so callers cannot make the server call a target more often than that.
   */
  checkOnDemand(id: string, reuseMs = ON_DEMAND_CHECK_REUSE_MS): Promise<HealthReport | undefined> {
    const known = this.last.get(id);
    if (known && this.now() - known.checkedAt < reuseMs) return Promise.resolve(known);
    return this.check(id);
  }

  /** Checks one integration now (a check of it already running is joined, not repeated). */
  check(id: string): Promise<HealthReport | undefined> {
    const running = this.checking.get(id);
    if (running) return running;
    const started = this.runCheck(id).finally(() => this.checking.delete(id));
    this.checking.set(id, started);
    return started;
  }

  private async runCheck(id: string): Promise<HealthReport | undefined> {
    const integration = this.integrations.get(id);
    if (!integration) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HealthReport>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, checkedAt: this.now(), error: `no answer to the health check within ${this.timeoutMs} ms` }), this.timeoutMs);
    });
    const report = await Promise.race([
      integration.health().catch((err: unknown): HealthReport => ({ ok: false, checkedAt: this.now(), error: (err as Error).message })),
      timeout,
    ]).finally(() => clearTimeout(timer));
    this.last.set(id, report);
    return report;
  }
}
