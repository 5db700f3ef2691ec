import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, ChainVerifier, hashAuditEvent } from '../audit/chain.ts';
import { TEST_AUDIT_KEY } from '../store/postgres-test-support.ts';
import type { RequestRecord } from '../domain/request.ts';
import type { GrantInput, Integration, RevokeInput } from '../integrations/integration.ts';
import type { Store } from '../store/store.ts';
import { Engine } from './engine.ts';
import { LapseError, type LapseErrorKind } from './errors.ts';
import type { LapseEvent } from './events.ts';
import {
  createHarness, demoIntegrationConfig, ent, FIRST_HANDOFF, flow, HOUR, MINUTE, resource, selector, T0,
  type Harness, type HarnessOptions,
} from './test-support.ts';

// ── helpers ──────────────────────────────────────────────────────────────────────────

async function withHarness(fn: (h: Harness) => Promise<void>, opts?: HarnessOptions): Promise<void> {
  const h = await createHarness(opts);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

async function rejectsWith(p: Promise<unknown>, kind: LapseErrorKind, field?: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LapseError, `expected a LapseError, got ${String(err)}`);
    assert.equal(err.kind, kind, `kind of "${err.message}"`);
    if (field !== undefined) assert.equal(err.field, field, `field of "${err.message}"`);
    return true;
  });
}

/** The target's own record, as "user type:resource#permission" lines. */
async function onTarget(h: Harness, integration = 'demo'): Promise<string[]> {
  const rows = await h.targets.get(integration)!.listGranted();
  return rows.map((r) => `${r.user} ${r.entitlement.resourceType}:${r.entitlement.resource}#${r.entitlement.permission}`);
}

async function request(h: Harness, id: string): Promise<RequestRecord> {
  const r = await h.store.getRequest(id);
  assert.ok(r, `request ${id} exists`);
  return r;
}

async function jobs(h: Harness, id: string): Promise<string[]> {
  // An expire job falls due at each warning still ahead (its target), then at the expiry.
  return (await h.store.jobsOfRequest(id)).map((j) => `${j.kind}@${j.dueAt - T0}${j.kind === 'expire' && j.warningOffsetsMs?.length ? ` warns ${j.warningOffsetsMs.join(',')}` : ''}`);
}

async function auditActions(h: Harness, requestId: string): Promise<string[]> {
  return (await h.store.listAudit({ requestId, limit: 1000 })).map((e) => e.action);
}

function eventsOf(h: Harness, type: string, requestId?: string): LapseEvent[] {
  return h.events.filter((e) => e.type === type && (requestId === undefined || e.requestId === requestId));
}

const appRead = ent('database', 'app', 'read');
const analyticsRead = ent('database', 'analytics', 'read');
const usersWrite = ent('table', 'app/users', 'write');
const ordersWrite = ent('table', 'app/orders', 'write');

const autoRequest = (h: Harness, who = 'alice', entitlements = [appRead], extra: { duration?: string; startAt?: number } = {}) =>
  h.engine.createRequest(who, { flowId: 'auto', entitlements, ...extra });

const approvalRequest = (h: Harness, who = 'alice', entitlements = [usersWrite]) =>
  h.engine.createRequest(who, { flowId: 'approval', entitlements, justification: 'fix the broken migration' });

/** A request under `approval`, approved by bob (alice's manager), now active. */
async function approvedRequest(h: Harness, who = 'alice'): Promise<RequestRecord> {
  const r = await approvalRequest(h, who);
  const approved = await h.engine.approve('bob', r.id, 'ok for the migration');
  assert.equal(approved.status, 'active');
  return approved;
}

async function verifyAudit(store: Store) {
  const verifier = new ChainVerifier((prev, e) => hashAuditEvent(TEST_AUDIT_KEY, prev, e));
  for await (const page of store.iterateAudit(7)) {
    for (const e of page) verifier.add({ ...e, dataText: canonicalJson(e.data) });
  }
  return verifier.finish(await store.auditHead());
}

// ── automatic approval and expiry ────────────────────────────────────────────────────

describe('automatic approval', () => {
  test('a request under an automatic flow is active at once, granted on the target, and expires after its duration', () => withHarness(async (h) => {
    const r = await autoRequest(h);
    assert.equal(r.status, 'active');
    assert.equal(r.grantedAt, T0);
    assert.equal(r.expiresAt, T0 + HOUR);
    assert.equal(r.durationMs, HOUR);
    const grants = await h.store.getGrants(r.id);
    assert.deepEqual(grants.map((g) => [g.integration, g.status, g.attempts, g.lastError, g.grantedAt]), [['demo', 'active', 1, null, T0]]);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    assert.equal(h.demo.countCalls('grant', r.id), 1);
    assert.deepEqual(await jobs(h, r.id), [`expire@${HOUR - 10 * MINUTE} warns ${10 * MINUTE},${MINUTE}`]);
    assert.deepEqual(eventsOf(h, 'request.granted', r.id).map((e) => e.audience), [['alice']]);

    // Up to the last millisecond before expiry nothing is revoked (the warnings run).
    assert.equal(await h.advanceTo(T0 + HOUR - 1), 2);
    assert.equal((await request(h, r.id)).status, 'active');
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    assert.equal(h.demo.countCalls('revoke'), 0);

    assert.equal(await h.advanceTo(T0 + HOUR), 1);
    const done = await request(h, r.id);
    assert.equal(done.status, 'expired');
    assert.equal(done.endReason, 'expiry');
    assert.equal(done.endedAt, T0 + HOUR);
    assert.equal(done.error, null);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.status, g.revokedAt]), [['revoked', T0 + HOUR]]);
    assert.deepEqual(await onTarget(h), []);
    assert.equal(h.demo.countCalls('revoke', r.id), 1);
    assert.deepEqual(await jobs(h, r.id), []);
    assert.deepEqual(await auditActions(h, r.id), [
      'request.created', 'request.active', 'request.revoking', 'request.expired',
    ]);
    assert.deepEqual(eventsOf(h, 'request.expired', r.id).map((e) => e.data.status), ['expired']);
  }));

  test('a request longer than the flow maximum is refused', () => withHarness(async (h) => {
    await rejectsWith(autoRequest(h, 'alice', [appRead], { duration: '9h' }), 'invalid', 'duration');
    await rejectsWith(autoRequest(h, 'alice', [appRead], { duration: 'indefinite' }), 'invalid', 'duration');
    assert.deepEqual(await h.store.listRequests({}), []);
  }));

  test('an entitlement the flow does not offer is refused, naming it', () => withHarness(async (h) => {
    await rejectsWith(autoRequest(h, 'alice', [appRead, usersWrite]), 'invalid', 'entitlements[1]');
    await rejectsWith(autoRequest(h, 'bob'), 'forbidden');
    assert.deepEqual(await onTarget(h), []);
  }));
});

