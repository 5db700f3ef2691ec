import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, ConditionGroup, ConditionOp, OwnerRef, ShiftConfig, UserConfig } from './config.ts';
import type { ApproverContext, ConditionContext } from './conditions.ts';
import { approverMatches, describeConditionGroup, eligibleApprovers, userMatches } from './conditions.ts';

function user(id: string, fields: Partial<UserConfig> = {}): UserConfig {
  return { id, email: `${id}@example.com`, name: id, groups: [], attributes: {}, ...fields };
}

const alice = user('alice', {
  email: 'Alice@Example.com',
  groups: ['engineering', 'sre'],
  manager: 'carol',
  attributes: { team: 'platform', regions: ['eu-west', 'us-east'] },
});
const bob = user('bob', { groups: ['engineering'], manager: 'carol', attributes: { team: 'payments' } });
const carol = user('carol', { groups: ['sre-leads', 'management'] });
const dave = user('dave', { email: 'dave@contractor.io', manager: 'alice', attributes: { regions: [] } });
const erin = user('erin', { groups: ['dba'], manager: 'carol' });

// Deliberately not in alphabetical order.
const users = new Map<string, UserConfig>([dave, alice, erin, carol, bob].map((u) => [u.id, u]));

const shifts: ShiftConfig[] = [
  { id: 'sre-oncall', timezone: 'UTC', rotation: 'weekly', handoff: '09:00', members: ['alice', 'bob'], anchor: '2026-01-05' },
  { id: 'dba-oncall', timezone: 'UTC', rotation: 'daily', handoff: '09:00', members: ['carol', 'dave'], anchor: '2026-01-05' },
];

/** Monday 2026-01-05 12:00 UTC: alice on sre-oncall, carol on dba-oncall. */
const MONDAY = Date.UTC(2026, 0, 5, 12, 0);
/** Monday 2026-01-12 12:00 UTC: bob on sre-oncall, dave on dba-oncall. */
const NEXT_MONDAY = Date.UTC(2026, 0, 12, 12, 0);

const ctx: ConditionContext = { at: MONDAY, users, shifts };

const cond = (attribute: string, op: ConditionOp, ...value: string[]): Condition => ({ attribute, op, value });
const all = (...conditions: Condition[]): ConditionGroup => ({ match: 'all', conditions });
const any = (...conditions: Condition[]): ConditionGroup => ({ match: 'any', conditions });

type RequesterCase = [rule: string, group: ConditionGroup, user: UserConfig, matches: boolean, at?: number];

function checkRequesters(cases: RequesterCase[]): void {
  for (const [rule, group, u, expected, at] of cases) {
    assert.equal(userMatches(group, u, at === undefined ? ctx : { ...ctx, at }), expected, `${rule} [${u.id}]`);
  }
}

test('`is` holds when some attribute value equals some listed value, exactly', () => {
  checkRequesters([
    ['user is alice', all(cond('user', 'is', 'alice')), alice, true],
    ['user is alice', all(cond('user', 'is', 'alice')), bob, false],
    ['user is bob or alice', all(cond('user', 'is', 'bob', 'alice')), alice, true],
    ['user is Alice (case-sensitive)', all(cond('user', 'is', 'Alice')), alice, false],
    ['group is sre', all(cond('group', 'is', 'sre')), alice, true],
    ['group is sre', all(cond('group', 'is', 'sre')), bob, false],
    ['group is sre or sre-leads', all(cond('group', 'is', 'sre', 'sre-leads')), carol, true],
    ['group is Engineering (case-sensitive)', all(cond('group', 'is', 'Engineering')), bob, false],
    ['group is with no groups', all(cond('group', 'is', 'engineering')), dave, false],
    ['manager is carol', all(cond('manager', 'is', 'carol')), alice, true],
    ['manager is carol, no manager', all(cond('manager', 'is', 'carol')), carol, false],
    ['team is platform', all(cond('team', 'is', 'platform')), alice, true],
    ['team is platform, other team', all(cond('team', 'is', 'platform')), bob, false],
    ['team is platform, attribute missing', all(cond('team', 'is', 'platform')), carol, false],
    ['team is Platform (case-sensitive)', all(cond('team', 'is', 'Platform')), alice, false],
    ['regions is us-east (multi-valued)', all(cond('regions', 'is', 'us-east')), alice, true],
    ['regions is ap-south (multi-valued)', all(cond('regions', 'is', 'ap-south')), alice, false],
    ['regions is eu-west, empty list', all(cond('regions', 'is', 'eu-west')), dave, false],
    ['group is (no values) never holds', all(cond('group', 'is')), alice, false],
  ]);
});

