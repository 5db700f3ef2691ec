// The mysql integration against the real local server (MariaDB here), checked from the
// requester's side with a real client using the delivered credentials.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Entitlement } from '../domain/request.ts';
import type { GrantInput } from './integration.ts';
import { MysqlIntegration } from './mysql.ts';
import { shortId } from './sql/common.ts';
import { closeSessions, hex, HOSTILE, MY, myAdminQuery, myCleanup, myConnect, myIdent, myUsersWithPrefix, uniquePrefix } from './sql/sql-test-support.ts';

const prefix = uniquePrefix();
const db = `lapse_t_my_${hex()}`;
/** Same as `db` with "_" where a wildcard would match: a database grant on `db` must not reach it. */
const lookalike = db.replace('_my_', 'Xmy_');
const hostileDb = `lapse_t_my_${hex()} ${HOSTILE.quote}\`; --${HOSTILE.unicode}`;
const books = `lapse_t_my_books_${hex()}`;
const tables = [HOSTILE.injection, HOSTILE.quote, HOSTILE.backslash, HOSTILE.unicode, HOSTILE.backtick.trimEnd()];
let integration: MysqlIntegration;

const e = (resourceType: string, resource: string, permission: string): Entitlement => ({ integration: 'my', resourceType, resource, permission });
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
  for (const name of [db, lookalike, hostileDb]) await myAdminQuery(`CREATE DATABASE ${myIdent(name)} CHARACTER SET utf8mb4`);
  for (const sql of [
    `CREATE TABLE ${myIdent(db)}.items (id INT PRIMARY KEY, name VARCHAR(20))`,
    `INSERT INTO ${myIdent(db)}.items VALUES (1, 'one')`,
    `CREATE TABLE ${myIdent(db)}.secret (id INT)`,
    `CREATE TABLE ${myIdent(db)}.victim (id INT)`,
    ...tables.map((t) => `CREATE TABLE ${myIdent(db)}.${myIdent(t)} (id INT)`),
    `CREATE TABLE ${myIdent(lookalike)}.items (id INT)`,
    `CREATE TABLE ${myIdent(hostileDb)}.t (id INT)`,
    `CREATE TABLE ${myIdent(hostileDb)}.victim (id INT)`,
  ]) await myAdminQuery(sql);
  integration = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books, password: '' }, { rolePrefix: prefix });
});

after(async () => {
  await closeSessions();
  await integration.close();
  await myCleanup([db, lookalike, hostileDb, books], prefix);
});