describe('expiry warnings', () => {
  test('the requester is warned 10 min and 1 min before expiry, once each, and again for the new expiry after an extension', () => withHarness(async (h) => {
    const r = await autoRequest(h);
    const exp = T0 + HOUR;
    const warnings = () => eventsOf(h, 'request.expiring', r.id).map((e) => [e.data.expiresAt, e.data.warningOffsetMs, e.data.msLeft, e.audience]);

    await h.advanceTo(exp - 10 * MINUTE - 1);
    assert.deepEqual(warnings(), []);
    await h.advanceTo(exp - 10 * MINUTE);
    assert.deepEqual(warnings(), [[exp, 10 * MINUTE, 10 * MINUTE, ['alice']]]);
    // Running the scheduler again does not warn again.
    assert.equal(await h.scheduler.runDue(), 0);
    await h.advance(MINUTE);
    assert.deepEqual(warnings(), [[exp, 10 * MINUTE, 10 * MINUTE, ['alice']]]);

    const extended = await h.engine.extend('alice', r.id, {});
    const exp2 = exp + HOUR;
    assert.equal(extended.expiresAt, exp2);
    assert.deepEqual(await jobs(h, r.id), [`expire@${exp2 - T0 - 10 * MINUTE} warns ${10 * MINUTE},${MINUTE}`]);

    // The old 1-minute warning and the old expiry no longer happen.
    await h.advanceTo(exp - MINUTE);
    await h.advanceTo(exp);
    assert.deepEqual(warnings(), [[exp, 10 * MINUTE, 10 * MINUTE, ['alice']]]);
    assert.equal((await request(h, r.id)).status, 'active');

    await h.advanceTo(exp2 - 10 * MINUTE);
    await h.advanceTo(exp2 - MINUTE);
    await h.scheduler.runDue();
    assert.deepEqual(warnings(), [
      [exp, 10 * MINUTE, 10 * MINUTE, ['alice']],
      [exp2, 10 * MINUTE, 10 * MINUTE, ['alice']],
      [exp2, MINUTE, MINUTE, ['alice']],
    ]);
    const ids = eventsOf(h, 'request.expiring', r.id).map((e) => e.id);
    assert.equal(new Set(ids).size, 3);
  }));

  test('a warning whose moment has already passed when access starts is not planned', () => withHarness(async (h) => {
    const r = await autoRequest(h, 'alice', [appRead], { duration: '5m' });
    assert.deepEqual(await jobs(h, r.id), [`expire@${4 * MINUTE} warns ${MINUTE}`]);
  }));
});

// ── approvals ────────────────────────────────────────────────────────────────────────

describe('approval (any of)', () => {
  test('a request under an approval flow waits, pending, with nothing granted and its approvers told', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    assert.equal(r.status, 'pending');
    assert.deepEqual(r.approverGroups, [
      { description: 'group is sre-leads', users: ['bob', 'erin'] },
      { description: 'manager', users: ['bob'] },
    ]);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => g.status), ['pending']);
    // Nothing to grant yet: only its timeout (24 h) and the approvers' reminder (4 h), the defaults.
    assert.deepEqual((await h.store.jobsOfRequest(r.id)).map((j) => [j.kind, j.dueAt - r.createdAt]).sort(), [['remind', 4 * HOUR], ['timeout', 24 * HOUR]]);
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual(eventsOf(h, 'approval.requested', r.id).map((e) => e.data.approvers), [['bob', 'erin']]);
    assert.deepEqual((await h.store.listAwaitingDecisionBy('erin')).map((x) => x.id), [r.id]);
    assert.deepEqual(await h.store.listAwaitingDecisionBy('dave'), []);
  }));

  test('the flow requires a justification from the requester', () => withHarness(async (h) => {
    await rejectsWith(h.engine.createRequest('alice', { flowId: 'approval', entitlements: [usersWrite] }), 'invalid', 'justification');
    await rejectsWith(h.engine.createRequest('alice', { flowId: 'approval', entitlements: [usersWrite], justification: '   ' }), 'invalid', 'justification');
  }));

  test('someone who is not an approver cannot decide', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    // carol (admin) sees the request but is no approver; dave does not even see it.
    await rejectsWith(h.engine.approve('carol', r.id, 'looks fine'), 'forbidden');
    await rejectsWith(h.engine.deny('carol', r.id, 'no'), 'forbidden');
    await rejectsWith(h.engine.approve('dave', r.id, 'looks fine'), 'not-found');
    const after = await request(h, r.id);
    assert.equal(after.status, 'pending');
    assert.deepEqual(after.decisions, []);
    assert.equal(after.version, r.version);
  }));

  test('the requester cannot approve their own request', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    await rejectsWith(h.engine.approve('alice', r.id, 'I approve myself'), 'forbidden');
    assert.equal((await request(h, r.id)).status, 'pending');
  }));

  test('an SRE lead requesting is never counted among the approvers of their own request', () => withHarness(async (h) => {
    const r = await h.engine.createRequest('erin', { flowId: 'approval', entitlements: [usersWrite], justification: 'hotfix' });
    assert.deepEqual(r.approverGroups.map((g) => g.users), [['bob'], []]);
    await rejectsWith(h.engine.approve('erin', r.id, 'mine'), 'forbidden');
  }, { overrides: { users: [
    { id: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['engineering'], manager: 'bob', attributes: {} },
    { id: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['sre-leads'], attributes: {} },
    { id: 'carol', email: 'carol@example.com', name: 'Carol', groups: [], attributes: {} },
    { id: 'erin', email: 'erin@example.com', name: 'Erin', groups: ['sre-leads', 'engineering'], attributes: {} },
  ] } }));

  test('the approver must give a reason, of at most 124 characters', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    await rejectsWith(h.engine.approve('bob', r.id), 'invalid', 'reason');
    await rejectsWith(h.engine.approve('bob', r.id, '   '), 'invalid', 'reason');
    await rejectsWith(h.engine.approve('bob', r.id, 'x'.repeat(125)), 'invalid', 'reason');
    await rejectsWith(h.engine.deny('bob', r.id), 'invalid', 'reason');
    assert.equal((await request(h, r.id)).version, r.version);
    const approved = await h.engine.approve('bob', r.id, 'y'.repeat(124));
    assert.equal(approved.status, 'active');
    assert.equal(approved.decisions[0]!.reason, 'y'.repeat(124));
  }));

  test('one approval from any group grants: pending → granting → active', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    h.clock.advance(5 * MINUTE);
    const approved = await h.engine.approve('bob', r.id, 'ok for the migration');
    assert.equal(approved.status, 'active');
    assert.equal(approved.grantedAt, T0 + 5 * MINUTE);
    assert.equal(approved.expiresAt, T0 + 5 * MINUTE + HOUR);
    assert.deepEqual(approved.decisions, [{ approver: 'bob', decision: 'approve', reason: 'ok for the migration', at: T0 + 5 * MINUTE, subject: 'request' }]);
    // The approval was announced while the grant was under way, then the grant.
    assert.deepEqual(h.events.filter((e) => e.requestId === r.id).map((e) => `${e.type}:${e.data.status}`), [
      'request.created:pending', 'approval.requested:pending', 'request.approved:granting', 'request.granted:active',
    ]);
    assert.deepEqual(await onTarget(h), ['alice table:app/users#write']);
    assert.deepEqual(await auditActions(h, r.id), ['request.created', 'request.approved', 'request.granting', 'request.active']);
    assert.deepEqual(await h.store.listAwaitingDecisionBy('erin'), []);
    // Once decided, another approver has nothing left to decide.
    await rejectsWith(h.engine.approve('erin', r.id, 'me too'), 'conflict');
  }));

  test('replaying an identical decision changes nothing', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    const approved = await h.engine.approve('bob', r.id, 'ok');
    const auditBefore = (await h.store.auditHead())!.seq;
    const eventsBefore = h.events.length;
    const replayed = await h.engine.approve('bob', r.id, 'ok');
    assert.deepEqual(replayed, approved);
    assert.equal((await h.store.auditHead())!.seq, auditBefore);
    assert.equal(h.events.length, eventsBefore);
    assert.equal(h.demo.countCalls('grant', r.id), 1);
    // The opposite decision by the same approver is refused.
    await rejectsWith(h.engine.deny('bob', r.id, 'changed my mind'), 'conflict');

    const d = await approvalRequest(h, 'dave');
    const denied = await h.engine.deny('erin', d.id, 'not now');
    assert.deepEqual(await h.engine.deny('erin', d.id, 'not now'), denied);
    assert.equal((await request(h, d.id)).version, denied.version);
  }));

  test('a denial rejects the request with its reason and grants nothing', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    h.clock.advance(MINUTE);
    const denied = await h.engine.deny('erin', r.id, 'not during the freeze');
    assert.equal(denied.status, 'rejected');
    assert.equal(denied.endNote, 'not during the freeze');
    assert.equal(denied.endedBy, 'erin');
    assert.equal(denied.endedAt, T0 + MINUTE);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => g.status), ['pending']);
    assert.deepEqual(await jobs(h, r.id), []);
    assert.deepEqual(await onTarget(h), []);
    assert.equal(h.demo.countCalls('grant'), 0);
    assert.deepEqual(eventsOf(h, 'request.denied', r.id).map((e) => [e.data.reason, e.audience.includes('alice')]), [['not during the freeze', true]]);
    await rejectsWith(h.engine.approve('bob', r.id, 'too late'), 'conflict');
    assert.equal((await request(h, r.id)).status, 'rejected');
  }));

  test('the requester may cancel a pending request; it can then not be approved', () => withHarness(async (h) => {
    const r = await approvalRequest(h);
    const canceled = await h.engine.cancel('alice', r.id);
    assert.equal(canceled.status, 'canceled');
    await rejectsWith(h.engine.approve('bob', r.id, 'ok'), 'conflict');
    assert.deepEqual(await onTarget(h), []);
  }));
});