test('`is not` holds when no attribute value equals any listed value', () => {
  checkRequesters([
    ['user is not alice', all(cond('user', 'is not', 'alice')), alice, false],
    ['user is not alice', all(cond('user', 'is not', 'alice')), bob, true],
    ['group is not sre', all(cond('group', 'is not', 'sre')), alice, false],
    ['group is not sre', all(cond('group', 'is not', 'sre')), bob, true],
    ['group is not sre, no groups', all(cond('group', 'is not', 'sre')), dave, true],
    ['group is not sre or engineering', all(cond('group', 'is not', 'sre', 'engineering')), bob, false],
    ['manager is not carol', all(cond('manager', 'is not', 'carol')), alice, false],
    ['manager is not carol, no manager', all(cond('manager', 'is not', 'carol')), carol, true],
    ['team is not platform, attribute missing', all(cond('team', 'is not', 'platform')), carol, true],
    ['team is not platform, other team', all(cond('team', 'is not', 'platform')), bob, true],
    ['regions is not eu-west (multi-valued)', all(cond('regions', 'is not', 'eu-west')), alice, false],
    ['regions is not ap-south (multi-valued)', all(cond('regions', 'is not', 'ap-south')), alice, true],
    ['group is not (no values) always holds', all(cond('group', 'is not')), alice, true],
  ]);
});

test('`contains` holds when some attribute value includes some listed value', () => {
  checkRequesters([
    ['user contains li', all(cond('user', 'contains', 'li')), alice, true],
    ['user contains li', all(cond('user', 'contains', 'li')), bob, false],
    ['group contains lead', all(cond('group', 'contains', 'lead')), carol, true],
    ['group contains lead', all(cond('group', 'contains', 'lead')), alice, false],
    ['group contains Lead (case-sensitive)', all(cond('group', 'contains', 'Lead')), carol, false],
    ['regions contains east (multi-valued)', all(cond('regions', 'contains', 'east')), alice, true],
    ['regions contains ap- or -west', all(cond('regions', 'contains', 'ap-', '-west')), alice, true],
    ['team contains form', all(cond('team', 'contains', 'form')), alice, true],
    ['team contains form, attribute missing', all(cond('team', 'contains', 'form')), carol, false],
  ]);
});

test('`does not contain` holds when no attribute value includes any listed value', () => {
  checkRequesters([
    ['user does not contain li', all(cond('user', 'does not contain', 'li')), alice, false],
    ['user does not contain li', all(cond('user', 'does not contain', 'li')), bob, true],
    ['group does not contain sre', all(cond('group', 'does not contain', 'sre')), alice, false],
    ['group does not contain sre (sre-leads contains it)', all(cond('group', 'does not contain', 'sre')), carol, false],
    ['group does not contain sre', all(cond('group', 'does not contain', 'sre')), bob, true],
    ['regions does not contain ap-', all(cond('regions', 'does not contain', 'ap-')), alice, true],
    ['regions does not contain east (multi-valued)', all(cond('regions', 'does not contain', 'east')), alice, false],
    ['regions does not contain east, empty list', all(cond('regions', 'does not contain', 'east')), dave, true],
    ['team does not contain pay, attribute missing', all(cond('team', 'does not contain', 'pay')), carol, true],
  ]);
});

