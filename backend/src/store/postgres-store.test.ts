// The PostgreSQL store under several writers: each "replica" here is a store of its own
// (its own connection pool) on the same database, as separate processes would be.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { jobId, type JobRecord } from '../domain/request.ts';
import { verifyAuditChain } from '../audit/verify.ts';
import { PostgresStore } from './postgres-store.ts';
import { parseStoreUrl, redactStoreUrl } from './postgres-connection.ts';
import { createTestDatabase, freshTestStoreUrl, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.ts';
import { ConflictError, type TokenRecord } from './store.ts';
import { requestRecord } from './store-test-records.ts';

const request = requestRecord;

function job(id: string, dueAt: number, fields: Partial<JobRecord> = {}): JobRecord {
  return { id, kind: 'expire', requestId: 'r1', integration: null, warningOffsetsMs: [], dueAt, attempts: 0, lastError: null, leaseOwner: null, leaseUntil: null, ...fields };
}

/** Three stores ("replicas") on one fresh, migrated schema. */
let replicas: PostgresStore[] = [];
before(async () => {
  const url = await freshTestStoreUrl();
  replicas = [new PostgresStore(url, { auditKey: TEST_AUDIT_KEY }), new PostgresStore(url, { auditKey: TEST_AUDIT_KEY }), new PostgresStore(url, { auditKey: TEST_AUDIT_KEY })];
  await Promise.all(replicas.map((r) => r.migrate()));
});
after(async () => {
  for (const r of replicas) await r.close();
});

test('replicas migrating a fresh database at the same moment apply each migration once', async () => {
  const db = await createTestDatabase();
  const stores = Array.from({ length: 5 }, () => new PostgresStore(db.url, { auditKey: TEST_AUDIT_KEY }));
  try {
    await Promise.all(stores.map((s) => s.migrate()));
    const rows = (await stores[0]!.pool.query('SELECT version FROM schema_migrations ORDER BY version')).rows as { version: number }[];
    assert.deepEqual(rows.map((r) => r.version), POSTGRES_MIGRATIONS.map((m) => m.version));
    // A later start finds nothing to do, and the store works.
    await stores[1]!.migrate();
    await stores[2]!.commit({ insertRequests: [request('r1')] });
    assert.equal((await stores[3]!.getRequest('r1'))!.status, 'pending');
  } finally {
    for (const s of stores) await s.close();
    await db.drop();
  }
});

test('due jobs claimed by three replicas at once: each job by exactly one; lapsed leases are claimable again', async () => {
  const [a, b, c] = replicas as [PostgresStore, PostgresStore, PostgresStore];
  await a.commit({ insertJobs: Array.from({ length: 300 }, (_, i) => job(`claim-${i}`, 1000 + i)) });
  const claimed: JobRecord[][] = [[], [], []];
  await Promise.all([a, b, c].map(async (s, i) => {
    for (;;) {
      const got = await s.claimDueJobs(5000, `owner-${i}`, 60_000, 25);
      if (got.length === 0) return;
      claimed[i]!.push(...got);
    }
  }));
  const ids = claimed.flat().map((j) => j.id);
  assert.equal(ids.length, 300);
  assert.equal(new Set(ids).size, 300, 'no job was claimed twice');
  assert.ok(claimed.flat().every((j) => j.attempts === 1 && j.leaseUntil === 60_000));
  // Nothing is claimable while the leases last; once they lapse, another replica takes them.
  assert.deepEqual(await b.claimDueJobs(59_999, 'late', 100_000, 500), []);
  const again = await b.claimDueJobs(60_000, 'late', 100_000, 500);
  assert.equal(again.length, 300);
  assert.ok(again.every((j) => j.leaseOwner === 'late' && j.attempts === 2));
  // A replica frees only its own leases; the unscoped form is refused on a shared store.
  await a.commit({ insertJobs: [job('other-1', 10)] });
  await c.claimDueJobs(10, 'other', 200_000, 1);
  assert.equal(await a.releaseAllLeases('late'), 300);
  await assert.rejects(a.releaseAllLeases(), /release the leases of one owner only/);
  assert.equal((await a.jobsOfRequest('r1')).filter((j) => j.leaseOwner !== null).map((j) => j.id).join(), 'other-1');
  // A job deleted by its former holder after losing the lease is a conflict, and stays.
  await assert.rejects(b.commit({ deleteJobs: [{ id: 'other-1', owner: 'late' }] }), ConflictError);
  await c.commit({ deleteJobs: [{ id: 'other-1', owner: 'other' }] });
  await a.commit({ deleteJobsOfRequest: [{ requestId: 'r1', kinds: ['expire'] }] });
  assert.deepEqual(await a.jobsOfRequest('r1'), []);
});

test('the audit chain stays one valid chain with three replicas appending at once', async () => {
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 60; i++) {
    const s = replicas[i % 3]!;
    writes.push(i % 2 === 0
      ? s.appendAudit([{ at: i, actor: `r${i % 3}`, action: 'test.append', requestId: null, data: { i } }, { at: i, actor: `r${i % 3}`, action: 'test.append2', requestId: null, data: { i } }])
      : s.commit({ insertRequests: [request(`audit-${i}`)], audit: [{ at: i, actor: `r${i % 3}`, action: 'request.created', requestId: `audit-${i}`, data: { i } }] }));
  }
  await Promise.all(writes);
  const result = await verifyAuditChain(replicas[1]!, TEST_AUDIT_KEY);
  assert.deepEqual(result, { ok: true, checked: 90, problems: [], checkpoint: null });
  assert.equal((await replicas[2]!.auditHead())!.seq, 90);
});

