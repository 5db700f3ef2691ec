// The postgresql and mysql integrations driven by the engine and the scheduler (manual clock),
// against the real local servers: expiry ends real sessions, a crash between the target call
// and the state write leaves one working login (and none after revoke), overlapping requests
// keep each other's access, a target cut away behind a TCP proxy keeps a revoke
// `revoking` (retried with backoff, last error shown) until it is back, and what an `admin`
// grant created goes with it at expiry and on reconciliation.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IntegrationConfig } from '../src/domain/config.ts';
import { DEFAULT_RESOURCE_TYPES } from '../src/domain/config.ts';
import type { Entitlement, RequestRecord } from '../src/domain/request.ts';
import { Engine } from '../src/engine/engine.ts';
import { reconcile } from '../src/engine/reconcile.ts';
import { buildConfig, createHarness, flow, HOUR, resource, selector, type Harness } from '../src/engine/test-support.ts';
import { DemoIntegration } from '../src/integrations/demo-integration.ts';
import type { GrantInput, Integration, RevokeInput } from '../src/integrations/integration.ts';
import { MysqlIntegration } from '../src/integrations/mysql.ts';
import { PostgresIntegration } from '../src/integrations/postgresql.ts';
import {
  assertMyPlantGone, assertPgPlantGone, attackPg, myVictimSetup, pgAdminOwned, pgOtherLogin, pgSuperusers, PG_VICTIM_SETUP, plantMy, plantPg,
} from '../src/integrations/sql-owned-objects-support.ts';
import {
  closeSessions, createPgDatabase, hex, MY, myAdminQuery, myCleanup, myConnect, myIdent, myUsersWithPrefix, PG, pgAdminQuery, pgCleanup, pgConnect, pgRolesWithPrefix,
  uniquePrefix,
} from '../src/integrations/sql/sql-test-support.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const prefix = uniquePrefix();
const pgDb = `lapse_t_pge_${hex()}`;
const myDb = `lapse_t_mye_${hex()}`;
const books = `lapse_t_mye_books_${hex()}`;
/** Where `admin` grants create things (with the tables the planted objects reach). */
const pgOwnDb = `lapse_t_pgeo_${hex()}`;
const myOwnDb = `lapse_t_myeo_${hex()}`;

const pgItems: Entitlement = { integration: 'pg', resourceType: 'table', resource: `${pgDb}/public/items`, permission: 'read' };
const myItems: Entitlement = { integration: 'my', resourceType: 'table', resource: `${myDb}/items`, permission: 'read' };
const pgAdmin: Entitlement = { integration: 'pg', resourceType: 'database', resource: pgOwnDb, permission: 'admin' };
const myAdmin: Entitlement = { integration: 'my', resourceType: 'database', resource: myOwnDb, permission: 'admin' };

function sqlIntegration(id: 'pg' | 'my', type: 'postgresql' | 'mysql', resources: ReturnType<typeof resource>[]): IntegrationConfig {
  return { id, type, name: id, owner: { group: 'sre-leads' }, connection: {}, resourceTypes: DEFAULT_RESOURCE_TYPES[type], resources };
}

const config = buildConfig({
  extraIntegrations: [
    sqlIntegration('pg', 'postgresql', [resource('database', pgDb), resource('table', 'items', {}, `${pgDb}/public`), resource('table', 'secret', {}, `${pgDb}/public`), resource('database', pgOwnDb)]),
    sqlIntegration('my', 'mysql', [resource('database', myDb), resource('table', 'items', {}, myDb), resource('table', 'secret', {}, myDb), resource('database', myOwnDb)]),
  ],
  extraFlows: [
    flow('sql', { targets: [{ selector: selector('pg', 'table', ['read']) }, { selector: selector('my', 'table', ['read']) }], grantFor: HOUR, maxDuration: 8 * HOUR }),
    flow('sql-admin', { targets: [{ selector: selector('pg', 'database', ['admin']) }, { selector: selector('my', 'database', ['admin']) }], grantFor: HOUR, maxDuration: 8 * HOUR }),
  ],
});

const newPg = (conn: Partial<ConstructorParameters<typeof PostgresIntegration>[1]> = {}) =>
  new PostgresIntegration('pg', { ...PG, database: 'postgres', ...conn }, { rolePrefix: prefix });
