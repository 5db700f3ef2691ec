// API tests over real HTTP (part 3): the lifecycle as the desktop app drives it — approvals
// inbox, extend, self-revoke, cancel, favorites, revoke-all, server-sent events, the audit
// trail and the activity report.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Service } from '../service.ts';
import { type User, type SseStream, call, assertProblem, ent, appRead, analyticsRead, usersWrite, ordersWrite, startTestServer, openEventStream, waitFor } from './api-test-support.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';

let svc: Service;
let dir: string;
const tokens = {} as Record<User, string>;
const as = (user: User, method: string, path: string, body?: unknown) => call(svc.url, method, path, tokens[user], body);
const get = async (user: User, id: string) => (await as(user, 'GET', `/api/v1/requests/${id}`)).body;
const demo = () => svc.integrations.get('demo') as DemoIntegration;

async function create(user: User, body: Record<string, unknown>): Promise<any> {
  const res = await as(user, 'POST', '/api/v1/requests', body);
  assert.equal(res.status, 201, res.text);
  return res.body;
}

/** Admin's view of every request that holds access now. */
async function holding(): Promise<any[]> {
  const res = await as('carol', 'GET', '/api/v1/requests?status=scheduled,granting,active&limit=1000');
  assert.equal(res.status, 200);
  return res.body.requests;
}

async function revokeAllOf(user: User): Promise<void> {
  const res = await as('carol', 'POST', '/api/v1/admin/revoke-all', { user, reason: 'test reset' });
  assert.equal(res.status, 200, res.text);
}

before(async () => {
  const server = await startTestServer();
  ({ svc, dir } = server);
  Object.assign(tokens, server.tokens);
});
after(async () => {
  // Stopping ends the open event streams (an open stream must not keep the server up).
  await svc.stop();
  await Promise.all(streams.map((st) => st.ended));
  rmSync(dir, { recursive: true, force: true });
});

// ── approvals, extend, revoke, cancel ────────────────────────────────────────────────