describe('approval (all of)', () => {
  test('all-of needs one approval from each group', () => withHarness(async (h) => {
    const r = await h.engine.createRequest('alice', { flowId: 'allof', entitlements: [ent('database', 'analytics', 'admin')] });
    assert.deepEqual(r.approverGroups.map((g) => g.users), [['bob', 'erin'], ['bob']]);
    // erin satisfies the sre-leads group only: still pending, nothing granted.
    const half = await h.engine.approve('erin', r.id);
    assert.equal(half.status, 'pending');
    assert.equal(eventsOf(h, 'request.approval_recorded', r.id).length, 1);
    assert.deepEqual(await onTarget(h), []);
    // A replay of erin's approval still leaves it pending.
    assert.equal((await h.engine.approve('erin', r.id)).status, 'pending');
    // bob is alice's manager: the second group is satisfied.
    const done = await h.engine.approve('bob', r.id);
    assert.equal(done.status, 'active');
    assert.deepEqual(done.decisions.map((d) => d.approver), ['erin', 'bob']);
    assert.deepEqual(await onTarget(h), ['alice database:analytics#admin']);
  }));
});

describe('break-glass', () => {
  test('break-glass self-approves with a mandatory reason, is audited as such and notifies every approver', () => withHarness(async (h) => {
    await rejectsWith(h.engine.createRequest('alice', { flowId: 'approval', entitlements: [usersWrite], breakGlass: true }), 'invalid', 'justification');
    await rejectsWith(h.engine.createRequest('alice', { flowId: 'allof', entitlements: [ent('database', 'analytics', 'admin')], breakGlass: true, justification: 'outage' }), 'invalid', 'breakGlass');

    const r = await h.engine.createRequest('alice', { flowId: 'approval', entitlements: [usersWrite], breakGlass: true, justification: 'payments are down' });
    assert.equal(r.status, 'active');
    assert.equal(r.breakGlass, true);
    assert.deepEqual(r.decisions, [{ approver: 'alice', decision: 'approve', reason: 'payments are down', at: T0, subject: 'request' }]);
    assert.deepEqual(await onTarget(h), ['alice table:app/users#write']);
    const audit = await h.store.listAudit({ requestId: r.id, action: 'request.break_glass' });
    assert.deepEqual(audit.map((e) => [e.actor, e.data]), [['alice', { reason: 'payments are down', notified: ['bob', 'erin'] }]]);
    const [event] = eventsOf(h, 'request.break_glass', r.id);
    assert.ok(event);
    assert.deepEqual([...event.audience].sort(), ['alice', 'bob', 'erin']);
    assert.deepEqual(event.data.notify, ['bob', 'erin']);
  }));
});

// ── scheduled start ──────────────────────────────────────────────────────────────────

