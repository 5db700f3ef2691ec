// Grants: an approved request's move to granting (or to its scheduled start), and the start
// and grant jobs that call the targets, with their retries, the undoing of a grant whose
// request ended meanwhile, and the recording of a grant that failed for good.

import {
  applyRequestUpdate, formatEntitlement,
  type GrantRecord, type JobRecord, type RequestRecord, type RequestStatus, type RequestWithGrants,
} from '../domain/request.ts';
import { ConflictError, type ChangeSet } from '../store/store.ts';
import { errorMessage, type EngineContext } from './engine-context.ts';
import { expiryJob } from './expiry.ts';
import { backoffDelay } from './revokes.ts';

export class Grants {
  constructor(private readonly ctx: EngineContext) {}

  /**
   * Adds to `cs` the move of an approved request to `granting` (or `scheduled` for a later
   * start), with grant jobs claimed by this process so the caller can run them at once.
   */
  approvedTransition(
    r: RequestRecord, grants: GrantRecord[], cs: ChangeSet, now: number,
    approval: 'automatic' | 'break-glass' | 'approvers' | 'scheduled-start' = 'approvers', audited = true,
  ): JobRecord[] {
    const scheduled = r.startAt !== null && r.startAt > now;
    const status: RequestStatus = scheduled ? 'scheduled' : 'granting';
    if (cs.insertRequests?.includes(r)) {
      r.status = status;
      for (const g of grants) g.status = scheduled ? 'pending' : 'granting';
    } else {
      (cs.updateRequests ??= []).push({ id: r.id, expectVersion: r.version, set: { status, updatedAt: now } });
      if (!scheduled) {
        for (const g of grants) (cs.updateGrants ??= []).push({ requestId: r.id, integration: g.integration, expectStatus: ['pending'], set: { status: 'granting' } });
      }
    }
    if (audited) (cs.audit ??= []).push({ at: now, actor: 'system', action: scheduled ? 'request.scheduled' : 'request.granting', requestId: r.id, data: scheduled ? { startAt: r.startAt, approval } : { approval } });
    if (scheduled) {
      (cs.insertJobs ??= []).push(this.ctx.job('start', r.id, null, r.startAt!, null));
      return [];
    }
    const jobs = grants.map((g) => this.ctx.job('grant', r.id, g.integration, now, now + this.ctx.leaseMs));
    (cs.insertJobs ??= []).push(...jobs);
    return jobs;
  }

