// The postgresql integration against the real local server, checked from the requester's
// side with a real client using the delivered credentials.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createHash, createHmac } from 'node:crypto';
import type { Entitlement } from '../domain/request.ts';
import type { GrantInput } from './integration.ts';
import { PostgresIntegration } from './postgresql.ts';
import { scramVerifier } from './postgresql-roles.ts';
import { shortId } from './sql/common.ts';
import {
  closeSessions, createPgDatabase, hex, HOSTILE, PG, pgAdminQuery, pgCleanup, pgConnect, pgConnectDetails, pgRolesWithPrefix, uniquePrefix,
} from './sql/sql-test-support.ts';

const q = pg.escapeIdentifier;
const prefix = uniquePrefix();
const db = `lapse_t_pg_${hex()}`;
/** A database whose own name is hostile. */
const hostileDb = `lapse_t_pg_${hex()} ${HOSTILE.quote}"; --${HOSTILE.unicode}`;
const hostileSchema = `s${HOSTILE.injection}\\${HOSTILE.unicode}`;
const tables = [HOSTILE.injection, HOSTILE.quote, HOSTILE.backslash, HOSTILE.unicode];
let integration: PostgresIntegration;

const e = (resourceType: string, resource: string, permission: string): Entitlement => ({ integration: 'pg', resourceType, resource, permission });
let seq = 0;
function input(user: string, entitlements: Entitlement[], requestId = `req-${hex()}-${++seq}`): GrantInput {
  return { requestId, user: { id: user, email: `${user}@example.com` }, entitlements, expiresAt: Date.now() + 3_600_000 };
}

async function fails(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.match(err.message, pattern);
    return true;
  });
}

before(async () => {
  await createPgDatabase(db, [
    'CREATE TABLE items (id int PRIMARY KEY, name text)',
    "INSERT INTO items VALUES (1, 'one')",
    'CREATE TABLE secret (id int)',
    'CREATE TABLE victim (id int)',
    'CREATE SCHEMA other',
    'CREATE TABLE other.things (id int)',
    ...tables.map((t) => `CREATE TABLE ${q(t)} (id int)`),
    `CREATE SCHEMA ${q(hostileSchema)}`,
    `CREATE TABLE ${q(hostileSchema)}.${q(HOSTILE.unicode)} (id int)`,
  ]);
  await createPgDatabase(hostileDb, ['CREATE TABLE t (id int)', 'CREATE TABLE victim (id int)']);
  integration = new PostgresIntegration('pg', { ...PG, database: 'postgres', password: 'admin-secret-not-used' }, { rolePrefix: prefix });
});

after(async () => {
  await closeSessions();
  await integration.close();
  await pgCleanup([db, hostileDb], prefix);
});

