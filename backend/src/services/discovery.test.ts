// Discovery's schedule and lease on both stores, with a clock the test moves, against a real
// PostgreSQL target: two discoverers (two replicas) sharing a store run one sync per interval;
// a sync asked for runs at once unless one is running; a holder that dies keeps the others out
// until its lease lapses, and its late writes are refused; what a sync did not see goes, and
// first-seen stays; a failed sync keeps the inventory. And the inventory's rows keep names and
// tags full of quotes as they are.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../common/clock.ts';
import type { LapseConfig } from '../domain/config.ts';
import { DEFAULT_RESOURCE_TYPES } from '../domain/config.ts';
import { buildConfig } from '../engine/test-support.ts';
import { PostgresIntegration } from '../integrations/postgresql.ts';
import type { Integration } from '../integrations/integration.ts';
import { createPgDatabase, hex, PG, pgAdminQuery, pgCleanup, uniquePrefix } from '../integrations/sql/sql-test-support.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from '../store/postgres-test-support.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { Discovery } from './discovery.ts';

const T0 = 1_800_000_000_000;
const EVERY = 60_000;
const db = `lapse_t_discu_${hex()}`;
const prefix = uniquePrefix();
const quoted = 'it\'s "quoted"';

before(() => createPgDatabase(db, ['CREATE TABLE items (id int)', `CREATE TABLE "${quoted.replace(/"/g, '""')}" (id int)`, `COMMENT ON TABLE items IS 'lapse: note="a \\"b\\" c"'`]));
after(() => pgCleanup([db], prefix));

function configWith(): LapseConfig {
  const base = buildConfig({
    extraIntegrations: [{
      id: 'pg', type: 'postgresql', name: 'pg', connection: {}, resourceTypes: DEFAULT_RESOURCE_TYPES.postgresql,
      resources: [{ type: 'table', name: 'declared_only', parent: `${db}/public`, tags: { d: '1' } }],
      tagRules: [{ parent: `${db}/public`, tags: { zone: 'app' } }],
    }],
  });
  return { ...base, settings: { ...base.settings, discoverEvery: EVERY } };
}

