// Revokes: a request's move to revoking (by its requester, an approver, an admin, its expiry
// or its flow's condition), the revoke jobs that call the targets with capped backoff while
// they fail, and an admin's marking of a revoke as done by hand.

import { applyRequestUpdate, type EndReason, type GrantRecord, type JobRecord, type RequestRecord, type RequestStatus } from '../domain/request.ts';
import { ConflictError, type ChangeSet } from '../store/store.ts';
import { conflict, forbidden, invalid } from './errors.ts';
import { errorMessage, type EngineContext } from './engine-context.ts';
import type { Decisions } from './decisions.ts';

export class Revokes {
  constructor(private readonly ctx: EngineContext, private readonly decisions: Decisions) {}

  async revoke(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    const r = await this.ctx.getVisible(actor, id);
    let endReason: EndReason;
    if (r.requester === actor) endReason = 'self';
    else if (r.decisions.some((d) => d.approver === actor && d.decision === 'approve')) endReason = 'approver';
    else if (this.ctx.config.isAdmin(actor)) endReason = 'admin';
    else throw forbidden('only the requester, an approver who approved it, or an admin can revoke this access');
    if (r.status === 'pending') {
      if (r.requester === actor) return this.decisions.cancel(actor, id);
      throw conflict(`request ${id} is pending; deny it instead of revoking`);
    }
    const reason = reasonInput?.trim() || null;
    const claimed = await this.beginRevoke(r, endReason, actor, reason);
    if (claimed === null) throw conflict(`request ${id} is ${r.status}; only scheduled, granting or active access can be revoked`);
    await this.ctx.runInline(claimed);
    return (await this.ctx.store.getRequest(id))!;
  }