  async runStart(job: JobRecord): Promise<void> {
    const r = await this.ctx.store.getRequest(job.requestId);
    if (!r || r.status !== 'scheduled') return this.ctx.finishStale(job);
    const now = this.ctx.now();
    const grants = await this.ctx.store.getGrants(r.id);
    const cs: ChangeSet = { deleteJobs: [{ id: job.id, owner: this.ctx.owner }] };
    const claimed = this.approvedTransition({ ...r, startAt: null }, grants, cs, now, 'scheduled-start');
    try {
      await this.ctx.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) return;
      throw err;
    }
    this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'request.granting');
    await Promise.all(claimed.map((j) => this.ctx.runJob(j)));
  }

  async runGrant(job: JobRecord): Promise<void> {
    const { known, r, grant } = await this.ctx.jobTarget(job);
    if (!r || !grant) return this.ctx.finishStale(job);
    if (r.status !== 'granting' || grant.status !== 'granting') {
      // Its request ended (or moved on) while this job waited: a call it made before its
      // holder died may have reached the target, so it is undone where nothing covers it.
      if (r.status !== 'granting' && r.status !== 'active') await this.compensate(r, grant);
      return this.ctx.finishStale(job);
    }
    const integration = this.ctx.integrations.get(grant.integration);
    const expiresAt = r.durationMs === null ? null : this.ctx.now() + r.durationMs;
    let accessDetails: Record<string, string> | null = null;
    let error: string | null = null;
    let cleanupError: string | null = null;
    let ended = false;
    let failure: { jobs: JobRecord[]; message: string } | null = null;
    // Past its last attempt, a job only cleans up (its cleanup failed before).
    const cleanupOnly = job.attempts > this.ctx.grantAttempts;
    await this.ctx.withTargetLock(r.requester, grant.integration, async () => {
      // On a per-person target, the request is looked at again once it is this grant's turn:
      // revoked while it waited, its revoke may have run already, and a grant now would
      // outlive it should this process die before undoing it.
      if (integration && !integration.accountOf && (await this.ctx.store.getRequest(r.id))?.status !== 'granting') {
        ended = true;
        return;
      }
      try {
        if (!integration) throw new Error(`integration "${grant.integration}" is not configured`);
        if (cleanupOnly) throw new Error(grant.lastError ?? 'the grant failed');
        const details = (await integration.grant({ requestId: r.id, user: this.ctx.subject(r), entitlements: grant.entitlements, expiresAt })).accessDetails;
        const seal = this.ctx.opts.sealAccessDetails;
        accessDetails = details && seal ? seal(r.id, grant.integration, details) : details;
      } catch (err) {
        error = cleanupOnly ? (grant.lastError ?? errorMessage(err)) : errorMessage(err);
        // The last attempt failed: what the target may have applied of it is revoked, and the
        // failure recorded, in the same hold of the lock. Until then the request covers its
        // entitlements, so overlapping requests keep them; after, nothing of it remains that
        // no other request covers. On a per-person target that revoke must succeed first
        // (nothing else would find what is left: a webhook target lists nothing), so the
        // request stays granting while it is retried; where each request has an account of
        // its own, a leftover account is reconciliation's to remove, and the failure stands.
        if (job.attempts >= this.ctx.grantAttempts) {
          try {
            if (integration) {
              const stillCovered = await this.ctx.coveredElsewhere(r, grant.entitlements);
              await integration.revoke({ requestId: r.id, user: this.ctx.subject(r), entitlements: grant.entitlements, stillCovered });
            }
          } catch (cleanupErr) {
            if (!integration?.accountOf) {
              cleanupError = errorMessage(cleanupErr);
              return;
            }
            this.ctx.log('warn', 'a failed grant could not be undone on its target; reconciliation will remove what is left', { request: r.id, integration: grant.integration, error: errorMessage(cleanupErr) });
          }
          failure = await this.recordGrantFailure(r, grant, job, error);
        }
      }
    });
    if (ended) return this.ctx.finishStale(job);
    const now = this.ctx.now();
    if (error !== null) {
      if (job.attempts < this.ctx.grantAttempts || cleanupError !== null) {
        const lastError = cleanupError === null ? error : `${error}; removing what it may have left failed: ${cleanupError}`;
        await this.ctx.commit({
          updateGrants: [{ requestId: r.id, integration: grant.integration, expectStatus: ['granting'], set: { attempts: Math.min(job.attempts, this.ctx.grantAttempts), lastError: error } }],
          audit: [{ at: now, actor: 'system', action: 'grant.attempt_failed', requestId: r.id, data: { integration: grant.integration, attempt: job.attempts, error: lastError } }],
        }).catch(() => undefined);
        const retryAt = cleanupError === null
          ? now + this.ctx.grantRetryMs * 2 ** (job.attempts - 1)
          : now + backoffDelay(job.attempts - this.ctx.grantAttempts, this.ctx.backoff.baseMs, this.ctx.backoff.capMs);
        await this.ctx.store.rescheduleJob(job.id, this.ctx.owner, retryAt, lastError);
        this.ctx.opts.onJobsScheduled?.(retryAt);
        return;
      }
      const recorded = failure as { jobs: JobRecord[]; message: string } | null;
      if (recorded) {
        this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'request.failed', { error: recorded.message });
        await Promise.all(recorded.jobs.map((j) => this.ctx.runJob(j)));
      }
      return;
    }
    // Grants of one request may complete at the same moment. Each completion is conditional
    // on the other grants still being as it saw them, so two cannot both conclude that the
    // other is unfinished (leaving the request `granting`, with no expiry, for ever): the one
    // that commits second conflicts, reads again, and activates the request.
    let activated: RequestWithGrants | null = null;
    for (let attempt = 1; ; attempt++) {
      // First try with what this process committed a moment ago; after a conflict, re-read.
      const fresh = attempt === 1 && known ? known.request : (await this.ctx.store.getRequest(r.id))!;
      const grants = attempt === 1 && known ? known.grants : await this.ctx.store.getGrants(r.id);
      const others = grants.filter((g) => g.integration !== grant.integration);
      const othersActive = others.every((g) => g.status === 'active');
      const cs: ChangeSet = {
        updateGrants: [
          { requestId: r.id, integration: grant.integration, expectStatus: ['granting'], set: { status: 'active', accessDetails, grantedAt: now, attempts: job.attempts, lastError: null } },
          ...others.map((g) => ({ requestId: r.id, integration: g.integration, expectStatus: [g.status], set: {} })),
        ],
        deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
        audit: [{ at: now, actor: 'system', action: 'grant.active', requestId: r.id, data: { integration: grant.integration, entitlements: grant.entitlements.map(formatEntitlement) } }],
      };
      if (othersActive && fresh.status === 'granting') {
        const exp = fresh.durationMs === null ? null : now + fresh.durationMs;
        cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, base: fresh, set: { status: 'active', grantedAt: now, expiresAt: exp, updatedAt: now, error: null } }];
        if (exp !== null) cs.insertJobs = [expiryJob(this.ctx, r.id, exp, now)];
        // The last grant activates the request: one event says both.
        cs.audit = [{ at: now, actor: 'system', action: 'request.active', requestId: r.id, data: { integration: grant.integration, entitlements: grant.entitlements.map(formatEntitlement), expiresAt: exp } }];
      }
      try {
        await this.ctx.commit(cs);
        if (cs.updateRequests) {
          const mine = cs.updateGrants![0]!.set;
          activated = { request: applyRequestUpdate(fresh, cs.updateRequests[0]!.set), grants: grants.map((g) => (g.integration === grant.integration ? { ...g, ...mine } : g)) };
        }
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
      const current = await this.ctx.store.getRequest(r.id);
      const mine = (await this.ctx.store.getGrants(r.id)).find((g) => g.integration === grant.integration);
      if (attempt < 5 && current?.status === 'granting' && mine?.status === 'granting') continue; // another grant of it moved on: look again
      // Revoked (or re-claimed) while the grant call was in flight: make sure the access we
      // may just have created does not outlive the request.
      await this.compensate(r, grant);
      return;
    }
    if (activated) {
      const stored = activated.request;
      if (this.ctx.awaitingOutcome.has(r.id)) this.ctx.outcomes.set(r.id, activated);
      this.ctx.publish(stored, 'request.granted');
      if (stored.expiresAt !== null) this.ctx.opts.onJobsScheduled?.(stored.expiresAt);
    }
  }

  private async compensate(r: RequestRecord, grant: GrantRecord): Promise<void> {
    const current = await this.ctx.store.getRequest(r.id);
    if (current && (current.status === 'granting' || current.status === 'active')) return; // lease lost to another holder that will finish
    const integration = this.ctx.integrations.get(grant.integration);
    if (!integration) return;
    await this.ctx.withTargetLock(r.requester, grant.integration, async () => {
      const stillCovered = await this.ctx.coveredElsewhere(r, grant.entitlements);
      await integration.revoke({ requestId: r.id, user: this.ctx.subject(r), entitlements: grant.entitlements, stillCovered });
    }).catch((err) => this.ctx.log('warn', 'compensating revoke failed; reconciliation will remove it', { request: r.id, error: errorMessage(err) }));
  }

  /**
   * Records that a grant failed for good: the request fails, and what its other grants hold
   * is to be revoked (the jobs returned, claimed by this process). Called with the target
   * lock still held after the failed grant's own cleanup, so that no other call on this
   * target sees the request covering its entitlements once that cleanup has run. Null when
   * the request moved on meanwhile (whoever moved it owns what follows).
   */
  private async recordGrantFailure(r: RequestRecord, grant: GrantRecord, job: JobRecord, error: string): Promise<{ jobs: JobRecord[]; message: string } | null> {
    const now = this.ctx.now();
    const fresh = await this.ctx.store.getRequest(r.id);
    if (!fresh || fresh.status !== 'granting') return null;
    const grants = await this.ctx.store.getGrants(r.id);
    const others = grants.filter((g) => g.integration !== grant.integration && (g.status === 'active' || g.status === 'granting'));
    const revokeJobs = others.map((g) => this.ctx.job('revoke', r.id, g.integration, now, now + this.ctx.leaseMs));
    const attempts = Math.min(job.attempts, this.ctx.grantAttempts);
    const message = `grant on ${grant.integration} failed after ${attempts} attempt(s): ${error}`;
    const cs: ChangeSet = {
      updateRequests: [{
        id: r.id, expectVersion: fresh.version,
        set: others.length
          ? { status: 'revoking', endReason: 'grant-failed', endedBy: 'system', error: message, updatedAt: now }
          : { status: 'failed', endReason: 'grant-failed', endedBy: 'system', error: message, updatedAt: now, endedAt: now },
      }],
      updateGrants: [
        { requestId: r.id, integration: grant.integration, set: { status: 'failed', attempts, lastError: error } },
        ...others.map((g) => ({ requestId: r.id, integration: g.integration, set: { status: 'revoking' as const } })),
      ],
      deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
      deleteJobsOfRequest: [{ requestId: r.id, kinds: ['grant'] }],
      insertJobs: revokeJobs,
      audit: [{ at: now, actor: 'system', action: others.length ? 'request.revoking' : 'request.failed', requestId: r.id, data: { error: message } }],
    };
    try {
      await this.ctx.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) return null;
      throw err;
    }
    return { jobs: revokeJobs, message };
  }
}
