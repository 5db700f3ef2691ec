import { test } from 'node:test';
import assert from 'node:assert/strict';
import { expiringNotification, isQuiet, planEventNotification, type StreamEvent } from './notifications.ts';
import { warningKey } from './warning-planner.ts';

const AT = '2026-01-05T12:00:00.000Z';
const T = Date.parse(AT);
const ev = (type: string, data: Record<string, unknown>, version = 2): StreamEvent => ({
  id: `r1:${version}:${type}`, type, at: AT, requestId: 'r1', data: { status: 'x', requester: 'alice', flowId: 'demo-approval', expiresAt: null, ...data },
});
const about = { label: 'Write app tables · app/users write' };

test('the requester hears approved, denied with the reason, granted with copy, failed, expired', () => {
  const approved = planEventNotification(ev('request.approved', { by: 'bob', reason: 'ok for the incident' }), 'alice', about)!;
  assert.deepEqual([approved.title, approved.body, approved.key], ['Request approved', 'Write app tables · app/users write — approved by bob: ok for the incident', 'r1:2:request.approved']);
  const denied = planEventNotification(ev('request.denied', { by: 'bob', reason: 'use staging' }), 'alice', about)!;
  assert.equal(denied.title, 'Request denied');
  assert.match(denied.body, /denied by bob: use staging$/);
  const granted = planEventNotification(ev('request.granted', { expiresAt: T + 3_600_000 }, 4), 'alice', about)!;
  assert.equal(granted.title, 'Access granted');
  assert.match(granted.body, /active for 1 h$/);
  assert.deepEqual(granted.actions.map((a) => a.action), ['copy-access-details']);
  assert.deepEqual(granted.onClick, { view: 'my-access', requestId: 'r1' });
  assert.deepEqual(planEventNotification(ev('request.granted', {}), 'alice', { label: 'x', hasAccessDetails: false })!.actions, []);
  assert.match(planEventNotification(ev('request.failed', { error: 'target down' }), 'alice')!.body, /^demo-approval — target down$/);
  assert.equal(planEventNotification(ev('request.expired', {}), 'alice', about)!.title, 'Access expired');
});

test('revoked: told when someone else revoked it, silent when the requester did', () => {
  const byOther = planEventNotification(ev('request.revoked', { by: 'carol', reason: 'audit' }), 'alice', about)!;
  assert.equal(byOther.title, 'Access revoked');
  assert.match(byOther.body, /revoked by carol: audit/);
  assert.equal(planEventNotification(ev('request.revoked', { by: 'alice' }), 'alice', about), null);
});

test('the server warning and the local warning for the same moment share one key, with Extend and Revoke now', () => {
  const expiresAt = T + 10 * 60_000;
  const fromServer = planEventNotification(ev('request.expiring', { expiresAt, warningOffsetMs: 600_000, msLeft: 600_000 }), 'alice', about)!;
  const local = expiringNotification({ key: warningKey('r1', expiresAt, 600_000), requestId: 'r1', expiresAt, offsetMs: 600_000, at: T });
  assert.equal(fromServer.key, local.key);
  assert.equal(fromServer.title, 'Access expires in 10 min');
  assert.deepEqual(fromServer.actions.map((a) => a.label), ['Extend', 'Revoke now']);
});

test('approvers hear each request waiting for them, and a click opens the inbox on it', () => {
  const waiting = planEventNotification(ev('approval.requested', { approvers: ['bob', 'erin'] }, 1), 'bob', about)!;
  assert.equal(waiting.title, 'Request waiting for your approval');
  assert.equal(waiting.body, 'alice asks for Write app tables · app/users write');
  assert.deepEqual(waiting.onClick, { view: 'inbox', requestId: 'r1' });
  assert.equal(planEventNotification(ev('approval.requested', { approvers: ['erin'] }, 1), 'bob'), null, 'not an approver of it');
  assert.match(planEventNotification(ev('extension.requested', { approvers: ['bob'] }, 5), 'bob')!.title, /^Extension waiting/);
  assert.match(planEventNotification(ev('request.break_glass', { notify: ['bob'] }, 1), 'bob')!.title, /Break-glass/);
});

test('no news: other people’s access, steps between states, events without a request', () => {
  assert.equal(planEventNotification(ev('request.granted', {}), 'carol'), null, 'an admin sees every event but is not told about others’ access');
  for (const type of ['request.created', 'request.granting', 'request.revoking', 'request.approval_recorded', 'request.canceled']) {
    assert.equal(planEventNotification(ev(type, {}), 'alice'), null, type);
  }
  assert.equal(planEventNotification({ ...ev('request.approved', {}), requestId: null }, 'alice'), null);
});

test('do not disturb, with and without an end', () => {
  assert.equal(isQuiet(undefined, T), false);
  assert.equal(isQuiet({ enabled: false }, T), false);
  assert.equal(isQuiet({ enabled: true }, T), true);
  assert.equal(isQuiet({ enabled: true, until: T + 1 }, T), true);
  assert.equal(isQuiet({ enabled: true, until: T }, T), false);
});