describe('lifecycle over HTTP', () => {
  test('approvals inbox: bob sees alice\'s pending request with his roles; after approval it is active and gone', async () => {
    const p = await create('alice', { flowId: 'demo-approval', entitlements: [usersWrite, ordersWrite], justification: 'hotfix INC-42', duration: '2h' });
    assert.equal(p.status, 'pending');
    assert.equal(p.expiresAt, null);
    assert.deepEqual(p.grants.map((g: any) => g.status), ['pending']);

    const inbox = await as('bob', 'GET', '/api/v1/approvals');
    assert.equal(inbox.status, 200);
    const item = inbox.body.approvals.find((r: any) => r.id === p.id);
    assert.ok(item, 'alice\'s request is in bob\'s inbox');
    assert.equal(item.requester, 'alice');
    assert.equal(item.justification, 'hotfix INC-42');
    assert.ok(item.yourApproverRoles.length >= 1, JSON.stringify(item.yourApproverRoles));
    assert.ok(item.yourApproverRoles.some((role: string) => /manager/i.test(role)), `bob is alice's manager: ${item.yourApproverRoles}`);
    assert.ok(item.yourApproverRoles.some((role: string) => /sre-leads/i.test(role)), `bob is an SRE lead: ${item.yourApproverRoles}`);
    assert.ok(!('accessDetails' in (item.grants[0] ?? {})), '!(\'accessDetails\' in (item.grants[0] ?? {}))');
    // erin (SRE lead) sees it too; neither alice herself nor dave do.
    const erins = (await as('erin', 'GET', '/api/v1/approvals')).body.approvals.find((r: any) => r.id === p.id);
    assert.ok(erins, 'erins');
    assert.ok(erins.yourApproverRoles.length >= 1, 'erins.yourApproverRoles.length >= 1');
    assert.ok(!erins.yourApproverRoles.some((role: string) => /manager/i.test(role)), '!erins.yourApproverRoles.some((role: string) => /manager/i.test(role))');
    assert.equal((await as('alice', 'GET', '/api/v1/approvals')).body.approvals.length, 0);
    assert.equal((await as('dave', 'GET', '/api/v1/approvals')).body.approvals.length, 0);

    const approved = await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'INC-42 is real' });
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.body.status, 'active');
    const expires = Date.parse(approved.body.expiresAt);
    assert.ok(Math.abs(expires - (Date.now() + 2 * 3600_000)) < 5000, approved.body.expiresAt);
    assert.ok(!(await as('bob', 'GET', '/api/v1/approvals')).body.approvals.some((r: any) => r.id === p.id), 'gone from bob\'s inbox');
    assert.ok(!(await as('erin', 'GET', '/api/v1/approvals')).body.approvals.some((r: any) => r.id === p.id), 'gone from erin\'s inbox');
    const onTarget = (await demo().listGranted()).filter((g) => g.requestId === p.id).map((g) => g.entitlement.resource).sort();
    assert.deepEqual(onTarget, ['app/orders', 'app/users']);
    await as('alice', 'POST', `/api/v1/requests/${p.id}/revoke`);
  });

  test('extend: automatic flow extends at once, up to maxExtensions; over the maximum duration → 422', async () => {
    const r = await create('alice', { flowId: 'demo-auto', entitlements: [appRead], duration: '1h' });
    const expires0 = Date.parse(r.expiresAt);
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '9h' }), 422, 'duration', /maximum/);
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${r.id}/extend`, {}), 400, 'duration', /is required/);
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '30m' }), 404);
    const once = await as('alice', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '30m' });
    assert.equal(once.status, 200, once.text);
    assert.equal(once.body.status, 'active');
    assert.equal(once.body.extensions, 1);
    assert.equal(Date.parse(once.body.expiresAt), expires0 + 30 * 60_000);
    const twice = await as('alice', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '15m' });
    assert.equal(twice.body.extensions, 2);
    assert.equal(Date.parse(twice.body.expiresAt), expires0 + 45 * 60_000);
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '15m' }), 409, undefined, /allows 2/);
    assert.equal(Date.parse((await get('alice', r.id)).expiresAt), expires0 + 45 * 60_000);
    await as('alice', 'POST', `/api/v1/requests/${r.id}/revoke`);
  });

  test('self-revoke (no body needed): status revoked and the demo integration no longer holds it', async () => {
    await revokeAllOf('alice');
    const r = await create('alice', { flowId: 'demo-auto', entitlements: [appRead, analyticsRead] });
    assert.equal(r.status, 'active');
    let granted = await demo().listGranted();
    assert.deepEqual(granted.filter((g) => g.requestId === r.id).map((g) => g.entitlement.resource).sort(), ['analytics', 'app']);
    const res = await call(svc.url, 'POST', `/api/v1/requests/${r.id}/revoke`, tokens.alice);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'revoked');
    assert.equal(res.body.endReason, 'self');
    assert.equal(res.body.endedBy, 'alice');
    assert.ok(res.body.endedAt, 'res.body.endedAt');
    assert.equal(res.body.grants[0].status, 'revoked');
    assert.equal(res.body.grants[0].accessDetails, null, 'no access details once revoked');
    granted = await demo().listGranted();
    assert.equal(granted.filter((g) => g.requestId === r.id).length, 0);
    assert.equal(granted.filter((g) => g.user === 'alice' && g.entitlement.permission === 'read').length, 0);
    assert.equal(demo().countCalls('revoke', r.id), 1);
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${r.id}/revoke`), 409, undefined, /revoked/);
  });

  test('cancel a pending request: canceled, out of the inbox, nothing granted', async () => {
    const p = await create('alice', { flowId: 'demo-bundle-flow', bundleId: 'demo-bundle' });
    assert.equal(p.status, 'pending');
    assert.ok((await as('erin', 'GET', '/api/v1/approvals')).body.approvals.some((r: any) => r.id === p.id), '(await as(\'erin\', \'GET\', \'/api/v1/approvals\')).body.approvals.some((r: any) => r');
    const res = await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'canceled');
    assert.equal(res.body.endedBy, 'alice');
    assert.ok(!(await as('erin', 'GET', '/api/v1/approvals')).body.approvals.some((r: any) => r.id === p.id), '!(await as(\'erin\', \'GET\', \'/api/v1/approvals\')).body.approvals.some((r: any) => ');
    assert.equal(demo().countCalls('grant', p.id), 0);
    const canceled = await as('alice', 'GET', '/api/v1/requests?mine=true&status=canceled');
    assert.ok(canceled.body.requests.some((r: any) => r.id === p.id), 'canceled.body.requests.some((r: any) => r.id === p.id)');
  });
});

