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

/**
 * Who a waiting request (or its pending extension) waits for, as the requester is told:
 * "bob or erin" (any of), "one of bob, erin, and carol" (all of: one from each group still
 * to approve), the requester left out where the flow forbids approving one's own. Null when
 * it waits for nobody.
 */
export function waitingFor(r: RequestRecord, forbidOwn: boolean): string | null {
  if (r.approvalMode === 'automatic') return null;
  const subject: Decision['subject'] | null = r.status === 'pending' ? 'request' : r.status === 'active' && r.pendingExtension ? `extension:${r.pendingExtension.number}` : null;
  if (subject === null) return null;
  const approved = new Set(r.decisions.filter((d) => d.subject === subject && d.decision === 'approve').map((d) => d.approver));
  const people = (g: ApproverGroupSnapshot) => g.users.filter((u) => !(forbidOwn && u === r.requester));
  const names = (users: string[]) => (users.length <= 1 ? users.join('') : `${users.slice(0, -1).join(', ')} or ${users[users.length - 1]}`);
  if (r.approvalMode === 'anyOf') {
    const users = [...new Set(r.approverGroups.flatMap(people))].sort();
    return users.length ? names(users) : null;
  }
  const open = r.approverGroups.filter((g) => !g.users.some((u) => approved.has(u))).map((g) => people(g)).filter((u) => u.length > 0);
  if (open.length === 0) return null;
  return open.map((users) => (users.length === 1 ? users[0]! : `one of ${users.join(', ')}`)).join(', and ');
}

/** The groups (by description) through which `userId` may decide this request. */
export function approverRolesOf(request: RequestRecord, userId: string): string[] {
  return request.approverGroups.filter((g) => g.users.includes(userId)).map((g) => g.description);
}

/** Everyone who may approve: notified of a new request, and of a break-glass one. */
export function allApprovers(groups: ApproverGroupSnapshot[]): string[] {
  return [...new Set(groups.flatMap((g) => g.users))].sort();
}