describe('postgresql integration', () => {
  test('read on one table: SELECT works, other tables and writes are refused; revoke ends the open session and refuses new logins', async () => {
    const req = input('alice', [e('table', `${db}/public/items`, 'read')]);
    const { accessDetails } = await integration.grant(req);
    assert.ok(accessDetails);
    const role = integration.roleFor(req.requestId, 'alice');
    assert.equal(accessDetails.user, role);
    assert.match(role, new RegExp(`^${prefix}alice_${shortId('pg', req.requestId)}$`));
    assert.equal(accessDetails.database, db);
    assert.equal(accessDetails.host, '127.0.0.1');
    assert.match(accessDetails.password!, /^[A-Za-z0-9]{32}$/);
    assert.equal(accessDetails.url, `postgresql://${role}:${accessDetails.password}@127.0.0.1:5432/${encodeURIComponent(db)}`);

    const session = await pgConnect(accessDetails.url!);
    assert.deepEqual((await session.query('SELECT name FROM items')).rows, [{ name: 'one' }]);
    await fails(session.query('SELECT * FROM secret'), /permission denied/);
    await fails(session.query("INSERT INTO items VALUES (2, 'two')"), /permission denied/);
    await fails(session.query('CREATE TABLE mine (id int)'), /permission denied/);
    const [attrs] = await pgAdminQuery<{ rolvaliduntil: Date; rolsuper: boolean; rolcreaterole: boolean }>('postgres',
      'SELECT rolvaliduntil, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1', [role]);
    assert.equal(attrs!.rolvaliduntil.getTime(), req.expiresAt);
    assert.deepEqual([attrs!.rolsuper, attrs!.rolcreaterole], [false, false]);

    assert.deepEqual((await integration.listGranted()).map((g) => [g.account, g.user, g.requestId, g.entitlement.resource, g.entitlement.permission]),
      [[role, 'alice', req.requestId, `${db}/public/items`, 'read']]);
    assert.equal(integration.accountOf(req.requestId, req.user), role);

    await integration.revoke({ ...req, stillCovered: [] });
    await fails(session.query('SELECT 1'), /terminat|Connection|ended|closed/i);
    await session.end().catch(() => undefined);
    await fails(pgConnect(accessDetails.url!), new RegExp(`role "${role}" does not exist`));
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
    assert.deepEqual(await integration.listGranted(), []);
  });

  test('idempotent: a second grant of the same request keeps one role and delivers working details; revoking twice, or what was not granted, succeeds', async () => {
    const req = input('bob', [e('table', `${db}/public/items`, 'write')]);
    const first = (await integration.grant(req)).accessDetails!;
    const second = (await integration.grant(req)).accessDetails!;
    assert.equal(second.user, first.user);
    assert.notEqual(second.password, first.password);
    assert.deepEqual(await pgRolesWithPrefix(prefix), [first.user]);
    // The server holds the second password's verifier now.
    const [{ rolpassword }] = await pgAdminQuery<{ rolpassword: string }>('postgres', 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [first.user]);
    assert.match(rolpassword, /^SCRAM-SHA-256\$4096:/);
    const session = await pgConnect(second.url!);
    await session.query("INSERT INTO items VALUES (10, 'ten')");
    assert.equal((await session.query('UPDATE items SET name = $1 WHERE id = 10', ['TEN'])).rowCount, 1);
    await fails(session.query('TRUNCATE items'), /permission denied/);
    await session.end();

    await integration.revoke({ ...req, stillCovered: [] });
    await integration.revoke({ ...req, stillCovered: [] });
    await integration.revoke({ ...input('never', [e('table', `${db}/public/items`, 'read')]), stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
    await pgAdminQuery(db, 'DELETE FROM items WHERE id = 10');
  });

  test('overlap: two requests of one person on the same table; revoking one keeps the other working', async () => {
    const a = input('carol', [e('table', `${db}/public/items`, 'read')]);
    const b = input('carol', [e('table', `${db}/public/items`, 'read')]);
    const da = (await integration.grant(a)).accessDetails!;
    const db2 = (await integration.grant(b)).accessDetails!;
    assert.notEqual(da.user, db2.user);
    const sa = await pgConnect(da.url!);
    const sb = await pgConnect(db2.url!);
    await integration.revoke({ ...a, stillCovered: a.entitlements });
    await fails(sa.query('SELECT 1'), /terminat|Connection|ended|closed/i);
    assert.equal((await sb.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 1);
    await sb.end();
    await sa.end().catch(() => undefined);
    await integration.revoke({ ...b, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
  });

  test('concurrent grants on one table share transactions; a bad grant among them fails alone', async () => {
    const good = Array.from({ length: 12 }, (_, i) => input(`p${i}`, [e('table', `${db}/public/items`, 'read')]));
    const bad = input('pbad', [e('table', `${db}/public/missing`, 'read')]);
    const results = await Promise.allSettled([...good, bad].map((r) => integration.grant(r)));
    assert.deepEqual(results.map((r) => r.status), [...good.map(() => 'fulfilled'), 'rejected']);
    assert.match(String((results[12] as PromiseRejectedResult).reason.message), /relation "public\.missing" does not exist/);
    for (const r of results.slice(0, 3)) {
      const c = await pgConnect((r as PromiseFulfilledResult<{ accessDetails: Record<string, string> }>).value.accessDetails.url!);
      assert.equal((await c.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 1);
      await c.end();
    }
    await Promise.all([...good, bad].map((r) => integration.revoke({ ...r, stillCovered: [] })));
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
  });

  test('schema and database resources: read covers every table of the schema or database, nothing more', async () => {
    const schemaRead = input('dave', [e('schema', `${db}/other`, 'read')]);
    const s = (await integration.grant(schemaRead)).accessDetails!;
    const c1 = await pgConnect(s.url!);
    assert.deepEqual((await c1.query('SELECT * FROM other.things')).rows, []);
    await fails(c1.query('SELECT * FROM public.items'), /permission denied/);
    await fails(c1.query('CREATE TABLE other.mine (id int)'), /permission denied/);
    await c1.end();

    const dbRead = input('dave', [e('database', db, 'read')]);
    const d = (await integration.grant(dbRead)).accessDetails!;
    const c2 = await pgConnect(d.url!);
    assert.equal((await c2.query('SELECT count(*)::int AS n FROM public.items')).rows[0].n, 1);
    assert.deepEqual((await c2.query('SELECT * FROM other.things')).rows, []);
    await fails(c2.query('DELETE FROM public.items'), /permission denied/);
    await c2.end();
    await integration.revoke({ ...schemaRead, stillCovered: [] });
    await integration.revoke({ ...dbRead, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
  });

  test('admin on a database: what the role created is dropped with it (not handed to the admin user); what it wrote into others\' tables stays', async () => {
    const req = input('erin', [e('database', db, 'admin')]);
    const d = (await integration.grant(req)).accessDetails!;
    const c = await pgConnect(d.url!);
    await c.query('CREATE TABLE made_by_erin (id int)');
    await c.query('INSERT INTO secret VALUES (7)');
    await c.end();
    await integration.revoke({ ...req, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
    assert.deepEqual(await pgAdminQuery(db, "SELECT 1 FROM pg_class WHERE relname = 'made_by_erin'"), []);
    assert.deepEqual(await pgAdminQuery(db, 'SELECT id FROM secret'), [{ id: 7 }]);
    await pgAdminQuery(db, 'DELETE FROM secret');
  });

  test('hostile names: tables, schema, database and user id with quotes, semicolons, backslashes, spaces and unicode get exactly the grant', async () => {
    const user = `O'Brien"; DROP ROLE postgres; --\\名前`;
    for (const table of tables) {
      const req = input(user, [e('table', `${db}/public/${table}`, 'read')]);
      const d = (await integration.grant(req)).accessDetails!;
      assert.match(d.user!, new RegExp(`^${prefix}obriendroprolepostgres_[0-9a-f]{8}$`));
      const c = await pgConnect(d.url!);
      assert.deepEqual((await c.query(`SELECT * FROM ${q(table)}`)).rows, []);
      await fails(c.query('SELECT * FROM victim'), /permission denied/);
      await fails(c.query('SELECT * FROM items'), /permission denied/);
      await c.end();
      assert.deepEqual(await pgRolesWithPrefix(prefix), [d.user]);
      await integration.revoke({ ...req, stillCovered: [] });
    }
    const inSchema = input(user, [e('table', `${db}/${hostileSchema}/${HOSTILE.unicode}`, 'write')]);
    const ds = (await integration.grant(inSchema)).accessDetails!;
    const cs = await pgConnect(ds.url!);
    await cs.query(`INSERT INTO ${q(hostileSchema)}.${q(HOSTILE.unicode)} VALUES (1)`);
    await fails(cs.query(`SELECT * FROM public.${q(HOSTILE.unicode)}`), /permission denied/);
    await cs.end();
    await integration.revoke({ ...inSchema, stillCovered: [] });

    const onDb = input(user, [e('table', `${hostileDb}/public/t`, 'read')]);
    const dd = (await integration.grant(onDb)).accessDetails!;
    assert.equal(dd.database, hostileDb);
    // The URL is percent-encoded throughout (as libpq reads it); the driver here does not
    // decode reserved characters in the path, so connect with the separate fields.
    assert.ok(dd.url!.endsWith(`/${encodeURIComponent(hostileDb)}`));
    const cd = await pgConnectDetails(dd);
    assert.deepEqual((await cd.query('SELECT * FROM t')).rows, []);
    await fails(cd.query('SELECT * FROM victim'), /permission denied/);
    await cd.end();
    await integration.revoke({ ...onDb, stillCovered: [] });

    // Nothing beyond the grants happened: every table is still there, no role is left, postgres is intact.
    const names = (await pgAdminQuery<{ tablename: string }>(db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")).map((r) => r.tablename);
    for (const t of [...tables, 'victim', 'items', 'secret']) assert.ok(names.includes(t), `table ${t} still exists`);
    assert.deepEqual((await pgAdminQuery(hostileDb, "SELECT 1 FROM pg_tables WHERE tablename = 'victim'")).length, 1);
    assert.deepEqual((await pgAdminQuery('postgres', "SELECT 1 FROM pg_roles WHERE rolname = 'postgres'")).length, 1);
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
  });

  test('a role with the prefix but without the marker is not listed and never dropped', async () => {
    const foreign = `${prefix}someone_deadbeef`;
    await pgAdminQuery('postgres', `CREATE ROLE ${q(foreign)} LOGIN`);
    await pgAdminQuery('postgres', `COMMENT ON ROLE ${q(foreign)} IS 'made by hand'`);
    assert.deepEqual(await integration.listGranted(), []);
    await fails(integration.removeAccount(foreign), /not created by Lapse/);
    assert.deepEqual(await pgRolesWithPrefix(prefix), [foreign]);
    await pgAdminQuery('postgres', `DROP ROLE ${q(foreign)}`);
  });

  test('configured permissions: a custom permission grants exactly its privileges; unknown privileges are refused at construction', async () => {
    const custom = new PostgresIntegration('pg', { ...PG, permissions: { append: { table: ['insert'] } } }, { rolePrefix: prefix });
    try {
      const req = input('frank', [e('table', `${db}/public/items`, 'append')]);
      const d = (await custom.grant(req)).accessDetails!;
      const c = await pgConnect(d.url!);
      await c.query("INSERT INTO items VALUES (20, 'twenty')");
      await fails(c.query('SELECT * FROM items'), /permission denied/);
      await c.end();
      await custom.revoke({ ...req, stillCovered: [] });
      await fails(custom.grant(input('frank', [e('table', `${db}/public/items`, 'superpower')])), /unknown permission "superpower"/);
    } finally {
      await custom.close();
      await pgAdminQuery(db, 'DELETE FROM items WHERE id = 20');
    }
    assert.throws(() => new PostgresIntegration('pg', { ...PG, permissions: { read: { table: ['SELECT; DROP TABLE x'] } } }),
      /integration pg: connection\.permissions\.read\.table: unknown privilege "SELECT; DROP TABLE X"/);
    assert.throws(() => new PostgresIntegration('pg', { ...PG }, { rolePrefix: 'Bad-Prefix' }), /rolePrefix: role prefix "Bad-Prefix"/);
  });

  test('a grant that fails halfway (one of its tables is missing) fails with a clear error and leaves no login behind', async () => {
    const req = input('gina', [e('table', `${db}/public/items`, 'read'), e('table', `${db}/public/nope`, 'read')]);
    await fails(integration.grant(req), /^grant of lt[0-9a-f]{8}_gina_[0-9a-f]{8} failed: relation "public\.nope" does not exist$/);
    assert.deepEqual(await pgRolesWithPrefix(prefix), []);
    await integration.revoke({ ...req, stillCovered: [] });
  });

  test('discovery lists databases, schemas and tables with their parents', async () => {
    const found = await integration.listResources();
    const has = (type: string, name: string, parent?: string) =>
      assert.ok(found.some((r) => r.type === type && r.name === name && r.parent === parent), `${type} ${parent ?? ''}/${name} discovered`);
    has('database', db);
    has('schema', 'other', db);
    has('table', 'things', `${db}/other`);
    has('table', HOSTILE.injection, `${db}/public`);
    has('schema', hostileSchema, db);
    has('table', 't', `${hostileDb}/public`);
    assert.ok(!found.some((r) => r.type === 'schema' && (r.name.startsWith('pg_') || r.name === 'information_schema')), 'system schemas are not listed');
  });

  test('health: ok against the server; an unreachable server is reported without the password', async () => {
    assert.deepEqual(await integration.health().then((h) => [h.ok, h.error]), [true, null]);
    const down = new PostgresIntegration('pg', { host: '127.0.0.1', port: 1, user: 'postgres', password: 'the-admin-password' }, { healthTimeoutMs: 2000 });
    try {
      const h = await down.health();
      assert.equal(h.ok, false);
      assert.match(h.error!, /ECONNREFUSED/);
      assert.doesNotMatch(h.error!, /the-admin-password/);
    } finally {
      await down.close();
    }
  });

  test('the SCRAM verifier matches the RFC 7677 example exchange', async () => {
    // RFC 7677 section 3: password "pencil", this salt; the server's signature over the
    // example's auth message must come out of the ServerKey the verifier holds.
    const v = await scramVerifier('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    const m = /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$([^:]+):(.+)$/.exec(v);
    assert.ok(m, v);
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    const serverSignature = createHmac('sha256', Buffer.from(m[2]!, 'base64')).update(authMessage).digest('base64');
    assert.equal(serverSignature, '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    // The client proof of the example checks against the stored key.
    const clientSignature = createHmac('sha256', Buffer.from(m[1]!, 'base64')).update(authMessage).digest();
    const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
    const clientKey = Buffer.from(proof.map((b, i) => b ^ clientSignature[i]!));
    assert.equal(createHash('sha256').update(clientKey).digest('base64'), m[1]);
  });
});