const newMy = (conn: Partial<ConstructorParameters<typeof MysqlIntegration>[1]> = {}) =>
  new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books, ...conn }, { rolePrefix: prefix });

/** A harness whose engine drives the given SQL integrations, on a manual clock that starts at the real time (VALID UNTIL is checked by the server's clock). */
async function harness(integrations: Integration[]): Promise<Harness & { sql: Integration[] }> {
  const map = new Map<string, Integration>([['demo', new DemoIntegration('demo', ':memory:', [])], ...integrations.map((i) => [i.id, i] as const)]);
  const h = await createHarness({ config, start: Date.now(), engine: { integrations: map } });
  const closeHarness = h.close;
  return Object.assign(h, {
    sql: integrations,
    close: async () => {
      await closeHarness();
      for (const i of map.values()) await i.close();
    },
  });
}

async function details(h: Harness, r: RequestRecord, integration: string): Promise<Record<string, string>> {
  const g = (await h.store.getGrants(r.id)).find((x) => x.integration === integration);
  assert.equal(g?.status, 'active', `grant on ${integration} is active (last error: ${g?.lastError})`);
  assert.ok(g.accessDetails);
  return g.accessDetails;
}

async function status(h: Harness, id: string): Promise<RequestRecord> {
  const r = await h.store.getRequest(id);
  assert.ok(r);
  return r;
}

/**
 * After an admin grant ended: what its logins planted (see sql-owned-objects-support.ts) is
 * gone on both servers, the planted attack does nothing for another login, the admin user
 * owns nothing new and no superuser appeared.
 */
async function assertNothingOutlivesTheGrant(p: {
  pgPlant: Awaited<ReturnType<typeof plantPg>>;
  myPlant: Awaited<ReturnType<typeof plantMy>>;
  myUser: string;
  other: Awaited<ReturnType<typeof pgOtherLogin>>;
  ownedBefore: Awaited<ReturnType<typeof pgAdminOwned>>;
  superusers: Awaited<ReturnType<typeof pgSuperusers>>;
}): Promise<void> {
  await attackPg(pgOwnDb, p.pgPlant, p.other);
  await assertPgPlantGone(pgOwnDb, p.pgPlant, p.other);
  assert.deepEqual(await pgAdminOwned(pgOwnDb), p.ownedBefore);
  assert.deepEqual(await pgSuperusers(), p.superusers);
  await assertMyPlantGone(p.myPlant, p.myUser);
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.match(err.message, pattern);
    return true;
  });
}

const SESSION_GONE = /terminat|closed|killed|lost|interrupted|ECONNRESET|Connection/i;

before(async () => {
  await createPgDatabase(pgDb, ['CREATE TABLE items (id int)', 'INSERT INTO items VALUES (1)', 'CREATE TABLE secret (id int)']);
  await myAdminQuery(`CREATE DATABASE ${myIdent(myDb)}`);
  await myAdminQuery(`CREATE TABLE ${myIdent(myDb)}.items (id INT)`);
  await myAdminQuery(`INSERT INTO ${myIdent(myDb)}.items VALUES (1)`);
  await myAdminQuery(`CREATE TABLE ${myIdent(myDb)}.secret (id INT)`);
  await createPgDatabase(pgOwnDb, PG_VICTIM_SETUP);
  await myAdminQuery(`CREATE DATABASE ${myIdent(myOwnDb)}`);
  for (const sql of myVictimSetup(myOwnDb)) await myAdminQuery(sql);
});

after(async () => {
  await closeSessions();
  await pgCleanup([pgDb, pgOwnDb], prefix);
  await myCleanup([myDb, myOwnDb, books], prefix);
});

