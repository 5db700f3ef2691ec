// Helpers for the tests of the SQL integrations against the real local servers
// (PostgreSQL 127.0.0.1:5432, MariaDB/MySQL 127.0.0.1:3306). Other tests use the same
// servers at the same time: everything here is named with a random suffix and only what a
// test created is dropped.

import pg from 'pg';
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';

export const PG = { host: process.env.LAPSE_TEST_PG_HOST ?? '127.0.0.1', port: Number(process.env.LAPSE_TEST_PG_PORT ?? 5432), user: process.env.LAPSE_TEST_PG_USER ?? 'postgres' };
export const MY = { host: process.env.LAPSE_TEST_MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.LAPSE_TEST_MYSQL_PORT ?? 3306), user: process.env.LAPSE_TEST_MYSQL_USER ?? 'root' };

export const hex = (bytes = 4): string => randomBytes(bytes).toString('hex');

/** A role/user prefix no other test uses: `lt<8 hex>_`. */
export const uniquePrefix = (): string => `lt${hex()}_`;

/** Names that try to break out of quoting, for the hostile-name tests. */
export const HOSTILE = {
  injection: 'a"; DROP TABLE victim; --',
  quote: "O'Brien",
  backslash: 'ta\\ble',
  unicode: '名前 表',
  backtick: 'b`; DROP TABLE victim; -- ',
} as const;

/** Requester sessions a test opened; closed by closeSessions() even when an assertion failed midway. */
const openSessions = new Set<() => Promise<void>>();

function trackSession(close: () => Promise<void>): void {
  const once = async () => {
    openSessions.delete(once);
    await close().catch(() => undefined);
  };
  openSessions.add(once);
}

export async function closeSessions(): Promise<void> {
  await Promise.all([...openSessions].map((close) => close()));
}

// ── PostgreSQL ───────────────────────────────────────────────────────────────────────

export async function pgClient(database: string, user = PG.user, password?: string): Promise<pg.Client> {
  const client = new pg.Client({ ...PG, user, password, database, connectionTimeoutMillis: 5000 });
  // A session ended by the server reports through 'error': the test sees it on its next query.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Connects with a delivered connection string. */
export async function pgConnect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  trackSession(() => client.end());
  return client;
}

/** Connects with the delivered fields (host, port, database, user, password). */
export async function pgConnectDetails(d: Record<string, string>): Promise<pg.Client> {
  const client = new pg.Client({ host: d.host, port: Number(d.port), database: d.database, user: d.user, password: d.password, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  trackSession(() => client.end());
  return client;
}

export async function pgAdminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(database: string, sql: string, values?: unknown[]): Promise<R[]> {
  const c = await pgClient(database);
  try {
    return (await c.query<R>(sql, values)).rows;
  } finally {
    await c.end();
  }
}

export async function createPgDatabase(name: string, setup: string[]): Promise<void> {
  await pgAdminQuery('postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const c = await pgClient(name);
  try {
    for (const sql of setup) await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function pgRolesWithPrefix(prefix: string): Promise<string[]> {
  return (await pgAdminQuery<{ rolname: string }>('postgres', 'SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname', [prefix])).map((r) => r.rolname);
}

/** Drops the test's databases and every role with its prefix (leftovers of a failed test). */
export async function pgCleanup(databases: string[], prefix: string): Promise<void> {
  for (const db of databases) await pgAdminQuery('postgres', `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
  for (const role of await pgRolesWithPrefix(prefix)) {
    await pgAdminQuery('postgres', 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
    await pgAdminQuery('postgres', `DROP OWNED BY ${pg.escapeIdentifier(role)}`);
    await pgAdminQuery('postgres', `DROP ROLE IF EXISTS ${pg.escapeIdentifier(role)}`);
  }
}

// ── MySQL / MariaDB ──────────────────────────────────────────────────────────────────

export const myIdent = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

export async function myAdmin(): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ ...MY, connectTimeout: 5000, charset: 'utf8mb4' });
  c.on('error', () => undefined);
  return c;
}

export async function myAdminQuery<R = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]> {
  const c = await myAdmin();
  try {
    const [rows] = await c.query(sql, values);
    return rows as R[];
  } finally {
    await c.end();
  }
}

export async function myConnect(details: Record<string, string>, database?: string): Promise<mysql.Connection> {
  const c = await mysql.createConnection({
    host: details.host, port: Number(details.port), user: details.user, password: details.password,
    database: database ?? details.database, connectTimeout: 5000, charset: 'utf8mb4',
  });
  c.on('error', () => undefined);
  trackSession(async () => c.destroy());
  return c;
}

export async function myUsersWithPrefix(prefix: string): Promise<string[]> {
  const rows = await myAdminQuery<{ User: string }>('SELECT User FROM mysql.user WHERE LEFT(User, ?) = ? ORDER BY User', [prefix.length, prefix]);
  return rows.map((r) => r.User);
}

export async function myCleanup(databases: string[], prefix: string): Promise<void> {
  for (const db of databases) await myAdminQuery(`DROP DATABASE IF EXISTS ${myIdent(db)}`);
  const rows = await myAdminQuery<{ User: string; Host: string }>('SELECT User, Host FROM mysql.user WHERE LEFT(User, ?) = ?', [prefix.length, prefix]);
  for (const r of rows) await myAdminQuery('DROP USER IF EXISTS ?@?', [r.User, r.Host]);
}