describe('scheduled start', () => {
  test('access asked for later is scheduled, granted only when its start comes, and lasts its duration from then', () => withHarness(async (h) => {
    const startAt = T0 + 2 * HOUR;
    const r = await autoRequest(h, 'alice', [appRead], { startAt });
    assert.equal(r.status, 'scheduled');
    assert.equal(r.startAt, startAt);
    assert.equal(r.expiresAt, null);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => g.status), ['pending']);
    assert.deepEqual(await jobs(h, r.id), [`start@${2 * HOUR}`]);
    assert.deepEqual(await onTarget(h), []);

    assert.equal(await h.advanceTo(startAt - 1), 0);
    assert.equal((await request(h, r.id)).status, 'scheduled');
    assert.deepEqual(await onTarget(h), []);

    // The scheduler looks 3 s late: the duration counts from the grant.
    await h.advanceTo(startAt + 3 * 1000);
    const active = await request(h, r.id);
    assert.equal(active.status, 'active');
    assert.equal(active.grantedAt, startAt + 3000);
    assert.equal(active.expiresAt, startAt + 3000 + HOUR);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    await h.advanceTo(startAt + 3000 + HOUR);
    assert.equal((await request(h, r.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));

  test('a scheduled request that is revoked before its start never reaches the target', () => withHarness(async (h) => {
    const r = await autoRequest(h, 'alice', [appRead], { startAt: T0 + HOUR });
    const revoked = await h.engine.revoke('alice', r.id);
    assert.equal(revoked.status, 'revoked');
    assert.deepEqual(await jobs(h, r.id), []);
    await h.advanceTo(T0 + HOUR);
    assert.deepEqual(await onTarget(h), []);
    assert.equal(h.demo.countCalls('grant'), 0);
  }));
});

// ── extension ────────────────────────────────────────────────────────────────────────

describe('extension', () => {
  test('an automatic flow extends at once, up to its maximum number of extensions', () => withHarness(async (h) => {
    const r = await autoRequest(h, 'alice', [appRead], { duration: '2h' });
    h.clock.advance(30 * MINUTE);
    const once = await h.engine.extend('alice', r.id, {});
    assert.equal(once.expiresAt, T0 + 3 * HOUR);
    assert.equal(once.extensions, 1);
    const twice = await h.engine.extend('alice', r.id, { duration: '30m' });
    assert.equal(twice.expiresAt, T0 + 3 * HOUR + 30 * MINUTE);
    assert.equal(twice.extensions, 2);
    await rejectsWith(h.engine.extend('alice', r.id, {}), 'conflict');
    assert.equal((await request(h, r.id)).expiresAt, T0 + 3 * HOUR + 30 * MINUTE);
    assert.deepEqual(await jobs(h, r.id), [`expire@${3 * HOUR + 20 * MINUTE} warns ${10 * MINUTE},${MINUTE}`], 'the expiry job moved to the new expiry\'s first warning');
    await rejectsWith(h.engine.extend('dave', r.id, {}), 'not-found');

    // The original expiry passes without effect; the new one revokes.
    await h.advanceTo(T0 + 2 * HOUR);
    assert.equal((await request(h, r.id)).status, 'active');
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    assert.equal(h.demo.countCalls('grant', r.id), 1);
    await h.advanceTo(T0 + 3 * HOUR + 30 * MINUTE);
    assert.equal((await request(h, r.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));

  test('an approval flow extension waits for an approver, then moves the expiry', () => withHarness(async (h) => {
    const r = await approvedRequest(h);
    assert.equal(r.expiresAt, T0 + HOUR);
    await rejectsWith(h.engine.extend('alice', r.id, { duration: '30m' }), 'invalid', 'justification');
    h.clock.advance(10 * MINUTE);
    const asked = await h.engine.extend('alice', r.id, { duration: '30m', justification: 'migration is slow' });
    assert.equal(asked.status, 'active');
    assert.equal(asked.expiresAt, T0 + HOUR);
    assert.deepEqual(asked.pendingExtension, { number: 1, durationMs: 30 * MINUTE, justification: 'migration is slow', requestedAt: T0 + 10 * MINUTE });
    assert.deepEqual(eventsOf(h, 'extension.requested', r.id).map((e) => e.data.approvers), [['bob', 'erin']]);
    assert.deepEqual((await h.store.listAwaitingDecisionBy('erin')).map((x) => x.id), [r.id]);
    await rejectsWith(h.engine.extend('alice', r.id, { duration: '30m', justification: 'again' }), 'conflict');
    await rejectsWith(h.engine.approve('alice', r.id, 'mine'), 'forbidden');
    await rejectsWith(h.engine.approve('erin', r.id), 'invalid', 'reason');

    const extended = await h.engine.approve('erin', r.id, 'fine');
    assert.equal(extended.expiresAt, T0 + HOUR + 30 * MINUTE);
    assert.equal(extended.extensions, 1);
    assert.equal(extended.pendingExtension, null);
    assert.deepEqual(extended.decisions.map((d) => [d.approver, d.subject]), [['bob', 'request'], ['erin', 'extension:1']]);
    assert.deepEqual(await h.store.listAwaitingDecisionBy('erin'), []);
    // The flow allows one extension.
    await rejectsWith(h.engine.extend('alice', r.id, { duration: '30m', justification: 'more' }), 'conflict');
    await h.advanceTo(T0 + HOUR);
    assert.equal((await request(h, r.id)).status, 'active');
    await h.advanceTo(T0 + HOUR + 30 * MINUTE);
    assert.equal((await request(h, r.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));

  test('jobs read ahead as a batch: a request changed between that read and the run is read again, and still expires on time', () => withHarness(async (h) => {
    const r = await approvedRequest(h);
    const daves = await autoRequest(h, 'dave');
    await h.engine.extend('alice', r.id, { duration: '30m', justification: 'slow' });
    h.clock.set(T0 + HOUR);
    const jobs = await h.store.claimDueJobs(h.clock.now(), 'test', h.clock.now() + 30_000, 100);
    assert.ok(jobs.some((j) => j.kind === 'expire' && j.requestId === r.id) && jobs.some((j) => j.kind === 'expire' && j.requestId === daves.id));
    await h.engine.prepareJobs(jobs);
    // After the read, before the run: the extension is denied (a new version, still active).
    await h.engine.deny('bob', r.id, 'no');
    await Promise.all(jobs.map((j) => h.engine.runJob(j)));
    const ended = await request(h, r.id);
    assert.deepEqual([ended.status, ended.endedAt], ['expired', T0 + HOUR]);
    assert.equal((await request(h, daves.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual([...await h.store.jobsOfRequest(r.id), ...await h.store.jobsOfRequest(daves.id)], []);
  }));

  test('a denied extension leaves the expiry where it was', () => withHarness(async (h) => {
    const r = await approvedRequest(h);
    await h.engine.extend('alice', r.id, { duration: '1h', justification: 'more time' });
    const denied = await h.engine.deny('bob', r.id, 'finish tomorrow');
    assert.equal(denied.status, 'active');
    assert.equal(denied.expiresAt, T0 + HOUR);
    assert.equal(denied.pendingExtension, null);
    assert.equal(denied.extensions, 0);
  }));
});

// ── overlapping grants ───────────────────────────────────────────────────────────────

describe('overlapping grants', () => {
  test('revoking one of two requests for the same entitlement leaves it granted; revoking the second removes it', () => withHarness(async (h) => {
    const first = await autoRequest(h);
    h.clock.advance(MINUTE);
    const second = await autoRequest(h);
    const daves = await autoRequest(h, 'dave');
    assert.deepEqual([first.status, second.status, daves.status], ['active', 'active', 'active']);
    assert.deepEqual(await onTarget(h), ['alice database:app#read', 'dave database:app#read']);

    const r1 = await h.engine.revoke('alice', first.id);
    assert.equal(r1.status, 'revoked');
    assert.equal(h.demo.countCalls('revoke', first.id), 1);
    assert.deepEqual(await onTarget(h), ['alice database:app#read', 'dave database:app#read']);
    assert.equal((await request(h, second.id)).status, 'active');

    const r2 = await h.engine.revoke('alice', second.id);
    assert.equal(r2.status, 'revoked');
    assert.deepEqual(await onTarget(h), ['dave database:app#read']);
  }));

  test('expiry of the shorter of two overlapping requests keeps the longer one\'s access', () => withHarness(async (h) => {
    const short = await autoRequest(h, 'alice', [appRead], { duration: '30m' });
    const long = await autoRequest(h, 'alice', [appRead, analyticsRead], { duration: '2h' });
    await h.advanceTo(T0 + 30 * MINUTE);
    assert.equal((await request(h, short.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), ['alice database:analytics#read', 'alice database:app#read']);
    await h.advanceTo(T0 + 2 * HOUR);
    assert.equal((await request(h, long.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));
});

// ── failing targets ──────────────────────────────────────────────────────────────────

/** An auto request of alice whose revoke at expiry (T0 + 1 h) has failed once against the target. */
async function failedRevoke(h: Harness): Promise<RequestRecord> {
  const r = await autoRequest(h);
  h.demo.faults.revoke = 'connection refused';
  await h.advanceTo(T0 + HOUR);
  return request(h, r.id);
}

describe('failing revoke', () => {
  test('a revoke the target cannot complete stays revoking, visible, retried with exponential backoff until it succeeds', () => withHarness(async (h) => {
    const r = await failedRevoke(h);
    assert.equal(r.status, 'revoking');
    assert.equal(r.endReason, 'expiry');
    assert.equal(r.error, 'revoke on demo failed (attempt 1): connection refused');
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);

    let now = T0 + HOUR;
    for (const [attempt, base] of [[1, 1000], [2, 2000], [3, 4000]] as const) {
      const grant = (await h.store.getGrants(r.id))[0]!;
      assert.deepEqual([grant.status, grant.attempts, grant.lastError], ['revoking', attempt, 'connection refused']);
      const revokeJobs = await h.store.jobsOfRequest(r.id);
      assert.equal(revokeJobs.length, 1);
      const job = revokeJobs[0]!;
      assert.equal(job.kind, 'revoke');
      assert.equal(job.attempts, attempt);
      assert.equal(job.lastError, 'connection refused');
      assert.equal(job.leaseOwner, null);
      const delay = job.dueAt - now;
      assert.ok(delay >= base * 0.8 && delay <= base * 1.2, `retry ${attempt} after ${delay} ms, expected ${base} ms ± 20 %`);
      // Not before it is due.
      assert.equal(await h.advanceTo(job.dueAt - 1), 0);
      now = job.dueAt;
      if (attempt < 3) await h.advanceTo(now);
    }
    assert.equal((await h.store.listAudit({ requestId: r.id, action: 'grant.revoke_failed' })).length, 3);
    assert.equal(eventsOf(h, 'request.revoke_failed', r.id).length, 3);
    assert.equal((await request(h, r.id)).status, 'revoking');

    h.demo.faults.revoke = undefined;
    await h.advanceTo(now);
    const done = await request(h, r.id);
    assert.equal(done.status, 'expired');
    assert.equal(done.error, null);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.status, g.lastError]), [['revoked', null]]);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
    assert.deepEqual(await onTarget(h), []);
  }));

  test('retry now: an admin makes a stuck revoke due at once (audited); others are refused; each id of a bulk call says how it went', () => withHarness(async (h) => {
    const r = await failedRevoke(h);
    const active = await autoRequest(h);
    h.clock.advance(100);
    const due = (await h.store.jobsOfRequest(r.id))[0]!.dueAt;
    assert.ok(due > h.clock.now(), 'waiting out its backoff');
    await rejectsWith(h.engine.retryRevokesNow('alice', [r.id]), 'forbidden');
    await rejectsWith(h.engine.retryRevokesNow('bob', [r.id]), 'forbidden');
    await rejectsWith(h.engine.retryRevokesNow('carol', []), 'invalid', 'ids');
    assert.equal((await h.store.jobsOfRequest(r.id))[0]!.dueAt, due, 'a refusal moves nothing');

    const out = await h.engine.retryRevokesNow('carol', [r.id, active.id, 'no-such-request', r.id]);
    assert.deepEqual(out.retried, [r.id]);
    assert.deepEqual(out.failed.map((f) => [f.id, f.kind]), [[active.id, 'conflict'], ['no-such-request', 'not-found']]);
    assert.equal((await h.store.jobsOfRequest(r.id))[0]!.dueAt, h.clock.now(), 'due at the clock\'s now');
    assert.deepEqual((await h.store.listAudit({ requestId: r.id, action: 'request.revoke_retried' })).map((e) => [e.actor, e.at, e.data]), [
      ['carol', h.clock.now(), { jobs: 1 }],
    ]);

    h.demo.faults.revoke = undefined;
    await h.advance(0);
    assert.equal((await request(h, r.id)).status, 'expired', 'revoked at once, not after the backoff');
    const again = await h.engine.retryRevokesNow('carol', [r.id]);
    assert.deepEqual([again.retried, again.failed.map((f) => f.kind)], [[], ['conflict']], 'an ended revoke is not retried');
  }));

  test('mark revoke canceled in bulk: one reason for all, each id marked whole or said why not', () => withHarness(async (h) => {
    const a = await failedRevoke(h);
    const active = await autoRequest(h);
    await rejectsWith(h.engine.markRevokesCanceled('bob', [a.id], 'by hand'), 'forbidden');
    await rejectsWith(h.engine.markRevokesCanceled('carol', [a.id], ' '), 'invalid', 'reason');
    await rejectsWith(h.engine.markRevokesCanceled('carol', Array.from({ length: 501 }, (_, i) => `r${i}`), 'by hand'), 'invalid', 'ids');
    const out = await h.engine.markRevokesCanceled('carol', [a.id, active.id, 'no-such-request'], 'removed by hand');
    assert.deepEqual(out.canceled, [a.id]);
    assert.deepEqual(out.failed.map((f) => [f.id, f.kind]), [[active.id, 'conflict'], ['no-such-request', 'not-found']]);
    assert.equal((await request(h, a.id)).status, 'revoke_canceled');
    assert.equal((await request(h, active.id)).status, 'active');
  }));

  test('only an admin can mark a stuck revoke canceled, with a reason; its retries stop', () => withHarness(async (h) => {
    const r = await failedRevoke(h);
    await rejectsWith(h.engine.markRevokeCanceled('alice', r.id, 'I removed it'), 'forbidden');
    await rejectsWith(h.engine.markRevokeCanceled('bob', r.id, 'I removed it'), 'forbidden');
    await rejectsWith(h.engine.markRevokeCanceled('carol', r.id), 'invalid', 'reason');
    await rejectsWith(h.engine.markRevokeCanceled('carol', r.id, '  '), 'invalid', 'reason');
    assert.equal((await request(h, r.id)).status, 'revoking');

    h.clock.advance(MINUTE);
    const marked = await h.engine.markRevokeCanceled('carol', r.id, 'dropped the role by hand');
    assert.equal(marked.status, 'revoke_canceled');
    assert.equal(marked.endedBy, 'carol');
    assert.equal(marked.endNote, 'dropped the role by hand');
    assert.equal(marked.endedAt, T0 + HOUR + MINUTE);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => g.status), ['revoke_canceled']);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
    assert.deepEqual((await h.store.listAudit({ requestId: r.id, action: 'request.revoke_canceled' })).map((e) => [e.actor, e.data]), [
      ['carol', { reason: 'dropped the role by hand' }],
    ]);
    const revokeCalls = h.demo.countCalls('revoke');
    assert.equal(await h.advance(HOUR), 0);
    assert.equal(h.demo.countCalls('revoke'), revokeCalls);

    const active = await autoRequest(h, 'dave');
    await rejectsWith(h.engine.markRevokeCanceled('carol', active.id, 'nothing to cancel'), 'conflict');
  }));
});

/** A second demo target `ledger` (database books) and a flow `both` reading databases on both. */
const twoTargets: HarnessOptions = {
  overrides: {
    extraIntegrations: [demoIntegrationConfig('ledger', [resource('database', 'books')])],
    extraFlows: [flow('both', { targets: [{ selector: selector('demo', 'database', ['read']) }, { selector: selector('ledger', 'database', ['read']) }] })],
  },
};

describe('failing grant', () => {
  test('a grant the target refuses is tried 3 times, then the request fails with a clear error', () => withHarness(async (h) => {
    h.demo.faults.grant = 'permission denied to create role';
    const r = await autoRequest(h);
    assert.equal(r.status, 'granting');
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.status, g.attempts, g.lastError]), [['granting', 1, 'permission denied to create role']]);
    assert.deepEqual(await jobs(h, r.id), ['grant@1000']);

    assert.equal(await h.advanceTo(T0 + 999), 0);
    await h.advanceTo(T0 + 1000);
    assert.equal((await request(h, r.id)).status, 'granting');
    assert.deepEqual(await jobs(h, r.id), [`grant@${1000 + 2000}`]);
    await h.advanceTo(T0 + 3000);

    const failed = await request(h, r.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.endReason, 'grant-failed');
    assert.equal(failed.error, 'grant on demo failed after 3 attempt(s): permission denied to create role');
    assert.equal(failed.expiresAt, null);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.status, g.attempts, g.lastError]), [['failed', 3, 'permission denied to create role']]);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual(eventsOf(h, 'request.failed', r.id).map((e) => e.data.error), [failed.error]);
    assert.deepEqual(await auditActions(h, r.id), [
      'request.created', 'grant.attempt_failed', 'grant.attempt_failed', 'request.failed',
    ]);
    // Nothing more happens.
    assert.equal(await h.advance(HOUR), 0);
  }));

  test('a request across two integrations whose grants complete together becomes active, with an expiry', () => withHarness(async (h) => {
    const { request: r, grants } = await h.engine.submitRequest('alice', { flowId: 'both', entitlements: [appRead, ent('database', 'books', 'read', 'ledger')] });
    assert.equal(r.status, 'active');
    assert.deepEqual(r, await request(h, r.id), 'the request answered is the one stored');
    assert.deepEqual(grants, await h.store.getGrants(r.id), 'the grants answered are the ones stored');
    assert.equal(r.expiresAt, T0 + HOUR);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.integration, g.status]), [['demo', 'active'], ['ledger', 'active']]);
    assert.deepEqual(await jobs(h, r.id), [`expire@${HOUR - 10 * MINUTE} warns ${10 * MINUTE},${MINUTE}`]);
    assert.equal(eventsOf(h, 'request.granted', r.id).length, 1);
    await h.advanceTo(T0 + HOUR);
    assert.equal((await request(h, r.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual(await onTarget(h, 'ledger'), []);
  }, twoTargets));

  test('when one integration of a request fails to grant, what the others granted is revoked', () => withHarness(async (h) => {
    const ledger = h.targets.get('ledger')!;
    ledger.faults.grant = 'ledger is read-only';
    const r = await h.engine.createRequest('alice', { flowId: 'both', entitlements: [appRead, ent('database', 'books', 'read', 'ledger')] });
    assert.equal(r.status, 'granting');
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.integration, g.status]), [['demo', 'active'], ['ledger', 'granting']]);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    await h.advanceTo(T0 + 1000);
    await h.advanceTo(T0 + 3000);
    const failed = await request(h, r.id);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error, 'grant on ledger failed after 3 attempt(s): ledger is read-only');
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.integration, g.status]), [['demo', 'revoked'], ['ledger', 'failed']]);
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual(await onTarget(h, 'ledger'), []);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
  }, twoTargets));
});

