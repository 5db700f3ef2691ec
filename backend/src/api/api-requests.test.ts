// API tests over real HTTP (part 2): creating requests, body validation, access details,
// and every authorization rule (approve, deny, see, revoke, cancel, admin-only endpoints).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Service } from '../service.ts';
import { type User, call, assertProblem, ent, appRead, analyticsRead, usersWrite, ordersWrite, startTestServer } from './api-test-support.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';

let svc: Service;
let dir: string;
const tokens = {} as Record<User, string>;
const as = (user: User, method: string, path: string, body?: unknown) => call(svc.url, method, path, tokens[user], body);
const get = async (user: User, id: string) => as(user, 'GET', `/api/v1/requests/${id}`);

async function createAuto(user: User, entitlements = [appRead]): Promise<any> {
  const res = await as(user, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.status, 'active');
  return res.body;
}

async function createPending(entitlements = [usersWrite]): Promise<any> {
  const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements, justification: 'fix a stuck migration' });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.status, 'pending');
  return res.body;
}

async function auditOk(): Promise<void> {
  const v = await as('carol', 'GET', '/api/v1/audit/verify');
  assert.equal(v.status, 200);
  assert.equal(v.body.ok, true, JSON.stringify(v.body.problems));
  assert.ok(v.body.checked > 0, 'v.body.checked > 0');
}