describe('SQL integrations through the engine', () => {
  test('a request on both servers: granted, used with the delivered credentials, and at expiry the sessions end and logins are refused', async () => {
    const h = await harness([newPg(), newMy()]);
    try {
      const r = await h.engine.createRequest('alice', { flowId: 'sql', entitlements: [pgItems, myItems] });
      assert.equal(r.status, 'active');
      const pgd = await details(h, r, 'pg');
      const myd = await details(h, r, 'my');
      assert.equal(pgd.validUntil, new Date(r.expiresAt!).toISOString());
      const pgs = await pgConnect(pgd.url!);
      const mys = await myConnect(myd);
      assert.deepEqual((await pgs.query('SELECT id FROM items')).rows, [{ id: 1 }]);
      assert.deepEqual((await mys.query('SELECT id FROM items'))[0], [{ id: 1 }]);
      await rejects(pgs.query('SELECT * FROM secret'), /permission denied/);
      await rejects(mys.query('SELECT * FROM secret'), /command denied/);

      await h.advanceTo(r.expiresAt! - 1);
      assert.equal((await status(h, r.id)).status, 'active');
      await h.advanceTo(r.expiresAt!);
      assert.equal((await status(h, r.id)).status, 'expired');
      await rejects(pgs.query('SELECT 1'), SESSION_GONE);
      await rejects(mys.query('SELECT 1'), SESSION_GONE);
      await rejects(pgConnect(pgd.url!), /does not exist/);
      await rejects(myConnect(myd), /Access denied/);
      assert.deepEqual(await pgRolesWithPrefix(prefix), []);
      assert.deepEqual(await myUsersWithPrefix(prefix), []);
    } finally {
      await closeSessions();
      await h.close();
    }
  });

  test('overlap: two active requests of one person on the same table; revoking one keeps the other working', async () => {
    const h = await harness([newPg(), newMy()]);
    try {
      const a = await h.engine.createRequest('alice', { flowId: 'sql', entitlements: [pgItems, myItems] });
      const b = await h.engine.createRequest('alice', { flowId: 'sql', entitlements: [pgItems, myItems] });
      const [pga, mya, pgb, myb] = [await details(h, a, 'pg'), await details(h, a, 'my'), await details(h, b, 'pg'), await details(h, b, 'my')];
      const sessions = { pga: await pgConnect(pga.url!), mya: await myConnect(mya), pgb: await pgConnect(pgb.url!), myb: await myConnect(myb) };
      await h.engine.revoke('alice', a.id);
      assert.equal((await status(h, a.id)).status, 'revoked');
      await rejects(sessions.pga.query('SELECT 1'), SESSION_GONE);
      await rejects(sessions.mya.query('SELECT 1'), SESSION_GONE);
      assert.deepEqual((await sessions.pgb.query('SELECT id FROM items')).rows, [{ id: 1 }]);
      assert.deepEqual((await sessions.myb.query('SELECT id FROM items'))[0], [{ id: 1 }]);
      assert.deepEqual(await pgRolesWithPrefix(prefix), [pgb.user]);
      assert.deepEqual(await myUsersWithPrefix(prefix), [myb.user]);
      await h.engine.revoke('alice', b.id);
      assert.deepEqual(await pgRolesWithPrefix(prefix), []);
      assert.deepEqual(await myUsersWithPrefix(prefix), []);
    } finally {
      await closeSessions();
      await h.close();
    }
  });

  test('reconciliation removes the logins Lapse made that no request covers, keeps the covered ones and never touches others', async () => {
    const pgInt = newPg();
    const myInt = newMy();
    const h = await harness([pgInt, myInt]);
    const foreignPg = `${prefix}handmade_00000000`;
    const foreignMy = `${prefix}handmade_00000000`;
    try {
      const covered = await h.engine.createRequest('alice', { flowId: 'sql', entitlements: [pgItems, myItems] });
      const pgd = await details(h, covered, 'pg');
      const myd = await details(h, covered, 'my');
      // Left behind by a state that was lost: made by the integrations, no request behind them.
      const orphan = { requestId: `lost-${hex()}`, user: { id: 'dave', email: 'dave@example.com' }, expiresAt: Date.now() + HOUR };
      const orphanPg = (await pgInt.grant({ ...orphan, entitlements: [pgItems] })).accessDetails!;
      const orphanMy = (await myInt.grant({ ...orphan, entitlements: [myItems] })).accessDetails!;
      await pgAdminQuery('postgres', `CREATE ROLE ${foreignPg} LOGIN`);
      await myAdminQuery("CREATE USER ?@'%' IDENTIFIED BY 'Handmade-pass-1'", [foreignMy]);

      const report = await reconcile({ store: h.store, integrations: new Map<string, Integration>([['pg', pgInt], ['my', myInt]]), now: () => h.clock.now() }, 'test');
      assert.deepEqual(report.fixes.map((f) => [f.integration, f.account, f.ok]).sort(), [['my', orphanMy.user, true], ['pg', orphanPg.user, true]]);
      assert.deepEqual(await pgRolesWithPrefix(prefix), [pgd.user, foreignPg].sort());
      assert.deepEqual(await myUsersWithPrefix(prefix), [myd.user, foreignMy].sort());
      const s = await pgConnect(pgd.url!);
      assert.deepEqual((await s.query('SELECT id FROM items')).rows, [{ id: 1 }]);
      await h.engine.revoke('alice', covered.id);
      assert.deepEqual(await pgRolesWithPrefix(prefix), [foreignPg]);
      assert.deepEqual(await myUsersWithPrefix(prefix), [foreignMy]);
    } finally {
      await closeSessions();
      await h.close();
      await pgAdminQuery('postgres', `DROP ROLE IF EXISTS ${foreignPg}`);
      await myAdminQuery("DROP USER IF EXISTS ?@'%'", [foreignMy]);
    }
  });

  test('what an admin grant created on both servers (definer routines, views, triggers, events, types…) is dropped when it expires; nothing is handed to the admin user', async () => {
    const h = await harness([newPg(), newMy()]);
    const other = await pgOtherLogin(prefix);
    try {
      const ownedBefore = await pgAdminOwned(pgOwnDb);
      const superusers = await pgSuperusers();
      const r = await h.engine.createRequest('alice', { flowId: 'sql-admin', entitlements: [pgAdmin, myAdmin] });
      assert.equal(r.status, 'active');
      const pgd = await details(h, r, 'pg');
      const myd = await details(h, r, 'my');
      const pgPlant = await plantPg(await pgConnect(pgd.url!), prefix);
      const myPlant = await plantMy(await myConnect(myd), myOwnDb);

      await h.advanceTo(r.expiresAt!);
      assert.equal((await status(h, r.id)).status, 'expired');
      assert.deepEqual(await pgRolesWithPrefix(`${prefix}alice`), []);
      assert.deepEqual(await myUsersWithPrefix(`${prefix}alice`), []);
      await assertNothingOutlivesTheGrant({ pgPlant, myPlant, myUser: myd.user!, other, ownedBefore, superusers });
    } finally {
      await closeSessions();
      await h.close();
      await pgAdminQuery('postgres', `DROP ROLE IF EXISTS "${other}"`);
    }
  });

  test('reconciliation: what an admin grant no request covers created is dropped with its login', async () => {
    const pgInt = newPg();
    const myInt = newMy();
    const h = await harness([pgInt, myInt]);
    const other = await pgOtherLogin(prefix);
    try {
      const ownedBefore = await pgAdminOwned(pgOwnDb);
      const superusers = await pgSuperusers();
      const orphan = { requestId: `lost-${hex()}`, user: { id: 'dave', email: 'dave@example.com' }, expiresAt: Date.now() + HOUR };
      const pgd = (await pgInt.grant({ ...orphan, entitlements: [pgAdmin] })).accessDetails!;
      const myd = (await myInt.grant({ ...orphan, entitlements: [myAdmin] })).accessDetails!;
      const pgPlant = await plantPg(await pgConnect(pgd.url!), prefix);
      const myPlant = await plantMy(await myConnect(myd), myOwnDb);

      const report = await reconcile({ store: h.store, integrations: new Map<string, Integration>([['pg', pgInt], ['my', myInt]]), now: () => h.clock.now() }, 'test');
      assert.deepEqual(report.fixes.map((f) => [f.integration, f.account, f.ok, f.error]).sort(), [['my', myd.user, true, null], ['pg', pgd.user, true, null]]);
      assert.deepEqual(await pgRolesWithPrefix(`${prefix}dave`), []);
      assert.deepEqual(await myUsersWithPrefix(`${prefix}dave`), []);
      await assertNothingOutlivesTheGrant({ pgPlant, myPlant, myUser: myd.user!, other, ownedBefore, superusers });
    } finally {
      await closeSessions();
      await h.close();
      await pgAdminQuery('postgres', `DROP ROLE IF EXISTS "${other}"`);
    }
  });

  for (const kind of ['pg', 'my'] as const) {
    test(`${kind}: a process that died after its grant reached the server is recovered with one working login, and its revoke leaves nothing`, async () => {
      const target = kind === 'pg' ? newPg() : newMy();
      const h = await harness([target]);
      const ent = kind === 'pg' ? pgItems : myItems;
      const logins = () => (kind === 'pg' ? pgRolesWithPrefix(prefix) : myUsersWithPrefix(prefix));
      try {
        const dying = dyingEngine(h, target, 'grant');
        const r = await dying.engine.createRequest('dave', { flowId: 'sql', entitlements: [ent] });
        assert.equal(r.status, 'granting');
        await until(async () => (await logins()).length === 1, 'the dead process created the login');
        await dying.granted;

        await h.advance(30_000); // its lease lapses; this process runs the grant again
        const done = await status(h, r.id);
        assert.equal(done.status, 'active');
        const d = await details(h, done, kind);
        assert.deepEqual(await logins(), [d.user], 'still one login');
        const s = kind === 'pg' ? await pgConnect(d.url!) : await myConnect(d);
        assert.ok(s);

        // The revoke's process dies too, after the login was dropped; the retry finds it gone.
        const dyingRevoke = dyingEngine(h, target, 'revoke');
        const revoking = await dyingRevoke.engine.revoke('dave', r.id);
        assert.equal(revoking.status, 'revoking');
        await dyingRevoke.revoked;
        assert.deepEqual(await logins(), []);
        await h.advance(30_000);
        assert.equal((await status(h, r.id)).status, 'revoked');
        assert.deepEqual(await logins(), []);
        if (kind === 'pg') await rejects((s as Awaited<ReturnType<typeof pgConnect>>).query('SELECT 1'), SESSION_GONE);
        else await rejects((s as Awaited<ReturnType<typeof myConnect>>).query('SELECT 1'), SESSION_GONE);
      } finally {
        await closeSessions();
        await h.close();
      }
    });
  }

  for (const kind of ['pg', 'my'] as const) {
    test(`${kind}: with the server cut away, a due revoke stays revoking with its error and backoff, and completes once it is back; a grant that cannot be made fails`, async () => {
      const proxy: TcpProxy = await startTcpProxy(kind === 'pg' ? PG : MY);
      // The integration talks through the proxy; the requester connects directly (accessPort).
      const target = kind === 'pg'
        ? newPg({ port: proxy.port, accessPort: PG.port })
        : newMy({ port: proxy.port, accessPort: MY.port });
      const h = await harness([target]);
      const ent = kind === 'pg' ? pgItems : myItems;
      const logins = () => (kind === 'pg' ? pgRolesWithPrefix(prefix) : myUsersWithPrefix(prefix));
      try {
        const r = await h.engine.createRequest('dave', { flowId: 'sql', entitlements: [ent] });
        const d = await details(h, r, kind);
        const s = kind === 'pg' ? await pgConnect(d.url!) : await myConnect(d);
        const query = (sql: string) => (kind === 'pg' ? (s as Awaited<ReturnType<typeof pgConnect>>).query(sql) : (s as Awaited<ReturnType<typeof myConnect>>).query(sql));

        proxy.cut();
        assert.equal((await target.health()).ok, false);
        await h.advanceTo(r.expiresAt!);
        let now = await status(h, r.id);
        assert.equal(now.status, 'revoking');
        assert.match(now.error ?? '', new RegExp(`revoke on ${kind} failed \\(attempt 1\\): revoke of ${d.user} failed: .+`));
        let [grant] = await h.store.getGrants(r.id);
        assert.equal(grant!.attempts, 1);
        assert.ok(grant!.lastError);
        let [job] = await h.store.jobsOfRequest(r.id);
        const firstDelay = job!.dueAt - h.clock.now();
        assert.ok(firstDelay >= 800 && firstDelay <= 1200, `first retry after ~1 s, got ${firstDelay}`);
        await query('SELECT 1'); // the access is still there: the revoke did not happen

        await h.advanceTo(job!.dueAt);
        now = await status(h, r.id);
        assert.equal(now.status, 'revoking');
        [grant] = await h.store.getGrants(r.id);
        assert.equal(grant!.attempts, 2);
        [job] = await h.store.jobsOfRequest(r.id);
        const secondDelay = job!.dueAt - h.clock.now();
        assert.ok(secondDelay >= 1600 && secondDelay <= 2400, `second retry after ~2 s, got ${secondDelay}`);

        proxy.restore();
        await h.advanceTo(job!.dueAt);
        now = await status(h, r.id);
        assert.equal(now.status, 'expired');
        assert.equal(now.error, null);
        assert.deepEqual(await logins(), []);
        await rejects(query('SELECT 1'), SESSION_GONE);

        // A grant while the server is unreachable: three attempts, then `failed` with the reason.
        proxy.cut();
        const g = await h.engine.createRequest('dave', { flowId: 'sql', entitlements: [ent] });
        assert.equal(g.status, 'granting');
        await h.advance(1000);
        await h.advance(2000);
        const failed = await status(h, g.id);
        assert.equal(failed.status, 'failed');
        assert.match(failed.error ?? '', new RegExp(`^grant on ${kind} failed after 3 attempt\\(s\\): grant of ${prefix}dave_[0-9a-f]{8} failed: .+`));
        proxy.restore();
        assert.deepEqual(await logins(), []);
      } finally {
        await closeSessions();
        await h.close();
        await proxy.close();
      }
    });
  }
});

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a server that vanished (connections accepted and never answered)', () => {
  for (const kind of ['pg', 'my'] as const) {
    test(`${kind}: grant, revoke and health fail within the connect timeout instead of hanging`, async () => {
      const proxy = await startTcpProxy(kind === 'pg' ? PG : MY);
      const target = kind === 'pg' ? newPg({ port: proxy.port, connectTimeoutMs: 500 }) : newMy({ port: proxy.port, connectTimeoutMs: 500 });
      try {
        const req = { requestId: `gone-${hex()}`, user: { id: 'erin', email: 'erin@example.com' }, entitlements: [kind === 'pg' ? pgItems : myItems], expiresAt: Date.now() + HOUR };
        proxy.cut('blackhole');
        const started = performance.now();
        await rejects(target.grant(req), /timeout|timed out|ETIMEDOUT/i);
        await rejects(target.revoke({ ...req, stillCovered: [] }), /timeout|timed out|ETIMEDOUT/i);
        const health = await target.health();
        assert.equal(health.ok, false);
        // Three calls, each bounded by the 500 ms connect timeout (generous slack for a loaded machine).
        assert.ok(performance.now() - started < 10_000);
        proxy.restore();
        assert.deepEqual(await (kind === 'pg' ? pgRolesWithPrefix(prefix) : myUsersWithPrefix(prefix)), []);
      } finally {
        await target.close();
        await proxy.close();
      }
    });
  }
});

