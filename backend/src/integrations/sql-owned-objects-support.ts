// Test helpers: what a temporary login with `admin` can leave behind that runs or reads with
// its owner's (PostgreSQL) or definer's (MySQL/MariaDB) rights, planted from a real session
// of the login, and the checks that none of it outlives the grant.

import assert from 'node:assert/strict';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { hex, MY, myAdminQuery, myIdent, pgAdminQuery, pgClient } from './sql/sql-test-support.ts';

const q = pg.escapeIdentifier;

// ── PostgreSQL ───────────────────────────────────────────────────────────────────────

/** Tables of the admin user that the planted objects reach: run by the admin user in each test database. */
export const PG_VICTIM_SETUP = [
  'CREATE TABLE secret (id int)',
  'INSERT INTO secret VALUES (42)',
  'CREATE TABLE audited (id int)',
  'CREATE TABLE trigger_log (who text)',
];

export interface PgPlant {
  tag: string;
  /** Roles a planted SECURITY DEFINER routine would create as superuser if it ever ran as one. */
  backdoors: string[];
  /** Objects by kind, each a qualified name as it was created. */
  fn: string;
  proc: string;
  view: string;
  matview: string;
  table: string;
  schema: string;
  domain: string;
  type: string;
  aggregate: string;
}

/**
 * Creates, as the login (`session`), one object of each kind that carries its owner's rights
 * or runs code: a SECURITY DEFINER function and procedure that create a superuser, a view and
 * a materialized view over the admin user's `secret` granted to PUBLIC, a trigger on the admin
 * user's `audited` running the login's function, a domain with the login's CHECK function, a
 * composite type, default privileges, a table with rows, a schema with a SECURITY DEFINER
 * function and an operator, an aggregate, a large object and a publication.
 */
export async function plantPg(session: pg.Client, prefix: string): Promise<PgPlant> {
  const tag = hex();
  const p: PgPlant = {
    tag,
    backdoors: [`${prefix}backdoor_${tag}`, `${prefix}backdoor_${tag}_p`],
    fn: `public.f_${tag}`,
    proc: `public.p_${tag}`,
    view: `public.v_${tag}`,
    matview: `public.mv_${tag}`,
    table: `public.rows_${tag}`,
    schema: `s_${tag}`,
    domain: `public.d_${tag}`,
    type: `public.ty_${tag}`,
    aggregate: `public.agg_${tag}`,
  };
  for (const sql of [
    `CREATE FUNCTION ${p.fn}() RETURNS text LANGUAGE sql SECURITY DEFINER AS $$ CREATE ROLE ${q(p.backdoors[0]!)} LOGIN SUPERUSER; SELECT 'x' $$`,
    `CREATE PROCEDURE ${p.proc}() LANGUAGE sql SECURITY DEFINER AS $$ CREATE ROLE ${q(p.backdoors[1]!)} LOGIN SUPERUSER $$`,
    `CREATE VIEW ${p.view} AS SELECT id FROM public.secret`,
    `GRANT SELECT ON ${p.view} TO PUBLIC`,
    `CREATE MATERIALIZED VIEW ${p.matview} AS SELECT id FROM public.secret`,
    `GRANT SELECT ON ${p.matview} TO PUBLIC`,
    `CREATE FUNCTION public.trg_${tag}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO public.trigger_log VALUES (current_user); RETURN NEW; END $$`,
    `CREATE TRIGGER trg_${tag} AFTER INSERT ON public.audited FOR EACH ROW EXECUTE FUNCTION public.trg_${tag}()`,
    `CREATE FUNCTION public.positive_${tag}(int) RETURNS bool LANGUAGE sql AS 'SELECT $1 > 0'`,
    `CREATE DOMAIN ${p.domain} AS int CHECK (public.positive_${tag}(VALUE))`,
    `CREATE TYPE ${p.type} AS (a int)`,
    'ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO PUBLIC',
    'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO PUBLIC',
    `CREATE TABLE ${p.table} (id int)`,
    `INSERT INTO ${p.table} VALUES (1), (2)`,
    `GRANT SELECT ON ${p.table} TO PUBLIC`,
    `CREATE SCHEMA ${p.schema}`,
    `GRANT USAGE ON SCHEMA ${p.schema} TO PUBLIC`,
    `CREATE TABLE ${p.schema}.inner_t (id int)`,
    `CREATE FUNCTION ${p.schema}.count_secret() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*)::int FROM public.secret'`,
    `CREATE FUNCTION ${p.schema}.eq(int, int) RETURNS bool LANGUAGE sql AS 'SELECT $1 = $2'`,
    `CREATE OPERATOR ${p.schema}.=== (leftarg = int, rightarg = int, function = ${p.schema}.eq)`,
    `CREATE AGGREGATE ${p.aggregate}(int) (sfunc = int4pl, stype = int)`,
    'SELECT lo_create(0)',
    `CREATE PUBLICATION pub_${tag}`,
  ]) await session.query(sql);
  return p;
}