before(async () => {
  const server = await startTestServer();
  ({ svc, dir } = server);
  Object.assign(tokens, server.tokens);
});
after(async () => {
  await svc.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ── creating ─────────────────────────────────────────────────────────────────────────

describe('POST /api/v1/requests', () => {
  test('auto-approved: 201, active, expiresAt ≈ now + duration, location header, grants with access details', async () => {
    const before = Date.now();
    const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [analyticsRead], duration: '90m' });
    const afterT = Date.now();
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const r = res.body;
    assert.equal(res.headers.get('location'), `/api/v1/requests/${r.id}`);
    assert.equal(r.status, 'active');
    assert.equal(r.requester, 'alice');
    assert.equal(r.flowId, 'demo-auto');
    assert.equal(r.duration, '1h30m');
    assert.deepEqual(r.entitlements, [analyticsRead]);
    assert.deepEqual(r.labels, ['demo']);
    const expires = Date.parse(r.expiresAt);
    assert.ok(expires >= before + 90 * 60_000 && expires <= afterT + 90 * 60_000, `expiresAt ${r.expiresAt}`);
    assert.equal(expires - Date.parse(r.grantedAt), 90 * 60_000);
    assert.equal(r.grants.length, 1);
    assert.equal(r.grants[0].integration, 'demo');
    assert.equal(r.grants[0].status, 'active');
    assert.deepEqual(r.grants[0].accessDetails, { user: 'demo_alice', token: r.grants[0].accessDetails.token, note: 'demo access: nothing real was granted' });
    assert.match(r.grants[0].accessDetails.token, /^demo-[0-9a-f]{24}$/);
    // The target really holds it.
    const granted = await (svc.integrations.get('demo') as DemoIntegration).listGranted();
    assert.ok(granted.some((g) => g.user === 'alice' && g.requestId === r.id && g.entitlement.resource === 'analytics'), 'granted.some((g) => g.user === \'alice\' && g.requestId === r.id && g.entitlement.');
    // Reading it back gives the same; the default duration applies when none is given.
    const again = await get('alice', r.id);
    assert.equal(again.status, 200);
    assert.equal(again.body.expiresAt, r.expiresAt);
    assert.deepEqual(again.body.grants[0].accessDetails, r.grants[0].accessDetails);
    const dflt = await createAuto('dave');
    assert.equal(dflt.duration, '1h');
  });

  test('access details are shown to the requester only (not the approver, not an admin)', async () => {
    const p = await createPending([ordersWrite]);
    const approved = await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'ok for the migration' });
    assert.equal(approved.status, 200, approved.text);
    assert.equal(approved.body.status, 'active');
    assert.equal('accessDetails' in approved.body.grants[0], false, 'not in the approver\'s answer');
    const mine = await get('alice', p.id);
    assert.equal(mine.body.grants[0].accessDetails.user, 'demo_alice');
    const bobs = await get('bob', p.id);
    assert.equal(bobs.status, 200);
    assert.equal(bobs.body.grants[0].status, 'active');
    assert.equal('accessDetails' in bobs.body.grants[0], false);
    const carols = await get('carol', p.id);
    assert.equal(carols.status, 200);
    assert.equal('accessDetails' in carols.body.grants[0], false);
    const adminList = await as('carol', 'GET', '/api/v1/requests?user=alice');
    assert.ok(adminList.body.requests.length > 0, 'adminList.body.requests.length > 0');
    for (const r of adminList.body.requests) for (const g of r.grants) assert.equal('accessDetails' in g, false);
    assert.ok(!adminList.text.includes(mine.body.grants[0].accessDetails.token), '!adminList.text.includes(mine.body.grants[0].accessDetails.token)');
    await as('alice', 'POST', `/api/v1/requests/${p.id}/revoke`, {});
  });

  test('an unknown field → 400 naming it', async () => {
    const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], durationMinutes: 5 });
    assertProblem(res, 400, 'durationMinutes', /durationMinutes: is not a known field/);
    const nested = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [{ ...appRead, role: 'x' }] });
    assertProblem(nested, 400, 'entitlements[0].role', /not a known field/);
  });

  test('a wrong type → 400 with the field path', async () => {
    const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [{ ...appRead, permission: 7 }] });
    assertProblem(res, 400, 'entitlements[0].permission', /entitlements\[0\]\.permission: must be string/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: appRead }), 400, 'entitlements', /must be array/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], breakGlass: 'yes' }), 400, 'breakGlass');
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: '12ab56' }), 400, 'mfaCode');
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], startAt: 'tomorrow' }), 400, 'startAt');
  });

  test('missing flowId, a missing entitlement field, and bodies that are not JSON objects → 400', async () => {
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { entitlements: [appRead] }), 400, 'flowId', /flowId: is required/);
    const { permission: _p, ...noPermission } = appRead;
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [noPermission] }), 400, 'entitlements[0].permission', /is required/);
    assertProblem(await call(svc.url, 'POST', '/api/v1/requests', tokens.alice, undefined, { raw: '{"flowId": ' }), 400);
    assertProblem(await call(svc.url, 'POST', '/api/v1/requests', tokens.alice, undefined, { raw: '[]' }), 400);
    const post = (contentType: string, body: string) => fetch(svc.url + '/api/v1/requests', { method: 'POST', headers: { authorization: `Bearer ${tokens.alice}`, 'content-type': contentType }, body });
    const text = await post('text/plain', 'flowId=demo-auto');
    assert.equal(text.status, 400);
    assert.match(text.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(((await text.json()) as { detail: string }).detail, /must be object/);
    const xml = await post('application/xml', '<request/>');
    assert.equal(xml.status, 415);
    assert.match(xml.headers.get('content-type') ?? '', /^application\/problem\+json/);
    // A body is required for creating a request.
    assertProblem(await call(svc.url, 'POST', '/api/v1/requests', tokens.alice), 400, '(body)');
  });

  test('an entitlement the flow does not offer → 422 entitlements[i]', async () => {
    const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead, ent('database', 'app', 'write')] });
    assertProblem(res, 422, 'entitlements[1]', /does not offer demo/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'nope', 'read')] }), 422, 'entitlements[0]');
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [] }), 422, 'entitlements');
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', bundleId: 'demo-bundle' }), 422, 'bundleId', /not offered/);
  });

  test('durations: over the maximum, unreadable, indefinite where not allowed → 422 duration', async () => {
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '9h' }), 422, 'duration', /maximum.*8h/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: 'a while' }), 422, 'duration');
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: 'indefinite' }), 422, 'duration', /indefinite/);
  });

  test('justification missing where the flow requires it → 422 justification', async () => {
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite] }), 422, 'justification', /requires a justification/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: '   ' }), 422, 'justification');
  });

  test('an unknown flow → 422 flowId; an automatic flow cannot be requested', async () => {
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'no-such-flow', entitlements: [appRead] }), 422, 'flowId', /unknown flow "no-such-flow"/);
    assertProblem(await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-oncall', entitlements: [ent('database', 'app', 'admin')] }), 422, 'flowId', /automatic/);
  });

  test('a user outside the flow\'s requesters → 403', async () => {
    assertProblem(await as('bob', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] }), 403, undefined, /requester conditions/);
  });

  test('a body over 256 KiB → 413', async () => {
    const res = await as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], justification: 'x'.repeat(257 * 1024) });
    assertProblem(res, 413, undefined, /larger than 262144 bytes/);
  });

  test('nothing was created by the refused requests', async () => {
    const mine = await as('alice', 'GET', '/api/v1/requests?mine=true');
    assert.equal(mine.status, 200);
    const flows = mine.body.requests.filter((r: any) => r.flowId !== 'demo-oncall').map((r: any) => `${r.flowId}:${r.status}`).sort();
    assert.deepEqual(flows, ['demo-approval:revoked', 'demo-auto:active']);
  });

  test('GET /api/v1/requests: status filter, bad status → 422, bad query field → 400', async () => {
    const active = await as('alice', 'GET', '/api/v1/requests?mine=true&status=active');
    assert.ok(active.body.requests.length >= 1, 'active.body.requests.length >= 1');
    assert.ok(active.body.requests.every((r: any) => r.status === 'active' && r.requester === 'alice'), 'active.body.requests.every((r: any) => r.status === \'active\' && r.requester === ');
    assertProblem(await as('alice', 'GET', '/api/v1/requests?status=sleeping'), 422, 'query status', /unknown status "sleeping"/);
    assertProblem(await as('alice', 'GET', '/api/v1/requests?colour=red'), 400, 'querystring colour');
    assertProblem(await as('alice', 'GET', '/api/v1/requests/no-such-id'), 404, undefined, /not found/);
    // A non-admin's list is always their own, whatever `user` says.
    const spy = await as('dave', 'GET', '/api/v1/requests?user=alice');
    assert.equal(spy.status, 200);
    assert.ok(spy.body.requests.every((r: any) => r.requester === 'dave'), 'spy.body.requests.every((r: any) => r.requester === \'dave\')');
  });
});

