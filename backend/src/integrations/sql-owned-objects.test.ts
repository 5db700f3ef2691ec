// What a temporary login with `admin` creates must not outlive its grant with more rights than
// the grant had: against the real local servers, a login plants objects that run or read with
// its owner's (PostgreSQL) or definer's (MySQL/MariaDB) rights, its grant ends (revoke, or the
// removal reconciliation uses), and nothing of it can be called any more, nothing was handed
// to the admin user, and no superuser appeared.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { Entitlement } from '../domain/request.ts';
import type { GrantInput } from './integration.ts';
import { MysqlIntegration } from './mysql.ts';
import { PostgresIntegration } from './postgresql.ts';
import {
  assertMyPlantGone, assertPgPlantGone, attackPg, myDefinerObjects, myVictimSetup, pgAdminOwned, pgOtherLogin, pgSuperusers, PG_VICTIM_SETUP, plantMy, plantPg,
} from './sql-owned-objects-support.ts';
import {
  closeSessions, createPgDatabase, hex, MY, myAdmin, myAdminQuery, myCleanup, myConnect, myIdent, myUsersWithPrefix, PG, pgAdminQuery, pgCleanup, pgClient, pgConnect,
  pgConnectDetails, pgRolesWithPrefix, uniquePrefix,
} from './sql/sql-test-support.ts';

const q = pg.escapeIdentifier;
const prefix = uniquePrefix();
const pgDbs = [`lapse_t_pgown_${hex()}`, `lapse_t_pgown_${hex()}`] as const;
/** Where PUBLIC may create in schema public (the default before PostgreSQL 15): a grant elsewhere reaches it too. */
const openDb = `lapse_t_pgown_open_${hex()}`;
const myDbs = [`lapse_t_myown_${hex()}`, `lapse_t_myown_${hex()}`] as const;
const books = `lapse_t_myown_books_${hex()}`;
let pgInt: PostgresIntegration;
let myInt: MysqlIntegration;
let other: string;

let seq = 0;
function input(integration: string, user: string, entitlements: Omit<Entitlement, 'integration'>[]): GrantInput {
  return {
    requestId: `req-${hex()}-${++seq}`, user: { id: user, email: `${user}@example.com` },
    entitlements: entitlements.map((e) => ({ integration, ...e })), expiresAt: Date.now() + 3_600_000,
  };
}

async function rejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.match(err.message, pattern);
    return true;
  });
}

before(async () => {
  for (const db of pgDbs) await createPgDatabase(db, PG_VICTIM_SETUP);
  await createPgDatabase(openDb, [...PG_VICTIM_SETUP, 'GRANT CREATE ON SCHEMA public TO PUBLIC']);
  for (const db of myDbs) {
    await myAdminQuery(`CREATE DATABASE ${myIdent(db)} CHARACTER SET utf8mb4`);
    for (const sql of myVictimSetup(db)) await myAdminQuery(sql);
  }
  pgInt = new PostgresIntegration('pg', { ...PG, database: 'postgres' }, { rolePrefix: prefix });
  myInt = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books }, { rolePrefix: prefix });
  other = await pgOtherLogin(prefix);
});

after(async () => {
  await closeSessions();
  await pgInt.close();
  await myInt.close();
  await pgCleanup([...pgDbs, openDb], prefix);
  await myCleanup([...myDbs, books], prefix);
});