test('`starts with` holds when some attribute value starts with some listed value', () => {
  checkRequesters([
    ['user starts with a', all(cond('user', 'starts with', 'a')), alice, true],
    ['user starts with A (case-sensitive)', all(cond('user', 'starts with', 'A')), alice, false],
    ['user starts with lice', all(cond('user', 'starts with', 'lice')), alice, false],
    ['group starts with eng', all(cond('group', 'starts with', 'eng')), bob, true],
    ['group starts with eng', all(cond('group', 'starts with', 'eng')), carol, false],
    ['regions starts with us (multi-valued)', all(cond('regions', 'starts with', 'us')), alice, true],
    ['regions starts with eu', all(cond('regions', 'starts with', 'eu')), bob, false],
    ['manager starts with car', all(cond('manager', 'starts with', 'car')), bob, true],
  ]);
});

test('email compares without regard to case, under every op', () => {
  checkRequesters([
    ['email is alice@example.com', all(cond('email', 'is', 'alice@example.com')), alice, true],
    ['email is ALICE@EXAMPLE.COM', all(cond('email', 'is', 'ALICE@EXAMPLE.COM')), alice, true],
    ['email is bob@example.com', all(cond('email', 'is', 'bob@example.com')), alice, false],
    ['email is not ALICE@example.com', all(cond('email', 'is not', 'ALICE@example.com')), alice, false],
    ['email is not ALICE@example.com', all(cond('email', 'is not', 'ALICE@example.com')), bob, true],
    ['email contains @EXAMPLE', all(cond('email', 'contains', '@EXAMPLE')), alice, true],
    ['email contains @EXAMPLE', all(cond('email', 'contains', '@EXAMPLE')), dave, false],
    ['email does not contain Example.COM', all(cond('email', 'does not contain', 'Example.COM')), alice, false],
    ['email does not contain example.com', all(cond('email', 'does not contain', 'example.com')), dave, true],
    ['email starts with ALICE@', all(cond('email', 'starts with', 'ALICE@')), alice, true],
    ['email starts with dave@contractor', all(cond('email', 'starts with', 'DAVE@Contractor')), dave, true],
  ]);
});

test('shift is the shifts the user is on at the context instant', () => {
  checkRequesters([
    ['shift is sre-oncall', all(cond('shift', 'is', 'sre-oncall')), alice, true],
    ['shift is sre-oncall', all(cond('shift', 'is', 'sre-oncall')), bob, false],
    ['shift is sre-oncall, the week after', all(cond('shift', 'is', 'sre-oncall')), alice, false, NEXT_MONDAY],
    ['shift is sre-oncall, the week after', all(cond('shift', 'is', 'sre-oncall')), bob, true, NEXT_MONDAY],
    ['shift is not sre-oncall', all(cond('shift', 'is not', 'sre-oncall')), bob, true],
    ['shift is not sre-oncall', all(cond('shift', 'is not', 'sre-oncall')), alice, false],
    ['shift starts with dba', all(cond('shift', 'starts with', 'dba')), carol, true],
    ['shift contains oncall', all(cond('shift', 'contains', 'oncall')), carol, true],
    ['shift contains oncall, not on shift', all(cond('shift', 'contains', 'oncall')), erin, false],
    ['shift does not contain oncall, not on shift', all(cond('shift', 'does not contain', 'oncall')), erin, true],
    ['shift is dba-oncall, the day after', all(cond('shift', 'is', 'dba-oncall')), dave, true, Date.UTC(2026, 0, 6, 12, 0)],
  ]);
});

test('owner never holds for a requester, whatever the op or value', () => {
  checkRequesters([
    ['owner', all(cond('owner', 'is')), alice, false],
    ['owner is alice', all(cond('owner', 'is', 'alice')), alice, false],
    ['owner is not', all(cond('owner', 'is not')), alice, false],
    ['owner is not bob', all(cond('owner', 'is not', 'bob')), alice, false],
    ['owner does not contain x', all(cond('owner', 'does not contain', 'x')), alice, false],
    ['owner OR group is sre-leads', any(cond('owner', 'is'), cond('group', 'is', 'sre-leads')), carol, true],
  ]);
});

test('match all needs every condition, match any needs one', () => {
  const both = [cond('group', 'is', 'engineering'), cond('team', 'is', 'platform')] as const;
  checkRequesters([
    ['all: engineering AND platform', all(...both), alice, true],
    ['all: engineering AND platform', all(...both), bob, false],
    ['all: engineering AND platform', all(...both), carol, false],
    ['any: engineering OR platform', any(...both), bob, true],
    ['any: engineering OR platform', any(...both), alice, true],
    ['any: engineering OR platform', any(...both), carol, false],
  ]);
});

