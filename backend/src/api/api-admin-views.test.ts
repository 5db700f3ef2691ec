// API tests over real HTTP for the portal's admin and approver views: the request list's
// scopes (mine, all for admins, approved-by-me for approvers) and filters, cursor pagination
// of the lists (requests, approvals, stuck revocations) with tampered and misused cursors
// refused with 400, the panic button's preview and its count check, and the bulk "retry now"
// and "mark revoke canceled" with each id's outcome. Every route refuses whoever lacks the role.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { Service } from '../service.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';
import type { AccessRequest, BulkRetryResult, Decision, StuckRevocation } from '../../../common/api/types.ts';
import { type User, call, assertProblem, ent, appRead, analyticsRead, usersWrite, ordersWrite, startTestServer } from './api-test-support.ts';

let svc: Service;
let dir: string;
const tokens = {} as Record<User, string>;
const as = (user: User, method: string, path: string, body?: unknown) => call(svc.url, method, path, tokens[user], body);
const demo = () => svc.integrations.get('demo') as DemoIntegration;
const ACTIVE = 'status=scheduled,granting,active';

async function createAuto(user: User, entitlements = [appRead]): Promise<string> {
  const res = await as(user, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements });
  assert.equal(res.status, 201, res.text);
  assert.equal(res.body.status, 'active');
  return res.body.id;
}

async function createPending(user: User, entitlements = [usersWrite]): Promise<string> {
  const res = await as(user, 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements, justification: 'fix a stuck migration' });
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

async function approved(user: User, by: User, entitlements = [usersWrite]): Promise<string> {
  const id = await createPending(user, entitlements);
  const res = await as(by, 'POST', `/api/v1/requests/${id}/approve`, { reason: 'ticket OPS-7' });
  assert.equal(res.status, 200, res.text);
  return id;
}