/**
 * An engine whose process dies right after its call reached the target (the call never
 * returns to it); `granted` / `revoked` resolve once the target call itself has finished.
 */
function dyingEngine(h: Harness, target: Integration, op: 'grant' | 'revoke'): { engine: Engine; granted: Promise<void>; revoked: Promise<void> } {
  const never = new Promise<never>(() => undefined);
  let markGranted!: () => void;
  let markRevoked!: () => void;
  const granted = new Promise<void>((r) => (markGranted = r));
  const revoked = new Promise<void>((r) => (markRevoked = r));
  const dying: Integration = {
    id: target.id,
    type: target.type,
    grant: async (input: GrantInput) => {
      const result = await target.grant(input);
      markGranted();
      return op === 'grant' ? never : result;
    },
    revoke: async (input: RevokeInput) => {
      await target.revoke(input);
      markRevoked();
      if (op === 'revoke') await never;
    },
    listGranted: () => target.listGranted(),
    listResources: () => target.listResources(),
    health: () => target.health(),
    close: async () => undefined,
    // The same target: one login per request (the engine orders its calls per process only).
    ...(target.accountOf ? { accountOf: target.accountOf.bind(target) } : {}),
  };
  const engine = new Engine({
    store: h.store, clock: h.clock, events: h.eventBus, integrations: new Map([[target.id, dying]]), config: h.compiled, owner: 'crashed', inlineWaitMs: 50,
  });
  return { engine, granted, revoked };
}
