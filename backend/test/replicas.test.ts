// Three `lapse server` replica processes on one PostgreSQL database (a fresh one, dropped
// afterwards), sharing one demo target record:
// - an event made on one replica reaches an events-stream client of another within a second;
// - approve and deny of one request sent at the same moment to two replicas: exactly one
//   wins, the other gets a 409 problem, and the audit chain stays one valid chain;
// - 2,000 grants expiring within the same ten seconds, one replica killed with SIGKILL in the
//   middle of it: every grant is revoked, none is left, no job is left, the audit chain
//   verifies; the target's own record shows, for every grant, exactly one revoke that took
//   it away, and one revoke call per grant except at most one more, changing nothing, for
//   the work the killed replica held at the kill (its lease lapsed and another replica
//   finished it; the demo revoke is idempotent).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'libsql';
import { createToken } from '../src/auth/tokens.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { CompiledConfig } from '../src/domain/catalog.ts';
import { systemClock } from '../../common/clock.ts';
import { Engine } from '../src/engine/engine.ts';
import { EventBus } from '../src/engine/events.ts';
import { createIntegration } from '../src/service.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY } from '../src/store/postgres-test-support.ts';
import { api, exited, killAll, pool, replicaConfig, runCli, sleep, startReplica, waitFor, type Replica } from './replica-support.ts';
import { openEventStream, type SseStream } from '../src/api/api-test-support.ts';

const USER_COUNT = 200;
const DATABASES = 10;
/** 200 users × 10 databases: 2,000 requests that do not overlap (each its own revoke call). */
const GRANTS = USER_COUNT * DATABASES;
/**
 * The killed replica's work is taken over once its leases lapse. Running jobs' leases are
 * renewed, but the demo target's record is one SQLite file shared by four processes here,
 * whose lock waits stall a whole process at times: the lease must outlast such a stall.
 */
const LEASE_MS = 8000;
const USERS = Array.from({ length: USER_COUNT }, (_, i) => `u${String(i).padStart(3, '0')}`);

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  await killAll();
  for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => console.error(String(err)));
});

interface RequestView { id: string; status: string; requester: string; expiresAt: string | null }
interface Problem { status: number; title: string; detail: string }

async function openStream(base: string, token: string): Promise<SseStream> {
  const stream = await openEventStream(base, token);
  assert.equal(stream.status, 200);
  return stream;
}

