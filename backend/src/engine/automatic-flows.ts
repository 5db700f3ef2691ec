// Automatic flows: access granted to every user for whom a flow's condition (and time
// window) holds, and revoked once it stops holding; evaluated again and again, so each pass
// only changes what differs.

import { formatEntitlement, type GrantRecord, type JobRecord, type RequestRecord } from '../domain/request.ts';
import { userMatches } from '../domain/conditions.ts';
import { isWithinWindow } from '../domain/time-windows.ts';
import { ConflictError } from '../store/store.ts';
import { groupByIntegration, type EngineContext } from './engine-context.ts';
import type { Revokes } from './revokes.ts';

/** Ids of requests made by automatic flows start with this. */
export const AUTOMATIC_PREFIX = 'auto-';

export class AutomaticFlows {
  constructor(private readonly ctx: EngineContext, private readonly revokes: Revokes) {}

  /**
   * Grants each automatic flow to every user for whom its condition holds now, and
   * revokes it from those for whom it stopped holding. Safe to call repeatedly.
   */
  async syncAutomaticFlows(): Promise<{ granted: number; revoked: number }> {
    const now = this.ctx.now();
    const cfg = this.ctx.config;
    let granted = 0;
    let revoked = 0;
    const holding = await this.ctx.store.listRequests({ statuses: ['granting', 'active'], idPrefix: AUTOMATIC_PREFIX });
    const conditions = cfg.conditionContext(now);
    const claimed: JobRecord[] = [];
    const automaticIds = new Set(cfg.config.flows.filter((f) => f.kind === 'automatic').map((f) => f.id));
    for (const r of holding) {
      if (r.approvalMode !== 'automatic' || r.durationMs !== null) continue;
      const flow = cfg.flows.get(r.flowId);
      const user = cfg.users.get(r.requester);
      const stillHolds = flow && automaticIds.has(flow.id) && user && userMatches(flow.requesters, user, conditions) && (!flow.when || isWithinWindow(flow.when, now));
      if (!stillHolds && (automaticIds.has(r.flowId) || !flow)) {
        const jobs = await this.revokes.beginRevoke(r, 'condition', 'system', 'the flow condition no longer holds').catch(() => null);
        if (jobs) { claimed.push(...jobs); revoked++; }
      }
    }
    for (const flow of cfg.config.flows) {
      if (flow.kind !== 'automatic') continue;
      const entitlements = cfg.flowEntitlements(flow);
      if (entitlements.length === 0) continue;
      for (const user of cfg.config.users) {
        if (!userMatches(flow.requesters, user, conditions) || (flow.when && !isWithinWindow(flow.when, now))) continue;
        if (holding.some((r) => r.flowId === flow.id && r.requester === user.id)) continue;
        const id = `${AUTOMATIC_PREFIX}${flow.id}-${user.id}-${now}`;
        const request: RequestRecord = {
          id, requester: user.id, flowId: flow.id, bundleId: null, status: 'granting', entitlements, durationMs: null, justification: null,
          labels: flow.settings.labels, breakGlass: false, createdAt: now, updatedAt: now, startAt: null, grantedAt: null, expiresAt: null,
          endedAt: null, endReason: null, endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic', decisions: [],
          extensions: 0, pendingExtension: null, error: null, version: 1,
        };
        const grants: GrantRecord[] = [...groupByIntegration(entitlements)].map(([integration, ents]) => ({
          requestId: id, integration, status: 'granting', entitlements: ents, accessDetails: null, attempts: 0, lastError: null, grantedAt: null, revokedAt: null,
        }));
        const jobs = grants.map((g) => this.ctx.job('grant', id, g.integration, now, now + this.ctx.leaseMs));
        try {
          await this.ctx.commit({
            insertRequests: [request], insertGrants: grants, insertJobs: jobs,
            audit: [{ at: now, actor: 'system', action: 'request.created', requestId: id, data: { flowId: flow.id, automatic: true, entitlements: entitlements.map(formatEntitlement) } },
              { at: now, actor: 'system', action: 'request.granting', requestId: id, data: { reason: 'the flow condition holds' } }],
          });
        } catch (err) {
          if (err instanceof ConflictError) continue;
          throw err;
        }
        this.ctx.publish(request, 'request.created');
        claimed.push(...jobs);
        granted++;
      }
    }
    await this.ctx.runInline(claimed);
    return { granted, revoked };
  }
}