// ── favorites ────────────────────────────────────────────────────────────────────────

describe('favorites', () => {
  test('CRUD and request-from-favorite in one call', async () => {
    await revokeAllOf('alice');
    const created = await as('alice', 'POST', '/api/v1/favorites', { name: 'analytics read', flowId: 'demo-auto', entitlements: [analyticsRead], duration: '2h' });
    assert.equal(created.status, 201, created.text);
    const fav = created.body;
    assert.equal(fav.name, 'analytics read');
    assert.equal(fav.duration, '2h');
    assert.deepEqual(fav.entitlements, [analyticsRead]);

    assertProblem(await as('alice', 'POST', '/api/v1/favorites', { name: 'x', flowId: 'demo-auto', entitlements: [analyticsRead], colour: 'blue' }), 400, 'colour');
    assertProblem(await as('alice', 'POST', '/api/v1/favorites', { name: 'x', flowId: 'demo-auto', entitlements: [ent('database', 'app', 'admin')] }), 422, 'entitlements[0]');
    assertProblem(await as('alice', 'POST', '/api/v1/favorites', { name: 'x', flowId: 'demo-auto', entitlements: [analyticsRead], duration: '12h' }), 422, 'duration');
    assertProblem(await as('alice', 'POST', '/api/v1/favorites', { flowId: 'demo-auto', entitlements: [analyticsRead] }), 422, 'name');

    const list = await as('alice', 'GET', '/api/v1/favorites');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.favorites.map((f: any) => f.id), [fav.id]);
    assert.deepEqual((await as('dave', 'GET', '/api/v1/favorites')).body.favorites, [], 'favorites are per user');

    const renamed = await as('alice', 'PUT', `/api/v1/favorites/${fav.id}`, { name: 'analytics (30m)', flowId: 'demo-auto', entitlements: [analyticsRead], duration: '30m' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.id, fav.id);
    assert.equal(renamed.body.name, 'analytics (30m)');
    assert.equal(renamed.body.duration, '30m');
    assertProblem(await as('dave', 'PUT', `/api/v1/favorites/${fav.id}`, { name: 'mine now', flowId: 'demo-auto', entitlements: [analyticsRead] }), 404);

    const before = Date.now();
    const requested = await as('alice', 'POST', `/api/v1/favorites/${fav.id}/request`);
    assert.equal(requested.status, 201, requested.text);
    assert.equal(requested.headers.get('location'), `/api/v1/requests/${requested.body.id}`);
    assert.equal(requested.body.status, 'active');
    assert.equal(requested.body.flowId, 'demo-auto');
    assert.deepEqual(requested.body.entitlements, [analyticsRead]);
    assert.equal(requested.body.duration, '30m');
    assert.ok(Math.abs(Date.parse(requested.body.expiresAt) - (before + 30 * 60_000)) < 5000, 'Math.abs(Date.parse(requested.body.expiresAt) - (before + 30 * 60_000)) < 5000');
    assert.equal(requested.body.grants[0].accessDetails.user, 'demo_alice');
    assertProblem(await as('dave', 'POST', `/api/v1/favorites/${fav.id}/request`, {}), 404);
    const withOverride = await as('alice', 'POST', `/api/v1/favorites/${fav.id}/request`, { duration: '45m' });
    assert.equal(withOverride.status, 201);
    assert.equal(withOverride.body.duration, '45m');

    // Saving one of your requests as a favorite.
    const fromRequest = await as('alice', 'POST', '/api/v1/favorites', { fromRequestId: requested.body.id, name: 'again' });
    assert.equal(fromRequest.status, 201, fromRequest.text);
    assert.deepEqual(fromRequest.body.entitlements, [analyticsRead]);
    assertProblem(await as('dave', 'POST', '/api/v1/favorites', { fromRequestId: requested.body.id }), 404);

    assertProblem(await as('dave', 'DELETE', `/api/v1/favorites/${fav.id}`), 404);
    const deleted = await as('alice', 'DELETE', `/api/v1/favorites/${fav.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assertProblem(await as('alice', 'DELETE', `/api/v1/favorites/${fav.id}`), 404);
    assertProblem(await as('alice', 'POST', `/api/v1/favorites/${fav.id}/request`), 404);
    assert.deepEqual((await as('alice', 'GET', '/api/v1/favorites')).body.favorites.map((f: any) => f.id), [fromRequest.body.id]);
    await revokeAllOf('alice');
  });

  test('suggestions: at most 3 of the most recent distinct requests', async () => {
    await create('alice', { flowId: 'demo-auto', entitlements: [appRead] });
    await create('alice', { flowId: 'demo-auto', entitlements: [analyticsRead] });
    await create('alice', { flowId: 'demo-auto', entitlements: [appRead, analyticsRead] });
    await create('alice', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'suggest me' });
    await create('alice', { flowId: 'demo-auto', entitlements: [appRead] });
    const res = await as('alice', 'GET', '/api/v1/favorites');
    assert.equal(res.status, 200);
    const s = res.body.suggestions;
    assert.equal(s.length, 3);
    const keys = s.map((x: any) => `${x.flowId}:${x.entitlements.map((e: any) => e.resource).join('+')}`);
    assert.equal(new Set(keys).size, 3, 'distinct');
    assert.deepEqual(keys, ['demo-auto:app', 'demo-approval:app/users', 'demo-auto:app+analytics']);
    assert.ok(s.every((x: any) => !String(x.requestId).startsWith('auto-')), 'automatic flows are not suggested');
    assert.equal(s[1].justification, 'suggest me');
    await revokeAllOf('alice');
  });
});

// ── revoke-all ───────────────────────────────────────────────────────────────────────

describe('revoke-all', () => {
  test('with a label filter it revokes exactly the matching requests', async () => {
    const a1 = await create('alice', { flowId: 'demo-auto', entitlements: [appRead] });
    const d1 = await create('dave', { flowId: 'demo-auto', entitlements: [analyticsRead] });
    const a2 = await create('alice', { flowId: 'demo-approval', entitlements: [ordersWrite], justification: 'keep me' });
    await as('bob', 'POST', `/api/v1/requests/${a2.id}/approve`, { reason: 'fine' });
    assert.equal((await get('alice', a2.id)).status, 'active');
    const b1 = await create('dave', { flowId: 'demo-bundle-flow', bundleId: 'demo-bundle' });
    await as('erin', 'POST', `/api/v1/requests/${b1.id}/approve`);
    assert.equal((await get('dave', b1.id)).status, 'active');

    const before = await holding();
    const expected = before.filter((r) => r.labels.includes('demo')).map((r) => r.id).sort();
    assert.ok(expected.includes(a1.id) && expected.includes(d1.id), 'expected.includes(a1.id) && expected.includes(d1.id)');
    const res = await as('carol', 'POST', '/api/v1/admin/revoke-all', { label: 'demo', reason: 'rotate demo credentials' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([...res.body.revoked].sort(), expected);
    assert.deepEqual(res.body.failed, []);
    for (const id of expected) {
      const r = await get('carol', id);
      assert.equal(r.status, 'revoked');
      assert.equal(r.endReason, 'revoke-all');
      assert.equal(r.endedBy, 'carol');
      assert.equal(r.endNote, 'rotate demo credentials');
    }
    const after = await holding();
    const ids = (list: any[]) => list.filter((r) => r.flowId !== 'demo-oncall').map((r) => r.id).sort();
    assert.deepEqual(ids(after), ids(before.filter((r) => !expected.includes(r.id))), 'the rest is untouched');
    assert.ok(after.some((r) => r.id === a2.id) && after.some((r) => r.id === b1.id), 'after.some((r) => r.id === a2.id) && after.some((r) => r.id === b1.id)');
    const granted = await demo().listGranted();
    assert.ok(!granted.some((g) => g.user === 'alice' && g.entitlement.resource === 'app' && g.entitlement.permission === 'read'), 'a1 is gone from the target');
    // d1's entitlement is also covered by dave's active bundle request: the revoke ran, but
    // the target keeps what the other request still covers.
    assert.equal(demo().countCalls('revoke', d1.id), 1);
    assert.ok(granted.some((g) => g.user === 'dave' && g.entitlement.resource === 'analytics' && g.entitlement.permission === 'read'), 'covered by b1');
    assert.ok(granted.some((g) => g.requestId === a2.id), 'granted.some((g) => g.requestId === a2.id)');
    const audit = await as('carol', 'GET', '/api/v1/audit?action=admin.revoke_all');
    const last = audit.body.events.at(-1);
    assert.deepEqual(last.data.filter, { label: 'demo' });
    assert.equal(last.data.matched, expected.length);
  });

  test('with a user filter it revokes exactly that user\'s holding requests', async () => {
    const d2 = await create('dave', { flowId: 'demo-auto', entitlements: [appRead] });
    const a3 = await create('alice', { flowId: 'demo-auto', entitlements: [analyticsRead] });
    const before = await holding();
    const expected = before.filter((r) => r.requester === 'dave').map((r) => r.id).sort();
    assert.ok(expected.includes(d2.id), 'expected.includes(d2.id)');
    const res = await as('carol', 'POST', '/api/v1/admin/revoke-all', { user: 'dave' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual([...res.body.revoked].sort(), expected);
    for (const id of expected) assert.equal((await get('carol', id)).status, 'revoked');
    const after = await holding();
    assert.ok(after.some((r) => r.id === a3.id), 'alice\'s access is untouched');
    // (dave's on-call access, if he is on call, may be granted again by the automatic sync.)
    assert.deepEqual(after.filter((r) => r.requester === 'dave' && r.flowId !== 'demo-oncall'), []);
    assert.ok(!(await demo().listGranted()).some((g) => g.user === 'dave' && g.entitlement.permission === 'read'), '!(await demo().listGranted()).some((g) => g.user === \'dave\' && g.entitlement.per');
    assertProblem(await as('carol', 'POST', '/api/v1/admin/revoke-all', { user: 'dave', colour: 'red' }), 400, 'colour');
  });
});

// ── events ───────────────────────────────────────────────────────────────────────────

const streams: SseStream[] = [];

/**
 * An open event stream: collects parsed events. Streams are left open and ended by the
 * server when it stops (a client abort would leave the fetch pool's spare connection to
 * delay the server's close by the pool's keep-alive time).
 */
async function openStream(user: User): Promise<SseStream> {
  const stream = await openEventStream(svc.url, tokens[user]);
  assert.equal(stream.status, 200);
  streams.push(stream);
  return stream;
}

describe('GET /api/v1/events', () => {
  test('alice\'s stream gets request.created and request.granted for her request within a second; dave\'s does not', async () => {
    const alice = await openStream('alice');
    const dave = await openStream('dave');
    const carol = await openStream('carol');
    assert.match(alice.headers.get('content-type') ?? '', /^text\/event-stream/);
    await Promise.all([alice.connected, dave.connected, carol.connected]);
    const t0 = Date.now();
    const r = await create('alice', { flowId: 'demo-auto', entitlements: [appRead] });
    const got = await waitFor(() => ['request.created', 'request.granted'].every((t) => alice.events.some((e) => e.event === t && e.data?.requestId === r.id)), 1000);
    assert.ok(got, `alice got: ${JSON.stringify(alice.events.map((e) => e.event))} after ${Date.now() - t0} ms`);
    const created = alice.events.find((e) => e.event === 'request.created' && e.data.requestId === r.id)!;
    assert.equal(created.data.type, 'request.created');
    assert.equal(created.data.data.requester, 'alice');
    assert.equal(created.data.audience, undefined, 'the audience list is not sent');
    assert.ok(created.id?.startsWith(`${r.id}:`), `event id ${created.id}`);
    const granted = alice.events.find((e) => e.event === 'request.granted' && e.data.requestId === r.id)!;
    assert.equal(granted.data.data.status, 'active');
    // The admin stream sees everything; give dave's stream the same chance, then check.
    assert.ok(await waitFor(() => carol.events.some((e) => e.data?.requestId === r.id), 1000), 'carol (admin) sees it');
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(dave.events.filter((e) => e.data?.requestId === r.id), []);
    assert.ok(dave.events.every((e) => e.data?.data?.requester === 'dave'), JSON.stringify(dave.events));

    // An approval request reaches the approvers' streams, not dave's.
    const bob = await openStream('bob');
    await bob.connected;
    const p = await create('alice', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'notify bob' });
    assert.ok(await waitFor(() => bob.events.some((e) => e.event === 'approval.requested' && e.data.requestId === p.id), 1000), 'bob is asked');
    await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`);
    assert.ok(!dave.events.some((e) => e.data?.requestId === p.id), 'dave hears nothing of it');

    await as('alice', 'POST', `/api/v1/requests/${r.id}/revoke`);
    assert.ok(await waitFor(() => alice.events.some((e) => e.event === 'request.revoked' && e.data.requestId === r.id), 1000), 'alice hears of the revoke');
    // The streams stay open until the server stops, which ends them (see `after`).
  });

  test('a client that disconnects is unsubscribed', async () => {
    const before = svc.events.size;
    const { request } = await import('node:http');
    const req = request(`${svc.url}/api/v1/events`, { headers: { authorization: `Bearer ${tokens.dave}` } });
    const firstChunk = new Promise<string>((resolve, reject) => {
      req.on('response', (res) => res.once('data', (chunk: Buffer) => resolve(chunk.toString())));
      req.on('error', reject);
    });
    req.end();
    assert.match(await firstChunk, /: connected as dave/);
    assert.equal(svc.events.size, before + 1);
    const metrics = await call(svc.url, 'GET', '/metrics');
    assert.match(metrics.text, new RegExp(`^lapse_events_subscribers ${before + 1}$`, 'm'));
    req.destroy();
    assert.ok(await waitFor(() => svc.events.size === before, 1000), `subscribers ${svc.events.size}, expected ${before}`);
  });

  test('the events endpoint needs a token', async () => {
    assertProblem(await call(svc.url, 'GET', '/api/v1/events'), 401);
  });
});