// ── revoking ─────────────────────────────────────────────────────────────────────────

describe('revoke permissions', () => {
  test('the requester may revoke their own access at once', () => withHarness(async (h) => {
    const r = await autoRequest(h);
    h.clock.advance(5 * MINUTE);
    const revoked = await h.engine.revoke('alice', r.id, 'done');
    assert.equal(revoked.status, 'revoked');
    assert.deepEqual([revoked.endReason, revoked.endedBy, revoked.endNote, revoked.endedAt], ['self', 'alice', 'done', T0 + 5 * MINUTE]);
    assert.deepEqual(await onTarget(h), []);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
    await rejectsWith(h.engine.revoke('alice', r.id), 'conflict');
  }));

  test('an approver who approved may revoke; another approver may not; a stranger does not even see it', () => withHarness(async (h) => {
    const r = await approvedRequest(h);
    await rejectsWith(h.engine.revoke('erin', r.id), 'forbidden');
    await rejectsWith(h.engine.revoke('dave', r.id), 'not-found');
    assert.equal((await request(h, r.id)).status, 'active');
    assert.deepEqual(await onTarget(h), ['alice table:app/users#write']);
    const revoked = await h.engine.revoke('bob', r.id, 'wrong table');
    assert.equal(revoked.status, 'revoked');
    assert.deepEqual([revoked.endReason, revoked.endedBy], ['approver', 'bob']);
    assert.deepEqual(await onTarget(h), []);
  }));

  test('an admin may revoke anyone\'s access', () => withHarness(async (h) => {
    const r = await autoRequest(h, 'dave');
    await rejectsWith(h.engine.revoke('alice', r.id), 'not-found');
    const revoked = await h.engine.revoke('carol', r.id, 'left the team');
    assert.deepEqual([revoked.status, revoked.endReason, revoked.endedBy, revoked.endNote], ['revoked', 'admin', 'carol', 'left the team']);
    assert.deepEqual(await onTarget(h), []);
  }));
});