  /**
   * Moves a holding request to `revoking` (or a scheduled one straight to `revoked`) and
   * creates its revoke jobs, claimed by this process. Returns null if the request is not in
   * a state that can be revoked.
   */
  async beginRevoke(r: RequestRecord, endReason: EndReason, actor: string, note: string | null, knownGrants?: GrantRecord[]): Promise<JobRecord[] | null> {
    const now = this.ctx.now();
    if (r.status === 'scheduled') {
      await this.ctx.commitOrConflict({
        updateRequests: [{ id: r.id, expectVersion: r.version, set: { status: 'revoked', updatedAt: now, endedAt: now, endReason, endedBy: actor, endNote: note } }],
        deleteJobsOfRequest: [{ requestId: r.id, kinds: ['start'] }],
        audit: [{ at: now, actor, action: 'request.revoked', requestId: r.id, data: { reason: note, by: endReason, granted: false } }],
      }, r.id);
      this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'request.revoked', { by: actor, reason: note });
      return [];
    }
    if (r.status !== 'active' && r.status !== 'granting') return null;
    const grants = knownGrants ?? await this.ctx.store.getGrants(r.id);
    const live = grants.filter((g) => g.status === 'active' || g.status === 'granting' || g.status === 'pending');
    const jobs = live.map((g) => this.ctx.job('revoke', r.id, g.integration, now, now + this.ctx.leaseMs));
    const cs: ChangeSet = {
      updateRequests: [{ id: r.id, expectVersion: r.version, base: r, set: { status: 'revoking', updatedAt: now, endReason, endedBy: actor, endNote: note, pendingExtension: null } }],
      updateGrants: live.map((g) => ({ requestId: r.id, integration: g.integration, set: { status: 'revoking' as const, attempts: 0, lastError: null } })),
      deleteJobsOfRequest: [{ requestId: r.id, kinds: ['grant', 'expire'] }],
      insertJobs: jobs,
      audit: [{ at: now, actor, action: 'request.revoking', requestId: r.id, data: { by: endReason, reason: note } }],
    };
    if (live.length === 0) {
      // Nothing reached a target: the request ends here.
      cs.updateRequests![0]!.set = { ...cs.updateRequests![0]!.set, status: finalStatusFor(endReason), endedAt: now };
    }
    await this.ctx.commitOrConflict(cs, r.id);
    const after = applyRequestUpdate(r, cs.updateRequests![0]!.set);
    const grantsAfter = grants.map((g) => (live.includes(g) ? { ...g, status: 'revoking' as const, attempts: 0, lastError: null } : g));
    for (const j of jobs) this.ctx.knownState.set(j.id, { request: after, grants: grantsAfter });
    this.ctx.publish(after, 'request.revoking', { by: actor, reason: note });
    return jobs;
  }

  async markRevokeCanceled(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can mark a revoke canceled');
    const now = this.ctx.now();
    const r = await this.ctx.getVisible(actor, id);
    const reason = reasonInput?.trim();
    if (!reason) throw invalid('say why (for example: "access removed by hand on the target")', 'reason');
    if (r.status !== 'revoking') throw conflict(`request ${id} is ${r.status}; only a revoke in progress can be marked canceled`);
    const grants = await this.ctx.store.getGrants(id);
    await this.ctx.commitOrConflict({
      updateRequests: [{ id, expectVersion: r.version, set: { status: 'revoke_canceled', updatedAt: now, endedAt: now, endedBy: actor, endNote: reason } }],
      updateGrants: grants.filter((g) => g.status === 'revoking').map((g) => ({ requestId: id, integration: g.integration, set: { status: 'revoke_canceled' as const } })),
      deleteJobsOfRequest: [{ requestId: id, kinds: ['revoke'] }],
      audit: [{ at: now, actor, action: 'request.revoke_canceled', requestId: id, data: { reason } }],
    }, id);
    const stored = (await this.ctx.store.getRequest(id))!;
    this.ctx.publish(stored, 'request.revoke_canceled', { by: actor, reason });
    return stored;
  }

  /** An admin's "retry now" on a request stuck in revoking: its revoke jobs fall due at once (audited). */
  async retryRevokeNow(actor: string, id: string): Promise<RequestRecord> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can retry a revoke');
    const r = await this.ctx.getVisible(actor, id);
    if (r.status !== 'revoking') throw conflict(`request ${id} is ${r.status}; only a revoke in progress can be retried`);
    const now = this.ctx.now();
    const moved = await this.ctx.store.retryRevokesOfRequestNow(id, now);
    await this.ctx.store.appendAudit([{ at: now, actor, action: 'request.revoke_retried', requestId: id, data: { jobs: moved } }]);
    this.ctx.opts.onJobsScheduled?.(now);
    return r;
  }

  async runRevoke(job: JobRecord): Promise<void> {
    const { known, r, grant } = await this.ctx.jobTarget(job);
    if (!r || !grant || grant.status !== 'revoking') return this.ctx.finishStale(job);
    const integration = this.ctx.integrations.get(grant.integration);
    let error: string | null = null;
    await this.ctx.withTargetLock(r.requester, grant.integration, async () => {
      try {
        if (!integration) throw new Error(`integration "${grant.integration}" is not configured`);
        const stillCovered = await this.ctx.coveredElsewhere(r, grant.entitlements);
        await integration.revoke({ requestId: r.id, user: this.ctx.subject(r), entitlements: grant.entitlements, stillCovered });
      } catch (err) {
        error = errorMessage(err);
      }
    });
    const now = this.ctx.now();
    if (error !== null) {
      const delay = backoffDelay(job.attempts, this.ctx.backoff.baseMs, this.ctx.backoff.capMs);
      const fresh = await this.ctx.store.getRequest(r.id);
      const cs: ChangeSet = {
        updateGrants: [{ requestId: r.id, integration: grant.integration, expectStatus: ['revoking'], set: { attempts: job.attempts, lastError: error } }],
        audit: [{ at: now, actor: 'system', action: 'grant.revoke_failed', requestId: r.id, data: { integration: grant.integration, attempt: job.attempts, error, retryInMs: delay } }],
      };
      if (fresh && fresh.status === 'revoking') cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, set: { error: `revoke on ${grant.integration} failed (attempt ${job.attempts}): ${error}`, updatedAt: now } }];
      try {
        await this.ctx.commit(cs);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
      await this.ctx.store.rescheduleJob(job.id, this.ctx.owner, now + delay, error);
      this.ctx.opts.onJobsScheduled?.(now + delay);
      if (fresh) this.ctx.publish((await this.ctx.store.getRequest(r.id)) ?? fresh, 'request.revoke_failed', { integration: grant.integration, attempt: job.attempts, error });
      return;
    }
    // As for grants: conditional on the other grants still being as seen, so that of two
    // revokes of one request completing at once, the second to commit ends the request.
    for (let attempt = 1; ; attempt++) {
      // First try with what this process committed a moment ago; after a conflict, re-read.
      const grants = attempt === 1 && known ? known.grants : await this.ctx.store.getGrants(r.id);
      const others = grants.filter((g) => g.integration !== grant.integration);
      const remaining = others.filter((g) => g.status === 'revoking');
      const fresh = attempt === 1 && known ? known.request : (await this.ctx.store.getRequest(r.id))!;
      const cs: ChangeSet = {
        updateGrants: [
          { requestId: r.id, integration: grant.integration, expectStatus: ['revoking'], set: { status: 'revoked', revokedAt: now, attempts: job.attempts, lastError: null } },
          ...others.map((g) => ({ requestId: r.id, integration: g.integration, expectStatus: [g.status], set: {} })),
        ],
        deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
        audit: [{ at: now, actor: 'system', action: 'grant.revoked', requestId: r.id, data: { integration: grant.integration } }],
      };
      let finished: RequestStatus | null = null;
      if (remaining.length === 0 && fresh.status === 'revoking') {
        finished = fresh.endReason === 'grant-failed' ? 'failed' : finalStatusFor(fresh.endReason ?? 'admin');
        cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, base: fresh, set: { status: finished, endedAt: now, updatedAt: now, error: finished === 'failed' ? fresh.error : null } }];
        // The last revoke ends the request: one event says both.
        cs.audit = [{ at: now, actor: 'system', action: `request.${finished}`, requestId: r.id, data: { integration: grant.integration, by: fresh.endReason, lagMs: fresh.expiresAt !== null && fresh.endReason === 'expiry' ? now - fresh.expiresAt : undefined } }];
      }
      try {
        await this.ctx.commit(cs);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const mine = (await this.ctx.store.getGrants(r.id)).find((g) => g.integration === grant.integration);
        if (attempt < 5 && mine?.status === 'revoking') continue; // another grant of it moved on: look again
        return;
      }
      if (finished) this.ctx.publish(applyRequestUpdate(fresh, cs.updateRequests![0]!.set), `request.${finished}`, { by: fresh.endedBy, reason: fresh.endNote });
      return;
    }
  }
}

function finalStatusFor(reason: EndReason): RequestStatus {
  return reason === 'expiry' ? 'expired' : reason === 'grant-failed' ? 'failed' : 'revoked';
}

/** Capped exponential backoff with ±20 % jitter, so retries of one outage spread out. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}
