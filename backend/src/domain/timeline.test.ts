import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestTimeline, type TimelineEvent } from './timeline.ts';

const ev = (seq: number, actor: string, action: string, data: Record<string, unknown> = {}): TimelineEvent => ({ seq, at: 1_000 * seq, actor, action, data });

test('a request\'s story, in order, each event with its kind, integration, reason and sentence', () => {
  const out = requestTimeline([
    ev(9, 'system', 'request.revoked', { by: 'approver', reason: 'done', granted: true }),
    ev(1, 'alice', 'request.created', { duration: '1h', entitlements: ['demo/table:app/users#write'] }),
    ev(2, 'bob', 'request.approved', { reason: 'ok for INC-7' }),
    ev(3, 'system', 'grant.active', { integration: 'demo', entitlements: ['demo/table:app/users#write'] }),
    ev(4, 'system', 'request.expiring', { msLeft: 600_000 }),
    ev(5, 'alice', 'extension.requested', { duration: '30m', justification: 'still on it' }),
    ev(6, 'bob', 'extension.approved', { extension: 1, reason: null }),
    ev(7, 'bob', 'request.revoking', { by: 'approver', reason: 'done' }),
    ev(8, 'system', 'grant.revoked', { integration: 'demo' }),
  ]);
  assert.deepEqual(out.map((e) => [e.seq, e.kind, e.integration, e.reason, e.text]), [
    [1, 'created', null, null, 'Requested by alice for 1h: demo/table:app/users#write'],
    [2, 'decision', null, 'ok for INC-7', 'Approved by bob'],
    [3, 'grant', 'demo', null, 'Granted on demo: demo/table:app/users#write'],
    [4, 'warning', null, null, 'Expiry warning sent (10m left)'],
    [5, 'extension', null, 'still on it', 'Extension by 30m requested by alice'],
    [6, 'extension', null, null, 'Extension 1 approved by bob'],
    [7, 'revoke', null, 'done', 'Revoke started by bob (an approver)'],
    [8, 'revoke', 'demo', null, 'Revoked on demo'],
    [9, 'end', null, 'done', 'Access ended: every grant revoked'],
  ]);
});

test('expiry, denial, timeouts and failures read as such; data of the wrong shape does not break the story', () => {
  const out = requestTimeline([
    ev(1, 'system', 'request.revoking', { by: 'expiry' }),
    ev(2, 'system', 'grant.revoke_failed', { integration: 'pg', attempt: 3, error: 'connection refused' }),
    ev(3, 'carol', 'request.revoke_canceled', { reason: 'removed by hand' }),
    ev(4, 'bob', 'request.denied', { reason: 'change "freeze"\u0007' }),
    ev(5, 'system', 'request.timed_out', { waited: '2d' }),
    ev(6, 'system', 'request.expiring', { msLeft: 'soon' }),
    ev(7, 'mallory', 'something.new', { integration: 42, reason: ['x'] }),
    ev(8, 'dave', 'request.revoked', { by: 'admin', granted: false }),
  ]);
  assert.deepEqual(out.map((e) => e.text), [
    'Lapsed: its time ran out; revoking',
    'Revoke on pg failed (attempt 3): connection refused',
    'Revoke marked canceled by carol',
    'Denied by bob',
    'Timed out without a decision after 2d',
    'Expiry warning sent',
    'something.new by mallory',
    'Revoked by dave (an admin)',
  ]);
  assert.equal(out[2]!.reason, 'removed by hand');
  assert.equal(out[3]!.reason, 'change "freeze"\u0007');
  assert.equal(out[6]!.integration, null);
  assert.equal(out[6]!.reason, null);
});