/** Every page of a list, following nextCursor; the ids in order. */
async function allPages(user: User, path: string, key: 'requests' | 'approvals' | 'revocations', limit: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await as(user, 'GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body[key].length <= limit);
    ids.push(...(key === 'revocations' ? res.body.revocations.map((r: StuckRevocation) => r.request.id) : res.body[key].map((r: AccessRequest) => r.id)));
    cursor = res.body.nextCursor;
    pages++;
    assert.ok(pages < 100, 'the cursor moves on');
  } while (cursor);
  return { ids, pages };
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

describe('GET /api/v1/requests scopes', () => {
  test('scope=all is for admins: a requester and an approver get 403', async () => {
    await createAuto('alice');
    const all = await as('carol', 'GET', `/api/v1/requests?scope=all&${ACTIVE}`);
    assert.equal(all.status, 200, all.text);
    assert.ok(all.body.requests.some((r: AccessRequest) => r.requester === 'alice'));
    assertProblem(await as('alice', 'GET', '/api/v1/requests?scope=all'), 403, undefined, /only admins/);
    assertProblem(await as('bob', 'GET', '/api/v1/requests?scope=all&user=alice'), 403, undefined, /only admins/);
    assertProblem(await as('carol', 'GET', '/api/v1/requests?scope=all&mine=true'), 422, 'query mine');
    assertProblem(await as('carol', 'GET', '/api/v1/requests?scope=everyone'), 400, 'querystring scope', /must be one of mine, all, approved-by-me/);
  });

  test('scope=approved-by-me: an approver sees only what they approved, and may revoke only that', async () => {
    const byBob = await approved('alice', 'bob');
    const byErin = await approved('dave', 'erin', [ordersWrite]);
    const bob = await as('bob', 'GET', `/api/v1/requests?scope=approved-by-me&${ACTIVE}`);
    assert.equal(bob.status, 200, bob.text);
    const bobIds = bob.body.requests.map((r: AccessRequest) => r.id);
    assert.ok(bobIds.includes(byBob));
    assert.ok(!bobIds.includes(byErin), 'erin\'s approval is not in bob\'s list');
    assert.ok(bob.body.requests.every((r: AccessRequest) => r.decisions.some((d: Decision) => d.approver === 'bob' && d.decision === 'approve')));
    // Another user's id as a filter narrows within what bob approved; it never widens it.
    const daves = await as('bob', 'GET', `/api/v1/requests?scope=approved-by-me&user=dave&${ACTIVE}`);
    assert.deepEqual(daves.body.requests.map((r: AccessRequest) => r.id).filter((id: string) => id === byErin), []);
    // dave has no approver role.
    assertProblem(await as('dave', 'GET', '/api/v1/requests?scope=approved-by-me'), 403, undefined, /approvers/);
    // bob may revoke what he approved, never erin's.
    assertProblem(await as('bob', 'POST', `/api/v1/requests/${byErin}/revoke`, {}), 403);
    const revoked = await as('bob', 'POST', `/api/v1/requests/${byBob}/revoke`, { reason: 'no longer needed' });
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.endedBy, 'bob');
    assert.equal((await as('erin', 'POST', `/api/v1/requests/${byErin}/revoke`, {})).status, 200);
  });

  test('a requester\'s list stays their own, whatever user or scope=mine says', async () => {
    await createAuto('dave', [analyticsRead]);
    const res = await as('alice', 'GET', '/api/v1/requests?scope=mine&user=dave');
    assert.equal(res.status, 200);
    assert.ok(res.body.requests.length > 0);
    assert.ok(res.body.requests.every((r: AccessRequest) => r.requester === 'alice'));
  });

  test('filters by flow, integration, label and resource; hostile values match nothing and break nothing', async () => {
    const id = await createAuto('alice', [analyticsRead]);
    const by = async (q: string) => (await as('carol', 'GET', `/api/v1/requests?scope=all&${ACTIVE}&${q}`)).body.requests.map((r: AccessRequest) => r.id) as string[];
    assert.ok((await by('integration=demo')).includes(id));
    assert.ok((await by('label=demo')).includes(id));
    assert.ok((await by('resource=analytics')).includes(id));
    assert.ok((await by('flow=demo-auto&user=alice')).includes(id));
    assert.ok(!(await by('label=prod')).includes(id));
    assert.ok(!(await by('resource=app')).includes(id));
    assert.ok(!(await by('flow=demo-approval')).includes(id));
    for (const hostile of [`a'b"c`, `x' OR '1'='1`, '../../etc/passwd', '..%2F..%2Fetc', '%', '_', 'demo"); DROP TABLE requests; --', '\\', 'ünïcødé', '[]', '{"a":1}']) {
      for (const field of ['user', 'flow', 'integration', 'label', 'resource']) {
        const res = await as('carol', 'GET', `/api/v1/requests?scope=all&${field}=${encodeURIComponent(hostile)}`);
        assert.equal(res.status, 200, `${field}=${JSON.stringify(hostile)}: ${res.text}`);
        assert.deepEqual(res.body.requests, [], `${field}=${JSON.stringify(hostile)} matches nothing`);
      }
    }
    // A control character is no id, name or label: refused at the field.
    for (const control of ['demo\u0000', 'demo\u0001', 'de\nmo', '\u007f']) {
      for (const field of ['user', 'label', 'resource']) {
        assertProblem(await as('carol', 'GET', `/api/v1/requests?scope=all&${field}=${encodeURIComponent(control)}`), 400, `querystring ${field}`);
      }
      assertProblem(await as('carol', 'POST', '/api/v1/admin/revoke-all/preview', { label: control }), 400, 'label');
    }
    assert.ok((await by('integration=demo')).includes(id), 'the store is intact');
  });
});