// ── audit and report ─────────────────────────────────────────────────────────────────

describe('audit and activity report', () => {
  let approvalId: string;
  let bundleId: string;

  before(async () => {
    const p = await create('alice', { flowId: 'demo-approval', entitlements: [usersWrite, ordersWrite], justification: 'schema change, "urgent"', duration: '30m' });
    await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'reviewed the migration' });
    await as('alice', 'POST', `/api/v1/requests/${p.id}/revoke`, { reason: 'done' });
    approvalId = p.id;
    const b = await create('dave', { flowId: 'demo-bundle-flow', bundleId: 'demo-bundle', justification: 'quarterly numbers' });
    await as('erin', 'POST', `/api/v1/requests/${b.id}/approve`, { reason: 'ok for Q3' });
    bundleId = b.id;
  });

  test('GET /api/v1/audit?requestId= shows the transitions, for the requester and for admins', async () => {
    const res = await as('alice', 'GET', `/api/v1/audit?requestId=${approvalId}`);
    assert.equal(res.status, 200, res.text);
    const actions = res.body.events.map((e: any) => e.action);
    assert.deepEqual(actions, [
      'request.created', 'request.approved', 'request.granting', 'request.active',
      'request.revoking', 'request.revoked',
    ]);
    const approved = res.body.events[1];
    assert.equal(approved.actor, 'bob');
    assert.equal(approved.data.reason, 'reviewed the migration');
    assert.equal(res.body.events[4].actor, 'alice');
    assert.ok(res.body.events.every((e: any) => e.requestId === approvalId && /^[0-9a-f]{64}$/.test(e.hash)), 'res.body.events.every((e: any) => e.requestId === approvalId && /^[0-9a-f]{64}$/');
    const seqs = res.body.events.map((e: any) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((a: number, b: number) => a - b));
    // The approver who decided can read it too; the admin can.
    assert.deepEqual((await as('bob', 'GET', `/api/v1/audit?requestId=${approvalId}`)).body.events.map((e: any) => e.action), actions);
    assert.deepEqual((await as('carol', 'GET', `/api/v1/audit?requestId=${approvalId}`)).body.events.map((e: any) => e.action), actions);
    assertProblem(await as('alice', 'GET', '/api/v1/audit?requestId=x&limit=ten'), 400, 'querystring limit');
    const verify = await as('carol', 'GET', '/api/v1/audit/verify');
    assert.equal(verify.status, 200);
    assert.equal(verify.body.ok, true, JSON.stringify(verify.body.problems));
    assertProblem(await as('alice', 'GET', '/api/v1/audit/verify'), 403);
  });

  test('GET /api/v1/reports/activity.csv (admin): a header and one row per request and integration', async () => {
    assertProblem(await as('alice', 'GET', '/api/v1/reports/activity.csv'), 403);
    assertProblem(await as('bob', 'GET', '/api/v1/reports/activity.csv'), 403);
    const listedBefore: string[] = (await as('carol', 'GET', '/api/v1/requests?limit=1000')).body.requests.map((r: any) => r.id);
    const res = await as('carol', 'GET', '/api/v1/reports/activity.csv');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment; filename="lapse-activity\.csv"/);
    const rows = parseCsv(res.text);
    const header = rows[0]!;
    assert.deepEqual(header.slice(0, 12), ['request_id', 'requester', 'flow', 'bundle', 'integration', 'resources', 'permissions', 'status', 'grant_status', 'justification', 'approvers', 'approver_reasons']);
    const data = rows.slice(1).map((r) => Object.fromEntries(header.map((h, i) => [h, r[i]])) as Record<string, string>);
    assert.ok(data.every((r) => Object.keys(r).length === header.length && r.request_id), 'data.every((r) => Object.keys(r).length === header.length && r.request_id)');
    // One row per request (every request here is on the one demo integration): every
    // request that existed before the report, and nothing that did not exist after it (the
    // automatic on-call flow may add one meanwhile).
    const ids = data.map((r) => r.request_id);
    assert.equal(new Set(ids).size, ids.length, 'one row per request');
    const after = new Set((await as('carol', 'GET', '/api/v1/requests?limit=1000')).body.requests.map((r: any) => r.id));
    for (const id of listedBefore) assert.ok(ids.includes(id), `request ${id} has a row`);
    for (const id of ids) assert.ok(after.has(id), `row ${id} is a request`);
    assert.ok(ids.length >= 10, `rows: ${ids.length}`);

    const approval = data.find((r) => r.request_id === approvalId)!;
    assert.equal(approval.requester, 'alice');
    assert.equal(approval.flow, 'demo-approval');
    assert.equal(approval.bundle, '');
    assert.equal(approval.integration, 'demo');
    assert.equal(approval.resources, 'table:app/users; table:app/orders');
    assert.equal(approval.permissions, 'write');
    assert.equal(approval.status, 'revoked');
    assert.equal(approval.grant_status, 'revoked');
    assert.equal(approval.justification, 'schema change, "urgent"');
    assert.equal(approval.approvers, 'bob');
    assert.equal(approval.approver_reasons, 'bob (approve): reviewed the migration');

    const bundle = data.find((r) => r.request_id === bundleId)!;
    assert.equal(bundle.requester, 'dave');
    assert.equal(bundle.flow, 'demo-bundle-flow');
    assert.equal(bundle.bundle, 'Demo bundle');
    assert.deepEqual(bundle.resources!.split('; ').sort(), ['database:analytics', 'database:app']);
    assert.equal(bundle.permissions, 'read');
    assert.equal(bundle.status, 'active');
    assert.equal(bundle.justification, 'quarterly numbers');
    assert.equal(bundle.approvers, 'erin');
    assert.equal(bundle.approver_reasons, 'erin (approve): ok for Q3');
  });

  test('/metrics counts the active requests', async () => {
    const res = await call(svc.url, 'GET', '/metrics');
    const active = Number(/^lapse_requests\{status="active"\} (\d+)$/m.exec(res.text)?.[1]);
    assert.equal(active, (await svc.store.countByStatus()).active);
    assert.ok(active >= 1, 'active >= 1');
    assert.match(res.text, /^lapse_requests\{status="revoked"\} [1-9]\d*$/m);
  });
});

/** RFC 4180 CSV (quoted cells, CRLF rows). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; i++; }
    else cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}
