// Expiry and its warnings: an active request's one expiry job, which falls due at each
// warning on the way (a `request.expiring` event) and last at the expiry, which starts the
// revoke.

import type { JobRecord, RequestRecord } from '../domain/request.ts';
import { LapseError } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import type { Revokes } from './revokes.ts';

/**
 * A request's expiry job, which also gives its expiry warnings: it falls due at the first
 * warning still ahead, moves itself to the next one after each, and last to the expiry
 * (warningOffsetsMs lists the warnings' offsets; its id leaves them out, so a request has one).
 */
export function expiryJob(ctx: EngineContext, requestId: string, expiresAt: number, now: number): JobRecord {
  const offsets = ctx.config.config.settings.expiryWarnings.filter((offset) => expiresAt - offset > now).sort((a, b) => b - a);
  return { ...ctx.job('expire', requestId, null, offsets.length ? expiresAt - offsets[0]! : expiresAt, null), warningOffsetsMs: offsets };
}

export class Expiry {
  constructor(private readonly ctx: EngineContext, private readonly revokes: Revokes) {}

  async runExpire(job: JobRecord): Promise<void> {
    const known = this.ctx.takeKnownState(job);
    const r = known ? known.request : await this.ctx.store.getRequest(job.requestId);
    if (!r || r.status !== 'active' || r.expiresAt === null) return this.ctx.finishStale(job);
    if (r.expiresAt > this.ctx.now()) return this.warnOfExpiry(job, r, r.expiresAt);
    let claimed: JobRecord[] | null;
    try {
      claimed = await this.revokes.beginRevoke(r, 'expiry', 'system', null, known?.grants);
    } catch (err) {
      // Changed meanwhile: look again at the request as it is now (when what was known of it
      // may be what changed); otherwise whoever changed it owns what follows.
      if (err instanceof LapseError) return known ? this.runExpire(job) : undefined;
      throw err;
    }
    // beginRevoke's change set deleted this expire job with the request's other timers.
    if (claimed) await Promise.all(claimed.map((j) => this.ctx.runJob(j)));
  }

  /** The expiry job ran before the expiry: it gives the warning due now and moves on to the next moment. */
  private async warnOfExpiry(job: JobRecord, r: RequestRecord, expiresAt: number): Promise<void> {
    const now = this.ctx.now();
    const offsets = job.warningOffsetsMs ?? [];
    const offset = expiresAt - job.dueAt;
    // The next warning, even if its moment has passed (a late run still gives it); after the last, the expiry.
    const next = offsets.filter((o) => o < offset).sort((a, b) => b - a)[0];
    // A moment that is not one of the warnings (the expiry moved since it was planned) says nothing.
    // The warning's notifications are written before the job moves on: a crash between the two
    // writes them again under the same keys, which the outbox keeps once.
    if (offsets.includes(offset)) {
      await this.ctx.notify({ at: now, actor: 'system', action: 'request.expiring', requestId: r.id, data: { expiresAt, msLeft: expiresAt - now } }, r, `warn-${offset}`);
    }
    if (!(await this.ctx.store.rescheduleJob(job.id, this.ctx.owner, next === undefined ? expiresAt : expiresAt - next, null))) return;
    if (offsets.includes(offset)) {
      this.ctx.publish(r, 'request.expiring', { expiresAt: expiresAt, warningOffsetMs: offset, msLeft: expiresAt - now }, `warn-${offset}`);
    }
  }
}