describe('revoke all', () => {
  const opts: HarnessOptions = {
    overrides: {
      extraIntegrations: [demoIntegrationConfig('ledger', [resource('database', 'books')])],
      extraFlows: [flow('ledger', { targets: [{ selector: selector('ledger', 'database', ['read']) }], settings: { labels: ['finance'] } })],
    },
  };

  test('an admin revokes exactly what matches the filter; others may not', () => withHarness(async (h) => {
    const a1 = await autoRequest(h, 'alice');
    const a2 = await approvedRequest(h, 'alice');
    const d1 = await autoRequest(h, 'dave', [analyticsRead]);
    const d2 = await h.engine.createRequest('dave', { flowId: 'ledger', entitlements: [ent('database', 'books', 'read', 'ledger')] });
    const d3 = await approvalRequest(h, 'dave'); // pending: never touched by revoke-all
    const statuses = async () => Promise.all([a1, a2, d1, d2, d3].map(async (r) => (await request(h, r.id)).status));
    assert.deepEqual(await statuses(), ['active', 'active', 'active', 'active', 'pending']);

    await rejectsWith(h.engine.revokeAll('alice', {}), 'forbidden');
    await rejectsWith(h.engine.revokeAll('bob', { user: 'dave' }), 'forbidden');
    assert.deepEqual(await statuses(), ['active', 'active', 'active', 'active', 'pending']);

    assert.deepEqual(await h.engine.revokeAll('carol', { integration: 'ledger' }, 'ledger breach'), { revoked: [d2.id], failed: [] });
    assert.deepEqual(await onTarget(h, 'ledger'), []);
    assert.deepEqual(await statuses(), ['active', 'active', 'active', 'revoked', 'pending']);

    assert.deepEqual(await h.engine.revokeAll('carol', { label: 'prod' }), { revoked: [a2.id], failed: [] });
    assert.deepEqual(await statuses(), ['active', 'revoked', 'active', 'revoked', 'pending']);

    assert.deepEqual(await h.engine.revokeAll('carol', { user: 'dave', flow: 'auto' }), { revoked: [d1.id], failed: [] });
    assert.deepEqual(await statuses(), ['active', 'revoked', 'revoked', 'revoked', 'pending']);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);

    assert.deepEqual(await h.engine.revokeAll('carol', { user: 'nobody' }), { revoked: [], failed: [] });
    assert.deepEqual(await h.engine.revokeAll('carol', { user: 'alice' }), { revoked: [a1.id], failed: [] });
    assert.deepEqual(await statuses(), ['revoked', 'revoked', 'revoked', 'revoked', 'pending']);
    assert.deepEqual(await onTarget(h), []);

    const a1Final = await request(h, a1.id);
    assert.deepEqual([a1Final.endReason, a1Final.endedBy], ['revoke-all', 'carol']);
    const panics = await h.store.listAudit({ action: 'admin.revoke_all' });
    assert.deepEqual(panics.map((e) => [e.actor, e.data.filter, e.data.matched]), [
      ['carol', { integration: 'ledger' }, 1],
      ['carol', { label: 'prod' }, 1],
      ['carol', { user: 'dave', flow: 'auto' }, 1],
      ['carol', { user: 'nobody' }, 0],
      ['carol', { user: 'alice' }, 1],
    ]);
  }, opts));
});

