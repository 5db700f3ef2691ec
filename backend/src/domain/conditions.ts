// Requester and approver conditions: `attribute op value` rows combined with all (AND) or
// any (OR). Pure: no I/O, no Node imports.

import type { Condition, ConditionGroup, OwnerRef, ShiftConfig, UserConfig } from './config.ts';
import { currentShiftMember } from './shifts.ts';

export interface ConditionContext {
  /** Epoch ms at which conditions are evaluated (shifts depend on it). */
  at: number;
  users: ReadonlyMap<string, UserConfig>;
  shifts: readonly ShiftConfig[];
}

export interface ApproverContext extends ConditionContext {
  requester: UserConfig;
  /** Owners of the integration or resource asked for. */
  owners: readonly OwnerRef[];
}

/** Shift ids each user is on at ctx.at, computed once per evaluation. */
type ShiftLookup = (userId: string) => readonly string[];

function shiftLookup(ctx: ConditionContext): ShiftLookup {
  let onShift: Map<string, string[]> | undefined;
  return (userId) => {
    if (onShift === undefined) {
      onShift = new Map();
      for (const shift of ctx.shifts) {
        const member = currentShiftMember(shift, ctx.at);
        if (member === null) continue;
        const ids = onShift.get(member);
        if (ids === undefined) onShift.set(member, [shift.id]);
        else ids.push(shift.id);
      }
    }
    return onShift.get(userId) ?? [];
  };
}

/** The values of `attribute` for `user`; `owner` has none. */
function attributeValues(attribute: string, user: UserConfig, shifts: ShiftLookup): readonly string[] {
  switch (attribute) {
    case 'user':
      return [user.id];
    case 'email':
      return [user.email];
    case 'group':
      return user.groups;
    case 'manager':
      return user.manager === undefined ? [] : [user.manager];
    case 'shift':
      return shifts(user.id);
    case 'owner':
      return [];
    default: {
      if (!Object.hasOwn(user.attributes, attribute)) return [];
      const value = user.attributes[attribute];
      if (Array.isArray(value)) return value;
      return typeof value === 'string' ? [value] : [];
    }
  }
}

/** Whether the op holds between the user's values A and the condition's values V. */
function compare(condition: Condition, actual: readonly string[]): boolean {
  const caseInsensitive = condition.attribute === 'email';
  const norm = caseInsensitive ? (s: string) => s.toLowerCase() : (s: string) => s;
  const a = actual.map(norm);
  const v = condition.value.map(norm);
  const some = (test: (x: string, y: string) => boolean) => a.some((x) => v.some((y) => test(x, y)));
  switch (condition.op) {
    case 'is':
      return some((x, y) => x === y);
    case 'is not':
      return !some((x, y) => x === y);
    case 'contains':
      return some((x, y) => x.includes(y));
    case 'does not contain':
      return !some((x, y) => x.includes(y));
    case 'starts with':
      return some((x, y) => x.startsWith(y));
    default:
      return false;
  }
}

/** For relation conditions (approver's `manager`/`owner` without a value): negative ops invert. */
function relation(condition: Condition, holds: boolean): boolean {
  return condition.op === 'is not' || condition.op === 'does not contain' ? !holds : holds;
}

function isOwner(candidate: UserConfig, owners: readonly OwnerRef[]): boolean {
  return owners.some((owner) => ('user' in owner ? owner.user === candidate.id : candidate.groups.includes(owner.group)));
}

function requesterCondition(condition: Condition, user: UserConfig, shifts: ShiftLookup): boolean {
  if (condition.attribute === 'owner') return false;
  return compare(condition, attributeValues(condition.attribute, user, shifts));
}

function approverCondition(condition: Condition, candidate: UserConfig, ctx: ApproverContext, shifts: ShiftLookup): boolean {
  if (condition.value.length === 0) {
    if (condition.attribute === 'manager') {
      return relation(condition, ctx.requester.manager !== undefined && ctx.requester.manager === candidate.id);
    }
    if (condition.attribute === 'owner') return relation(condition, isOwner(candidate, ctx.owners));
  }
  // `owner` with values has no meaning: it never holds, as for requesters.
  return requesterCondition(condition, candidate, shifts);
}

function combine(group: ConditionGroup, test: (condition: Condition) => boolean): boolean {
  if (group.conditions.length === 0) return true;
  return group.match === 'any' ? group.conditions.some(test) : group.conditions.every(test);
}

/**
 * Whether `user` satisfies the requester conditions. A group without conditions matches
 * everyone; `owner` conditions never hold for requesters.
 */
export function userMatches(group: ConditionGroup, user: UserConfig, ctx: ConditionContext): boolean {
  const shifts = shiftLookup(ctx);
  return combine(group, (condition) => requesterCondition(condition, user, shifts));
}

function approverMatchesWith(group: ConditionGroup, candidate: UserConfig, ctx: ApproverContext, shifts: ShiftLookup): boolean {
  return combine(group, (condition) => approverCondition(condition, candidate, ctx, shifts));
}

/**
 * Whether `candidate` satisfies an approver group. As for requesters, except that `manager`
 * without a value means "is the requester's manager" and `owner` without a value means "is
 * one of ctx.owners" (a user owner, or a member of a group owner); `is not` inverts both.
 * Does not exclude the requester: the caller decides that.
 */
export function approverMatches(group: ConditionGroup, candidate: UserConfig, ctx: ApproverContext): boolean {
  return approverMatchesWith(group, candidate, ctx, shiftLookup(ctx));
}

/** Ids (sorted) of every user in ctx.users who matches the approver group, the requester included. */
export function eligibleApprovers(group: ConditionGroup, ctx: ApproverContext): string[] {
  const shifts = shiftLookup(ctx);
  const ids: string[] = [];
  for (const user of ctx.users.values()) {
    if (approverMatchesWith(group, user, ctx, shifts)) ids.push(user.id);
  }
  return ids.sort();
}

function describeValue(value: string): string {
  return /^[\w.@+-]+$/.test(value) ? value : JSON.stringify(value);
}

function describeCondition(condition: Condition): string {
  const { attribute, op, value } = condition;
  const negative = op === 'is not' || op === 'does not contain';
  if (value.length === 0) {
    if (attribute === 'manager' || attribute === 'owner') return negative ? `not ${attribute}` : attribute;
    return `${attribute} ${op} nothing`;
  }
  if (value.length === 1) return `${attribute} ${op} ${describeValue(value[0])}`;
  const list = value.map(describeValue).join(', ');
  switch (op) {
    case 'is':
      return `${attribute} is one of ${list}`;
    case 'is not':
      return `${attribute} is none of ${list}`;
    case 'contains':
      return `${attribute} contains one of ${list}`;
    case 'does not contain':
      return `${attribute} contains none of ${list}`;
    case 'starts with':
      return `${attribute} starts with one of ${list}`;
    default:
      return `${attribute} ${op} ${list}`;
  }
}

/** "group is sre-leads OR manager"; "anyone" for a group without conditions. */
export function describeConditionGroup(group: ConditionGroup): string {
  if (group.conditions.length === 0) return 'anyone';
  return group.conditions.map(describeCondition).join(group.match === 'any' ? ' OR ' : ' AND ');
}
