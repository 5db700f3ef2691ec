// Extension: the requester asking for more time on active access, granted at once under an
// automatic flow and otherwise decided by the approvers (see decisions.ts), and what an
// extension changes once granted (the expiry and its job).

import type { RequestRecord } from '../domain/request.ts';
import { allApprovers, snapshotApprovers, unapprovableReason } from '../domain/approvals.ts';
import { formatDuration, MAX_DURATION_MS } from '../../../common/duration.ts';
import type { ChangeSet } from '../store/store.ts';
import { conflict, forbidden, invalid } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import { expiryJob } from './expiry.ts';
import { waitingJobs } from './waiting.ts';
import { checkMfa, resolveDuration } from './submission.ts';
import type { ProviderAuthentication } from '../domain/sign-in.ts';

export class Extension {
  constructor(private readonly ctx: EngineContext) {}

  async extend(actor: string, id: string, input: { duration?: string; justification?: string; mfaCode?: string; authentication?: ProviderAuthentication | null }): Promise<RequestRecord> {
    const now = this.ctx.now();
    const r = await this.ctx.getVisible(actor, id);
    if (r.requester !== actor) throw forbidden('only the requester can extend their access');
    if (r.status !== 'active') throw conflict(`request ${id} is ${r.status}; only active access can be extended`);
    if (r.expiresAt === null) throw conflict(`request ${id} does not expire; there is nothing to extend`);
    if (r.pendingExtension) throw conflict(`an extension of request ${id} is already waiting for approval`);
    const flow = this.ctx.config.flows.get(r.flowId);
    if (!flow) throw conflict(`flow "${r.flowId}" no longer exists; access under it cannot be extended`);
    if (r.extensions >= flow.settings.maxExtensions) throw conflict(`request ${id} was extended ${r.extensions} time(s); flow "${flow.id}" allows ${flow.settings.maxExtensions}`);
    const durationMs = resolveDuration(flow, input.duration, 'duration');
    if (durationMs === null) throw invalid('an extension needs a finite duration', 'duration');
    if (r.expiresAt + durationMs > now + MAX_DURATION_MS) {
      throw invalid(`extended by ${formatDuration(durationMs)}, the access would last more than 3650d (about ten years) from now; that is "indefinite", which an extension cannot give`, 'duration');
    }
    const justification = input.justification?.trim() || null;
    if (flow.settings.requireJustification && !justification) throw invalid(`flow "${flow.id}" requires a justification`, 'justification');
    // More time on a flow that requires MFA asks for it again, as the request did.
    await checkMfa(this.ctx, flow, actor, input, now);
    const cs: ChangeSet = { audit: [{ at: now, actor, action: 'extension.requested', requestId: id, data: { duration: formatDuration(durationMs), justification } }] };
    let eventType: string;
    if (flow.approval.mode === 'automatic') {
      this.applyExtension(r, durationMs, cs, now, 'system');
      eventType = 'request.extended';
    } else {
      const approverGroups = snapshotApprovers(this.ctx.config, flow, r.requester, r.entitlements, now);
      const reason = unapprovableReason(flow.approval.mode, approverGroups);
      if (reason) throw conflict(`the extension cannot be approved: ${reason}`);
      cs.updateRequests = [{
        id, expectVersion: r.version,
        set: { approverGroups, pendingExtension: { number: r.extensions + 1, durationMs, justification, requestedAt: now }, updatedAt: now },
      }];
      // Waiting for approval: it times out (the extension is dropped), and its approvers are reminded.
      cs.insertJobs = waitingJobs(this.ctx, r, now);
      eventType = 'extension.requested';
    }
    await this.ctx.commitOrConflict(cs, id);
    const stored = (await this.ctx.store.getRequest(id))!;
    this.ctx.publish(stored, eventType, eventType === 'extension.requested' ? { approvers: allApprovers(stored.approverGroups) } : {});
    return stored;
  }

  applyExtension(r: RequestRecord, durationMs: number, cs: ChangeSet, now: number, actor: string): void {
    const expiresAt = r.expiresAt! + durationMs;
    (cs.updateRequests ??= []).push({ id: r.id, expectVersion: r.version, set: { expiresAt, extensions: r.extensions + 1, pendingExtension: null, updatedAt: now } });
    (cs.insertJobs ??= []).push(expiryJob(this.ctx, r.id, expiresAt, now));
    (cs.audit ??= []).push({ at: now, actor, action: 'request.extended', requestId: r.id, data: { expiresAt, extension: r.extensions + 1 } });
  }
}
