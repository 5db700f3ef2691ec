import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'libsql';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.ts';
import { SqliteStore } from './sqlite-store.ts';
import { SqliteWriter } from './sqlite-writer.ts';
import { openSqlite, StatementCache } from './sqlite-connection.ts';
import { ConflictError, type TokenRecord } from './store.ts';
import { jobId, type GrantRecord, type JobRecord } from '../domain/request.ts';
import { verifyAuditChain } from '../audit/verify.ts';
import { TEST_AUDIT_KEY } from './postgres-test-support.ts';
import { authenticate, createToken } from '../auth/tokens.ts';
import { requestRecord } from './store-test-records.ts';
import type { LapseEvent } from '../engine/events.ts';

const request = requestRecord;

/** A revoke job of request r1 labelled by its integration (its id is the store's format: see jobId). */
function job(label: string, dueAt: number, fields: Partial<JobRecord> = {}): JobRecord {
  return { id: jobId('revoke', 'r1', label), kind: 'revoke', requestId: 'r1', integration: label, warningOffsetsMs: null, dueAt, attempts: 0, lastError: null, leaseOwner: null, leaseUntil: null, ...fields };
}

async function store(): Promise<SqliteStore> {
  const s = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  await s.migrate();
  return s;
}

test('change sets committed together stay independent: a conflicting one is skipped whole, the others land', async () => {
  const s = await store();
  await s.commit({ insertRequests: [request('r1')] });
  const results = await Promise.allSettled([
    s.commit({ insertRequests: [request('r1')], audit: [{ at: 2, actor: 'x', action: 'dup', requestId: 'r1', data: {} }] }),
    s.commit({ updateRequests: [{ id: 'r1', expectVersion: 7, set: { status: 'canceled' } }], insertJobs: [job('j-stale', 5)] }),
    s.commit({ insertRequests: [request('r2')], audit: [{ at: 3, actor: 'x', action: 'ok', requestId: 'r2', data: {} }] }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'fulfilled']);
  assert.ok(results.slice(0, 2).every((r) => r.status === 'rejected' && r.reason instanceof ConflictError), 'conflicts are ConflictErrors');
  assert.equal((await s.getRequest('r1'))!.status, 'pending');
  assert.deepEqual(await s.jobsOfRequest('r1'), []);
  assert.deepEqual((await s.listAudit({})).map((e) => e.action), ['ok']);
  await s.close();
});

test('events kept for replay are written in the group commit\'s transaction, each list failing or landing on its own', async () => {
  const s = await store();
  const event = (id: string, at: number): LapseEvent => ({ id, type: 'request.created', at, requestId: id, audience: ['bob'], data: {} });
  await s.commit({ insertRequests: [request('r1')] });
  const results = await Promise.allSettled([
    s.commit({ insertRequests: [request('r2')] }),
    s.appendEvents([event('e1', 1), event('e2', 2)]),
    s.commit({ updateRequests: [{ id: 'r1', expectVersion: 7, set: { status: 'canceled' } }] }),
    s.appendEvents([event('e3', 3)]),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'], 'a conflict is its change set\'s alone');
  assert.deepEqual((await s.eventsAfter(0, 10)).map((k) => k.event.id), ['e1', 'e2', 'e3'], 'in the order given');
  // A list the table refuses (no time) fails alone: the change sets beside it land.
  const broken = { ...event('e4', 4), at: null } as unknown as LapseEvent;
  const mixed = await Promise.allSettled([s.commit({ insertRequests: [request('r3')] }), s.appendEvents([event('e4a', 4), broken]), s.appendEvents([event('e5', 5)])]);
  assert.deepEqual(mixed.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled'], 'the broken list fails alone, none of it kept; the change set and the other list land');
  assert.ok(await s.getRequest('r3'));
  assert.deepEqual((await s.eventsAfter(0, 10)).map((k) => k.event.id), ['e1', 'e2', 'e3', 'e5']);
  // Alone, without a change set to ride on.
  await s.appendEvents([event('e6', 6)]);
  assert.deepEqual((await s.eventsAfter(0, 10)).map((k) => k.event.id), ['e1', 'e2', 'e3', 'e5', 'e6']);
  await s.close();
});

test('a group commit takes change sets until its time is up (one at least), and the store commits the rest after, in order', async () => {
  const db = openSqlite(':memory:');
  const writer = new SqliteWriter(db, new StatementCache(db), TEST_AUDIT_KEY);
  writer.migrate();
  const batch = ['r1', 'r2', 'r3'].map((id) => ({ insertRequests: [request(id)] }));
  assert.deepEqual(writer.applyChangeSets(batch, [], 0).outcomes, [null], 'out of time: the first only');
  assert.deepEqual(writer.applyChangeSets(batch.slice(1), [], Infinity).outcomes, [null, null]);
  db.close();

  // Through the store: many change sets in one turn all land, whatever number each commit took.
  const s = await store();
  const ids = Array.from({ length: 300 }, (_, i) => `q${String(i).padStart(3, '0')}`);
  await Promise.all(ids.map((id) => s.commit({ insertRequests: [request(id)], audit: [{ at: 1, actor: 'x', action: id, requestId: id, data: {} }] })));
  assert.deepEqual((await s.listAudit({ limit: 1000 })).map((e) => e.action), ids, 'committed in the order given');
  await s.close();
});

test('an update applies only at the expected version, with or without the caller\'s copy of the record', async () => {
  const s = await store();
  const r = request('r1');
  await s.commit({ insertRequests: [r] });
  await s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, base: r, set: { status: 'granting' } }] });
  assert.deepEqual([(await s.getRequest('r1'))!.status, (await s.getRequest('r1'))!.version], ['granting', 2]);
  await assert.rejects(s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, base: r, set: { status: 'active' } }] }), ConflictError);
  await assert.rejects(s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, set: { status: 'active' } }] }), ConflictError);
  assert.equal((await s.getRequest('r1'))!.status, 'granting');
  await s.close();
});

