// Offboarding: when a person is no longer a Lapse user, everything they hold is revoked and
// everything they asked for and did not get yet is canceled, audited with the reason.

import type { ChangeSet } from '../store/store.ts';
import type { JobRecord } from '../domain/request.ts';
import type { EngineContext } from './engine-context.ts';
import type { Revokes } from './revokes.ts';

export interface OffboardingReport {
  revoked: string[];
  canceled: string[];
  failed: { id: string; error: string }[];
}

export class Offboarding {
  constructor(private readonly ctx: EngineContext, private readonly revokes: Revokes) {}

  async offboard(userId: string, reason: string): Promise<OffboardingReport> {
    const report: OffboardingReport = { revoked: [], canceled: [], failed: [] };
    const claimed: JobRecord[] = [];
    const requests = await this.ctx.store.listRequests({ requester: userId, statuses: ['pending', 'scheduled', 'granting', 'active'] });
    for (const r of requests) {
      try {
        if (r.status === 'pending') {
          const now = this.ctx.now();
          const cs: ChangeSet = {
            updateRequests: [{ id: r.id, expectVersion: r.version, set: { status: 'canceled', updatedAt: now, endedAt: now, endedBy: 'system', endReason: 'user-removed', endNote: reason } }],
            deleteJobsOfRequest: [{ requestId: r.id, kinds: ['start'] }],
            audit: [{ at: now, actor: 'system', action: 'request.canceled', requestId: r.id, data: { reason } }],
          };
          await this.ctx.commitOrConflict(cs, r.id);
          this.ctx.publish((await this.ctx.store.getRequest(r.id))!, 'request.canceled', { by: 'system', reason });
          report.canceled.push(r.id);
          continue;
        }
        const jobs = await this.revokes.beginRevoke(r, 'user-removed', 'system', reason);
        if (jobs) {
          claimed.push(...jobs);
          report.revoked.push(r.id);
        }
      } catch (err) {
        report.failed.push({ id: r.id, error: (err as Error).message });
      }
    }
    await this.ctx.store.appendAudit([{
      at: this.ctx.now(), actor: 'system', action: 'user.offboarded', requestId: null,
      data: { user: userId, reason, revoked: report.revoked.length, canceled: report.canceled.length, failed: report.failed.length },
    }]);
    await this.ctx.runInline(claimed);
    return report;
  }
}