/**
 * What the admin user owns in `database`, one entry per object (catalog and oid): a grant
 * that ended must not have added anything to it.
 */
export async function pgAdminOwned(database: string): Promise<string[]> {
  const rows = await pgAdminQuery<{ o: string }>(database, `
    WITH me AS (SELECT oid FROM pg_roles WHERE rolname = current_user)
    SELECT 'class ' || oid AS o FROM pg_class WHERE relowner = (SELECT oid FROM me)
    UNION ALL SELECT 'proc ' || oid FROM pg_proc WHERE proowner = (SELECT oid FROM me)
    UNION ALL SELECT 'type ' || oid FROM pg_type WHERE typowner = (SELECT oid FROM me)
    UNION ALL SELECT 'namespace ' || oid FROM pg_namespace WHERE nspowner = (SELECT oid FROM me)
    UNION ALL SELECT 'operator ' || oid FROM pg_operator WHERE oprowner = (SELECT oid FROM me)
    UNION ALL SELECT 'large object ' || oid FROM pg_largeobject_metadata WHERE lomowner = (SELECT oid FROM me)
    UNION ALL SELECT 'publication ' || oid FROM pg_publication WHERE pubowner = (SELECT oid FROM me)
    UNION ALL SELECT 'default acl ' || oid FROM pg_default_acl WHERE defaclrole = (SELECT oid FROM me)
    UNION ALL SELECT 'extension ' || oid FROM pg_extension WHERE extowner = (SELECT oid FROM me)
    ORDER BY 1`);
  return rows.map((r) => r.o);
}

export async function pgSuperusers(): Promise<string[]> {
  return (await pgAdminQuery<{ rolname: string }>('postgres', 'SELECT rolname FROM pg_roles WHERE rolsuper ORDER BY rolname')).map((r) => r.rolname);
}

async function rejects(p: Promise<unknown>, pattern: RegExp, what: string): Promise<void> {
  await assert.rejects(p, (err: Error) => {
    assert.match(err.message, pattern, what);
    return true;
  }, what);
}

/**
 * After the grant ended: as `other` (an ordinary login), nothing planted can be called or read,
 * no backdoor superuser appeared, the trigger no longer fires when the admin user writes to
 * `audited`, and no large object, publication or default privilege of the login is left.
 */