test('due jobs are claimed once, with a lease and an attempt, and completed only by their holder', async () => {
  const s = await store();
  await s.commit({ insertRequests: [request('r1')], insertJobs: [job('a', 10), job('b', 20), job('later', 1000)] });
  const first = await s.claimDueJobs(100, 'p1', 200, 10);
  assert.deepEqual(first.map((j) => [j.integration, j.leaseOwner, j.leaseUntil, j.attempts]), [['a', 'p1', 200, 1], ['b', 'p1', 200, 1]]);
  assert.deepEqual(await s.claimDueJobs(150, 'p2', 250, 10), [], 'leased jobs are not claimed again while the lease holds');
  await assert.rejects(s.commit({ deleteJobs: [{ id: jobId('revoke', 'r1', 'a'), owner: 'p2' }] }), ConflictError);
  const lapsed = await s.claimDueJobs(300, 'p2', 400, 10);
  assert.deepEqual(lapsed.map((j) => [j.integration, j.leaseOwner, j.attempts]), [['a', 'p2', 2], ['b', 'p2', 2]], 'a lapsed lease is claimed by another holder');
  await assert.rejects(s.commit({ deleteJobs: [{ id: jobId('revoke', 'r1', 'a'), owner: 'p1' }] }), ConflictError, 'the old holder can no longer complete it');
  await s.commit({ deleteJobs: [{ id: jobId('revoke', 'r1', 'a'), owner: 'p2' }] });
  assert.equal(await s.rescheduleJob(jobId('revoke', 'r1', 'b'), 'p2', 900, 'target down'), true);
  assert.deepEqual((await s.jobsOfRequest('r1')).map((j) => [j.integration, j.dueAt, j.leaseOwner, j.lastError]), [['b', 900, null, 'target down'], ['later', 1000, null, null]]);
  assert.equal(await s.nextDueAt(), 900);
  await s.close();
});