test('a group with no conditions matches every user', () => {
  for (const u of users.values()) {
    assert.equal(userMatches(all(), u, ctx), true, `all [${u.id}]`);
    assert.equal(userMatches(any(), u, ctx), true, `any [${u.id}]`);
  }
});

test('a custom attribute named like an object property is just missing', () => {
  checkRequesters([
    ['constructor is not x', all(cond('constructor', 'is not', 'x')), alice, true],
    ['toString contains function', all(cond('toString', 'contains', 'function')), alice, false],
    ['__proto__ starts with ""', all(cond('__proto__', 'starts with', '')), alice, false],
  ]);
});

const owners: OwnerRef[] = [{ user: 'bob' }, { group: 'dba' }];
const approverCtx = (requester: UserConfig, extra: Partial<ApproverContext> = {}): ApproverContext => ({
  ...ctx,
  requester,
  owners,
  ...extra,
});

type ApproverCase = [rule: string, group: ConditionGroup, requester: UserConfig, candidate: UserConfig, matches: boolean];

test('for approvers, manager without a value is the requester’s manager; `is not` inverts', () => {
  const cases: ApproverCase[] = [
    ['manager', all(cond('manager', 'is')), alice, carol, true],
    ['manager', all(cond('manager', 'is')), alice, bob, false],
    ['manager', all(cond('manager', 'is')), alice, alice, false],
    ['manager of dave', all(cond('manager', 'is')), dave, alice, true],
    ['manager of dave', all(cond('manager', 'is')), dave, carol, false],
    ['manager, requester without manager', all(cond('manager', 'is')), carol, carol, false],
    ['not manager', all(cond('manager', 'is not')), alice, carol, false],
    ['not manager', all(cond('manager', 'is not')), alice, bob, true],
    ['not manager, requester without manager', all(cond('manager', 'is not')), carol, bob, true],
    // With a value, manager is the candidate's own manager, as for requesters.
    ['manager is carol', all(cond('manager', 'is', 'carol')), alice, bob, true],
    ['manager is carol', all(cond('manager', 'is', 'carol')), alice, carol, false],
  ];
  for (const [rule, group, requester, candidate, expected] of cases) {
    assert.equal(approverMatches(group, candidate, approverCtx(requester)), expected, `${rule} [requester ${requester.id}, candidate ${candidate.id}]`);
  }
});

test('for approvers, owner without a value is a user owner or a member of a group owner', () => {
  const cases: ApproverCase[] = [
    ['owner: user owner', all(cond('owner', 'is')), alice, bob, true],
    ['owner: member of the owner group', all(cond('owner', 'is')), alice, erin, true],
    ['owner: neither', all(cond('owner', 'is')), alice, carol, false],
    ['owner: the requester is not an owner', all(cond('owner', 'is')), alice, alice, false],
    ['not owner', all(cond('owner', 'is not')), alice, carol, true],
    ['not owner', all(cond('owner', 'is not')), alice, bob, false],
    ['not owner', all(cond('owner', 'is not')), alice, erin, false],
    ['owner with a value never holds', all(cond('owner', 'is', 'bob')), alice, bob, false],
  ];
  for (const [rule, group, requester, candidate, expected] of cases) {
    assert.equal(approverMatches(group, candidate, approverCtx(requester)), expected, `${rule} [candidate ${candidate.id}]`);
  }
  assert.equal(approverMatches(all(cond('owner', 'is')), bob, approverCtx(alice, { owners: [] })), false, 'no owners: nobody is owner');
});

test('for approvers, shift with values is the candidate being on one of those shifts now', () => {
  const cases: [string, ConditionGroup, number, UserConfig, boolean][] = [
    ['shift is sre-oncall', all(cond('shift', 'is', 'sre-oncall')), MONDAY, bob, false],
    ['shift is sre-oncall', all(cond('shift', 'is', 'sre-oncall')), NEXT_MONDAY, bob, true],
    ['shift is sre-oncall or dba-oncall', all(cond('shift', 'is', 'sre-oncall', 'dba-oncall')), MONDAY, carol, true],
    ['shift is dba-oncall', all(cond('shift', 'is', 'dba-oncall')), MONDAY, alice, false],
  ];
  for (const [rule, group, at, candidate, expected] of cases) {
    assert.equal(approverMatches(group, candidate, approverCtx(dave, { at })), expected, `${rule} [candidate ${candidate.id}]`);
  }
});

