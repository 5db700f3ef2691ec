// A database outage under two replicas, without touching the shared PostgreSQL server: the
// replicas reach their (fresh, own) database through a TCP proxy this test owns and cuts.
// While it is cut, /readyz says not ready and the processes keep running; once it is back
// they recover by themselves: the revokes that fell due during the outage run right after,
// nothing is lost, the audit chain verifies, and events cross replicas again (the listening
// connections reconnected).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'libsql';
import { createToken } from '../src/auth/tokens.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY } from '../src/store/postgres-test-support.ts';
import { PgProxy } from './pg-proxy.ts';
import { api, exited, killAll, replicaConfig, runCli, sleep, startReplica, waitFor } from './replica-support.ts';

const USERS = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  await killAll();
  for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => console.error(String(err)));
});

interface RequestView { id: string; status: string; expiresAt: string | null }

test('a database outage: not ready while it lasts, no crash, overdue revokes run right after it, nothing lost', { timeout: 120_000 }, async () => {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const proxy = new PgProxy();
  await proxy.start();
  cleanup.push(() => proxy.stop());
  const workDir = mkdtempSync(join(tmpdir(), 'lapse-outage-'));
  cleanup.push(async () => rmSync(workDir, { recursive: true, force: true }));
  const recordFile = join(workDir, 'demo-record.db');
  const configPath = join(workDir, 'lapse.yaml');
  writeFileSync(configPath, replicaConfig({ users: USERS, databases: 2, recordFile }));

  const store = new PostgresStore(db.url, { auditKey: TEST_AUDIT_KEY }); // direct, not through the proxy
  cleanup.push(() => store.close());
  await store.migrate();
  const tokens = new Map<string, string>();
  for (const u of ['carol', ...USERS]) tokens.set(u, (await createToken(store, u, 'outage test')).token);
  const token = (u: string) => tokens.get(u)!;

  const url = new URL(proxy.wrap(db.url));
  url.searchParams.set('connect_timeout_ms', '1000');
  const replicas = await Promise.all([0, 1].map((i) => startReplica(configPath, join(workDir, `data-${i}`), url.toString(), { LAPSE_LEASE_MS: '3000', LAPSE_LOG_LEVEL: 'info' })));
  const ready = async (i: number) => (await fetch(replicas[i]!.url + '/readyz', { signal: AbortSignal.timeout(10_000) })).status;
  assert.deepEqual([await ready(0), await ready(1)], [200, 200]);

  // Access that expires while the database is down: 4 to 6 s from now.
  const requests = await Promise.all(USERS.map(async (u, i) => {
    const res = await api<RequestView>(replicas[i % 2]!.url, token(u), 'POST', '/api/v1/requests', {
      flowId: 'short-read', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db0', permission: 'read' }], duration: `${4 + (i % 3)}s`,
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }));
  await waitFor('every request to be active', 10_000, 50, async () =>
    (await store.listRequests({ flowId: 'short-read' })).every((r) => r.status === 'active') ? true : undefined);
  const lastExpiry = Math.max(...(await store.listRequests({ flowId: 'short-read' })).map((r) => r.expiresAt!));

  // The outage.
  proxy.cut();
  const cutAt = Date.now();
  await waitFor('both replicas to report not ready', 10_000, 100, async () => ((await ready(0)) === 503 && (await ready(1)) === 503 ? true : undefined));
  const notReady = await fetch(replicas[0]!.url + '/readyz');
  assert.match(((await notReady.json()) as { detail: string }).detail, /store is unreachable/);
  assert.equal((await fetch(replicas[1]!.url + '/healthz')).status, 200, 'the process itself is alive');
  // Past every expiry, with the database still down.
  await sleep(Math.max(0, lastExpiry - Date.now()) + 1500);
  assert.equal((await store.listRequests({ flowId: 'short-read', statuses: ['active'] })).length, USERS.length, 'nothing could be revoked during the outage');
  for (const r of replicas) assert.equal(r.child.exitCode, null, `the replica kept running\n${r.log()}`);
  console.log(`database cut for ${Date.now() - cutAt} ms`);

  // Back: ready again, and the overdue revokes run right after.
  proxy.restore();
  const restoredAt = Date.now();
  await waitFor('both replicas to be ready again', 15_000, 100, async () => ((await ready(0)) === 200 && (await ready(1)) === 200 ? true : undefined));
  await waitFor('every overdue request to be expired', 20_000, 100, async () =>
    (await store.listRequests({ flowId: 'short-read' })).every((r) => r.status === 'expired') ? true : undefined);
  const final = await store.listRequests({ flowId: 'short-read' });
  const recoveredMs = Math.max(...final.map((r) => r.endedAt! - restoredAt));
  console.log(`ready again and every overdue revoke done ${recoveredMs} ms after the database came back`);
  assert.ok(recoveredMs < 10_000, `overdue revokes ran right after the outage (${recoveredMs} ms)`);
  assert.deepEqual(final.map((r) => r.id).sort(), requests.map((r) => r.id).sort(), 'nothing lost');
  for (const r of final) assert.deepEqual((await store.getGrants(r.id)).map((g) => g.status), ['revoked']);
  assert.equal((await store.pool.query('SELECT count(*) AS n FROM jobs')).rows[0].n, '0', 'no job left');
  const demo = new Database(recordFile);
  try {
    assert.equal(Number((demo.prepare('SELECT count(*) AS n FROM granted').get() as { n: number }).n), 0, 'nothing left granted on the target');
    for (const r of final) assert.ok(Number((demo.prepare("SELECT count(*) AS n FROM calls WHERE op = 'revoke' AND ok = 1 AND request_id = ?").get(r.id) as { n: number }).n) >= 1);
  } finally {
    demo.close();
  }

  // Events cross replicas again: the listening connections came back by themselves (they
  // retry every second; an event sent before a replica listens again is not replayed).
  await waitFor('both replicas to listen again', 10_000, 100, async () =>
    Number(((await store.pool.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'lapse-listen'")).rows[0] as { n: string }).n) === 2 ? true : undefined);
  const res = await fetch(`${replicas[1]!.url}/api/v1/events`, { headers: { authorization: `Bearer ${token('u00')}` } });
  const reader = res.body!.getReader();
  let text = '';
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      text += new TextDecoder().decode(value);
    }
  })().catch(() => undefined);
  await sleep(200);
  const created = await api<RequestView>(replicas[0]!.url, token('u00'), 'POST', '/api/v1/requests', {
    flowId: 'short-read', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db1', permission: 'read' }], duration: '1m',
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  await waitFor('an event made on replica 0 to reach a client of replica 1', 5000, 20, async () =>
    (text.includes(`id: ${created.body.id}:`) ? true : undefined)).catch(async (err: unknown) => {
    const sessions = (await store.pool.query("SELECT application_name, state, left(query, 60) AS q, backend_start FROM pg_stat_activity WHERE datname = current_database()")).rows;
    throw new Error(`${String(err)}\nsessions: ${JSON.stringify(sessions)}\nstream: ${text}\nreplica 0:\n${replicas[0]!.log()}\nreplica 1:\n${replicas[1]!.log()}`);
  });
  await reader.cancel();
  await reading;

  const verify = await runCli(['audit', 'verify', '--store', db.url, '--data-dir', join(workDir, 'data-0')]);
  assert.equal(verify.code, 0, verify.out);
  for (const r of replicas) r.child.kill('SIGTERM');
  for (const r of replicas) assert.equal(await exited(r.child, 20_000), 0, r.log());
});