// ── authorization ────────────────────────────────────────────────────────────────────

describe('authorization rules', () => {
  test('the requester cannot approve or deny their own request (403)', async () => {
    const p = await createPending();
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'I trust me' }), 403, undefined, /your own request/);
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${p.id}/deny`, { reason: 'changed my mind' }), 403, undefined, /your own request/);
    assert.equal((await get('alice', p.id)).body.status, 'pending');
    assert.deepEqual((await get('alice', p.id)).body.yourApproverRoles, []);
    await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`);
  });

  test('a non-approver cannot approve: dave (who cannot even see it) gets 404, carol (admin, not an approver) 403', async () => {
    const p = await createPending();
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'looks fine' }), 404);
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${p.id}/deny`, { reason: 'no' }), 404);
    assertProblem(await as('carol', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'admin says yes' }), 403, undefined, /not an approver/);
    const r = (await get('alice', p.id)).body;
    assert.equal(r.status, 'pending');
    assert.deepEqual(r.decisions, []);
    await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`);
  });

  test('a user cannot see (404) nor revoke (404) another user\'s request, nor read its audit', async () => {
    const r = await createAuto('alice', [analyticsRead]);
    assertProblem(await get('dave', r.id), 404, undefined, new RegExp(`request ${r.id} not found`));
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${r.id}/revoke`, {}), 404);
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${r.id}/extend`, { duration: '10m' }), 404);
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${r.id}/cancel`), 404);
    assertProblem(await as('dave', 'GET', `/api/v1/audit?requestId=${r.id}`), 404);
    assertProblem(await as('dave', 'GET', '/api/v1/audit'), 403, undefined, /only admins/);
    // bob approves nothing here, so the automatic request is not his to see either.
    assertProblem(await get('bob', r.id), 404);
    assert.equal((await get('alice', r.id)).body.status, 'active');
    await as('alice', 'POST', `/api/v1/requests/${r.id}/revoke`, {});
  });

  test('an approver who approved may revoke; an approver who did not (erin) may not (403)', async () => {
    const p = await createPending();
    const approved = await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'approved for the migration' });
    assert.equal(approved.body.status, 'active');
    assertProblem(await as('erin', 'POST', `/api/v1/requests/${p.id}/revoke`, { reason: 'not mine' }), 403, undefined, /approver who approved/);
    assertProblem(await as('dave', 'POST', `/api/v1/requests/${p.id}/revoke`, {}), 404);
    assert.equal((await get('alice', p.id)).body.status, 'active');
    const revoked = await as('bob', 'POST', `/api/v1/requests/${p.id}/revoke`, { reason: 'migration done' });
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.status, 'revoked');
    assert.equal(revoked.body.endReason, 'approver');
    assert.equal(revoked.body.endedBy, 'bob');
    assert.equal(revoked.body.endNote, 'migration done');
    const granted = await (svc.integrations.get('demo') as DemoIntegration).listGranted();
    assert.ok(!granted.some((g) => g.user === 'alice' && g.entitlement.resource === 'app/users'), 'gone from the target');
  });

  test('an admin may revoke anyone\'s access', async () => {
    const r = await createAuto('dave', [analyticsRead]);
    const res = await as('carol', 'POST', `/api/v1/requests/${r.id}/revoke`, { reason: 'offboarding' });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.status, 'revoked');
    assert.equal(res.body.endReason, 'admin');
  });

  test('only admins use revoke-all and mark-revoke-canceled (403 for others)', async () => {
    const r = await createAuto('dave', [appRead]);
    for (const user of ['alice', 'bob', 'dave'] as const) {
      assertProblem(await as(user, 'POST', '/api/v1/admin/revoke-all', { user: 'dave', reason: 'panic' }), 403, undefined, /admin/);
      assertProblem(await as(user, 'POST', `/api/v1/requests/${r.id}/mark-revoke-canceled`, { reason: 'removed by hand' }), 403);
    }
    assert.equal((await get('dave', r.id)).body.status, 'active', 'nothing happened');
    // For an admin, mark-revoke-canceled applies to a revoke in progress only...
    assertProblem(await as('carol', 'POST', `/api/v1/requests/${r.id}/mark-revoke-canceled`, { reason: 'removed by hand' }), 409, undefined, /only a revoke in progress/);
    // ...such as one the target cannot complete.
    const demo = svc.integrations.get('demo') as DemoIntegration;
    demo.faults = { revoke: 'demo target is down' };
    try {
      const stuck = await as('dave', 'POST', `/api/v1/requests/${r.id}/revoke`, {});
      assert.equal(stuck.status, 200, stuck.text);
      assert.equal(stuck.body.status, 'revoking');
      assert.match(stuck.body.error, /demo target is down/);
      assertProblem(await as('dave', 'POST', `/api/v1/requests/${r.id}/mark-revoke-canceled`, { reason: 'removed by hand' }), 403);
      assertProblem(await as('carol', 'POST', `/api/v1/requests/${r.id}/mark-revoke-canceled`, {}), 422, 'reason', /say why/);
      const marked = await as('carol', 'POST', `/api/v1/requests/${r.id}/mark-revoke-canceled`, { reason: 'access removed by hand on the target' });
      assert.equal(marked.status, 200, marked.text);
      assert.equal(marked.body.status, 'revoke_canceled');
      assert.equal(marked.body.endedBy, 'carol');
      assert.equal(marked.body.grants[0].status, 'revoke_canceled');
    } finally {
      demo.faults = {};
    }
    const audit = await as('carol', 'GET', `/api/v1/audit?requestId=${r.id}&action=request.revoke_canceled`);
    assert.equal(audit.body.events.length, 1);
    assert.equal(audit.body.events[0].actor, 'carol');
  });

  test('the approver\'s reason is required and at most 124 characters (422 reason)', async () => {
    const p = await createPending();
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, {}), 422, 'reason', /requires a reason/);
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`), 422, 'reason');
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: '  ' }), 422, 'reason');
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'r'.repeat(125) }), 422, 'reason', /125 characters; at most 124/);
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'r'.repeat(1001) }), 400, 'reason');
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'ok', note: 'x' }), 400, 'note');
    assert.equal((await get('alice', p.id)).body.status, 'pending');
    const ok = await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'r'.repeat(124) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.body.status, 'active');
    assert.deepEqual(ok.body.decisions.map((d: any) => [d.approver, d.decision, d.reason.length]), [['bob', 'approve', 124]]);
    // Replaying the same decision changes nothing; the opposite one conflicts.
    const replay = await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'again' });
    assert.equal(replay.status, 200);
    assert.equal(replay.body.decisions.length, 1);
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/deny`, { reason: 'oops' }), 409);
    await as('alice', 'POST', `/api/v1/requests/${p.id}/revoke`, {});
  });

  test('deny → rejected; nothing is granted and it cannot be approved afterwards', async () => {
    const p = await createPending([ordersWrite]);
    const denied = await as('erin', 'POST', `/api/v1/requests/${p.id}/deny`, { reason: 'use the replica' });
    assert.equal(denied.status, 200, denied.text);
    assert.equal(denied.body.status, 'rejected');
    assert.equal(denied.body.endedBy, 'erin');
    assert.equal(denied.body.endNote, 'use the replica');
    assert.deepEqual(denied.body.decisions.map((d: any) => `${d.approver}:${d.decision}`), ['erin:deny']);
    assert.equal(denied.body.grants[0].status, 'pending');
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'ok' }), 409, undefined, /rejected/);
    assert.equal((svc.integrations.get('demo') as DemoIntegration).countCalls('grant', p.id), 0);
  });

  test('cancel: only the requester, only while pending', async () => {
    const p = await createPending();
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/cancel`), 403, undefined, /only the requester/);
    const canceled = await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`);
    assert.equal(canceled.status, 200, canceled.text);
    assert.equal(canceled.body.status, 'canceled');
    assertProblem(await as('alice', 'POST', `/api/v1/requests/${p.id}/cancel`), 409);
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: 'late' }), 409, undefined, /canceled/);
  });

  test('concurrent approve (bob) and deny (erin): exactly one wins, the audit chain stays valid', async () => {
    for (let i = 0; i < 6; i++) {
      const p = await createPending();
      const [approve, deny] = await Promise.all([
        as('bob', 'POST', `/api/v1/requests/${p.id}/approve`, { reason: `approve ${i}` }),
        as('erin', 'POST', `/api/v1/requests/${p.id}/deny`, { reason: `deny ${i}` }),
      ]);
      const final = (await get('alice', p.id)).body;
      const statuses = [approve.status, deny.status].sort();
      assert.deepEqual(statuses, [200, 409], `approve ${approve.status} ${approve.text} / deny ${deny.status} ${deny.text}`);
      const loser = approve.status === 409 ? approve : deny;
      assertProblem(loser, 409);
      assert.equal(final.decisions.length, 1, JSON.stringify(final.decisions));
      if (approve.status === 200) {
        assert.equal(final.status, 'active');
        assert.equal(final.decisions[0].approver, 'bob');
        await as('alice', 'POST', `/api/v1/requests/${p.id}/revoke`, {});
      } else {
        assert.equal(final.status, 'rejected');
        assert.equal(final.decisions[0].approver, 'erin');
      }
    }
    await auditOk();
  });
});