test('approver rules never exclude the requester themselves', () => {
  // alice is on sre-oncall on MONDAY and asks; she still matches.
  assert.equal(approverMatches(all(cond('shift', 'is', 'sre-oncall')), alice, approverCtx(alice)), true);
  assert.deepEqual(eligibleApprovers(all(cond('group', 'is', 'engineering')), approverCtx(alice)), ['alice', 'bob']);
});

test('eligible approvers are every matching user id, sorted', () => {
  const cases: [string, ConditionGroup, UserConfig, string[], number?][] = [
    ['group is sre-leads OR manager', any(cond('group', 'is', 'sre-leads'), cond('manager', 'is')), dave, ['alice', 'carol']],
    ['group is sre-leads OR manager', any(cond('group', 'is', 'sre-leads'), cond('manager', 'is')), bob, ['carol']],
    ['owner', all(cond('owner', 'is')), alice, ['bob', 'erin']],
    ['owner AND group is dba', all(cond('owner', 'is'), cond('group', 'is', 'dba')), alice, ['erin']],
    ['not owner', all(cond('owner', 'is not')), alice, ['alice', 'carol', 'dave']],
    ['manager of a requester without one', all(cond('manager', 'is')), carol, []],
    ['no conditions', all(), alice, ['alice', 'bob', 'carol', 'dave', 'erin']],
    ['email ends up case-insensitive', all(cond('email', 'contains', 'EXAMPLE.COM')), alice, ['alice', 'bob', 'carol', 'erin']],
    ['on call now', all(cond('shift', 'contains', 'oncall')), erin, ['alice', 'carol']],
    ['on call next week', all(cond('shift', 'contains', 'oncall')), erin, ['bob', 'dave'], NEXT_MONDAY],
    ['custom multi-valued attribute', all(cond('regions', 'starts with', 'us')), bob, ['alice']],
  ];
  for (const [rule, group, requester, expected, at] of cases) {
    assert.deepEqual(eligibleApprovers(group, approverCtx(requester, at === undefined ? {} : { at })), expected, rule);
  }
});

test('a condition group is described as its rows joined by its match', () => {
  const cases: [ConditionGroup, string][] = [
    [any(cond('group', 'is', 'sre-leads'), cond('manager', 'is')), 'group is sre-leads OR manager'],
    [all(cond('group', 'is', 'engineering'), cond('team', 'is', 'platform')), 'group is engineering AND team is platform'],
    [all(cond('group', 'is', 'sre', 'dba')), 'group is one of sre, dba'],
    [all(cond('group', 'is not', 'sre', 'dba')), 'group is none of sre, dba'],
    [all(cond('email', 'contains', '@a.com', '@b.com')), 'email contains one of @a.com, @b.com'],
    [all(cond('email', 'does not contain', 'contractor', 'vendor')), 'email contains none of contractor, vendor'],
    [all(cond('email', 'does not contain', 'contractor')), 'email does not contain contractor'],
    [all(cond('user', 'starts with', 'a', 'b')), 'user starts with one of a, b'],
    [all(cond('user', 'is not', 'bob')), 'user is not bob'],
    [all(cond('manager', 'is not')), 'not manager'],
    [any(cond('owner', 'is'), cond('shift', 'is', 'sre-oncall')), 'owner OR shift is sre-oncall'],
    [all(cond('owner', 'is not')), 'not owner'],
    [all(cond('team', 'is', 'Platform Team')), 'team is "Platform Team"'],
    [all(cond('group', 'is')), 'group is nothing'],
    [all(), 'anyone'],
    [any(), 'anyone'],
  ];
  for (const [group, text] of cases) {
    assert.equal(describeConditionGroup(group), text);
  }
});
