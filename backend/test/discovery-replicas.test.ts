// Discovery with two `lapse server` replicas on one PostgreSQL store, discovering a real
// PostgreSQL database every 10 s: one sync per interval between them (the store's lease and
// schedule decide which replica runs it), and both serve the same catalog, which takes in a
// table created after start without a restart or a sync asked for.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToken } from '../src/auth/tokens.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY } from '../src/store/postgres-test-support.ts';
import { createPgDatabase, hex, pgAdminQuery, pgCleanup, uniquePrefix } from '../src/integrations/sql/sql-test-support.ts';
import { api, killAll, startReplica, waitFor, type Replica } from './replica-support.ts';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  await killAll();
  for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
});

const EVERY_MS = 10_000;

test('two replicas: one sync per interval, the same catalog on both, a new table offered by both', { timeout: 120_000 }, async () => {
  const storeDb = await createTestDatabase();
  cleanup.push(() => storeDb.drop());
  const target = `lapse_t_discr_${hex()}`;
  const prefix = uniquePrefix();
  await createPgDatabase(target, ['CREATE TABLE items (id int)']);
  cleanup.push(() => pgCleanup([target], prefix));
  const workDir = mkdtempSync(join(tmpdir(), 'lapse-discovery-replicas-'));
  cleanup.push(async () => rmSync(workDir, { recursive: true, force: true }));
  const configPath = join(workDir, 'lapse.yaml');
  writeFileSync(configPath, `settings: { admins: [carol], reconcileEvery: "off", discoverEvery: 10s }
identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
integrations:
  - id: pg
    type: postgresql
    connection: { host: 127.0.0.1, port: 5432, user: postgres, database: postgres, rolePrefix: ${prefix}, discoverDatabases: [${target}] }
flows:
  - { id: read, targets: [ { integration: pg, resourceType: table, resources: any, permissions: [read] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }
`);
  const store = new PostgresStore(storeDb.url, { auditKey: TEST_AUDIT_KEY });
  cleanup.push(() => store.close());
  await store.migrate();
  const alice = (await createToken(store, 'alice', 'replica test')).token;
  const carol = (await createToken(store, 'carol', 'replica test')).token;

  const startedAt = Date.now();
  const replicas: Replica[] = [];
  for (const i of [0, 1]) replicas.push(await startReplica(configPath, join(workDir, `data-${i}`), storeDb.url));
  const catalogOf = async (r: Replica) => {
    const res = await api<{ flows: { id: string; entitlements: { resource: string }[] }[] }>(r.url, alice, 'GET', '/api/v1/catalog');
    assert.equal(res.status, 200);
    return res.body.flows.find((f) => f.id === 'read')!.entitlements.map((e) => e.resource).sort();
  };
  for (const r of replicas) assert.deepEqual(await catalogOf(r), [`${target}/public/items`], r.log());

  const state = async () => (await store.discoveryStates()).find((s) => s.integration === 'pg')!;
  assert.equal((await state()).syncs, 1, 'the second replica found the first sync done and did not run another');

  // A table made now is offered by both within an interval or two, with no sync asked for.
  await pgAdminQuery(target, 'CREATE TABLE orders (id int)');
  const want = [`${target}/public/items`, `${target}/public/orders`];
  for (const r of replicas) {
    await waitFor('the new table in the catalog of each replica', 3 * EVERY_MS + 10_000, 250, async () => {
      const got = await catalogOf(r);
      return JSON.stringify(got) === JSON.stringify(want) ? got : undefined;
    });
  }
  // Both answer the same catalog, byte for byte.
  const bodies = await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/api/v1/catalog`, { headers: { authorization: `Bearer ${alice}` } })).text()));
  assert.equal(bodies[0], bodies[1]);

  // One sync per interval: each replica alone would have run as many as the intervals passed.
  const elapsed = Date.now() - startedAt;
  const syncs = (await state()).syncs;
  assert.ok(syncs >= 2, `a periodic sync ran (${syncs})`);
  assert.ok(syncs <= Math.floor(elapsed / EVERY_MS) + 1, `${syncs} syncs in ${elapsed} ms: more than one per interval`);

  // Two syncs asked for at once, one on each replica: never run together (the lease).
  const asked = await Promise.all(replicas.map((r) => api<{ results: { status: string; error: string | null }[] }>(r.url, carol, 'POST', '/api/v1/admin/resources/sync', { integration: 'pg' })));
  for (const a of asked) assert.equal(a.status, 200);
  const statuses = asked.map((a) => a.body.results[0]!.status).sort();
  assert.ok(statuses.includes('synced'), JSON.stringify(asked.map((a) => a.body)));
  for (const a of asked) {
    const r = a.body.results[0]!;
    if (r.status === 'skipped') assert.equal(r.error, 'another replica is syncing it now');
  }
  const listed = await api<{ resources: { path: string; origin: string }[] }>(replicas[1]!.url, carol, 'GET', '/api/v1/resources?type=table');
  assert.deepEqual(listed.body.resources.map((r) => [r.path, r.origin]), want.map((p) => [p, 'discovered']));
});