// ── favorites and suggestions ────────────────────────────────────────────────────────

describe('favorites', () => {
  test('a request saved as a favorite is requested again in one call', () => withHarness(async (h) => {
    const r = await autoRequest(h, 'alice', [appRead, analyticsRead], { duration: '2h' });
    const fav = await h.engine.favoriteFromRequest('alice', r.id, 'morning reads');
    assert.deepEqual(
      { name: fav.name, owner: fav.owner, flowId: fav.flowId, entitlements: fav.entitlements, durationMs: fav.durationMs },
      { name: 'morning reads', owner: 'alice', flowId: 'auto', entitlements: [appRead, analyticsRead], durationMs: 2 * HOUR },
    );
    assert.deepEqual((await h.store.listFavorites('alice')).map((f) => f.id), [fav.id]);
    await rejectsWith(h.engine.favoriteFromRequest('dave', r.id), 'not-found');
    await h.engine.revoke('alice', r.id);

    h.clock.advance(HOUR);
    const { request: again, grants } = await h.engine.requestFromFavorite('alice', fav.id, {});
    assert.notEqual(again.id, r.id);
    assert.equal(again.status, 'active');
    assert.deepEqual(grants, await h.store.getGrants(again.id), 'the grants answered are the ones stored');
    assert.deepEqual(grants.map((g) => [g.integration, g.status]), [['demo', 'active']]);
    assert.deepEqual(again.entitlements, [appRead, analyticsRead]);
    assert.equal(again.expiresAt, T0 + HOUR + 2 * HOUR);
    assert.deepEqual(await onTarget(h), ['alice database:analytics#read', 'alice database:app#read']);
    await rejectsWith(h.engine.requestFromFavorite('dave', fav.id, {}), 'not-found');
  }));

  test('a favorite of a bundle request re-requests the bundle', () => withHarness(async (h) => {
    const r = await h.engine.createRequest('alice', { flowId: 'bundled', bundleId: 'b1' });
    assert.deepEqual(r.entitlements, [appRead, analyticsRead]);
    const fav = await h.engine.favoriteFromRequest('alice', r.id);
    assert.equal(fav.bundleId, 'b1');
    const { request: again } = await h.engine.requestFromFavorite('alice', fav.id, {});
    assert.equal(again.bundleId, 'b1');
    assert.deepEqual(again.entitlements, [appRead, analyticsRead]);
    assert.equal(again.durationMs, 2 * HOUR);
  }));

  test('suggestions leave out access held through an automatic-kind flow, whatever the flow ids', () => withHarness(async (h) => {
    await h.engine.syncAutomaticFlows();
    h.clock.advance(MINUTE);
    const mine = await h.engine.createRequest('bob', { flowId: 'auto-read', entitlements: [appRead] });
    assert.deepEqual((await h.store.listRequests({ requester: 'bob' })).map((r) => r.flowId), ['auto-read', 'oncall']);
    assert.deepEqual((await h.engine.suggestions('bob')).map((r) => r.id), [mine.id]);
  }, { overrides: { extraFlows: [flow('auto-read', { requesters: { match: 'any', conditions: [] }, targets: [{ selector: selector('demo', 'database', ['read']) }] })] } }));

  test('suggestions are the 3 most recent distinct requests', () => withHarness(async (h) => {
    const made: RequestRecord[] = [];
    const make = async (p: Promise<RequestRecord>) => {
      made.push(await p);
      h.clock.advance(MINUTE);
    };
    await make(autoRequest(h, 'alice', [appRead]));                       // 0
    await make(autoRequest(h, 'alice', [analyticsRead]));                 // 1
    await make(h.engine.createRequest('alice', { flowId: 'bundled', bundleId: 'b1' })); // 2
    await make(approvalRequest(h, 'alice', [ordersWrite]));               // 3
    await make(autoRequest(h, 'alice', [appRead]));                       // 4: same as 0
    await make(autoRequest(h, 'dave', [analyticsRead]));                  // someone else's
    assert.deepEqual((await h.engine.suggestions('alice')).map((r) => r.id), [made[4]!.id, made[3]!.id, made[2]!.id]);
    assert.deepEqual((await h.engine.suggestions('dave')).map((r) => r.id), [made[5]!.id]);
    assert.deepEqual(await h.engine.suggestions('erin'), []);
  }));
});

// ── automatic-kind flows ─────────────────────────────────────────────────────────────

describe('automatic-kind flow', () => {
  test('access follows the shift: granted to whoever is on it, revoked at the hand-off', () => withHarness(async (h) => {
    await rejectsWith(h.engine.createRequest('bob', { flowId: 'oncall', entitlements: [ent('database', 'app', 'admin')] }), 'invalid', 'flowId');

    assert.deepEqual(await h.engine.syncAutomaticFlows(), { granted: 1, revoked: 0 });
    const [bobs] = await h.store.listRequests({ flowId: 'oncall' });
    assert.ok(bobs);
    assert.deepEqual([bobs.requester, bobs.status, bobs.durationMs, bobs.expiresAt], ['bob', 'active', null, null]);
    assert.deepEqual(await onTarget(h), ['bob database:app#admin']);
    // Idempotent while the shift holds.
    assert.deepEqual(await h.engine.syncAutomaticFlows(), { granted: 0, revoked: 0 });
    h.clock.set(FIRST_HANDOFF - 1);
    assert.deepEqual(await h.engine.syncAutomaticFlows(), { granted: 0, revoked: 0 });
    assert.equal(h.demo.countCalls('grant'), 1);

    h.clock.set(FIRST_HANDOFF);
    assert.deepEqual(await h.engine.syncAutomaticFlows(), { granted: 1, revoked: 1 });
    const after = await request(h, bobs.id);
    assert.deepEqual([after.status, after.endReason, after.endedAt], ['revoked', 'condition', FIRST_HANDOFF]);
    const active = await h.store.listRequests({ flowId: 'oncall', statuses: ['active'] });
    assert.deepEqual(active.map((r) => r.requester), ['erin']);
    assert.deepEqual(await onTarget(h), ['erin database:app#admin']);
    assert.deepEqual(await h.engine.syncAutomaticFlows(), { granted: 0, revoked: 0 });
  }));
});

// ── crash safety ─────────────────────────────────────────────────────────────────────