test('two replicas updating one request version at once: exactly one wins, the other gets a ConflictError and wrote nothing', async () => {
  const [a, b] = replicas as [PostgresStore, PostgresStore];
  for (let round = 0; round < 10; round++) {
    const id = `race-${round}`;
    await a.commit({ insertRequests: [request(id)] });
    const head = (await a.auditHead())!.seq;
    const results = await Promise.allSettled([
      a.commit({ updateRequests: [{ id, expectVersion: 1, set: { status: 'granting' } }], audit: [{ at: 1, actor: 'bob', action: 'request.approved', requestId: id, data: {} }] }),
      b.commit({ updateRequests: [{ id, expectVersion: 1, set: { status: 'rejected' } }], audit: [{ at: 1, actor: 'erin', action: 'request.denied', requestId: id, data: {} }] }),
    ]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `round ${round}: one winner`);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof ConflictError, String(lost.reason));
    assert.match(lost.reason.message, new RegExp(`request ${id} was changed by someone else \\(now (granting|rejected)\\)`));
    const stored = (await b.getRequest(id))!;
    assert.equal(stored.version, 2);
    assert.equal((await a.auditHead())!.seq, head + 1, 'only the winner audited');
    assert.deepEqual((await a.listAudit({ requestId: id })).map((e) => e.action), [stored.status === 'granting' ? 'request.approved' : 'request.denied']);
  }
  assert.equal((await verifyAuditChain(a, TEST_AUDIT_KEY)).ok, true);
});

