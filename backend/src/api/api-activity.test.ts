// API tests over real HTTP: the Activity list (audit filters, cursor pages), a request's
// timeline, the activity report's filters and columns, and the configuration status — with
// who may use each (a requester gets 403 on admin routes; another user's timeline is refused).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE, analyticsRead, appRead, assertProblem, startTestServer, usersWrite, type Res, type TestServer, type User } from './api-test-support.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';
import type { AccessRequest, AuditEventView, TimelineEntry } from '../../../common/api/types.ts';

let s: TestServer;
let configDir: string;
let configPath: string;
const as = (user: User, method: string, path: string, body?: unknown): Promise<Res> => s.as(user, method, path, body);

/** Ids of the requests made here, by kind. */
const made = { aliceAuto: '', dave: '', alicePending: '', hostile: '', canceledRevoke: '' };

async function create(user: User, body: Record<string, unknown>): Promise<string> {
  const res = await as(user, 'POST', '/api/v1/requests', body);
  assert.equal(res.status, 201, res.text);
  return res.body.id;
}

/** Every event of the filtered log, walking its pages with the cursor. */
async function walk(query: string, limit: number): Promise<{ events: AuditEventView[]; pages: number }> {
  const events: AuditEventView[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res: Res = await as('carol', 'GET', `/api/v1/audit?${query}&limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body.events.length <= limit);
    events.push(...res.body.events);
    cursor = res.body.nextCursor;
    pages++;
    assert.ok(pages < 1000, 'the pages end');
  } while (cursor);
  return { events, pages };
}

before(async () => {
  configDir = mkdtempSync(join(tmpdir(), 'lapse-config-'));
  configPath = join(configDir, 'lapse.yaml');
  copyFileSync(EXAMPLE, configPath);
  s = await startTestServer({ configPath });
  made.aliceAuto = await create('alice', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
  made.dave = await create('dave', { flowId: 'demo-auto', entitlements: [analyticsRead] });
  made.alicePending = await create('alice', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-7: fix the users table' });
  assert.equal((await as('bob', 'POST', `/api/v1/requests/${made.alicePending}/approve`, { reason: 'ok for INC-7' })).status, 200);
  assert.equal((await as('bob', 'POST', `/api/v1/requests/${made.alicePending}/revoke`, { reason: 'INC-7 closed' })).status, 200);
  // A justification a spreadsheet would run, with quotes and a control character.
  made.hostile = await create('dave', { flowId: 'demo-approval', entitlements: [usersWrite], justification: '=cmd()|"calc"\u0007; DROP TABLE audit;--' });
  // A revoke the target cannot complete, marked canceled with a reason.
  made.canceledRevoke = await create('dave', { flowId: 'demo-auto', entitlements: [appRead] });
  const demo = s.svc.integrations.get('demo') as DemoIntegration;
  demo.faults = { revoke: 'demo target is down' };
  try {
    assert.equal((await as('dave', 'POST', `/api/v1/requests/${made.canceledRevoke}/revoke`, {})).body.status, 'revoking');
    assert.equal((await as('carol', 'POST', `/api/v1/requests/${made.canceledRevoke}/mark-revoke-canceled`, { reason: 'removed by hand, "ticket" =42' })).status, 200);
  } finally {
    demo.faults = {};
  }
});

after(async () => {
  await s?.svc.stop();
  if (s) rmSync(s.dir, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
});

describe('GET /api/v1/audit: the Activity filters', () => {
  test('user: what they did and what happened to their requests; flow, label and integration: events of matching requests', async () => {
    const all = (await walk('order=asc', 10_000)).events;
    const byRequest = new Map<string, AccessRequest>();
    for (const id of Object.values(made)) byRequest.set(id, (await as('carol', 'GET', `/api/v1/requests/${id}`)).body);

    const dave = (await walk('user=dave', 500)).events;
    assert.ok(dave.length > 0);
    for (const e of dave) assert.ok(e.actor === 'dave' || (e.requestId !== null && byRequest.get(e.requestId)?.requester === 'dave'), `${e.action} by ${e.actor} concerns dave`);
    const expectedDave = all.filter((e) => e.actor === 'dave' || (e.requestId !== null && [made.dave, made.hostile, made.canceledRevoke].includes(e.requestId)));
    assert.deepEqual(dave.map((e) => e.seq), expectedDave.map((e) => e.seq));

    const prod = (await walk('label=prod', 500)).events;
    assert.deepEqual([...new Set(prod.map((e) => e.requestId))].sort(), [made.alicePending, made.hostile].sort());
    const flow = (await walk('flow=demo-approval', 500)).events;
    assert.deepEqual(flow.map((e) => e.seq), prod.map((e) => e.seq), 'demo-approval is the flow labelled prod');

    const both = (await walk('user=alice&label=prod&action=request.approved', 500)).events;
    assert.deepEqual(both.map((e) => [e.requestId, e.actor, e.data.reason]), [[made.alicePending, 'bob', 'ok for INC-7']]);

    const demo = (await walk('integration=demo', 500)).events;
    assert.ok(demo.some((e) => e.requestId === made.dave));
    assert.ok(demo.every((e) => e.requestId !== null || e.data.integration === 'demo'));
    assert.deepEqual((await walk('integration=elsewhere', 500)).events, []);

    const since = all.find((e) => e.requestId === made.hostile)?.at;
    assert.ok(since, 'the hostile request\'s first event has a time');
    const later = (await walk(`since=${encodeURIComponent(since)}&user=dave`, 500)).events;
    assert.ok(later.every((e) => e.at !== null && e.at >= since) && later.length < dave.length);
  });

  test('hostile filter values match nothing and break nothing', async () => {
    for (const q of ["user=x'%20OR%20'1'='1", 'label=%22%3B%20DROP%20TABLE%20audit%3B--', 'flow=%E2%80%AE', 'integration=..%2F..%2Fetc%2Fpasswd', 'action=%07']) {
      const res = await as('carol', 'GET', `/api/v1/audit?${q}`);
      assert.equal(res.status, 200, `${q}: ${res.text}`);
      assert.deepEqual(res.body.events, [], q);
      assert.equal(res.body.nextCursor, null);
    }
    assertProblem(await as('carol', 'GET', `/api/v1/audit?label=${'x'.repeat(201)}`), 400, 'querystring label');
    assertProblem(await as('carol', 'GET', '/api/v1/audit?user='), 400, 'querystring user');
  });
});

describe('GET /api/v1/audit: cursor pages', () => {
  test('newest first, a page at a time: every event once, in order, and the last page says so', async () => {
    const all = (await walk('order=desc', 10_000)).events;
    assert.ok(all.length > 12, `${all.length} events`);
    for (let i = 1; i < all.length; i++) assert.ok(all[i - 1].seq > all[i].seq, 'newest first');
    const paged = await walk('order=desc', 5);
    assert.equal(paged.pages, Math.ceil(all.length / 5) + (all.length % 5 === 0 ? 1 : 0) || 1);
    assert.deepEqual(paged.events.map((e) => e.seq), all.map((e) => e.seq));
    const asc = await walk('order=asc', 7);
    assert.deepEqual(asc.events.map((e) => e.seq), all.map((e) => e.seq).reverse());
    // Filters hold across pages.
    const daves = await walk('order=desc&user=dave', 2);
    assert.ok(daves.pages > 1);
    assert.ok(daves.events.every((e) => e.actor === 'dave' || (e.requestId !== null && [made.dave, made.hostile, made.canceledRevoke].includes(e.requestId))));
  });

  test('a tampered or foreign cursor, a cursor for the other order, and a limit out of range: 400 naming the field', async () => {
    const first = await as('carol', 'GET', '/api/v1/audit?order=desc&limit=2');
    const cursor: string = first.body.nextCursor;
    assert.ok(cursor);
    const doc = JSON.parse(Buffer.from(cursor, 'base64url').toString());
    const forged = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const bad of [cursor.slice(0, -3) + '!!!', 'bm90IGpzb24', forged({ ...doc, s: -5 }), forged({ ...doc, s: 1e300 }), forged({ ...doc, o: 'up' }), forged({ ...doc, admin: true }), '%2E%2E%2Fetc%2Fpasswd']) {
      assertProblem(await as('carol', 'GET', `/api/v1/audit?cursor=${bad.startsWith('%') ? bad : encodeURIComponent(bad)}`), 400, 'query cursor', /cursor is not one this server gave/);
    }
    assertProblem(await as('carol', 'GET', `/api/v1/audit?cursor=${cursor}&order=asc`), 400, 'query order', /desc order, not asc/);
    assertProblem(await as('carol', 'GET', `/api/v1/audit?cursor=${'A'.repeat(300)}`), 400, 'querystring cursor');
    assertProblem(await as('carol', 'GET', '/api/v1/audit?limit=0'), 400, 'query limit', /between 1 and 10000/);
    assertProblem(await as('carol', 'GET', '/api/v1/audit?limit=99999'), 400, 'query limit');
    assertProblem(await as('carol', 'GET', '/api/v1/audit?limit=999999999999'), 400, 'querystring limit');
    // The cursor alone continues where the page before ended.
    const next = await as('carol', 'GET', `/api/v1/audit?cursor=${cursor}&limit=2`);
    assert.equal(next.status, 200);
    assert.ok(next.body.events[0].seq < first.body.events[1].seq);
  });

  test('a requester reads the events of their own request only; the whole log and the Activity filters are the admins\'', async () => {
    assertProblem(await as('alice', 'GET', '/api/v1/audit'), 403);
    assertProblem(await as('alice', 'GET', '/api/v1/audit?user=dave'), 403);
    assertProblem(await as('bob', 'GET', '/api/v1/audit?label=prod'), 403);
    assertProblem(await as('alice', 'GET', `/api/v1/audit?requestId=${made.dave}`), 404);
    const own = await as('alice', 'GET', `/api/v1/audit?requestId=${made.aliceAuto}&order=desc&limit=1`);
    assert.equal(own.status, 200);
    assert.equal(own.body.events.length, 1);
    assert.ok(own.body.nextCursor);
    const rest = await as('alice', 'GET', `/api/v1/audit?requestId=${made.aliceAuto}&cursor=${own.body.nextCursor}`);
    assert.ok(rest.body.events.every((e: AuditEventView) => e.requestId === made.aliceAuto));
  });
});

describe('GET /api/v1/requests/:id/timeline', () => {
  test('the whole story: created, who could approve, the decision with its reason, the grant per integration, the revoke and who did it', async () => {
    const res = await as('alice', 'GET', `/api/v1/requests/${made.alicePending}/timeline`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.request.id, made.alicePending);
    assert.deepEqual(res.body.request.approverGroups.map((g: AccessRequest['approverGroups'][number]) => g.users.sort()), [['bob', 'erin'], ['bob']]);
    const entries: TimelineEntry[] = res.body.entries;
    const find = (action: string): TimelineEntry => {
      const entry = entries.find((e) => e.action === action);
      assert.ok(entry, `the timeline has ${action}`);
      return entry;
    };
    assert.equal(find('request.created').actor, 'alice');
    assert.equal(find('request.created').kind, 'created');
    assert.equal(find('request.approved').reason, 'ok for INC-7');
    assert.equal(find('request.approved').text, 'Approved by bob');
    assert.equal(find('request.active').integration, 'demo');
    assert.equal(find('request.active').text, 'Granted on demo: demo/table:app/users#write; access is active');
    assert.equal(find('request.revoking').actor, 'bob');
    assert.equal(find('request.revoking').reason, 'INC-7 closed');
    assert.equal(find('request.revoked').integration, 'demo');
    assert.equal(find('request.revoked').text, 'Revoked on demo; access ended');
    for (let i = 1; i < entries.length; i++) assert.ok(entries[i].seq > entries[i - 1].seq);
  });

  test('its requester, its approvers and admins; 403 for another user, 404 for no such request', async () => {
    for (const user of ['alice', 'bob', 'erin', 'carol'] as const) assert.equal((await as(user, 'GET', `/api/v1/requests/${made.alicePending}/timeline`)).status, 200, user);
    assertProblem(await as('dave', 'GET', `/api/v1/requests/${made.alicePending}/timeline`), 403, undefined, /requester, its approvers and admins/);
    assertProblem(await as('alice', 'GET', `/api/v1/requests/${made.dave}/timeline`), 403);
    assertProblem(await as('alice', 'GET', `/api/v1/requests/${encodeURIComponent("r' OR '1'='1")}/timeline`), 404);
    assertProblem(await as('alice', 'GET', `/api/v1/requests/${'9'.repeat(99)}/timeline`), 404);
    assertProblem(await as('alice', 'GET', `/api/v1/requests/${encodeURIComponent('../../admin/config')}/timeline`), 404);
    const revokeCanceled = await as('dave', 'GET', `/api/v1/requests/${made.canceledRevoke}/timeline`);
    const last = revokeCanceled.body.entries.at(-1);
    assert.deepEqual([last.kind, last.text, last.reason], ['end', 'Revoke marked canceled by carol', 'removed by hand, "ticket" =42']);
    assert.ok(revokeCanceled.body.entries.some((e: TimelineEntry) => e.action === 'grant.revoke_failed' && /demo target is down/.test(e.text)));
  });
});

describe('GET /api/v1/reports/activity.csv', () => {
  const rowsOf = (csv: string) => csv.trim().split('\r\n');

  test('labels and the revoke-canceled reason are columns; a formula in a justification is neutralised', async () => {
    const res = await as('carol', 'GET', '/api/v1/reports/activity.csv');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    const [header, ...rows] = rowsOf(res.text);
    const columns = header!.split(',');
    assert.deepEqual(columns.slice(-2), ['labels', 'revoke_canceled_reason']);
    const hostile = rows.find((r) => r.startsWith(`"${made.hostile}"`))!;
    assert.ok(hostile.includes(`"'=cmd()|""calc""\u0007; DROP TABLE audit;--"`), hostile);
    assert.ok(hostile.endsWith('"prod",""'), hostile);
    const canceled = rows.find((r) => r.startsWith(`"${made.canceledRevoke}"`))!;
    assert.ok(canceled.endsWith('"demo","removed by hand, ""ticket"" =42"'), canceled);
  });

  test('the Activity filters narrow the rows: user, flow, label, integration', async () => {
    const ids = async (q: string) => rowsOf((await as('carol', 'GET', `/api/v1/reports/activity.csv?${q}`)).text).slice(1).map((r) => r.slice(1, r.indexOf('"', 1))).sort();
    assert.deepEqual(await ids('user=dave'), [made.canceledRevoke, made.dave, made.hostile].sort());
    assert.deepEqual(await ids('user=dave&label=prod'), [made.hostile]);
    assert.deepEqual(await ids('flow=demo-approval'), [made.alicePending, made.hostile].sort());
    assert.deepEqual(await ids('integration=nowhere'), []);
    assert.ok((await ids('integration=demo')).includes(made.aliceAuto));
    assertProblem(await as('carol', 'GET', '/api/v1/reports/activity.csv?since=yesterday'), 400, 'querystring since');
    assertProblem(await as('carol', 'GET', '/api/v1/reports/activity.csv?user=dave&extra=1'), 400, 'querystring extra');
    for (const user of ['alice', 'bob'] as const) assertProblem(await as(user, 'GET', '/api/v1/reports/activity.csv?user=dave'), 403);
  });
});

describe('GET /api/v1/admin/config', () => {
  test('the file in force and since when; a refused reload with its errors at file:line and who asked; then one that applies, with what changed', async () => {
    const start = await as('carol', 'GET', '/api/v1/admin/config');
    assert.equal(start.status, 200, start.text);
    assert.equal(start.body.file, configPath);
    assert.equal(start.body.lastReload, null);
    assert.equal(start.body.loadedAt, start.body.startedAt);

    const good = readFileSync(configPath, 'utf8');
    writeFileSync(configPath, good.replace('grantFor: 2h', 'grantFor: soon'));
    const refused = await as('carol', 'POST', '/api/v1/admin/config/reload', {});
    assert.equal(refused.status, 422, refused.text);
    const afterRefusal = (await as('carol', 'GET', '/api/v1/admin/config')).body;
    assert.equal(afterRefusal.lastReload.ok, false);
    assert.equal(afterRefusal.lastReload.by, 'carol');
    assert.equal(afterRefusal.lastReload.changes, null);
    assert.ok(afterRefusal.lastReload.errors.some((e: string) => e.includes('lapse.yaml:') && /grantFor/.test(e)), afterRefusal.lastReload.errors.join('\n'));
    assert.equal(afterRefusal.loadedAt, start.body.loadedAt, 'the configuration in force did not change');
    // The refusal is in the audit too (it outlives the server), with who asked and the errors.
    const refusals = (await as('carol', 'GET', '/api/v1/audit?action=config.reload_refused')).body.events;
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0].actor, 'carol');
    assert.equal(refusals[0].data.file, configPath);
    assert.deepEqual(refusals[0].data.errors, afterRefusal.lastReload.errors);

    writeFileSync(configPath, good.replace('    - { id: erin, email: erin@example.com, name: Erin, groups: [sre-leads] }\n', '    - { id: erin, email: erin@example.com, name: Erin, groups: [sre-leads] }\n    - { id: frank, email: frank@example.com, name: "Frank \\"the tank\\"", groups: [sre-leads] }\n'));
    try {
      assert.equal((await as('carol', 'POST', '/api/v1/admin/config/reload', {})).status, 200);
      const applied = (await as('carol', 'GET', '/api/v1/admin/config')).body;
      assert.equal(applied.lastReload.ok, true);
      assert.deepEqual(applied.lastReload.errors, []);
      assert.deepEqual(applied.lastReload.changes.users, { added: 1, removed: 0 });
      const reloaded = (await as('carol', 'GET', '/api/v1/audit?action=config.reloaded')).body.events;
      assert.equal(reloaded.at(-1).actor, 'carol', 'the audit says who reloaded');
      assert.ok(Date.parse(applied.loadedAt) >= Date.parse(start.body.loadedAt));
      // Only the path and results: no value of the file (here its users) is in the answer.
      assert.ok(!JSON.stringify(applied).includes('frank@example.com'));
    } finally {
      writeFileSync(configPath, good);
      await as('carol', 'POST', '/api/v1/admin/config/reload', {});
    }
  });

  test('admins only: 403 for requesters and approvers', async () => {
    for (const user of ['alice', 'bob', 'dave', 'erin'] as const) assertProblem(await as(user, 'GET', '/api/v1/admin/config'), 403, undefined, /admin/);
  });
});