function discoverer(store: Store, clock: ManualClock, owner: string, integration: Integration, changes: { n: number }): Discovery {
  const config = configWith();
  return new Discovery({
    store, integrations: new Map([['pg', integration]]), config: () => config, now: () => clock.now(), owner,
    onChange: () => { changes.n++; }, log: () => undefined, batchSize: 2,
  });
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`discovery's schedule and lease (${kind} store)`, () => {
    let store: Store;
    let target: PostgresIntegration;
    before(async () => {
      store = kind === 'sqlite' ? new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY }) : new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
      await store.migrate();
      target = new PostgresIntegration('pg', { ...PG, database: 'postgres', discoverDatabases: [db] }, { rolePrefix: prefix });
    });
    after(async () => {
      await target?.close();
      await store?.close();
    });

    test('two discoverers on one store: one sync per interval; asked for, it runs at once', async () => {
      const clock = new ManualClock(T0);
      const ca = { n: 0 };
      const cb = { n: 0 };
      const a = discoverer(store, clock, 'a', target, ca);
      const b = discoverer(store, clock, 'b', target, cb);
      const [ra, rb] = await Promise.all([a.runDue(), b.runDue()]);
      assert.deepEqual([ra[0]!.status, rb[0]!.status].sort(), ['skipped', 'synced']);
      const state = async () => (await store.discoveryStates())[0]!;
      assert.equal((await state()).syncs, 1);
      // The one that skipped may have looked while the other was still writing: its next look reads it.
      await Promise.all([a.refresh(), b.refresh()]);
      assert.ok(ca.n >= 1 && cb.n >= 1, 'both read the inventory');
      // The inventory: what the target has, the declared table, tags from rules and the comment.
      const rows = await store.inventoryOf('pg');
      const byPath = new Map(rows.map((r) => [`${r.type}:${r.path}`, r]));
      assert.deepEqual(byPath.get(`table:${db}/public/items`)?.tags, { zone: 'app', note: 'a "b" c' });
      assert.equal(byPath.get(`table:${db}/public/${quoted}`)?.name, quoted);
      assert.equal(byPath.get(`table:${db}/public/declared_only`)?.origin, 'declared');
      assert.deepEqual(byPath.get(`table:${db}/public/declared_only`)?.tags, { d: '1' });
      assert.ok(byPath.has(`database:${db}`) && byPath.has(`schema:${db}/public`));
      assert.equal(a.discovered().get('pg')!.length, rows.length);
      assert.equal(b.discovered().get('pg')!.length, rows.length);
      const compiled = ca.n;

      clock.advance(EVERY - 1);
      assert.deepEqual((await Promise.all([a.runDue(), b.runDue()])).map((r) => r[0]!.status), ['skipped', 'skipped'], 'not due yet');
      clock.advance(1);
      const again = await Promise.all([a.runDue(), b.runDue()]);
      assert.deepEqual(again.map((r) => r[0]!.status).sort(), ['skipped', 'synced']);
      assert.equal((await state()).syncs, 2);
      await a.refresh();
      assert.equal(ca.n, compiled, 'nothing changed: the catalog is not compiled again');

      const asked = await b.syncNow('pg');
      assert.equal(asked[0]!.status, 'synced', 'asked for, it runs before it is due');
      assert.equal((await state()).syncs, 3);
    });

    test('a table that goes is dropped from the inventory; one that stays keeps its first sighting', async () => {
      const clock = new ManualClock(T0 + 10 * EVERY);
      const c = { n: 0 };
      const a = discoverer(store, clock, 'a', target, c);
      await a.refresh();
      const firstSeen = (await store.inventoryOf('pg')).find((r) => r.name === 'items')!.firstSeen;
      await pgAdminQuery(db, 'CREATE TABLE gone_soon (id int)');
      const added = (await a.syncNow('pg'))[0]!;
      assert.equal(added.added, 1);
      await pgAdminQuery(db, 'DROP TABLE gone_soon');
      // The same instant on the clock: what this sync did not see still goes.
      const removed = (await a.syncNow('pg'))[0]!;
      assert.equal(removed.removed, 1);
      const rows = await store.inventoryOf('pg');
      assert.ok(!rows.some((r) => r.name === 'gone_soon'));
      assert.equal(rows.find((r) => r.name === 'items')!.firstSeen, firstSeen);
      assert.ok(rows.find((r) => r.name === 'items')!.lastSeen > firstSeen);
      assert.ok(!a.discovered().get('pg')!.some((r) => r.name === 'gone_soon'));
    });

    test('a holder that dies keeps others out until its lease lapses, and its late writes are refused', async () => {
      const t = T0 + 100 * EVERY;
      assert.equal(await store.claimDiscovery('pg', 'dead', t, t + 120_000, t + EVERY, true), true);
      assert.equal(await store.claimDiscovery('pg', 'b', t + 1, t + 120_001, t + EVERY, true), false, 'leased');
      const clock = new ManualClock(t + 2 * EVERY);
      const b = discoverer(store, clock, 'b', target, { n: 0 });
      assert.equal((await b.runDue())[0]!.status, 'skipped', 'due, but the lease holds');
      const skipped = (await b.syncNow('pg'))[0]!;
      assert.deepEqual([skipped.status, skipped.error], ['skipped', 'another replica is syncing it now']);
      clock.set(t + 120_001);
      assert.equal((await b.runDue())[0]!.status, 'synced', 'the lapsed lease is taken over');
      const before = await store.inventoryOf('pg');
      assert.equal(await store.writeInventory('pg', 'dead', [{ type: 'table', path: 'x/y', name: 'y', parent: 'x', tags: {}, origin: 'discovered' }], t + 5, t + 200_000), false);
      assert.equal(await store.finishDiscovery('pg', 'dead', { at: t + 6, error: null, seenAt: t + 6, count: 0, changed: true }), false);
      assert.deepEqual(await store.inventoryOf('pg'), before, 'nothing of the dead holder was written');
    });

    test('a failed sync keeps the inventory and records its error; the next success clears it', async () => {
      const clock = new ManualClock(T0 + 200 * EVERY);
      const broken = new PostgresIntegration('pg', { ...PG, port: 1, database: 'postgres', discoverDatabases: [db], connectTimeoutMs: 1000 }, { rolePrefix: prefix });
      try {
        const before = await store.inventoryOf('pg');
        const d = discoverer(store, clock, 'a', broken, { n: 0 });
        const failed = (await d.syncNow('pg'))[0]!;
        assert.equal(failed.status, 'failed');
        assert.ok(failed.error);
        assert.deepEqual(await store.inventoryOf('pg'), before);
        const status = await d.status('pg');
        assert.equal(status?.lastError, failed.error);
        assert.equal(status?.resourceCount, before.length);
        assert.equal(status?.running, false);
        const healed = discoverer(store, clock, 'a', target, { n: 0 });
        assert.equal((await healed.syncNow('pg'))[0]!.status, 'synced');
        await healed.readStates();
        assert.equal((await healed.status('pg'))?.lastError, null);
      } finally {
        await broken.close();
      }
    });
  });
}