test('the holdings overlap check and the approvers index see what other replicas committed', async () => {
  const [a, b] = replicas as [PostgresStore, PostgresStore];
  const e = { integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' };
  const key = 'demo\u0000database\u0000app\u0000read';
  await a.commit({ insertRequests: [request('hold-1', { requester: 'dave', status: 'active', entitlements: [e] })] });
  assert.deepEqual([...(await b.coveredByOthers('dave', 'hold-2', [key, 'demo\u0000x\u0000y\u0000z']))], [key]);
  assert.deepEqual([...(await b.coveredByOthers('dave', 'hold-1', [key]))], []);
  await a.commit({ insertGrants: [{ requestId: 'hold-1', integration: 'demo', status: 'active', entitlements: [e], accessDetails: null, attempts: 1, lastError: null, grantedAt: 1, revokedAt: null }] });
  assert.deepEqual([...(await b.getRequestsWithGrants(['hold-1', 'nope']))].map(([id, { request, grants }]) => [id, request.requester, grants.map((g) => g.integration)]), [['hold-1', 'dave', ['demo']]]);
  await b.commit({ updateRequests: [{ id: 'hold-1', expectVersion: 1, set: { status: 'expired' } }] });
  assert.deepEqual([...(await a.coveredByOthers('dave', 'hold-2', [key]))], []);
  await a.commit({ insertRequests: [request('wait-1', { requester: 'dave', approverGroups: [{ description: 'leads', users: ['erin', 'bob'] }] })] });
  assert.deepEqual((await b.listAwaitingDecisionBy('erin')).map((r) => r.id), ['wait-1']);
});

test('only one replica sets a meta key that is absent (the admin token bootstrap)', async () => {
  const results = await Promise.all(replicas.flatMap((s) => [s.setMetaIfAbsent('race', 'a'), s.setMetaIfAbsent('race', 'b')]));
  assert.equal(results.filter(Boolean).length, 1);
});

test('pool settings come from the store URL, and a bad one is named', () => {
  const { connectionString, pool } = parseStoreUrl('postgres://lapse:secret@db:5432/lapse?pool_max=20&statement_timeout_ms=5000&sslmode=require');
  assert.equal(pool.max, 20);
  assert.equal(pool.statementTimeoutMs, 5000);
  assert.equal(pool.idleTimeoutMs, 30_000);
  assert.equal(connectionString, 'postgres://lapse:secret@db:5432/lapse?sslmode=require');
  assert.throws(() => parseStoreUrl('postgres://db/lapse?pool_max=0'), /pool_max must be a whole number ≥ 1 \(got "0"\)/);
  assert.throws(() => parseStoreUrl('mysql://db/lapse'), /must start with postgres:\/\//);
  assert.equal(redactStoreUrl('postgres://lapse:secret@db/lapse'), 'postgres://lapse:***@db/lapse');
});

test('a statement beyond the statement timeout is cancelled by the server', async () => {
  const url = new URL(await freshTestStoreUrl());
  url.searchParams.set('statement_timeout_ms', '100');
  const s = new PostgresStore(url.toString(), { auditKey: TEST_AUDIT_KEY });
  try {
    await assert.rejects(s.pool.query('SELECT pg_sleep(2)'), (err: unknown) => (err as pg.DatabaseError).code === '57014');
  } finally {
    await s.close();
  }
});

test('a store made by the first schema gets its job ids in the form of jobId, and its warnings inside the expire jobs', async () => {
  const url = await freshTestStoreUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(POSTGRES_MIGRATIONS[0]!.sql);
    await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    await client.query('INSERT INTO schema_migrations VALUES (1, $1, 0)', [POSTGRES_MIGRATIONS[0]!.name]);
    await client.query("INSERT INTO jobs (id, kind, request_id, target, due_at, attempts) VALUES ('revoke:r9:demo', 'revoke', 'r9', 'demo', 700, 3)");
    // An active request's expiry and its own warnings job, as releases before the third schema kept them.
    await client.query("INSERT INTO jobs (id, kind, request_id, target, due_at, attempts) VALUES ('expire:r8:', 'expire', 'r8', '', 5000, 0), ('warn:r8:600000,60000', 'warn', 'r8', '600000,60000', 4400, 0)");
  } finally {
    await client.end();
  }
  const store = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  try {
    await store.migrate();
    assert.deepEqual((await store.jobsOfRequest('r9')).map((j) => [j.id, j.attempts]), [[jobId('revoke', 'r9', 'demo'), 3]]);
    assert.deepEqual((await store.jobsOfRequest('r8')).map((j) => [j.id, j.kind, j.warningOffsetsMs, j.dueAt]), [[jobId('expire', 'r8'), 'expire', [600000, 60000], 4400]], 'the warnings moved into the expire job');
  } finally {
    await store.close();
  }
});

test('a store made by the fourth schema moves each job\'s target into its integration or its warning offsets, and those jobs still run', async () => {
  const url = await freshTestStoreUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The fourth schema as the previous release left it, with a job of each kind as its code wrote them.
    for (const m of POSTGRES_MIGRATIONS.slice(0, 4)) await client.query(m.sql);
    await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    for (const m of POSTGRES_MIGRATIONS.slice(0, 4)) await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
    for (const r of [request('r1', { status: 'active', expiresAt: 5000 }), request('r2', { status: 'revoking' }), request('r3', { status: 'scheduled', startAt: 900 }), request('r4', { status: 'granting' })]) {
      await client.query('INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, 1, 1, 1, $5)', [r.id, r.requester, r.flowId, r.status, JSON.stringify(r)]);
      const status = r.status === 'scheduled' ? 'pending' : r.status;
      const grant = { requestId: r.id, integration: 'demo', status, entitlements: [], accessDetails: null, attempts: 1, lastError: null, grantedAt: null, revokedAt: null };
      await client.query('INSERT INTO grants (request_id, integration, status, doc) VALUES ($1, $2, $3, $4)', [r.id, 'demo', status, JSON.stringify(grant)]);
    }
    await client.query(`INSERT INTO jobs (id, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until) VALUES
      ('r1:expire:', 'expire', 'r1', '600000,60000', 4400, 0, NULL, NULL, NULL),
      ('r2:revoke:demo', 'revoke', 'r2', 'demo', 700, 2, 'target down', NULL, NULL),
      ('r3:start:', 'start', 'r3', '', 900, 0, NULL, NULL, NULL),
      ('r4:grant:demo', 'grant', 'r4', 'demo', 600, 1, NULL, 'old', 800)`);
  } finally {
    await client.end();
  }
  const store = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  try {
    await store.migrate();
    const fields = (j: JobRecord) => [j.id, j.kind, j.integration, j.warningOffsetsMs, j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil];
    const jobs = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => store.jobsOfRequest(id)));
    assert.deepEqual(jobs.flat().map(fields), [
      [jobId('expire', 'r1'), 'expire', null, [600000, 60000], 4400, 0, null, null, null],
      [jobId('revoke', 'r2', 'demo'), 'revoke', 'demo', null, 700, 2, 'target down', null, null],
      [jobId('start', 'r3'), 'start', null, null, 900, 0, null, null, null],
      [jobId('grant', 'r4', 'demo'), 'grant', 'demo', null, 600, 1, null, 'old', 800],
    ]);
    assert.equal((await store.pool.query("SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'jobs' AND column_name = 'target'")).rowCount, 0);
    // They are claimed, found by their ids, moved and completed as the engine does.
    const claimed = await store.claimDueJobs(4400, 'p1', 9000, 10);
    assert.deepEqual(claimed.map((j) => [j.id, j.integration, j.warningOffsetsMs, j.attempts]), [
      [jobId('grant', 'r4', 'demo'), 'demo', null, 2],
      [jobId('revoke', 'r2', 'demo'), 'demo', null, 3],
      [jobId('start', 'r3'), null, null, 1],
      [jobId('expire', 'r1'), null, [600000, 60000], 1],
    ]);
    assert.equal((await store.getGrants('r2')).find((g) => g.integration === claimed[1]!.integration)?.status, 'revoking');
    assert.equal(await store.rescheduleJob(jobId('expire', 'r1'), 'p1', 4940, null), true, 'the expiry job moves on to its next warning');
    assert.deepEqual((await store.jobsOfRequest('r1')).map(fields), [[jobId('expire', 'r1'), 'expire', null, [600000, 60000], 4940, 1, null, null, null]]);
    await store.commit({ deleteJobs: [{ id: jobId('revoke', 'r2', 'demo'), owner: 'p1' }, { id: jobId('grant', 'r4', 'demo'), owner: 'p1' }, { id: jobId('start', 'r3'), owner: 'p1' }] });
    // An expiry planned again (an extension) replaces the old job, warnings and all.
    await store.commit({ insertJobs: [{ ...claimed[3]!, warningOffsetsMs: [60000], dueAt: 9940, attempts: 0, leaseOwner: null, leaseUntil: null }] });
    assert.deepEqual((await Promise.all(['r1', 'r2', 'r3', 'r4'].map((id) => store.jobsOfRequest(id)))).flat().map(fields), [
      [jobId('expire', 'r1'), 'expire', null, [60000], 9940, 1, null, null, null],
    ]);
  } finally {
    await store.close();
  }
});

