// Requests that wait for approval: a timeout job ends a request nobody decided in time (its
// own final status, timed_out) or drops an extension nobody decided, and a reminder job tells
// the approvers again every settings.remindApproversEvery while it waits. Both are ordinary
// leased jobs: across replicas one runs each, and a crash leaves them to run again.

import { DEFAULT_REMIND_APPROVERS_EVERY_MS, pendingTimeoutOf } from '../domain/config.ts';
import type { JobRecord, RequestRecord } from '../domain/request.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { ChangeSet } from '../store/store.ts';
import type { EngineContext } from './engine-context.ts';

/**
 * The jobs of a request (or an extension) that starts waiting for approval at `now`: its
 * timeout, and the approvers' first reminder (none where the settings say "off").
 */
export function waitingJobs(ctx: EngineContext, r: RequestRecord, now: number): JobRecord[] {
  const flow = ctx.config.flows.get(r.flowId);
  const settings = ctx.config.config.settings;
  const jobs: JobRecord[] = [];
  const timeout = flow ? pendingTimeoutOf(settings, flow.settings) : null;
  if (timeout !== null) jobs.push(ctx.job('timeout', r.id, null, now + timeout, null));
  const remind = settings.remindApproversEveryMs === undefined ? DEFAULT_REMIND_APPROVERS_EVERY_MS : settings.remindApproversEveryMs;
  if (remind !== null && (timeout === null || remind < timeout)) jobs.push(ctx.job('remind', r.id, null, now + remind, null));
  return jobs;
}

export class Waiting {
  constructor(private readonly ctx: EngineContext) {}

  async runTimeout(job: JobRecord): Promise<void> {
    const r = await this.ctx.store.getRequest(job.requestId);
    const now = this.ctx.now();
    if (r?.status === 'pending') {
      const cs: ChangeSet = {
        updateRequests: [{ id: r.id, expectVersion: r.version, base: r, set: { status: 'timed_out', endedAt: now, endReason: 'timed-out', endedBy: 'system', updatedAt: now } }],
        deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
        deleteJobsOfRequest: [{ requestId: r.id, kinds: ['remind'] }],
        audit: [{ at: now, actor: 'system', action: 'request.timed_out', requestId: r.id, data: { waitedMs: now - r.createdAt, waited: formatDuration(now - r.createdAt) } }],
      };
      if (await this.commitOrStale(cs, job)) this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'request.timed_out');
      return;
    }
    if (r?.status === 'active' && r.pendingExtension && job.dueAt >= r.pendingExtension.requestedAt) {
      const ext = r.pendingExtension;
      const cs: ChangeSet = {
        updateRequests: [{ id: r.id, expectVersion: r.version, base: r, set: { pendingExtension: null, updatedAt: now } }],
        deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
        deleteJobsOfRequest: [{ requestId: r.id, kinds: ['remind'] }],
        audit: [{ at: now, actor: 'system', action: 'extension.timed_out', requestId: r.id, data: { extension: ext.number } }],
      };
      if (await this.commitOrStale(cs, job)) this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'extension.timed_out', { extension: ext.number });
      return;
    }
    await this.ctx.finishStale(job);
  }

  async runRemind(job: JobRecord): Promise<void> {
    const r = await this.ctx.store.getRequest(job.requestId);
    const waiting = r && (r.status === 'pending' || (r.status === 'active' && r.pendingExtension !== null));
    if (!r || !waiting) return this.ctx.finishStale(job);
    const settings = this.ctx.config.config.settings;
    const every = settings.remindApproversEveryMs === undefined ? DEFAULT_REMIND_APPROVERS_EVERY_MS : settings.remindApproversEveryMs;
    const now = this.ctx.now();
    // The reminder is a transition's audit entry: its notifications are written with it (the outbox).
    const cs: ChangeSet = {
      deleteJobs: [{ id: job.id, owner: this.ctx.owner }],
      ...(every === null ? {} : { insertJobs: [this.ctx.job('remind', r.id, null, now + every, null)] }),
      audit: [{ at: now, actor: 'system', action: 'approval.reminder', requestId: r.id, data: { waitedMs: now - (r.pendingExtension?.requestedAt ?? r.createdAt), reminder: Math.floor((now - r.createdAt) / Math.max(1, every ?? 1)) } }],
    };
    if (await this.commitOrStale(cs, job)) this.ctx.publish(r, 'approval.reminder', { remindedAt: now }, `remind-${now}`);
  }

  /** Commits; a request changed meanwhile (decided, canceled) leaves the job to look again. */
  private async commitOrStale(cs: ChangeSet, job: JobRecord): Promise<boolean> {
    try {
      await this.ctx.commit(cs);
      return true;
    } catch (err) {
      if ((err as Error).name === 'ConflictError') {
        await this.ctx.store.rescheduleJob(job.id, this.ctx.owner, this.ctx.now(), null);
        return false;
      }
      throw err;
    }
  }
}