describe('cursor pagination', () => {
  test('requests: pages of `limit` in order, without gaps or repeats, the last with nextCursor null', async () => {
    for (let i = 0; i < 7; i++) await createAuto('dave', [i % 2 ? appRead : analyticsRead]);
    const whole = await as('carol', 'GET', '/api/v1/requests?scope=all&user=dave&limit=1000');
    assert.equal(whole.body.nextCursor, null);
    const expected = whole.body.requests.map((r: AccessRequest) => r.id);
    assert.ok(expected.length >= 7);
    const paged = await allPages('carol', '/api/v1/requests?scope=all&user=dave', 'requests', 3);
    assert.deepEqual(paged.ids, expected);
    assert.equal(paged.pages, Math.ceil(expected.length / 3), 'no empty page after the last');
    const mine = await allPages('dave', '/api/v1/requests?mine=true', 'requests', 2);
    assert.deepEqual(mine.ids, expected);
  });

  test('a cursor changed, carried to other filters or another list, or made up is refused with 400 at query cursor; limit outside 1..1000 too', async () => {
    const first = await as('carol', 'GET', '/api/v1/requests?scope=all&limit=2');
    const cursor: string = first.body.nextCursor;
    assert.equal(typeof cursor, 'string');
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    const [body, mac] = cursor.split('.') as [string, string];
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    const forged = Buffer.from(JSON.stringify({ ...payload, c: payload.c + 1_000_000 })).toString('base64url');
    for (const bad of [flip(cursor, 3), flip(cursor, cursor.length - 2), `${forged}.${mac}`, 'not-a-cursor', `${body}.`, `${cursor}.x`, '..', 'a'.repeat(2000)]) {
      assertProblem(await as('carol', 'GET', `/api/v1/requests?scope=all&limit=2&cursor=${encodeURIComponent(bad)}`), 400, 'query cursor');
    }
    assertProblem(await as('carol', 'GET', `/api/v1/requests?scope=all&limit=2&status=active&cursor=${encodeURIComponent(cursor)}`), 400, 'query cursor', /another list or other filters/);
    assertProblem(await as('carol', 'GET', `/api/v1/requests?scope=mine&limit=2&cursor=${encodeURIComponent(cursor)}`), 400, 'query cursor', /another list or other filters/);
    assertProblem(await as('carol', 'GET', `/api/v1/approvals?cursor=${encodeURIComponent(cursor)}`), 400, 'query cursor', /another list or other filters/);
    assertProblem(await as('carol', 'GET', `/api/v1/admin/stuck-revocations?cursor=${encodeURIComponent(cursor)}`), 400, 'query cursor', /another list or other filters/);
    // Another person's cursor of the inbox is theirs: it does not page someone else's.
    assertProblem(await as('carol', 'GET', '/api/v1/requests?limit=0'), 400, 'query limit', /1 to 1000/);
    assertProblem(await as('carol', 'GET', '/api/v1/requests?limit=1001'), 400, 'query limit', /1 to 1000/);
    assertProblem(await as('carol', 'GET', '/api/v1/requests?limit=99999999999999999999'), 400, 'querystring limit');
    assertProblem(await as('carol', 'GET', '/api/v1/requests?limit=-1'), 400, 'querystring limit');
  });

  test('approvals: the inbox a page at a time; one person\'s cursor does not page another\'s inbox', async () => {
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await createPending(i % 2 ? 'alice' : 'dave', [i % 2 ? usersWrite : ordersWrite]));
    const whole = await as('bob', 'GET', '/api/v1/approvals?limit=1000');
    const expected = whole.body.approvals.map((r: AccessRequest) => r.id);
    for (const id of ids) assert.ok(expected.includes(id));
    const paged = await allPages('bob', '/api/v1/approvals', 'approvals', 2);
    assert.deepEqual(paged.ids, expected);
    assert.equal(paged.pages, Math.ceil(expected.length / 2));
    const first = await as('bob', 'GET', '/api/v1/approvals?limit=1');
    assertProblem(await as('erin', 'GET', `/api/v1/approvals?limit=1&cursor=${encodeURIComponent(first.body.nextCursor)}`), 400, 'query cursor');
    for (const id of ids) await as('bob', 'POST', `/api/v1/requests/${id}/deny`, { reason: 'not now' });
  });
});