/** The demo target, seen through a process that dies right after its call reached the target. */
function dyingAfterCall(h: Harness, op: 'grant' | 'revoke'): Integration {
  const never = new Promise<never>(() => undefined);
  return {
    id: 'demo',
    type: 'demo',
    grant: async (input: GrantInput) => {
      const result = await h.demo.grant(input);
      return op === 'grant' ? never : result;
    },
    revoke: async (input: RevokeInput) => {
      await h.demo.revoke(input);
      if (op === 'revoke') await never;
    },
    listGranted: () => h.demo.listGranted(),
    listResources: () => h.demo.listResources(),
    health: () => h.demo.health(),
    close: async () => undefined,
  };
}

/** Waits (in real time, at most 5 s) until the dying engine's call has reached the target: the engine waits only 5 ms for it. */
async function untilCalled(h: Harness, op: 'grant' | 'revoke', requestId: string): Promise<void> {
  for (let waited = 0; h.demo.countCalls(op, requestId) === 0; waited += 5) {
    if (waited > 5000) throw new Error(`the ${op} never reached the target`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function crashedEngine(h: Harness, op: 'grant' | 'revoke'): Engine {
  // The locks a process holds end with it (in memory, or a lock row's lease): the dead
  // engine's calls hold none that the living one would wait for.
  const store = Object.create(h.store, { withLock: { value: <T>(_key: string, _leaseMs: number, fn: () => Promise<T>) => fn() } }) as typeof h.store;
  return new Engine({
    store, clock: h.clock, events: h.eventBus, integrations: new Map([['demo', dyingAfterCall(h, op)]]), config: h.compiled,
    owner: 'crashed', inlineWaitMs: 5,
  });
}

describe('crash safety', () => {
  test('a grant whose process died after calling the target is finished after the lease, without granting twice', () => withHarness(async (h) => {
    const r = await crashedEngine(h, 'grant').createRequest('alice', { flowId: 'auto', entitlements: [appRead] });
    assert.equal(r.status, 'granting');
    const [job] = await h.store.jobsOfRequest(r.id);
    assert.deepEqual([job?.kind, job?.leaseOwner, job?.leaseUntil], ['grant', 'crashed', T0 + 30_000]);
    await untilCalled(h, 'grant', r.id);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);

    // The lease still holds: nobody else takes the job.
    assert.equal(await h.scheduler.runDue(), 0);
    assert.equal(await h.advanceTo(T0 + 30_000 - 1), 0);
    assert.equal((await request(h, r.id)).status, 'granting');

    assert.equal(await h.advanceTo(T0 + 30_000), 1);
    const done = await request(h, r.id);
    assert.equal(done.status, 'active');
    assert.equal(done.expiresAt, T0 + 30_000 + HOUR);
    assert.equal(h.demo.countCalls('grant', r.id), 2);
    assert.deepEqual(await onTarget(h), ['alice database:app#read']);
    assert.deepEqual((await h.store.getGrants(r.id)).map((g) => [g.status, g.attempts]), [['active', 2]]);

    await h.advanceTo(done.expiresAt!);
    assert.equal((await request(h, r.id)).status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));

  test('a revoke whose process died after calling the target is finished after the lease', () => withHarness(async (h) => {
    const r = await autoRequest(h);
    const revoking = await crashedEngine(h, 'revoke').revoke('alice', r.id);
    assert.equal(revoking.status, 'revoking');
    await untilCalled(h, 'revoke', r.id);
    assert.deepEqual(await onTarget(h), []);
    assert.equal(await h.advanceTo(T0 + 30_000 - 1), 0);
    assert.equal(await h.advanceTo(T0 + 30_000), 1);
    assert.equal((await request(h, r.id)).status, 'revoked');
    assert.equal(h.demo.countCalls('revoke', r.id), 2);
    assert.deepEqual(await h.store.jobsOfRequest(r.id), []);
  }));

  test('an expiry claimed by a process that died is still carried out once the lease lapses', () => withHarness(async (h) => {
    const r = await autoRequest(h);
    const exp = T0 + HOUR;
    h.clock.set(exp);
    const claimed = await h.store.claimDueJobs(exp, 'crashed', exp + 30_000, 10);
    assert.deepEqual(claimed.map((j) => j.kind), ['expire']);
    assert.equal(await h.scheduler.runDue(), 0);
    assert.equal((await request(h, r.id)).status, 'active');
    assert.equal(await h.advanceTo(exp + 30_000), 1);
    const done = await request(h, r.id);
    assert.equal(done.status, 'expired');
    assert.deepEqual(await onTarget(h), []);
  }));
});

// ── the audit chain ──────────────────────────────────────────────────────────────────

/** Several full lifecycles, so the audit log has a long chain. */
async function lifecycle(h: Harness): Promise<void> {
  const a = await approvedRequest(h);
  await h.engine.extend('alice', a.id, { duration: '30m', justification: 'slow' });
  await h.engine.approve('erin', a.id, 'fine');
  const b = await autoRequest(h, 'dave');
  await h.engine.revoke('carol', b.id, 'audit');
  const c = await approvalRequest(h, 'dave');
  await h.engine.deny('bob', c.id, 'no');
  await h.advanceTo(T0 + 2 * HOUR);
  assert.equal((await request(h, a.id)).status, 'expired');
}

describe('audit chain', () => {
  test('after a full lifecycle the audit chain verifies', () => withHarness(async (h) => {
    await lifecycle(h);
    const all = await h.store.listAudit({ limit: 10_000 });
    assert.ok(all.length > 12, `${all.length} audit events`);
    const result = await verifyAudit(h.store);
    assert.deepEqual(result, { ok: true, checked: all.length, problems: [] });
    assert.deepEqual(await h.store.auditHead(), { seq: all.at(-1)!.seq, hash: all.at(-1)!.hash });
  }));

  test('an edited audit event is detected', () => withHarness(async (h) => {
    await lifecycle(h);
    const [event] = await h.store.listAudit({ afterSeq: 2, limit: 1 });
    assert.equal(await h.store.execRaw('UPDATE audit SET data = ? WHERE seq = ?', canonicalJson({ ...event!.data, reason: 'edited' }), 3), 1);
    const result = await verifyAudit(h.store);
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems, [{ seq: 3, problem: 'content does not match its hash (edited or inserted event, or a hash not made with this server\'s key)' }]);
  }));

  test('a deleted event in the middle of the chain is detected', () => withHarness(async (h) => {
    await lifecycle(h);
    assert.equal(await h.store.execRaw('DELETE FROM audit WHERE seq = ?', 5), 1);
    const result = await verifyAudit(h.store);
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems, [
      { seq: 6, problem: 'events 5..5 are missing (deleted)' },
      { seq: 6, problem: 'does not link to the event before it (deleted or reordered events)' },
    ]);
  }));

  test('a deleted last event is detected by the head', () => withHarness(async (h) => {
    await lifecycle(h);
    const head = (await h.store.auditHead())!;
    assert.equal(await h.store.execRaw('DELETE FROM audit WHERE seq = ?', head.seq), 1);
    const result = await verifyAudit(h.store);
    assert.equal(result.ok, false);
    assert.deepEqual(result.problems, [{
      seq: head.seq,
      problem: `the chain ends at event ${head.seq - 1} but the recorded head is event ${head.seq} (events removed from the end, or head edited)`,
    }]);
  }));
});