test('a store made by the first schema moves to the second with its jobs (ids in the new form), holdings and approvers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  try {
    const path = join(dir, 'lapse.db');
    // The first schema as an earlier release left it, with a request that has each kind of row.
    const old = new Database(path);
    old.exec(SQLITE_MIGRATIONS[0]!.sql);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    old.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0)').run(SQLITE_MIGRATIONS[0]!.name);
    const r = request('r1', { status: 'active', requester: 'alice', approverGroups: [{ description: 'leads', users: ['bob'] }], pendingExtension: { number: 1, durationMs: 60_000, justification: null, requestedAt: 1 } });
    old.prepare('INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(r.id, r.requester, r.flowId, r.status, 1, 1, 1, JSON.stringify(r));
    old.prepare('INSERT INTO jobs (id, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run('expire:r1:', 'expire', 'r1', '', 500, 0, null, null, null);
    old.prepare('INSERT INTO jobs (id, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run('revoke:r1:demo', 'revoke', 'r1', 'demo', 700, 3, 'target down', null, null);
    old.prepare('INSERT INTO holdings (requester, ent_key, request_id) VALUES (?, ?, ?)').run('alice', 'demo\u0000database\u0000app\u0000read', 'r1');
    old.prepare('INSERT INTO request_approvers (user_id, request_id) VALUES (?, ?)').run('bob', 'r1');
    old.close();

    const s = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await s.migrate();
    assert.deepEqual((await s.jobsOfRequest('r1')).map((j) => [j.id, j.kind, j.integration, j.warningOffsetsMs, j.dueAt, j.attempts, j.lastError]), [
      [jobId('expire', 'r1'), 'expire', null, [], 500, 0, null],
      [jobId('revoke', 'r1', 'demo'), 'revoke', 'demo', null, 700, 3, 'target down'],
    ]);
    assert.deepEqual([...await s.coveredByOthers('alice', 'r2', ['demo\u0000database\u0000app\u0000read', 'demo\u0000database\u0000app\u0000write'])], ['demo\u0000database\u0000app\u0000read']);
    assert.deepEqual((await s.listAwaitingDecisionBy('bob')).map((x) => x.id), ['r1']);
    // The jobs are still claimed and completed as before.
    const claimed = await s.claimDueJobs(600, 'p1', 900, 10);
    assert.deepEqual(claimed.map((j) => j.id), [jobId('expire', 'r1')]);
    await s.commit({ deleteJobsOfRequest: [{ requestId: 'r1', kinds: ['expire', 'revoke'] }] });
    assert.deepEqual(await s.jobsOfRequest('r1'), []);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store made by the second schema moves its grants into their requests\' rows, in integration order, and its warnings into the expire jobs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  try {
    const path = join(dir, 'lapse.db');
    const old = new Database(path);
    old.exec('PRAGMA foreign_keys = ON');
    old.exec(SQLITE_MIGRATIONS[0]!.sql);
    old.exec(SQLITE_MIGRATIONS[1]!.sql);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    old.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0), (2, ?, 0)').run(SQLITE_MIGRATIONS[0]!.name, SQLITE_MIGRATIONS[1]!.name);
    const insertRequest = old.prepare('INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const insertGrant = old.prepare('INSERT INTO grants (request_id, integration, status, doc) VALUES (?, ?, ?, ?)');
    const grant = (requestId: string, integration: string, status: GrantRecord['status']): GrantRecord => ({
      requestId, integration, status, entitlements: [{ integration, resourceType: 'database', resource: 'app', permission: 'read' }],
      accessDetails: integration === 'pg' ? { user: 'lapse_alice' } : null, attempts: 1, lastError: null, grantedAt: 5, revokedAt: null,
    });
    for (const [r, grants] of [
      [request('r1', { status: 'active' }), [grant('r1', 'redis', 'active'), grant('r1', 'pg', 'active')]],
      [request('r2', { status: 'revoked' }), [grant('r2', 'pg', 'revoked')]],
      [request('r3', { status: 'pending' }), []],
    ] as const) {
      insertRequest.run(r.id, r.requester, r.flowId, r.status, 1, 1, 1, JSON.stringify(r));
      for (const g of grants) insertGrant.run(g.requestId, g.integration, g.status, JSON.stringify(g));
    }
    // r1's expiry and its own warnings job, as the second schema kept them.
    const insertJob = old.prepare('INSERT INTO jobs (id, kind, request_id, target, due_at, attempts) VALUES (?, ?, ?, ?, ?, 0)');
    insertJob.run('r1:expire:', 'expire', 'r1', '', 5000);
    insertJob.run('r1:warn:600000,60000', 'warn', 'r1', '600000,60000', 4400);
    old.close();

    const s = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await s.migrate();
    assert.deepEqual(await s.getGrants('r1'), [grant('r1', 'pg', 'active'), grant('r1', 'redis', 'active')]);
    assert.deepEqual(await s.getGrants('r2'), [grant('r2', 'pg', 'revoked')]);
    assert.deepEqual(await s.getGrants('r3'), []);
    // The fourth schema: the warnings moved into the expire job, due at the first of them.
    assert.deepEqual((await s.jobsOfRequest('r1')).map((j) => [j.id, j.kind, j.warningOffsetsMs, j.dueAt]), [[jobId('expire', 'r1'), 'expire', [600000, 60000], 4400]]);
    assert.deepEqual([...(await s.getGrantsOf(['r1', 'r3', 'nope'])).entries()].map(([id, gs]) => [id, gs.map((g) => g.integration)]), [['r1', ['pg', 'redis']], ['r3', []], ['nope', []]]);
    assert.deepEqual([...(await s.getRequestsWithGrants(['r1', 'r3', 'nope'])).entries()].map(([id, { request, grants }]) => [id, request.status, grants.map((g) => g.integration)]), [['r1', 'active', ['pg', 'redis']], ['r3', 'pending', []]]);
    // Holding grants, a page at a time, resuming inside a request's grants.
    assert.deepEqual((await s.holdingGrantsPage(null, 1)).map((h) => [h.requestId, h.integration]), [['r1', 'pg']]);
    assert.deepEqual((await s.holdingGrantsPage({ requestId: 'r1', integration: 'pg' }, 10)).map((h) => [h.requestId, h.integration, h.requester]), [['r1', 'redis', 'alice']]);
    // The grants table is gone; the rows migrate-store copies are read out as before.
    assert.deepEqual(s.readTable('grants').map((row) => [row.request_id, row.integration, row.status]), [['r1', 'pg', 'active'], ['r1', 'redis', 'active'], ['r2', 'pg', 'revoked']]);
    assert.equal(Object.keys(s.readTable('requests')[0]!).includes('grants'), false);
    // And they are updated in place.
    await s.commit({ updateGrants: [{ requestId: 'r1', integration: 'redis', expectStatus: ['active'], set: { status: 'revoking' } }], insertGrants: [grant('r3', 'demo', 'granting')] });
    assert.deepEqual((await s.getGrants('r1')).map((g) => g.status), ['active', 'revoking']);
    assert.deepEqual((await s.getGrants('r3')).map((g) => g.integration), ['demo']);
    await assert.rejects(s.commit({ insertGrants: [grant('r3', 'demo', 'granting')] }), /grant r3\/demo already exists/);
    await assert.rejects(s.commit({ insertGrants: [grant('r9', 'demo', 'granting')] }), /request r9 does not exist/);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store made by the fourth schema moves each job\'s target into its integration or its warning offsets, and those jobs still run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  try {
    const path = join(dir, 'lapse.db');
    // The fourth schema as the previous release left it, with a job of each kind as its code wrote them.
    const old = new Database(path);
    old.exec('PRAGMA foreign_keys = ON');
    for (const m of SQLITE_MIGRATIONS.slice(0, 4)) old.exec(m.sql);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.slice(0, 4)) old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    const grant = (requestId: string, status: GrantRecord['status']): GrantRecord => ({
      requestId, integration: 'demo', status, entitlements: [], accessDetails: null, attempts: 1, lastError: null, grantedAt: null, revokedAt: null,
    });
    const insertRequest = old.prepare('INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc, grants) VALUES (?, ?, ?, ?, 1, 1, 1, ?, ?)');
    for (const [r, grants] of [
      [request('r1', { status: 'active', expiresAt: 5000 }), [grant('r1', 'active')]],
      [request('r2', { status: 'revoking' }), [grant('r2', 'revoking')]],
      [request('r3', { status: 'scheduled', startAt: 900 }), [grant('r3', 'pending')]],
      [request('r4', { status: 'granting' }), [grant('r4', 'granting')]],
    ] as const) insertRequest.run(r.id, r.requester, r.flowId, r.status, JSON.stringify(r), JSON.stringify(grants));
    const insertJob = old.prepare('INSERT INTO jobs (id, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    insertJob.run('r1:expire:', 'expire', 'r1', '600000,60000', 4400, 0, null, null, null);
    insertJob.run('r2:revoke:demo', 'revoke', 'r2', 'demo', 700, 2, 'target down', null, null);
    insertJob.run('r3:start:', 'start', 'r3', '', 900, 0, null, null, null);
    // Claimed by the old process when it stopped: its lease lapses as before.
    insertJob.run('r4:grant:demo', 'grant', 'r4', 'demo', 600, 1, null, 'old', 800);
    old.close();

    const s = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await s.migrate();
    const fields = (j: JobRecord) => [j.id, j.kind, j.integration, j.warningOffsetsMs, j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil];
    const jobs = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => s.jobsOfRequest(id)));
    assert.deepEqual(jobs.flat().map(fields), [
      [jobId('expire', 'r1'), 'expire', null, [600000, 60000], 4400, 0, null, null, null],
      [jobId('revoke', 'r2', 'demo'), 'revoke', 'demo', null, 700, 2, 'target down', null, null],
      [jobId('start', 'r3'), 'start', null, null, 900, 0, null, null, null],
      [jobId('grant', 'r4', 'demo'), 'grant', 'demo', null, 600, 1, null, 'old', 800],
    ]);
    assert.equal(Object.keys(s.readTable('jobs')[0]!).includes('target'), false);
    // They are claimed, found by their ids, moved and completed as the engine does.
    const claimed = await s.claimDueJobs(4400, 'p1', 9000, 10);
    assert.deepEqual(claimed.map((j) => [j.id, j.integration, j.warningOffsetsMs, j.attempts]), [
      [jobId('grant', 'r4', 'demo'), 'demo', null, 2],
      [jobId('revoke', 'r2', 'demo'), 'demo', null, 3],
      [jobId('start', 'r3'), null, null, 1],
      [jobId('expire', 'r1'), null, [600000, 60000], 1],
    ]);
    assert.equal((await s.getGrants('r2')).find((g) => g.integration === claimed[1]!.integration)?.status, 'revoking');
    assert.equal(await s.rescheduleJob(jobId('expire', 'r1'), 'p1', 4940, null), true, 'the expiry job moves on to its next warning');
    assert.deepEqual((await s.jobsOfRequest('r1')).map(fields), [[jobId('expire', 'r1'), 'expire', null, [600000, 60000], 4940, 1, null, null, null]]);
    await s.commit({ deleteJobs: [{ id: jobId('revoke', 'r2', 'demo'), owner: 'p1' }, { id: jobId('grant', 'r4', 'demo'), owner: 'p1' }, { id: jobId('start', 'r3'), owner: 'p1' }] });
    // An expiry planned again (an extension) replaces the old job, warnings and all.
    await s.commit({ insertJobs: [{ ...claimed[3]!, warningOffsetsMs: [60000], dueAt: 9940, attempts: 0, leaseOwner: null, leaseUntil: null }] });
    assert.deepEqual((await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => s.jobsOfRequest(id)))).flat().map(fields), [
      [jobId('expire', 'r1'), 'expire', null, [60000], 9940, 1, null, null, null],
    ]);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a store made by the sixth schema keeps its tokens working, with no expiry and as personal ones; tokens made after keep their expiry and kind', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  try {
    const path = join(dir, 'lapse.db');
    // The sixth schema as the previous release left it, with a token as its code wrote it.
    const old = new Database(path);
    old.exec('PRAGMA foreign_keys = ON');
    for (const m of SQLITE_MIGRATIONS.slice(0, 6)) old.exec(m.sql);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    for (const m of SQLITE_MIGRATIONS.slice(0, 6)) old.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
    old.prepare('INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run('tok000000001', 'alice', 'laptop', 'hash-1', 100, null, 150);
    old.close();

    const s = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await s.migrate();
    const kept: TokenRecord = { id: 'tok000000001', userId: 'alice', name: 'laptop', createdAt: 100, revokedAt: null, lastUsedAt: 150, expiresAt: null, kind: 'personal' };
    assert.deepEqual(await s.findTokenByHash('hash-1'), kept);
    assert.deepEqual(await s.listTokens('alice'), [kept]);
    const service: TokenRecord = { id: 'tok000000002', userId: 'ci', name: 'deploys', createdAt: 200, revokedAt: null, lastUsedAt: null, expiresAt: 10_000, kind: 'service' };
    await s.insertToken(service, 'hash-2');
    assert.deepEqual(await s.findTokenByHash('hash-2'), service);
    assert.deepEqual(await s.listTokens(), [kept, service]);
    await s.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a token answered from memory comes with its expiry and kind', async () => {
  const s = new SqliteStore(':memory:', { tokenCacheMs: 60_000, auditKey: TEST_AUDIT_KEY });
  try {
    await s.migrate();
    const service: TokenRecord = { id: 'tok000000003', userId: 'ci', name: 'deploys', createdAt: 200, revokedAt: null, lastUsedAt: null, expiresAt: 5000, kind: 'service' };
    await s.insertToken(service, 'hash-3');
    assert.deepEqual(await s.findTokenByHash('hash-3'), service);
    // Changed behind the store's back: within the moment, the lookup is still answered from memory, whole.
    s.execRaw("UPDATE tokens SET expires_at = NULL, kind = 'personal' WHERE id = ?", service.id);
    assert.deepEqual(await s.findTokenByHash('hash-3'), service);
    await s.touchToken(service.id, 7000);
    assert.deepEqual(await s.findTokenByHash('hash-3'), { ...service, lastUsedAt: 7000 });
  } finally {
    await s.close();
  }
});