test('a store made by the sixth schema keeps its tokens working, with no expiry and as personal ones; tokens made after keep their expiry and kind', async () => {
  const url = await freshTestStoreUrl();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // The sixth schema as the previous release left it, with a token as its code wrote it.
    for (const m of POSTGRES_MIGRATIONS.slice(0, 6)) await client.query(m.sql);
    await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    for (const m of POSTGRES_MIGRATIONS.slice(0, 6)) await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
    await client.query("INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at) VALUES ('tok000000001', 'alice', 'laptop', 'hash-1', 100, NULL, 150)");
  } finally {
    await client.end();
  }
  const store = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  try {
    await store.migrate();
    const kept: TokenRecord = { id: 'tok000000001', userId: 'alice', name: 'laptop', createdAt: 100, revokedAt: null, lastUsedAt: 150, expiresAt: null, kind: 'personal' };
    assert.deepEqual(await store.findTokenByHash('hash-1'), kept);
    assert.deepEqual(await store.listTokens('alice'), [kept]);
    const service: TokenRecord = { id: 'tok000000002', userId: 'ci', name: 'deploys', createdAt: 200, revokedAt: null, lastUsedAt: null, expiresAt: 10_000, kind: 'service' };
    await store.insertToken(service, 'hash-2');
    assert.deepEqual(await store.findTokenByHash('hash-2'), service);
    assert.deepEqual(await store.listTokens(), [kept, service]);
  } finally {
    await store.close();
  }
});
