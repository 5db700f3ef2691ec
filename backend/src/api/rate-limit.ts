// Failed-authentication limiter per client address: after `max` failures within `windowMs`
// the address is refused (429) until the window has passed. Per process by design: it
// slows guessing down; it is not a quota.

export class FailedAuthLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly opts: { max: number; windowMs: number; now: () => number }) {}

  fail(key: string): void {
    const now = this.opts.now();
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.opts.windowMs);
    list.push(now);
    this.failures.set(key, list);
    if (this.failures.size > 10_000) this.prune(now);
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  blockedFor(key: string): number {
    const now = this.opts.now();
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.opts.windowMs);
    if (list.length < this.opts.max) return 0;
    return list[list.length - this.opts.max]! + this.opts.windowMs - now;
  }

  private prune(now: number): void {
    for (const [key, list] of this.failures) if (list.every((t) => t <= now - this.opts.windowMs)) this.failures.delete(key);
  }
}