describe('postgresql: what an admin grant created is dropped with its login', () => {
  for (const path of ['revoke', 'removeAccount'] as const) {
    test(`${path}: on two databases, definer routines, views, triggers, types, schemas, default privileges, large objects and publications are dropped, not handed to the admin user`, async () => {
      const req = input('pg', 'mallory', [{ resourceType: 'database', resource: pgDbs[0], permission: 'admin' }, { resourceType: 'database', resource: pgDbs[1], permission: 'admin' }]);
      const ownedBefore = [await pgAdminOwned(pgDbs[0]), await pgAdminOwned(pgDbs[1])];
      const superusers = await pgSuperusers();
      const d = (await pgInt.grant(req)).accessDetails!;
      const s1 = await pgConnect(d.url!);
      const s2 = await pgConnectDetails({ ...d, database: pgDbs[1] });
      const planted = [await plantPg(s1, prefix), await plantPg(s2, prefix)];
      // While the grant lasts the definer function runs as the login, which may not create roles.
      await rejects((await pgConnectDetails({ ...d, user: other, password: '' })).query(`SELECT ${planted[0]!.fn}()`), /permission denied to create role|must be superuser/);

      if (path === 'revoke') await pgInt.revoke({ ...req, stillCovered: [] });
      else await pgInt.removeAccount(d.user!);

      assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
      await rejects(s1.query('SELECT 1'), /terminat|Connection|ended|closed/i);
      for (const [i, db] of pgDbs.entries()) {
        await attackPg(db, planted[i]!, other);
        await assertPgPlantGone(db, planted[i]!, other);
        assert.deepEqual(await pgAdminOwned(db), ownedBefore[i], `nothing in ${db} was handed to the admin user`);
      }
      assert.deepEqual(await pgSuperusers(), superusers);
      assert.deepEqual((await pgAdminQuery(pgDbs[0], 'SELECT id FROM secret')), [{ id: 42 }], 'the admin user\'s own data stays');
    });
  }

  test('what the login made in a database its grant did not name (PUBLIC may create there) is found and dropped too', async () => {
    const req = input('pg', 'mallory', [{ resourceType: 'table', resource: `${pgDbs[0]}/public/audited`, permission: 'read' }]);
    const d = (await pgInt.grant(req)).accessDetails!;
    const s = await pgConnectDetails({ ...d, database: openDb });
    await s.query(`CREATE FUNCTION public.open_f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'`);
    await s.query('CREATE TABLE public.open_t (id int)');
    await pgInt.revoke({ ...req, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
    assert.deepEqual(await pgAdminQuery(openDb, "SELECT proname FROM pg_proc WHERE proname = 'open_f' UNION ALL SELECT relname FROM pg_class WHERE relname = 'open_t'"), []);
  });

  test('what cannot be reached (a database that allows no connections) keeps DROP ROLE from succeeding: the error says why and the role stays disabled; once reachable, the next attempt drops it', async () => {
    const req = input('pg', 'mallory', [{ resourceType: 'database', resource: openDb, permission: 'admin' }]);
    const d = (await pgInt.grant(req)).accessDetails!;
    const s = await pgConnectDetails(d);
    const planted = await plantPg(s, prefix);
    await s.end();
    await pgAdminQuery('postgres', `ALTER DATABASE ${q(openDb)} ALLOW_CONNECTIONS false`);
    try {
      await rejects(pgInt.revoke({ ...req, stillCovered: [] }),
        new RegExp(`^revoke of ${d.user} failed: ${d.user} is disabled \\(NOLOGIN\\) and its sessions ended, but cannot be dropped: .*objects in database ${openDb}`));
      const [role] = await pgAdminQuery<{ rolcanlogin: boolean }>('postgres', 'SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [d.user]);
      assert.equal(role?.rolcanlogin, false);
    } finally {
      await pgAdminQuery('postgres', `ALTER DATABASE ${q(openDb)} ALLOW_CONNECTIONS true`);
    }
    await pgInt.revoke({ ...req, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
    await assertPgPlantGone(openDb, planted, other);
  });

  test('a login that made more objects than one transaction can lock (20,000 large objects, 3,000 functions) is still dropped', async () => {
    const req = input('pg', 'mallory', [{ resourceType: 'database', resource: pgDbs[0], permission: 'admin' }]);
    const ownedBefore = await pgAdminOwned(pgDbs[0]);
    const d = (await pgInt.grant(req)).accessDetails!;
    const s = await pgConnect(d.url!);
    const planted = await plantPg(s, prefix);
    await s.query('SELECT count(lo_create(0)) FROM generate_series(1, 20000)');
    await s.query(`DO $$ BEGIN FOR i IN 1..3000 LOOP
      EXECUTE format('CREATE FUNCTION public.%I() RETURNS int LANGUAGE sql AS ''SELECT 1''', 'many_${planted.tag}_' || i); END LOOP; END $$`);
    await s.end();

    await pgInt.revoke({ ...req, stillCovered: [] });
    assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
    await assertPgPlantGone(pgDbs[0], planted, other);
    assert.deepEqual(await pgAdminOwned(pgDbs[0]), ownedBefore);
    assert.deepEqual(await pgAdminQuery(pgDbs[0], 'SELECT 1 FROM pg_largeobject_metadata LIMIT 1'), []);
    assert.deepEqual(await pgAdminQuery(pgDbs[0], "SELECT 1 FROM pg_proc WHERE proname LIKE 'many\\_%' LIMIT 1"), []);
  });

  test('a revoke that cannot finish (a lock held elsewhere) fails with a clear error, leaving the role disabled, without sessions and without what it was granted; the next attempt drops it', async () => {
    const slow = new PostgresIntegration('pg', { ...PG, database: 'postgres', statementTimeoutMs: 1000 }, { rolePrefix: prefix });
    const blocker = await pgClient(pgDbs[0]);
    try {
      const req = input('pg', 'mallory', [{ resourceType: 'database', resource: pgDbs[0], permission: 'admin' }]);
      const d = (await slow.grant(req)).accessDetails!;
      const s = await pgConnect(d.url!);
      const planted = await plantPg(s, prefix);
      const asOther = await pgClient(pgDbs[0], other);
      try {
        assert.deepEqual((await asOther.query(`SELECT ${planted.schema}.count_secret() AS n`)).rows, [{ n: 1 }], 'while granted, the definer function reads secret');
        await blocker.query('BEGIN');
        await blocker.query(`LOCK TABLE ${planted.table} IN ACCESS SHARE MODE`);

        await rejects(slow.revoke({ ...req, stillCovered: [] }), new RegExp(`^revoke of ${d.user} failed: ${d.user} is disabled \\(NOLOGIN\\), its sessions ended `
          + `and its privileges revoked, but not all it owns could be dropped: in database ${pgDbs[0]}: canceling statement due to statement timeout$`));
        const [role] = await pgAdminQuery<{ rolcanlogin: boolean }>('postgres', 'SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [d.user]);
        assert.equal(role?.rolcanlogin, false, 'the role is left, unable to log in');
        assert.deepEqual(await pgAdminQuery('postgres', 'SELECT 1 FROM pg_stat_activity WHERE usename = $1', [d.user]), []);
        await rejects(s.query('SELECT 1'), /terminat|Connection|ended|closed/i);
        await rejects(pgConnect(d.url!), /not permitted to log in/);
        // What the grant gave is taken back: the definer function keeps nothing of it.
        await rejects(asOther.query(`SELECT ${planted.schema}.count_secret()`), /permission denied for table secret/);
      } finally {
        await asOther.end();
      }

      await blocker.query('ROLLBACK');
      await slow.revoke({ ...req, stillCovered: [] });
      assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
      await assertPgPlantGone(pgDbs[0], planted, other);
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      await blocker.end();
      await slow.close();
    }
  });

  test('functions and operators a login plants in a shared schema to shadow built-ins never run as the admin user (grants, revokes, listing, discovery)', async () => {
    // An integration whose admin database is the one the login may create in.
    const here = new PostgresIntegration('pg', { ...PG, database: pgDbs[1] }, { rolePrefix: prefix });
    try {
      const req = input('pg', 'mallory', [{ resourceType: 'database', resource: pgDbs[1], permission: 'admin' }]);
      const d = (await here.grant(req)).accessDetails!;
      const s = await pgConnectDetails(d);
      // Each shadow behaves like the built-in, and makes the login a superuser when a superuser runs it.
      const escalate = `IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN EXECUTE format('ALTER ROLE %I SUPERUSER', ${pg.escapeLiteral(d.user!)}); INSERT INTO public.trigger_log VALUES (current_user); END IF;`;
      for (const sql of [
        `CREATE FUNCTION public.starts_with(name, text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN ${escalate} RETURN pg_catalog.starts_with($1::text, $2); END $$`,
        `CREATE FUNCTION public.shobj_description(oid, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN ${escalate} RETURN pg_catalog.shobj_description($1, $2::name); END $$`,
        `CREATE FUNCTION public.not_like(name, name) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN ${escalate} RETURN $1::text NOT LIKE $2::text; END $$`,
        'CREATE OPERATOR public.!~~ (leftarg = name, rightarg = name, function = public.not_like)',
        `CREATE FUNCTION public.texteq(name, text) RETURNS bool LANGUAGE plpgsql AS $$ BEGIN ${escalate} RETURN $1::text = $2; END $$`,
        'CREATE OPERATOR public.= (leftarg = name, rightarg = text, function = public.texteq)',
      ]) await s.query(sql);
      // The shadows do work for whoever uses the default search path: a superuser session runs them.
      const probe = await pgClient(pgDbs[1]);
      await probe.query('BEGIN');
      await probe.query("SELECT count(*) FROM pg_roles WHERE starts_with(rolname, 'x')");
      assert.ok((await probe.query('SELECT who FROM public.trigger_log')).rows.some((r) => r.who === PG.user));
      await probe.query('ROLLBACK');
      await probe.end();

      const second = input('pg', 'trent', [{ resourceType: 'database', resource: pgDbs[1], permission: 'read' }]);
      const secondRole = (await here.grant(second)).accessDetails!.user;
      const listed = (await here.listGranted()).map((g) => g.account);
      assert.ok(listed.includes(d.user!) && listed.includes(secondRole!));
      await here.listResources();
      await here.revoke({ ...second, stillCovered: [] });
      const [role] = await pgAdminQuery<{ rolsuper: boolean }>('postgres', 'SELECT rolsuper FROM pg_roles WHERE rolname = $1', [d.user]);
      assert.equal(role?.rolsuper, false, 'the login did not become a superuser');
      assert.deepEqual(await pgAdminQuery(pgDbs[1], 'SELECT who FROM trigger_log'), []);

      await here.revoke({ ...req, stillCovered: [] });
      assert.deepEqual(await pgAdminQuery(pgDbs[1], "SELECT proname FROM pg_proc WHERE proname IN ('starts_with', 'shobj_description') AND pronamespace = 'public'::regnamespace"), []);
      assert.deepEqual(await pgRolesWithPrefix(`${prefix}mallory`), []);
    } finally {
      await here.close();
    }
  });
});

describe('mysql: what an admin grant defined is dropped with its user', () => {
  test('the server: another definer is refused; DROP USER alone keeps the objects, orphaned, and a new user of the same name brings them back', async () => {
    const name = `${prefix}byhand_${hex()}`;
    const password = `Pw-${hex(8)}`;
    await myAdminQuery('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', password]);
    try {
      await myAdminQuery(`GRANT ALL PRIVILEGES ON ${myIdent(myDbs[0])}.* TO ?@'%'`, [name]);
      const c = await myConnect({ host: MY.host, port: String(MY.port), user: name, password, database: myDbs[0] });
      await rejects(c.query("CREATE DEFINER = 'root'@'localhost' PROCEDURE p_other() SELECT 1"), /SUPER|SET USER|SET_USER_ID|Access denied/);
      await c.query(`CREATE PROCEDURE p_${name}() SQL SECURITY DEFINER SELECT v FROM secret`);
      await c.end();
      await myAdminQuery('DROP USER ?@?', [name, '%']);
      assert.deepEqual(await myDefinerObjects(name), [`PROCEDURE ${myDbs[0]}.p_${name}`], 'the procedure outlives its definer');
      await rejects(myAdminQuery(`CALL ${myIdent(myDbs[0])}.${myIdent(`p_${name}`)}()`), /definer .* does not exist/);
      await myAdminQuery('CREATE USER ?@? IDENTIFIED BY ?', [name, '%', password]);
      await myAdminQuery(`GRANT SELECT, EXECUTE ON ${myIdent(myDbs[0])}.* TO ?@'%'`, [name]);
      const [rows] = await myAdminQuery<unknown[]>(`CALL ${myIdent(myDbs[0])}.${myIdent(`p_${name}`)}()`);
      assert.deepEqual(rows, [{ v: 42 }], 'a new user of the same name brings the procedure back to life');
    } finally {
      await myAdminQuery(`DROP PROCEDURE IF EXISTS ${myIdent(myDbs[0])}.${myIdent(`p_${name}`)}`);
      await myAdminQuery('DROP USER IF EXISTS ?@?', [name, '%']);
    }
  });

  test('a revoke that cannot finish (a routine in use elsewhere) fails, leaving the user locked, without connections and without privileges; the next attempt drops it', async () => {
    const slow = new MysqlIntegration('my', { ...MY, bookkeepingDatabase: books }, { rolePrefix: prefix, queryTimeoutMs: 1000 });
    const holder = await myAdmin();
    try {
      const req = input('my', 'mallory', [{ resourceType: 'database', resource: myDbs[0], permission: 'admin' }]);
      const d = (await slow.grant(req)).accessDetails!;
      const s = await myConnect(d);
      const planted = await plantMy(s, myDbs[0]);
      // A transaction that used the function holds it until it ends: DROP FUNCTION waits.
      await holder.query('START TRANSACTION');
      assert.deepEqual((await holder.query(`SELECT ${myIdent(myDbs[0])}.${myIdent(planted.fn)}() AS v`))[0], [{ v: 42 }]);

      await rejects(slow.revoke({ ...req, stillCovered: [] }),
        new RegExp(`^revoke of ${d.user} failed: ${d.user} is locked, its connections ended and its privileges revoked, but not all it defined could be dropped: .*(timeout|inactive)`, 'i'));
      await rejects(s.query('SELECT 1'), /closed|killed|lost|interrupted|ECONNRESET|Connection/i);
      await rejects(myConnect(d), /locked|Access denied/);
      assert.deepEqual(await myAdminQuery('SHOW GRANTS FOR ?@?', [d.user, '%']).then((rows) => rows.map((r) => Object.values(r)[0]).filter((g) => !/^GRANT USAGE ON \*\.\*/.test(String(g)))), [],
        'the user holds no privilege for its definer objects to use');
      // Views are dropped after routines, so this one is still there: it reads nothing any more.
      await rejects(myAdminQuery(`SELECT * FROM ${myIdent(myDbs[0])}.${myIdent(planted.view)}`), /denied|lack rights/);

      await holder.query('ROLLBACK');
      await slow.revoke({ ...req, stillCovered: [] });
      assert.deepEqual(await myUsersWithPrefix(`${prefix}mallory`), []);
      await assertMyPlantGone(planted, d.user!);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await slow.close();
    }
  });

  for (const path of ['revoke', 'removeAccount'] as const) {
    test(`${path}: routines, packages, views, triggers and events the user defined are dropped in every database; its tables stay; a new user of the same name resurrects nothing`, async () => {
      const req = input('my', 'mallory', [{ resourceType: 'database', resource: myDbs[0], permission: 'admin' }, { resourceType: 'table', resource: `${myDbs[1]}/audited`, permission: 'admin' }]);
      const d = (await myInt.grant(req)).accessDetails!;
      const s = await myConnect(d);
      const planted = await plantMy(s, myDbs[0]);
      // A table grant includes TRIGGER: a trigger on the other database's table, running as the user.
      await s.query(`CREATE TRIGGER ${myIdent(myDbs[1])}.${myIdent(`trg_${planted.tag}`)} AFTER INSERT ON ${myIdent(myDbs[1])}.audited FOR EACH ROW SET @seen = NEW.id`);
      assert.equal((await myDefinerObjects(d.user!)).length, planted.pkg ? 8 : 6);

      if (path === 'revoke') await myInt.revoke({ ...req, stillCovered: [] });
      else await myInt.removeAccount(d.user!);

      await rejects(s.query('SELECT 1'), /closed|killed|lost|interrupted|ECONNRESET|Connection/i);
      assert.deepEqual(await myUsersWithPrefix(`${prefix}mallory`), []);
      await myAdminQuery(`INSERT INTO ${myIdent(myDbs[1])}.audited VALUES (1)`);
      await myAdminQuery(`DELETE FROM ${myIdent(myDbs[1])}.audited`);
      await assertMyPlantGone(planted, d.user!);
    });
  }
});