describe('the panic button\'s preview', () => {
  test('counts the requests, grants and people that match, without revoking; only admins', async () => {
    const a = await createAuto('alice', [appRead, analyticsRead]);
    const d = await createAuto('dave', [analyticsRead]);
    assertProblem(await as('alice', 'POST', '/api/v1/admin/revoke-all/preview', {}), 403);
    assertProblem(await as('bob', 'POST', '/api/v1/admin/revoke-all/preview', { label: 'demo' }), 403);
    assertProblem(await as('carol', 'POST', '/api/v1/admin/revoke-all/preview', { label: 'demo', colour: 'red' }), 400, 'colour');
    const all = await as('carol', 'GET', `/api/v1/requests?scope=all&label=demo&${ACTIVE}&limit=1000`);
    const preview = await as('carol', 'POST', '/api/v1/admin/revoke-all/preview', { label: 'demo' });
    assert.equal(preview.status, 200, preview.text);
    assert.equal(preview.body.requests, all.body.requests.length);
    assert.equal(preview.body.users, new Set(all.body.requests.map((r: AccessRequest) => r.requester)).size);
    assert.equal(preview.body.grants, all.body.requests.length, 'one demo grant each');
    assert.deepEqual(preview.body.byIntegration, [{ integration: 'demo', grants: preview.body.grants }]);
    const one = await as('carol', 'POST', '/api/v1/admin/revoke-all/preview', { user: 'dave', resource: 'analytics', label: 'demo' });
    assert.ok(one.body.requests >= 1);
    assert.equal((await as('carol', 'GET', `/api/v1/requests/${a}`)).body.status, 'active', 'a preview revokes nothing');
    const none = await as('carol', 'POST', '/api/v1/admin/revoke-all/preview', { user: `o'brien"; --` });
    assert.deepEqual(none.body, { requests: 0, grants: 0, users: 0, byIntegration: [] });

    // The count the admin confirmed must still hold: another number refuses, revoking nothing.
    assertProblem(await as('carol', 'POST', '/api/v1/admin/revoke-all', { user: 'dave', resource: 'analytics', label: 'demo', reason: 'x', expectRequests: one.body.requests + 1 }), 409, undefined, /preview counted/);
    assert.equal((await as('carol', 'GET', `/api/v1/requests/${d}`)).body.status, 'active');
    assertProblem(await as('carol', 'POST', '/api/v1/admin/revoke-all', { user: 'dave', expectRequests: 1e12 }), 400, 'expectRequests');
    const done = await as('carol', 'POST', '/api/v1/admin/revoke-all', { user: 'dave', resource: 'analytics', label: 'demo', reason: 'incident', expectRequests: one.body.requests });
    assert.equal(done.status, 200, done.text);
    assert.ok(done.body.revoked.includes(d));
    assert.equal((await as('carol', 'GET', `/api/v1/requests/${a}`)).body.status, 'active', 'alice\'s access is outside the filter');
    await as('alice', 'POST', `/api/v1/requests/${a}/revoke`, {});
  });
});