describe('mysql integration', () => {
  test('read on one table: SELECT works, other tables and writes are refused; revoke kills the open session and refuses new logins', async () => {
    const req = input('alice', [e('table', `${db}/items`, 'read')]);
    const d = (await integration.grant(req)).accessDetails!;
    const login = integration.userFor(req.requestId, 'alice');
    assert.equal(d.user, login);
    assert.equal(login, `${prefix}alice_${shortId('my', req.requestId)}`);
    assert.ok(login.length <= 32);
    assert.match(d.password!, /^[A-Za-z0-9]{32}$/);
    assert.equal(d.url, `mysql://${login}:${d.password}@127.0.0.1:3306/${db}`);

    const session = await myConnect(d);
    const [rows] = await session.query('SELECT name FROM items');
    assert.deepEqual(rows, [{ name: 'one' }]);
    await fails(session.query('SELECT * FROM secret'), /command denied/);
    await fails(session.query("INSERT INTO items VALUES (2, 'two')"), /command denied/);
    await fails(myConnect({ ...d, password: 'wrong' }), /Access denied/);
    assert.deepEqual((await integration.listGranted()).map((g) => [g.account, g.user, g.requestId, g.entitlement.resource]), [[login, 'alice', req.requestId, `${db}/items`]]);
    assert.equal(integration.accountOf(req.requestId, req.user), login);

    await integration.revoke({ ...req, stillCovered: [] });
    await fails(session.query('SELECT 1'), /closed|killed|lost|interrupted|ECONNRESET|Connection/i);
    await session.end().catch(() => undefined);
    await fails(myConnect(d), /Access denied/);
    assert.deepEqual(await myUsersWithPrefix(prefix), []);
    assert.deepEqual(await integration.listGranted(), []);
  });

  test('idempotent: a second grant keeps one user with the new password; revoking twice, or what was not granted, succeeds', async () => {
    const req = input('bob', [e('table', `${db}/items`, 'write')]);
    const first = (await integration.grant(req)).accessDetails!;
    const second = (await integration.grant(req)).accessDetails!;
    assert.equal(second.user, first.user);
    assert.deepEqual(await myUsersWithPrefix(prefix), [first.user]);
    await fails(myConnect(first), /Access denied/);
    const c = await myConnect(second);
    await c.query("INSERT INTO items VALUES (10, 'ten')");
    await c.query('DELETE FROM items WHERE id = 10');
    await fails(c.query('DROP TABLE items'), /command denied/);
    await c.end();
    await integration.revoke({ ...req, stillCovered: [] });
    await integration.revoke({ ...req, stillCovered: [] });
    await integration.revoke({ ...input('never', [e('table', `${db}/items`, 'read')]), stillCovered: [] });
    assert.deepEqual(await myUsersWithPrefix(prefix), []);
  });

  test('overlap: two requests of one person on the same table; revoking one keeps the other working', async () => {
    const a = input('carol', [e('table', `${db}/items`, 'read')]);
    const b = input('carol', [e('table', `${db}/items`, 'read')]);
    const da = (await integration.grant(a)).accessDetails!;
    const dbb = (await integration.grant(b)).accessDetails!;
    assert.notEqual(da.user, dbb.user);
    const sa = await myConnect(da);
    const sb = await myConnect(dbb);
    await integration.revoke({ ...a, stillCovered: a.entitlements });
    await fails(sa.query('SELECT 1'), /closed|killed|lost|interrupted|ECONNRESET|Connection/i);
    const [rows] = await sb.query('SELECT count(*) AS n FROM items');
    assert.deepEqual(rows, [{ n: 1 }]);
    await sb.end();
    await sa.end().catch(() => undefined);
    await integration.revoke({ ...b, stillCovered: [] });
    assert.deepEqual(await myUsersWithPrefix(prefix), []);
  });

  test('a database grant covers its tables and no database whose name its "_" would match as a wildcard', async () => {
    const req = input('dave', [e('database', db, 'read')]);
    const d = (await integration.grant(req)).accessDetails!;
    const c = await myConnect(d);
    const [rows] = await c.query('SELECT count(*) AS n FROM items');
    assert.deepEqual(rows, [{ n: 1 }]);
    await fails(c.query('DELETE FROM items'), /command denied/);
    await fails(c.query(`SELECT * FROM ${myIdent(lookalike)}.items`), /command denied|Access denied/);
    await c.end();
    await integration.revoke({ ...req, stillCovered: [] });

    const admin = input('dave', [e('database', db, 'admin')]);
    const da = (await integration.grant(admin)).accessDetails!;
    const ca = await myConnect(da);
    await ca.query('CREATE TABLE made_by_dave (id INT)');
    await ca.end();
    await integration.revoke({ ...admin, stillCovered: [] });
    assert.equal((await myAdminQuery(`SHOW TABLES FROM ${myIdent(db)} LIKE 'made_by_dave'`)).length, 1);
    assert.deepEqual(await myUsersWithPrefix(prefix), []);
  });

  test('hostile names: tables, database and user id with quotes, backticks, semicolons, backslashes, spaces and unicode get exactly the grant', async () => {
    const user = `O'Brien\`; DROP USER root; --\\名前`;
    for (const table of tables) {
      const req = input(user, [e('table', `${db}/${table}`, 'read')]);
      const d = (await integration.grant(req)).accessDetails!;
      assert.match(d.user!, new RegExp(`^${prefix}obriendropus_[0-9a-f]{8}$`));
      const c = await myConnect(d);
      const [rows] = await c.query(`SELECT * FROM ${myIdent(table)}`);
      assert.deepEqual(rows, []);
      await fails(c.query('SELECT * FROM victim'), /command denied/);
      await c.end();
      assert.deepEqual(await myUsersWithPrefix(prefix), [d.user]);
      await integration.revoke({ ...req, stillCovered: [] });
    }
    const onDb = input(user, [e('database', hostileDb, 'write')]);
    const dd = (await integration.grant(onDb)).accessDetails!;
    assert.equal(dd.database, hostileDb);
    const cd = await myConnect(dd);
    await cd.query('INSERT INTO t VALUES (1)');
    await fails(cd.query(`SELECT * FROM ${myIdent(db)}.items`), /command denied|Access denied/);
    await cd.end();
    await integration.revoke({ ...onDb, stillCovered: [] });

    const names = (await myAdminQuery<Record<string, string>>(`SHOW TABLES FROM ${myIdent(db)}`)).map((r) => Object.values(r)[0]);
    for (const t of [...tables, 'victim', 'items', 'secret']) assert.ok(names.includes(t), `table ${t} still exists`);
    assert.equal((await myAdminQuery(`SHOW TABLES FROM ${myIdent(hostileDb)} LIKE 'victim'`)).length, 1);
    assert.equal((await myAdminQuery("SELECT 1 FROM mysql.user WHERE User = 'root'")).length > 0, true);
    assert.deepEqual(await myUsersWithPrefix(prefix), []);
  });

  test('a user with the prefix that the integration did not record is not listed and never dropped', async () => {
    const foreign = `${prefix}someone_deadbeef`;
    await myAdminQuery("CREATE USER ?@'%' IDENTIFIED BY 'x-Handmade-1'", [foreign]);
    try {
      assert.deepEqual(await integration.listGranted(), []);
      await fails(integration.removeAccount(foreign), /not created by Lapse/);
      assert.deepEqual(await myUsersWithPrefix(prefix), [foreign]);
    } finally {
      await myAdminQuery("DROP USER ?@'%'", [foreign]);
    }
  });

  test('configured permissions, missing objects and unknown privileges give clear errors; the password never shows', async () => {
    const custom = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books, permissions: { append: ['insert'] } }, { rolePrefix: prefix });
    try {
      const req = input('frank', [e('table', `${db}/items`, 'append')]);
      const d = (await custom.grant(req)).accessDetails!;
      const c = await myConnect(d);
      await c.query("INSERT INTO items VALUES (20, 'twenty')");
      await fails(c.query('SELECT * FROM items'), /command denied/);
      await c.end();
      await custom.revoke({ ...req, stillCovered: [] });
      await myAdminQuery(`DELETE FROM ${myIdent(db)}.items WHERE id = 20`);

      // Fails halfway (the first table is granted, the second missing): no user is left behind.
      await fails(custom.grant(input('frank', [e('table', `${db}/items`, 'read'), e('table', `${db}/nope`, 'read')])), /grant of .* failed: .*nope.* doesn't exist/);
      assert.deepEqual(await myUsersWithPrefix(prefix), []);
      await fails(custom.grant(input('frank', [e('database', `${db}_missing`, 'read')])), /database ".*_missing" does not exist/);
      await fails(custom.grant(input('frank', [e('table', `${db}/items`, 'superpower')])), /unknown permission "superpower"/);
    } finally {
      await custom.close();
    }
    assert.throws(() => new MysqlIntegration('my', { ...MY, permissions: { read: ['SELECT ON *.* TO x'] } }),
      /integration my: connection\.permissions\.read: unknown privilege "SELECT ON \*\.\* TO X"/);
  });

  test('discovery lists databases and tables, without the bookkeeping database', async () => {
    const found = await integration.listResources();
    assert.ok(found.some((r) => r.type === 'database' && r.name === db));
    assert.ok(found.some((r) => r.type === 'table' && r.name === HOSTILE.injection && r.parent === db));
    assert.ok(found.some((r) => r.type === 'table' && r.name === 't' && r.parent === hostileDb));
    assert.ok(!found.some((r) => r.name === books || r.parent === books));
  });

  test('listing and revoking on a server where nothing was granted creates no bookkeeping database', async () => {
    const fresh = `lapse_t_my_books_${hex()}`;
    const other = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: fresh }, { rolePrefix: prefix });
    try {
      assert.deepEqual(await other.listGranted(), []);
      await other.revoke({ ...input('nobody', [e('table', `${db}/items`, 'read')]), stillCovered: [] });
      assert.deepEqual(await myAdminQuery('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [fresh]), []);
    } finally {
      await other.close();
      await myAdminQuery(`DROP DATABASE IF EXISTS ${myIdent(fresh)}`);
    }
  });

  test('health: ok against the server; an unreachable server is reported without the password', async () => {
    assert.deepEqual(await integration.health().then((h) => [h.ok, h.error]), [true, null]);
    const down = new MysqlIntegration('my', { host: '127.0.0.1', port: 1, user: 'root', password: 'the-admin-password' }, { healthTimeoutMs: 2000 });
    try {
      const h = await down.health();
      assert.equal(h.ok, false);
      assert.match(h.error!, /ECONNREFUSED/);
      assert.doesNotMatch(h.error!, /the-admin-password/);
    } finally {
      await down.close();
    }
  });
});
