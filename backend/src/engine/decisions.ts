// Decisions: approvers approving or denying a request or an extension of it (once each,
// checked against the approvers fixed when it was made), and the requester canceling a
// request before it is granted.

import type { Decision, JobRecord, RequestRecord } from '../domain/request.ts';
import { approvalsSatisfied } from '../domain/approvals.ts';
import type { ChangeSet } from '../store/store.ts';
import { conflict, forbidden, invalid } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import type { Extension } from './extension.ts';
import type { Grants } from './grants.ts';
import { APPROVER_REASON_MAX } from '../../../common/api/schemas.ts';


export class Decisions {
  constructor(private readonly ctx: EngineContext, private readonly grants: Grants, private readonly extension: Extension) {}

  async approve(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decide(actor, id, 'approve', reason);
  }

  async deny(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decide(actor, id, 'deny', reason);
  }

  private async decide(actor: string, id: string, decision: 'approve' | 'deny', reasonInput?: string): Promise<RequestRecord> {
    const now = this.ctx.now();
    const r = await this.ctx.getVisible(actor, id);
    const flow = this.ctx.config.flows.get(r.flowId);
    const subject: Decision['subject'] = r.status === 'pending' ? 'request' : r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request';
    // Before the status check: the first approval of an any-of request moves it out of
    // `pending`, and a replay of that very decision must still answer, not conflict.
    const previous = r.decisions.find((d) => d.approver === actor && d.subject === subject);
    if (previous) {
      if (previous.decision === decision) return r; // replaying the same decision changes nothing
      throw conflict(`you already decided to ${previous.decision} this request`);
    }
    if (r.status !== 'pending' && !(r.status === 'active' && r.pendingExtension)) {
      throw conflict(`request ${id} is ${r.status}: there is nothing to ${decision}`);
    }
    const cannotOwn = flow?.settings.requesterCannotApproveOwn ?? true;
    if (actor === r.requester && cannotOwn) throw forbidden('you cannot approve or deny your own request under this flow');
    if (!r.approverGroups.some((g) => g.users.includes(actor))) throw forbidden(`you are not an approver of request ${id}`);
    const reason = reasonInput?.trim() || null;
    if (reason && reason.length > APPROVER_REASON_MAX) throw invalid(`reason is ${reason.length} characters; at most ${APPROVER_REASON_MAX}`, 'reason');
    if (flow?.settings.requireApproverReason && !reason) throw invalid(`flow "${r.flowId}" requires a reason from the approver`, 'reason');

    const decisions = [...r.decisions, { approver: actor, decision, reason, at: now, subject }];
    const cs: ChangeSet = { audit: [] };
    let claimed: JobRecord[] = [];
    let eventType: string;
    if (subject === 'request') {
      cs.audit!.push({ at: now, actor, action: decision === 'approve' ? 'request.approved' : 'request.denied', requestId: id, data: { reason } });
      if (decision === 'deny') {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, status: 'rejected', updatedAt: now, endedAt: now, endedBy: actor, endNote: reason } }];
        eventType = 'request.denied';
      } else if (approvalsSatisfied(r.approvalMode, r.approverGroups, decisions, subject)) {
        const approved = { ...r, decisions };
        const grants = await this.ctx.store.getGrants(id);
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions } }];
        // approvedTransition adds a second update on the same row: fold both into one.
        const tmp: ChangeSet = { audit: cs.audit };
        claimed = this.grants.approvedTransition(approved, grants, tmp, now);
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, ...tmp.updateRequests![0]!.set } }];
        cs.updateGrants = tmp.updateGrants;
        cs.insertJobs = tmp.insertJobs;
        eventType = 'request.approved';
      } else {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, updatedAt: now } }];
        eventType = 'request.approval_recorded';
      }
    } else {
      const ext = r.pendingExtension!;
      cs.audit!.push({ at: now, actor, action: decision === 'approve' ? 'extension.approved' : 'extension.denied', requestId: id, data: { extension: ext.number, reason } });
      if (decision === 'deny') {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, pendingExtension: null, updatedAt: now } }];
        eventType = 'extension.denied';
      } else if (approvalsSatisfied(r.approvalMode, r.approverGroups, decisions, subject)) {
        this.extension.applyExtension({ ...r, decisions }, ext.durationMs, cs, now, actor);
        cs.updateRequests![0]!.set.decisions = decisions;
        eventType = 'request.extended';
      } else {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, updatedAt: now } }];
        eventType = 'extension.approval_recorded';
      }
    }
    // Decided: nothing waits any more, so its timeout and reminders go with the decision.
    if (['request.denied', 'request.approved', 'extension.denied', 'request.extended'].includes(eventType)) cs.deleteJobsOfRequest = [{ requestId: id, kinds: ['timeout', 'remind'] }];
    await this.ctx.commitOrConflict(cs, id);
    const stored = (await this.ctx.store.getRequest(id))!;
    this.ctx.publish(stored, eventType, { by: actor, reason });
    await this.ctx.runInline(claimed);
    return (await this.ctx.store.getRequest(id))!;
  }

  async cancel(actor: string, id: string): Promise<RequestRecord> {
    const now = this.ctx.now();
    const r = await this.ctx.getVisible(actor, id);
    if (r.requester !== actor) throw forbidden('only the requester can cancel a request');
    if (r.status !== 'pending' && r.status !== 'scheduled') throw conflict(`request ${id} is ${r.status}; only pending or scheduled requests can be canceled (revoke active access instead)`);
    const cs: ChangeSet = {
      updateRequests: [{ id, expectVersion: r.version, set: { status: 'canceled', updatedAt: now, endedAt: now, endedBy: actor, endReason: 'self' } }],
      deleteJobsOfRequest: [{ requestId: id, kinds: ['start', 'timeout', 'remind'] }],
      audit: [{ at: now, actor, action: 'request.canceled', requestId: id, data: {} }],
    };
    await this.ctx.commitOrConflict(cs, id);
    const stored = (await this.ctx.store.getRequest(id))!;
    this.ctx.publish(stored, 'request.canceled');
    return stored;
  }
}