export async function assertPgPlantGone(database: string, p: PgPlant, other: string): Promise<void> {
  const c = await pgClient(database, other);
  try {
    await rejects(c.query(`SELECT ${p.fn}()`), /function .* does not exist/, 'the SECURITY DEFINER function is gone');
    await rejects(c.query(`CALL ${p.proc}()`), /procedure .* does not exist/, 'the SECURITY DEFINER procedure is gone');
    await rejects(c.query(`SELECT * FROM ${p.view}`), /relation .* does not exist/, 'the view over secret is gone');
    await rejects(c.query(`SELECT * FROM ${p.matview}`), /relation .* does not exist/, 'the materialized view over secret is gone');
    await rejects(c.query(`SELECT * FROM ${p.table}`), /relation .* does not exist/, 'the table is gone');
    await rejects(c.query(`SELECT ${p.schema}.count_secret()`), /schema .* does not exist/, 'the schema is gone');
    await rejects(c.query(`SELECT 1::${p.domain}`), /type .* does not exist/, 'the domain is gone');
    await rejects(c.query(`SELECT NULL::${p.type}`), /type .* does not exist/, 'the type is gone');
    await rejects(c.query(`SELECT ${p.aggregate}(1)`), /function .* does not exist/, 'the aggregate is gone');
  } finally {
    await c.end();
  }
  const before = (await pgAdminQuery<{ n: number }>(database, 'SELECT count(*)::int AS n FROM trigger_log'))[0]!.n;
  await pgAdminQuery(database, 'INSERT INTO audited VALUES (1)');
  assert.equal((await pgAdminQuery<{ n: number }>(database, 'SELECT count(*)::int AS n FROM trigger_log'))[0]!.n, before, 'the trigger no longer fires');
  await pgAdminQuery(database, 'DELETE FROM audited');
  const left = await pgAdminQuery(database, `
    SELECT 1 FROM pg_trigger WHERE tgname = $1
    UNION ALL SELECT 1 FROM pg_publication WHERE pubname = $2
    UNION ALL SELECT 1 FROM pg_largeobject_metadata WHERE lomowner NOT IN (SELECT oid FROM pg_roles)
    UNION ALL SELECT 1 FROM pg_default_acl WHERE defaclrole NOT IN (SELECT oid FROM pg_roles)`, [`trg_${p.tag}`, `pub_${p.tag}`]);
  assert.deepEqual(left, [], 'no trigger, publication, large object or default privilege of the login is left');
  const backdoors = await pgAdminQuery('postgres', 'SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [p.backdoors]);
  assert.deepEqual(backdoors, [], 'no backdoor role was created');
}

/** Calls what was planted as `other`, the way an attacker would once the grant ended (used to show the old behaviour). */
export async function attackPg(database: string, p: PgPlant, other: string): Promise<void> {
  const c = await pgClient(database, other);
  try {
    await c.query(`SELECT ${p.fn}()`).catch(() => undefined);
    await c.query(`CALL ${p.proc}()`).catch(() => undefined);
  } finally {
    await c.end();
  }
}

/** An ordinary login (no privileges beyond PUBLIC's), named with the test's prefix so that cleanup drops it. */
export async function pgOtherLogin(prefix: string): Promise<string> {
  const name = `${prefix}other_${hex()}`;
  await pgAdminQuery('postgres', `CREATE ROLE ${q(name)} LOGIN`);
  return name;
}


// ── MySQL / MariaDB ──────────────────────────────────────────────────────────────────

export interface MyPlant {
  tag: string;
  database: string;
  procedure: string;
  fn: string;
  view: string;
  trigger: string;
  event: string;
  /** MariaDB only (Oracle-mode packages); null elsewhere. */
  pkg: string | null;
  table: string;
}

/** Tables of the admin that the planted objects reach (in `database`). */
export const myVictimSetup = (database: string): string[] => [
  `CREATE TABLE ${myIdent(database)}.secret (v INT)`,
  `INSERT INTO ${myIdent(database)}.secret VALUES (42)`,
  `CREATE TABLE ${myIdent(database)}.audited (id INT)`,
];

/**
 * Creates, as the login (`session`, connected to `database`), a SQL SECURITY DEFINER procedure
 * and function reading `secret`, a view over it, a trigger on the admin's `audited` writing
 * to `secret`, an event, a package (MariaDB) and a plain table.
 */
export async function plantMy(session: mysql.Connection, database: string): Promise<MyPlant> {
  const tag = hex();
  const p: MyPlant = {
    tag, database,
    procedure: `p_${tag}`, fn: `f_${tag}`, view: `v_${tag}`, trigger: `trg_${tag}`, event: `ev_${tag}`, pkg: null, table: `mine_${tag}`,
  };
  for (const sql of [
    `CREATE PROCEDURE ${myIdent(p.procedure)}() SQL SECURITY DEFINER SELECT v FROM secret`,
    `CREATE FUNCTION ${myIdent(p.fn)}() RETURNS INT SQL SECURITY DEFINER RETURN (SELECT v FROM secret LIMIT 1)`,
    `CREATE VIEW ${myIdent(p.view)} AS SELECT v FROM secret`,
    `CREATE TRIGGER ${myIdent(p.trigger)} AFTER INSERT ON audited FOR EACH ROW INSERT INTO secret VALUES (NEW.id)`,
    `CREATE EVENT ${myIdent(p.event)} ON SCHEDULE EVERY 1 HOUR DISABLE DO INSERT INTO secret VALUES (7)`,
    `CREATE TABLE ${myIdent(p.table)} (id INT)`,
    `INSERT INTO ${myIdent(p.table)} VALUES (1)`,
  ]) await session.query(sql);
  const [[version]] = await session.query('SELECT VERSION() AS v') as unknown as [{ v: string }[]];
  if (/mariadb/i.test(version!.v)) {
    p.pkg = `pkg_${tag}`;
    await session.query("SET SESSION sql_mode = 'ORACLE'");
    await session.query(`CREATE PACKAGE ${myIdent(p.pkg)} AS FUNCTION f RETURN INT; END`);
    await session.query(`CREATE PACKAGE BODY ${myIdent(p.pkg)} AS FUNCTION f RETURN INT AS BEGIN RETURN (SELECT v FROM secret LIMIT 1); END; END`);
    await session.query('SET SESSION sql_mode = DEFAULT');
  }
  return p;
}

/** Stored objects whose definer is `login`@`host`, in every database, as "kind db.name". */
export async function myDefinerObjects(login: string, host = '%'): Promise<string[]> {
  const definer = `${login}@${host}`;
  const out: string[] = [];
  for (const sql of [
    "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_SCHEMA, '.', ROUTINE_NAME) AS o FROM information_schema.ROUTINES WHERE DEFINER = ?",
    "SELECT CONCAT('VIEW ', TABLE_SCHEMA, '.', TABLE_NAME) AS o FROM information_schema.VIEWS WHERE DEFINER = ?",
    "SELECT CONCAT('TRIGGER ', TRIGGER_SCHEMA, '.', TRIGGER_NAME) AS o FROM information_schema.TRIGGERS WHERE DEFINER = ?",
    "SELECT CONCAT('EVENT ', EVENT_SCHEMA, '.', EVENT_NAME) AS o FROM information_schema.EVENTS WHERE DEFINER = ?",
  ]) out.push(...(await myAdminQuery<{ o: string }>(sql, [definer])).map((r) => String(r.o)));
  return out.sort();
}

/**
 * After the grant ended: nothing with the login as definer is left in any database; the
 * admin's `audited` takes rows again without the trigger firing; the table the login made
 * stays (tables carry no rights in MySQL); and a new account of the same name, given the
 * same privileges, finds none of the planted objects to run.
 */
export async function assertMyPlantGone(p: MyPlant, login: string, host = '%'): Promise<void> {
  assert.deepEqual(await myDefinerObjects(login, host), [], `nothing with definer ${login}@${host} is left`);
  const db = myIdent(p.database);
  const [{ n: before }] = await myAdminQuery<{ n: number }>(`SELECT count(*) AS n FROM ${db}.secret`) as [{ n: number }];
  await myAdminQuery(`INSERT INTO ${db}.audited VALUES (5)`);
  assert.deepEqual(await myAdminQuery(`SELECT count(*) AS n FROM ${db}.secret`), [{ n: before }], 'the trigger is gone');
  await myAdminQuery(`DELETE FROM ${db}.audited`);
  assert.deepEqual(await myAdminQuery(`SELECT id FROM ${db}.${myIdent(p.table)}`), [{ id: 1 }], 'the table the login created stays');

  // The same name again (a later account, by chance or on purpose) resurrects nothing.
  const password = `Pw-${hex(8)}`;
  await myAdminQuery('CREATE USER ?@? IDENTIFIED BY ?', [login, host, password]);
  try {
    await myAdminQuery(`GRANT ALL PRIVILEGES ON ${db}.* TO ?@?`, [login, host]);
    const c = await mysql.createConnection({ ...MY, user: login, password, database: p.database });
    try {
      for (const [sql, what] of [
        [`CALL ${myIdent(p.procedure)}()`, 'procedure'],
        [`SELECT ${myIdent(p.fn)}()`, 'function'],
        [`SELECT * FROM ${myIdent(p.view)}`, 'view'],
      ] as const) {
        await rejects(c.query(sql), /does not exist|doesn't exist/, `the ${what} is gone for a new account of the same name`);
      }
      assert.deepEqual(await myDefinerObjects(login, host), []);
    } finally {
      await c.end();
    }
  } finally {
    await myAdminQuery('DROP USER IF EXISTS ?@?', [login, host]);
  }
}
