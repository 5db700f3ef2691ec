// Who may approve a request, and when its approvals are enough. Pure.

import type { FlowConfig } from './config.ts';
import type { ApproverGroupSnapshot, Decision, Entitlement, RequestRecord } from './request.ts';
import type { CompiledConfig } from './catalog.ts';
import { describeConditionGroup, eligibleApprovers } from './conditions.ts';

/**
 * The approvers of each approver group, fixed at the time of the request (shift members
 * as of that moment). The requester is left out when the flow forbids approving one's own.
 */
export function snapshotApprovers(
  compiled: CompiledConfig,
  flow: FlowConfig,
  requesterId: string,
  entitlements: Entitlement[],
  at: number,
): ApproverGroupSnapshot[] {
  if (flow.approval.mode === 'automatic') return [];
  const requester = compiled.users.get(requesterId);
  if (!requester) return [];
  const ctx = { ...compiled.conditionContext(at), requester, owners: compiled.ownersOf(entitlements) };
  return flow.approval.groups.map((group) => {
    let users = eligibleApprovers(group, ctx);
    if (flow.settings.requesterCannotApproveOwn) users = users.filter((u) => u !== requesterId);
    return { description: describeConditionGroup(group), users };
  });
}

/** Why nobody could ever approve the request, or null when someone can. */
export function unapprovableReason(mode: RequestRecord['approvalMode'], groups: ApproverGroupSnapshot[]): string | null {
  if (mode === 'automatic') return null;
  if (mode === 'allOf') {
    const empty = groups.find((g) => g.users.length === 0);
    return empty ? `no one can approve it now: the approver group "${empty.description}" has no eligible member` : null;
  }
  return groups.some((g) => g.users.length > 0) ? null : 'no one can approve it now: no approver group has an eligible member';
}

/** Whether the approvals recorded for `subject` satisfy the policy (any-of: one group; all-of: every group). */
export function approvalsSatisfied(
  mode: RequestRecord['approvalMode'],
  groups: ApproverGroupSnapshot[],
  decisions: Decision[],
  subject: Decision['subject'],
): boolean {
  if (mode === 'automatic') return true;
  const approvers = new Set(decisions.filter((d) => d.subject === subject && d.decision === 'approve').map((d) => d.approver));
  const groupDone = (g: ApproverGroupSnapshot) => g.users.some((u) => approvers.has(u));
  return mode === 'allOf' ? groups.every(groupDone) : groups.some(groupDone);
}

/** The groups (by description) through which `userId` may decide this request. */
export function approverRolesOf(request: RequestRecord, userId: string): string[] {
  return request.approverGroups.filter((g) => g.users.includes(userId)).map((g) => g.description);
}

/** Everyone who may approve: notified of a new request, and of a break-glass one. */
export function allApprovers(groups: ApproverGroupSnapshot[]): string[] {
  return [...new Set(groups.flatMap((g) => g.users))].sort();
}