describe('stuck revocations', () => {
  test('listed for admins with attempts, last error and next retry; retry now and mark canceled in bulk, each id\'s outcome said', async () => {
    const stuck = [await createAuto('alice', [appRead]), await createAuto('dave', [analyticsRead]), await createAuto('alice', [ent('database', 'analytics', 'read')])];
    const active = await createAuto('dave', [appRead]);
    demo().faults = { revoke: 'demo target is down' };
    try {
      for (const id of stuck) assert.equal((await as('carol', 'POST', `/api/v1/requests/${id}/revoke`, {})).status, 200);
      for (const user of ['alice', 'bob', 'dave'] as const) {
        assertProblem(await as(user, 'GET', '/api/v1/admin/stuck-revocations'), 403);
        assertProblem(await as(user, 'POST', '/api/v1/admin/retry-revoke', { ids: stuck }), 403);
        assertProblem(await as(user, 'POST', '/api/v1/admin/mark-revoke-canceled', { ids: stuck, reason: 'by hand' }), 403);
      }
      const list = await as('carol', 'GET', '/api/v1/admin/stuck-revocations');
      assert.equal(list.status, 200, list.text);
      const revocations: StuckRevocation[] = list.body.revocations;
      const rows = new Map(revocations.map((r) => [r.request.id, r]));
      for (const id of stuck) {
        const r = rows.get(id);
        assert.ok(r, `${id} listed`);
        assert.equal(r.request.status, 'revoking');
        assert.ok(r.attempts >= 1);
        assert.match(r.lastError ?? '(none)', /demo target is down/);
        assert.ok(r.nextRetryAt === null || Date.parse(r.nextRetryAt) > 0);
      }
      assert.ok(!rows.has(active));
      const paged = await allPages('carol', '/api/v1/admin/stuck-revocations', 'revocations', 1);
      assert.deepEqual(paged.ids, list.body.revocations.map((r: StuckRevocation) => r.request.id));

      // Bulk bodies are checked: ids required, 1 to 500, a reason for cancel.
      assertProblem(await as('carol', 'POST', '/api/v1/admin/retry-revoke', { ids: [] }), 400, 'ids');
      assertProblem(await as('carol', 'POST', '/api/v1/admin/retry-revoke', { ids: Array.from({ length: 501 }, (_, i) => `r${i}`) }), 400, 'ids');
      assertProblem(await as('carol', 'POST', '/api/v1/admin/mark-revoke-canceled', { ids: stuck }), 400, 'reason');
      assertProblem(await as('carol', 'POST', '/api/v1/admin/mark-revoke-canceled', { ids: stuck, reason: '   ' }), 422, 'reason');

      const retried = await as('carol', 'POST', '/api/v1/admin/retry-revoke', { ids: [stuck[0], active, 'no-such-request'] });
      assert.equal(retried.status, 200, retried.text);
      assert.deepEqual(retried.body.retried, [stuck[0]]);
      assert.deepEqual(retried.body.failed.map((f: BulkRetryResult['failed'][number]) => [f.id, f.status]), [[active, 409], ['no-such-request', 404]]);
      const audit = await as('carol', 'GET', `/api/v1/audit?requestId=${stuck[0]}&action=request.revoke_retried`);
      assert.equal(audit.body.events.length, 1);

      const canceled = await as('carol', 'POST', '/api/v1/admin/mark-revoke-canceled', { ids: [stuck[1], stuck[2], active, 'no-such-request', stuck[1]], reason: 'removed by hand: "app" db' });
      assert.equal(canceled.status, 200, canceled.text);
      assert.deepEqual(canceled.body.canceled, [stuck[1], stuck[2]]);
      assert.deepEqual(canceled.body.failed.map((f: BulkRetryResult['failed'][number]) => [f.id, f.status]), [[active, 409], ['no-such-request', 404]]);
      for (const id of [stuck[1], stuck[2]]) {
        const r = await as('carol', 'GET', `/api/v1/requests/${id}`);
        assert.equal(r.body.status, 'revoke_canceled');
        assert.equal(r.body.endNote, 'removed by hand: "app" db');
      }
      assert.equal((await as('carol', 'GET', `/api/v1/requests/${active}`)).body.status, 'active');
    } finally {
      demo().faults = {};
    }
    // Recovered: the remaining one is revoked by its own retry (made due now).
    assert.equal((await as('carol', 'POST', '/api/v1/admin/retry-revoke', { ids: [stuck[0]] })).status, 200);
    for (let i = 0; i < 200 && (await as('carol', 'GET', `/api/v1/requests/${stuck[0]}`)).body.status !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal((await as('carol', 'GET', `/api/v1/requests/${stuck[0]}`)).body.status, 'revoked');
    await as('carol', 'POST', `/api/v1/requests/${active}/revoke`, {});
  });
});