test('three replicas: events across replicas, one outcome for racing decisions, 2,000 revokes through a SIGKILL', { timeout: 180_000 }, async () => {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const workDir = mkdtempSync(join(tmpdir(), 'lapse-replicas-'));
  cleanup.push(async () => rmSync(workDir, { recursive: true, force: true }));
  const recordFile = join(workDir, 'demo-record.db');
  const configPath = join(workDir, 'lapse.yaml');
  writeFileSync(configPath, replicaConfig({ users: USERS, databases: DATABASES, recordFile }));

  // Tokens, written to the store before the replicas start.
  const tokens = new Map<string, string>();
  const store = new PostgresStore(db.url, { auditKey: TEST_AUDIT_KEY });
  cleanup.push(() => store.close());
  await store.migrate();
  for (const u of ['carol', 'bob', 'erin', ...USERS]) tokens.set(u, (await createToken(store, u, 'replica test')).token);
  const token = (u: string) => tokens.get(u)!;

  const replicas: Replica[] = await Promise.all([0, 1, 2].map((i) =>
    startReplica(configPath, join(workDir, `data-${i}`), db.url, { LAPSE_LEASE_MS: String(LEASE_MS) })));

  // 1. An event made on replica 0 reaches a client of replica 2 within a second.
  const stream = await openStream(replicas[2]!.url, token('u000'));
  await sleep(200);
  const t0 = Date.now();
  const created = await api<RequestView>(replicas[0]!.url, token('u000'), 'POST', '/api/v1/requests', {
    flowId: 'approved-write', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db0', permission: 'write' }], justification: 'replica test',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const seen = await waitFor('the event on another replica', 1000, 10, async () =>
    stream.events.find((e) => e.event === 'request.created' && e.id?.startsWith(created.body.id)));
  console.log(`event from replica 0 seen on replica 2 after ${Date.now() - t0} ms`);
  assert.equal(stream.events.filter((e) => e.id === seen.id).length, 1, 'delivered once');

  // 2. Approve on replica 0 and deny on replica 1 at the same moment, a few times over.
  for (let round = 0; round < 5; round++) {
    const r = round === 0 ? created.body : (await api<RequestView>(replicas[round % 3]!.url, token(USERS[round]!), 'POST', '/api/v1/requests', {
      flowId: 'approved-write', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db1', permission: 'write' }], justification: 'replica test',
    })).body;
    const [approve, deny] = await Promise.all([
      api<RequestView | Problem>(replicas[0]!.url, token('bob'), 'POST', `/api/v1/requests/${r.id}/approve`, { reason: 'ok' }),
      api<RequestView | Problem>(replicas[1]!.url, token('erin'), 'POST', `/api/v1/requests/${r.id}/deny`, { reason: 'no' }),
    ]);
    const statuses = [approve.status, deny.status].sort();
    assert.deepEqual(statuses, [200, 409], `round ${round}: one wins, one conflicts: ${JSON.stringify([approve, deny])}`);
    const lost = (approve.status === 409 ? approve.body : deny.body) as Problem;
    assert.equal(lost.status, 409);
    assert.equal(lost.title, 'Conflict');
    assert.match(lost.detail, /changed at the same time|is (active|granting|rejected): there is nothing to approve|nothing to (approve|deny)/i, lost.detail);
    const final = (await api<RequestView>(replicas[2]!.url, token('carol'), 'GET', `/api/v1/requests/${r.id}`)).body;
    assert.equal(final.status, approve.status === 200 ? 'active' : 'rejected');
  }
  stream.close();

  // 3. 2,000 grants expiring within the same ten seconds. They are made by an engine in
  // this process on the same store and target record (HTTP would only add time here; the
  // API paths were exercised above): the replicas only see the due work.
  const config = await loadConfigFile(configPath);
  const target = await createIntegration(config.integrations[0]!, workDir, systemClock);
  cleanup.push(() => target.close());
  const creator = new Engine({
    store, clock: systemClock, events: new EventBus(), owner: 'test-creator', integrations: new Map([['demo', target]]), config: new CompiledConfig(config),
  });
  const pairs = USERS.flatMap((u) => Array.from({ length: DATABASES }, (_, d) => ({ u, d })));
  const createStarted = Date.now();
  const ids = await pool(pairs, 32, async ({ u, d }) => {
    const r = await creator.createRequest(u, {
      flowId: 'short-read', entitlements: [{ integration: 'demo', resourceType: 'database', resource: `db${d}`, permission: 'read' }], duration: '1h',
    });
    assert.ok(r.status === 'active' || r.status === 'granting', r.status);
    return r.id;
  });
  console.log(`created ${GRANTS} requests in ${Date.now() - createStarted} ms`);
  await waitFor('every request to be active', 20_000, 100, async () => {
    const n = Number(((await store.pool.query("SELECT count(*) AS n FROM requests WHERE flow_id = 'short-read' AND status = 'granting'")).rows[0] as { n: string }).n);
    return n === 0 ? true : undefined;
  });
  // Fixture: how long making them took depends on the machine; so they were asked for an
  // hour, and their expiry is now brought forward to one of nine seconds starting in 3 s
  // (the request, its version and its expire job together, as a shortened grant would be).
  const windowStart = Date.now() + 3000;
  await store.transaction(async (c) => {
    await c.query(
      `UPDATE requests SET version = version + 1,
         doc = jsonb_set(jsonb_set(doc::jsonb, '{expiresAt}', to_jsonb($1::bigint + (abs(hashtext(id)) % 9) * 1000)), '{version}', to_jsonb(version + 1))::text
       WHERE flow_id = 'short-read'`,
      [windowStart],
    );
    await c.query(
      `UPDATE jobs j SET due_at = (r.doc::jsonb->>'expiresAt')::bigint FROM requests r
       WHERE j.request_id = r.id AND r.flow_id = 'short-read' AND j.kind = 'expire'`,
    );
  });
  const expiries = (await store.listRequests({ flowId: 'short-read' })).map((r) => r.expiresAt!);
  assert.equal(expiries.length, GRANTS);
  const spread = Math.max(...expiries) - Math.min(...expiries);
  console.log(`expiries spread over ${spread} ms, the first ${Math.min(...expiries) - Date.now()} ms from now`);
  assert.ok(spread <= 10_000, `the grants expire within ten seconds (spread ${spread} ms)`);

  // Kill replica 1 in the middle of the expiries.
  const killAt = Math.min(...expiries) + spread / 2;
  await sleep(Math.max(0, killAt - Date.now()));
  const victim = replicas[1]!;
  victim.child.kill('SIGKILL');
  await exited(victim.child, 10_000);
  const heldAtKill = new Set(((await store.pool.query("SELECT request_id FROM jobs WHERE lease_owner LIKE '%:' || $1 || ':%'", [String(victim.child.pid)])).rows as { request_id: string }[]).map((r) => r.request_id));
  const doneAtKill = Number(((await store.pool.query("SELECT count(*) AS n FROM requests WHERE flow_id = 'short-read' AND status = 'expired'")).rows[0] as { n: string }).n);
  console.log(`killed replica 1 with ${doneAtKill} of ${GRANTS} expired and ${heldAtKill.size} jobs under its lease`);

  await waitFor('every grant to be revoked', 60_000, 250, async () => {
    const n = Number(((await store.pool.query("SELECT count(*) AS n FROM requests WHERE flow_id = 'short-read' AND status <> 'expired'")).rows[0] as { n: string }).n);
    return n === 0 ? true : undefined;
  });
  const lastEnd = Number(((await store.pool.query("SELECT max((doc::json->>'endedAt')::bigint) AS t FROM requests WHERE flow_id = 'short-read'")).rows[0] as { t: string }).t);
  console.log(`all revoked ${lastEnd - Math.max(...expiries)} ms after the last expiry`);

  // The engine's record: every grant revoked, no job left for them.
  const grants = (await store.pool.query("SELECT g.status, count(*) AS n FROM grants g JOIN requests r ON r.id = g.request_id WHERE r.flow_id = 'short-read' GROUP BY g.status")).rows as { status: string; n: string }[];
  assert.deepEqual(grants.map((g) => [g.status, Number(g.n)]), [['revoked', GRANTS]]);
  const leftJobs = (await store.pool.query('SELECT count(*) AS n FROM jobs WHERE request_id = ANY($1::text[])', [ids])).rows[0] as { n: string };
  assert.equal(Number(leftJobs.n), 0, 'no job is left');

  // The target's own record.
  const demo = new Database(recordFile);
  try {
    const granted = demo.prepare("SELECT count(*) AS n FROM granted WHERE permission = 'read'").get() as { n: number };
    assert.equal(Number(granted.n), 0, 'nothing read-only is left granted on the target');
    const count = (op: string) => new Map((demo.prepare('SELECT request_id, count(*) AS n FROM calls WHERE op = ? AND ok = 1 GROUP BY request_id').all(op) as { request_id: string; n: number }[]).map((r) => [r.request_id, Number(r.n)]));
    const grantCalls = count('grant');
    const revokeCalls = count('revoke');
    // Revokes that really removed the grant on the target: exactly one per grant, even where
    // the killed replica had made the call but died before recording it.
    const effective = new Map((demo.prepare("SELECT request_id, count(*) AS n FROM calls WHERE op = 'revoke' AND ok = 1 AND changed > 0 GROUP BY request_id").all() as { request_id: string; n: number }[]).map((r) => [r.request_id, Number(r.n)]));
    let twice = 0;
    for (const id of ids) {
      assert.equal(grantCalls.get(id), 1, `one grant call for ${id}`);
      assert.equal(effective.get(id), 1, `exactly one revoke took the grant of ${id} away`);
      const n = revokeCalls.get(id) ?? 0;
      if (heldAtKill.has(id)) {
        assert.ok(n === 1 || n === 2, `${n} revoke calls for ${id} (held by the killed replica)`);
        if (n === 2) twice++;
      } else {
        assert.equal(n, 1, `exactly one revoke call for ${id}`);
      }
    }
    console.log(`revoked exactly once on the target; ${twice} of the ${heldAtKill.size} revokes the killed replica held were called again (and changed nothing)`);
  } finally {
    demo.close();
  }

  // The audit chain is one valid chain.
  // With a replica's data directory: its checkpoint of the chain's head, kept outside the database.
  const verify = await runCli(['audit', 'verify', '--store', db.url, '--data-dir', join(workDir, 'data-0')]);
  assert.equal(verify.code, 0, `lapse audit verify: ${verify.out}`);
  assert.match(verify.out, /audit chain ok/);

  // The surviving replicas stop cleanly.
  for (const r of [replicas[0]!, replicas[2]!]) r.child.kill('SIGTERM');
  for (const r of [replicas[0]!, replicas[2]!]) assert.equal(await exited(r.child, 20_000), 0, r.log());
});