test('a grant update sets just its fields where the grant is as expected; a refused change set leaves no trace, not even in the audit chain', async () => {
  const s = await store();
  const grant: GrantRecord = { requestId: 'r1', integration: 'demo', status: 'granting', entitlements: [], accessDetails: null, attempts: 1, lastError: 'slow', grantedAt: null, revokedAt: null };
  await s.commit({ insertRequests: [request('r1')], insertGrants: [grant], audit: [{ at: 1, actor: 'x', action: 'created', requestId: 'r1', data: {} }] });
  const results = await Promise.allSettled([
    // Refused: the grant is not revoking. Its audit event, job and request update must all be undone.
    s.commit({
      updateRequests: [{ id: 'r1', expectVersion: 1, set: { status: 'revoking' } }],
      updateGrants: [{ requestId: 'r1', integration: 'demo', expectStatus: ['revoking'], set: { status: 'revoked' } }],
      insertJobs: [job('never', 5)],
      audit: [{ at: 2, actor: 'x', action: 'refused', requestId: 'r1', data: {} }],
    }),
    s.commit({
      updateGrants: [{ requestId: 'r1', integration: 'demo', expectStatus: ['granting'], set: { status: 'active', accessDetails: { token: 't' }, grantedAt: 9, lastError: null } }],
      audit: [{ at: 3, actor: 'x', action: 'granted', requestId: 'r1', data: {} }],
    }),
    s.commit({ updateGrants: [{ requestId: 'r1', integration: 'nowhere', set: { attempts: 2 } }] }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected']);
  assert.match(String((results[0] as PromiseRejectedResult).reason), /grant r1\/demo is granting, expected revoking/);
  assert.match(String((results[2] as PromiseRejectedResult).reason), /grant r1\/nowhere does not exist/);
  assert.deepEqual(await s.getGrants('r1'), [{ ...grant, status: 'active', accessDetails: { token: 't' }, grantedAt: 9, lastError: null }]);
  assert.equal((await s.getRequest('r1'))!.status, 'pending');
  assert.deepEqual(await s.jobsOfRequest('r1'), []);
  assert.deepEqual((await s.listAudit({})).map((e) => [e.seq, e.action]), [[1, 'created'], [2, 'granted']]);
  assert.equal((await verifyAuditChain(s, TEST_AUDIT_KEY)).ok, true);
  await s.close();
});

test('a token looked up is answered from memory for a moment: revoked here, refused at once; revoked by another process, within that moment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  const path = join(dir, 'lapse.db');
  const server = new SqliteStore(path, { tokenCacheMs: 300, auditKey: TEST_AUDIT_KEY });
  const cli = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
  try {
    await server.migrate();
    const a = await createToken(cli, 'alice', 'a');
    const b = await createToken(cli, 'bob', 'b');
    assert.equal((await authenticate(server, a.token))?.userId, 'alice', 'a token made by another process works at once');
    assert.equal((await authenticate(server, b.token))?.userId, 'bob');
    // Revoked through the store that looked it up: refused at once.
    assert.equal(await server.revokeToken(a.record.id, Date.now()), true);
    assert.equal(await authenticate(server, a.token), null);
    // Revoked by another process: refused once the moment has passed, and from then on.
    assert.equal(await cli.revokeToken(b.record.id, Date.now()), true);
    await new Promise((r) => setTimeout(r, 350));
    assert.equal(await authenticate(server, b.token), null);
    assert.equal(await authenticate(server, b.token), null);
  } finally {
    await cli.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('migrations are applied by version, not by count: a version below one already applied (a gap filled later) is still applied, once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-store-'));
  try {
    const path = join(dir, 'lapse.db');
    const first = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await first.migrate();
    await first.close();
    // As a store that got version 16 before a release that brings 13 (or 14, 15) back in between.
    const db = new Database(path);
    const versions = () => (db.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
    assert.ok(versions().includes(16));
    db.exec('DROP TABLE notification_preferences');
    db.prepare('DELETE FROM schema_migrations WHERE version = 13').run();
    db.close();
    const again = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
    await again.migrate();
    await again.close();
    const after = new Database(path);
    try {
      assert.deepEqual((after.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version), SQLITE_MIGRATIONS.map((m) => m.version).sort((a, b) => a - b));
      assert.equal((after.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'notification_preferences'").get() as { n: number }).n, 1);
      assert.deepEqual((after.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('audit_actor', 'audit_action') ORDER BY name").all() as { name: string }[]).map((r) => r.name), ['audit_action', 'audit_actor']);
    } finally {
      after.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
