// The `mysql` integration (MySQL 8 and MariaDB 10.4+): one temporary user per request,
// holding exactly the privileges asked for, dropped on revoke with its connections killed.
//
// Config (`connection` of an integration of type mysql):
//   host, port (3306), user            the integration's admin user (see "Required privileges")
//   password                           resolved by the config loader from passwordEnv / passwordFile
//   accessHost, accessPort             host/port handed to requesters (default: host/port)
//   userHost ("%")                     the host part of the users Lapse creates ('name'@'<userHost>')
//   rolePrefix ("lapse_")              prefix of the users Lapse creates
//   bookkeepingDatabase ("lapse")      a database the integration owns, holding the table
//                                      `lapse_logins`: one row per user Lapse created (ownership marker)
//   permissions                        optional overrides: permission → list of privileges
//   connectTimeoutMs (5000)
//
// Resources: `database` ("db") and `table` ("db/table").
// What a permission grants (defaults; the `permissions` map may change them or add more):
//   read   SELECT
//   write  SELECT, INSERT, UPDATE, DELETE
//   admin  ALL PRIVILEGES (without GRANT OPTION)
// on `db`.* for a database (the name escaped so that "_" and "%" are not wildcards) or on
// `db`.`table` for a table.
//
// Ownership: MariaDB has no comment on users, so the integration records every user it
// creates in its bookkeeping table before creating it; only users listed there (with the
// prefix, for this integration) are ever listed or dropped.
//
// One user per request (not per person): revoking one request drops only its user, so
// another request of the same person that covers the same table keeps working. MySQL has
// no "valid until" for a login: expiry is enforced by Lapse's revoke alone.
//
// Stored routines, views, triggers and events run with their DEFINER's rights (by default),
// and the definer of what the user creates is the user itself. Revoke drops them all before
// the user: MariaDB would keep them with an orphaned definer that an account of the same name
// brings back to life, and MySQL 8.0.22+ refuses to drop a user who is still a definer. Tables
// have no owner and carry no rights: they stay.

import mysql from 'mysql2/promise';
import type { Entitlement } from '../domain/request.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantSubject, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';
import {
  checkHealth, checkRolePrefix, cleanError, decodeMarker, DEFAULT_ROLE_PREFIX, encodeMarker, generatePassword, loginName, markerFor, splitPath,
  withRetry, type LoginMarker,
} from './sql/common.ts';

export interface MysqlConnection {
  host: string;
  port?: number;
  user: string;
  password?: string;
  accessHost?: string;
  accessPort?: number;
  userHost?: string;
  rolePrefix?: string;
  bookkeepingDatabase?: string;
  permissions?: Record<string, string[]>;
  connectTimeoutMs?: number;
  /** The databases discovery looks into (default: every one). */
  discoverDatabases?: string[];
}

export interface MysqlOptions {
  clock?: () => number;
  /** Overrides connection.rolePrefix. */
  rolePrefix?: string;
  healthTimeoutMs?: number;
  /** Connections in the pool (default 4). */
  poolSize?: number;
  /** How long one statement may take before it fails (default 15000 ms): a server that stops answering must not hold a revoke for ever. */
  queryTimeoutMs?: number;
}

export const MYSQL_DEFAULT_PERMISSIONS: Record<string, string[]> = {
  read: ['SELECT'],
  write: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  admin: ['ALL PRIVILEGES'],
};

const ALLOWED = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'INDEX', 'ALTER', 'CREATE VIEW', 'SHOW VIEW', 'TRIGGER', 'REFERENCES',
  'CREATE TEMPORARY TABLES', 'LOCK TABLES', 'EXECUTE', 'CREATE ROUTINE', 'ALTER ROUTINE', 'EVENT', 'ALL PRIVILEGES', 'ALL',
];
/** Privileges that exist at table level (a table grant with any other is refused before reaching the server). */
const TABLE_LEVEL = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'CREATE', 'DROP', 'INDEX', 'ALTER', 'CREATE VIEW', 'SHOW VIEW', 'TRIGGER', 'REFERENCES', 'ALL PRIVILEGES', 'ALL'];

/** MySQL's limit for user names (MariaDB allows 80). */
const MAX_USER_LENGTH = 32;
const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys'];
/** Kinds of stored objects with a definer, as information_schema names them, dropped by `DROP <kind>`. */
const DEFINED_KINDS = ['PROCEDURE', 'FUNCTION', 'VIEW', 'TRIGGER', 'EVENT'];

/** `name` as a quoted identifier: backticks around, inner backticks doubled. */
export const quoteIdent = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

/** A database name for `GRANT … ON db.*`, where "_" and "%" are wildcards and "\" escapes: all three escaped. */
const quoteDbPattern = (name: string): string => quoteIdent(name.replace(/[\\_%]/g, (c) => `\\${c}`));

export class MysqlIntegration implements Integration {
  readonly type = 'mysql';
  private poolInstance: mysql.Pool | null = null;
  private readonly prefix: string;
  private readonly permissions: Record<string, string[]>;
  private readonly now: () => number;
  private readonly bookDb: string;
  private readonly userHost: string;
  private bookkeeping: Promise<void> | null = null;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly conn: MysqlConnection,
    private readonly opts: MysqlOptions = {},
  ) {
    const where = `integration ${id}: connection`;
    if (!conn.host) throw new Error(`${where}.host is required`);
    if (!conn.user) throw new Error(`${where}.user is required`);
    this.prefix = checkRolePrefix(opts.rolePrefix ?? conn.rolePrefix ?? DEFAULT_ROLE_PREFIX, `${where}.rolePrefix`);
    this.permissions = mysqlPermissions(conn.permissions, `${where}.permissions`);
    this.now = opts.clock ?? Date.now;
    this.bookDb = conn.bookkeepingDatabase ?? 'lapse';
    this.userHost = conn.userHost ?? '%';
  }

  /** The user a request gets on this integration. */
  userFor(requestId: string, userId: string): string {
    return loginName(this.prefix, this.id, requestId, userId, MAX_USER_LENGTH);
  }

  accountOf(requestId: string, user: GrantSubject): string {
    return this.userFor(requestId, user.id);
  }

  private get pool(): mysql.Pool {
    if (this.closed) throw new Error(`integration ${this.id} is closed`);
    if (!this.poolInstance) {
      this.poolInstance = mysql.createPool({
        host: this.conn.host,
        port: this.conn.port ?? 3306,
        user: this.conn.user,
        password: this.conn.password,
        connectionLimit: this.opts.poolSize ?? 4,
        connectTimeout: this.conn.connectTimeoutMs ?? 5000,
        charset: 'utf8mb4',
        multipleStatements: false,
        maxIdle: 2,
        idleTimeout: 10_000,
      });
      // An idle connection dropping must not crash the process; the next query reconnects.
      this.poolInstance.on('connection', (c) => c.on('error', () => undefined));
    }
    return this.poolInstance;
  }

  private async query<R>(sql: string, values?: unknown[]): Promise<R> {
    const [rows] = await this.pool.query({ sql, values, timeout: this.opts.queryTimeoutMs ?? 15_000 });
    return rows as R;
  }

  private books(): string {
    return `${quoteIdent(this.bookDb)}.\`lapse_logins\``;
  }

  private ensureBookkeeping(): Promise<void> {
    if (!this.bookkeeping) {
      this.bookkeeping = (async () => {
        await this.query(`CREATE DATABASE IF NOT EXISTS ${quoteIdent(this.bookDb)} CHARACTER SET utf8mb4`);
        await this.query(`CREATE TABLE IF NOT EXISTS ${this.books()} (
          login VARCHAR(80) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
          host VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
          integration VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
          request_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
          marker MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,
          created_at BIGINT NOT NULL,
          PRIMARY KEY (login, host)) CHARACTER SET utf8mb4`);
      })();
      this.bookkeeping.catch(() => (this.bookkeeping = null));
    }
    return this.bookkeeping;
  }

  private parseTarget(e: Entitlement): { entitlement: Entitlement; database: string; table?: string; on: string } {
    const privileges = this.permissions[e.permission];
    if (!privileges) throw new Error(`unknown permission "${e.permission}" (known: ${Object.keys(this.permissions).join(', ')})`);
    switch (e.resourceType) {
      case 'database': {
        if (e.resource.includes('/') || !e.resource) throw new Error(`database "${e.resource}" must be a single name`);
        return { entitlement: e, database: e.resource, on: `${quoteDbPattern(e.resource)}.*` };
      }
      case 'table': {
        const [database, table] = splitPath(e.resource, 2, 'table');
        const notTable = privileges.filter((p) => !TABLE_LEVEL.includes(p));
        if (notTable.length) throw new Error(`permission "${e.permission}" holds ${notTable.join(', ')}, which a table cannot be granted`);
        return { entitlement: e, database: database!, table, on: `${quoteIdent(database!)}.${quoteIdent(table!)}` };
      }
      default:
        throw new Error(`unknown resource type "${e.resourceType}" (mysql knows database, table)`);
    }
  }

  /** The bookkeeping row of a login, and whether the login exists on the server. */
  /**
   * Rows of the bookkeeping table; none while it does not exist (only a grant creates it,
   * so listing and revoking on a server Lapse never granted on leaves nothing behind).
   */
  private async readBooks<R>(sql: string, values: unknown[]): Promise<R[]> {
    try {
      return await this.query<R[]>(sql, values);
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno === 1146 || errno === 1049) return []; // no such table / database
      throw err;
    }
  }

  private async lookup(login: string): Promise<{ marker: LoginMarker | null; recorded: boolean; exists: boolean }> {
    const rows = await this.readBooks<{ marker: string }>(`SELECT marker FROM ${this.books()} WHERE login = ? AND host = ?`, [login, this.userHost]);
    const users = await this.query<unknown[]>('SELECT 1 FROM mysql.user WHERE User = ? AND Host = ?', [login, this.userHost]);
    return { marker: rows.length ? decodeMarker(rows[0]!.marker) : null, recorded: rows.length > 0, exists: users.length > 0 };
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    const targets = input.entitlements.map((e) => this.parseTarget(e));
    const login = this.userFor(input.requestId, input.user.id);
    const password = generatePassword();
    const marker = markerFor(this.id, input.requestId, input.user.id, input.entitlements);
    try {
      await this.ensureBookkeeping();
      const found = await this.lookup(login);
      if ((found.exists && !found.recorded) || (found.recorded && (!found.marker || found.marker.integration !== this.id || found.marker.request !== input.requestId))) {
        throw new Error(`user ${login} already exists and was not created by Lapse for this request; leaving it alone`);
      }
      for (const t of targets) {
        const dbs = await this.query<unknown[]>('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [t.database]);
        if (!dbs.length) throw new Error(`database "${t.database}" does not exist`);
      }
      // Recorded before it exists: no Lapse user is ever without its marker.
      await this.query(
        `INSERT INTO ${this.books()} (login, host, integration, request_id, marker, created_at) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE marker = VALUES(marker)`,
        [login, this.userHost, this.id, input.requestId, encodeMarker(marker), this.now()]);
      await withRetry(async () => {
        await this.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [login, this.userHost, password]);
        // Unlocked too: a failed attempt before may have left it locked on its way out.
        await this.query('ALTER USER ?@? IDENTIFIED BY ? ACCOUNT UNLOCK', [login, this.userHost, password]);
        for (const t of targets) await this.query(`GRANT ${this.permissions[t.entitlement.permission]!.join(', ')} ON ${t.on} TO ?@?`, [login, this.userHost]);
      }, isRetryable);
    } catch (err) {
      // Half a grant is no grant: the user goes (when the server can be reached), and a
      // retry starts afresh. What cannot be removed now, reconciliation removes later.
      await this.dropUser(login, input.requestId).catch(() => undefined);
      throw cleanError(err, [password, this.conn.password], `grant of ${login} failed`);
    }
    const host = this.conn.accessHost ?? this.conn.host;
    const port = this.conn.accessPort ?? this.conn.port ?? 3306;
    const databases = [...new Set(targets.map((t) => t.database))];
    const database = databases[0] ?? '';
    return {
      accessDetails: {
        host, port: String(port), database, user: login, password,
        url: `mysql://${encodeURIComponent(login)}:${encodeURIComponent(password)}@${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(database)}`,
        ...(databases.length > 1 ? { databases: databases.join(', ') } : {}),
      },
    };
  }

  async revoke(input: RevokeInput): Promise<void> {
    // The user is this request's alone: `stillCovered` access lives in the other request's user.
    const login = this.userFor(input.requestId, input.user.id);
    try {
      await this.dropUser(login, input.requestId);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `revoke of ${login} failed`);
    }
  }

  /**
   * Locks the user (new logins refused), kills its connections, revokes its privileges,
   * drops every stored object it is the definer of, drops it, then forgets it.
   */
  private async dropUser(login: string, requestId: string | null): Promise<void> {
    const found = await this.lookup(login);
    if (!found.recorded) {
      if (found.exists) throw new Error(`user ${login} exists but was not created by Lapse; leaving it alone`);
      return;
    }
    if (!found.marker || found.marker.integration !== this.id || (requestId !== null && found.marker.request !== requestId)) {
      throw new Error(`user ${login} was not created by Lapse for this request; leaving it alone`);
    }
    await withRetry(() => this.query('ALTER USER IF EXISTS ?@? ACCOUNT LOCK', [login, this.userHost]), isRetryable);
    // Gone, not just told to go: nothing of the user runs while its objects are looked for.
    await this.endSessions(login);
    if (found.exists) {
      // Its definer objects run with its privileges even while it is locked: none left to them
      // should dropping them fail below.
      await withRetry(() => this.query('REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?', [login, this.userHost]), isRetryable);
    }
    try {
      await this.dropDefinedBy(login);
    } catch (err) {
      // Short, the cause last: error texts are cut to their end.
      throw new Error(`${login} is locked, its connections ended and its privileges revoked, but not all it defined could be dropped: ${(err as Error).message}`);
    }
    await withRetry(() => this.query('DROP USER IF EXISTS ?@?', [login, this.userHost]), isRetryable);
    await this.query(`DELETE FROM ${this.books()} WHERE login = ? AND host = ?`, [login, this.userHost]);
  }

  /** Kills the user's connections and waits until none is left. */
  private async endSessions(login: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const sessions = await this.query<{ ID: number }[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [login]);
      if (!sessions.length) return;
      if (attempt >= 50) throw new Error(`the connections of ${login} did not end`);
      for (const s of sessions) {
        await this.query('KILL CONNECTION ?', [s.ID]).catch((err: { errno?: number }) => {
          if (err.errno !== 1094) throw err; // 1094: unknown thread, it ended meanwhile
        });
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, 10 * (attempt + 1))));
    }
  }

  /**
   * Drops the routines (and MariaDB packages), views, triggers and events whose definer is
   * the user, in every database. The user cannot name another definer (that takes SUPER or
   * SET_USER_ID), so this is everything it made that runs with its rights.
   */
  private async dropDefinedBy(login: string): Promise<void> {
    const definer = `${login}@${this.userHost}`;
    const found: { kind: string; db: string; name: string }[] = [];
    // One query each: their columns' collations differ (a UNION of them can fail on MySQL 8).
    for (const sql of [
      'SELECT ROUTINE_TYPE AS kind, ROUTINE_SCHEMA AS db, ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE DEFINER = ?',
      "SELECT 'VIEW' AS kind, TABLE_SCHEMA AS db, TABLE_NAME AS name FROM information_schema.VIEWS WHERE DEFINER = ?",
      "SELECT 'TRIGGER' AS kind, TRIGGER_SCHEMA AS db, TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE DEFINER = ?",
      "SELECT 'EVENT' AS kind, EVENT_SCHEMA AS db, EVENT_NAME AS name FROM information_schema.EVENTS WHERE DEFINER = ?",
    ]) found.push(...await this.query<{ kind: string; db: string; name: string }[]>(sql, [definer]));
    const statements = found.map((o) => ({ kind: String(o.kind), sql: `DROP ${String(o.kind)} IF EXISTS ${quoteIdent(String(o.db))}.${quoteIdent(String(o.name))}` }));
    const plain = statements.filter((st) => DEFINED_KINDS.includes(st.kind));
    for (const st of plain) await this.query(st.sql);
    // MariaDB packages: their DROP exists only in Oracle mode, so on a connection of its own, closed after.
    const packages = statements.filter((st) => st.kind === 'PACKAGE' || st.kind === 'PACKAGE BODY');
    if (packages.length) {
      const conn = await this.pool.getConnection();
      try {
        await conn.query({ sql: "SET SESSION sql_mode = 'ORACLE'", timeout: this.opts.queryTimeoutMs ?? 15_000 });
        // The package first: dropping it drops its body.
        for (const st of [...packages].sort((a, b) => a.kind.length - b.kind.length)) await conn.query({ sql: st.sql, timeout: this.opts.queryTimeoutMs ?? 15_000 });
      } finally {
        conn.destroy();
      }
    }
    const unknown = statements.filter((st) => !DEFINED_KINDS.includes(st.kind) && !st.kind.startsWith('PACKAGE'));
    if (unknown.length) throw new Error(`${login} is the definer of objects Lapse cannot drop: ${unknown.map((st) => st.kind).join(', ')}`);
  }

  /** Users this integration created that still exist, with their markers (reconciliation, tests). */
  async markedUsers(): Promise<{ user: string; marker: LoginMarker }[]> {
    const rows = await this.readBooks<{ login: string; marker: string }>(
      `SELECT login, marker FROM ${this.books()} WHERE integration = ? AND host = ? AND LEFT(login, ?) = ? ORDER BY login`,
      [this.id, this.userHost, this.prefix.length, this.prefix]);
    if (!rows.length) return [];
    const existing = new Set((await this.query<{ User: string }[]>(
      'SELECT User FROM mysql.user WHERE Host = ? AND LEFT(User, ?) = ?', [this.userHost, this.prefix.length, this.prefix])).map((r) => String(r.User)));
    return rows
      .filter((r) => existing.has(r.login))
      .map((r) => ({ user: r.login, marker: decodeMarker(r.marker) }))
      .filter((r): r is { user: string; marker: LoginMarker } => r.marker !== null);
  }

  async listGranted(): Promise<GrantedEntry[]> {
    return (await this.markedUsers()).flatMap(({ user, marker }) => marker.entitlements.map((e) => ({
      account: user,
      user: marker.user,
      requestId: marker.request,
      entitlement: { integration: this.id, resourceType: e.resourceType, resource: e.resource, permission: e.permission },
    })));
  }

  /** Drops a user this integration created, by name (reconciliation of a login no request covers). */
  async removeAccount(login: string): Promise<void> {
    try {
      await this.dropUser(login, null);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `removing ${login} failed`);
    }
  }

  readonly discovers = true;

  /**
   * Databases and their tables, with their comments (a table's COMMENT; a database's where the
   * server keeps one, MariaDB 10.5 and later), which may hold a `lapse:` line of tags.
   */
  async listResources(): Promise<DiscoveredResource[]> {
    const hidden = [...SYSTEM_DATABASES, this.bookDb];
    // SELECT *: SCHEMA_COMMENT exists on MariaDB 10.5 and later only.
    const only = this.conn.discoverDatabases;
    const within = only ? ' AND SCHEMA_NAME IN (?)' : '';
    const dbs = await this.query<Record<string, unknown>[]>(
      `SELECT * FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?)${within} ORDER BY SCHEMA_NAME`, only ? [hidden, only] : [hidden]);
    const tables = await this.query<{ db: string; name: string; comment: string | null }[]>(
      `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_COMMENT AS comment FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN (?)${within.replace('SCHEMA_NAME', 'TABLE_SCHEMA')} ORDER BY TABLE_SCHEMA, TABLE_NAME`, only ? [hidden, only] : [hidden]);
    const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
    return [
      ...dbs.map((d) => ({ type: 'database', name: String(d.SCHEMA_NAME), tags: {}, comment: text(d.SCHEMA_COMMENT) })),
      ...tables.map((t) => ({ type: 'table', name: String(t.name), parent: String(t.db), tags: {}, comment: text(t.comment) })),
    ];
  }

  async health(): Promise<HealthReport> {
    return checkHealth(() => this.query('SELECT 1'), this.now(), this.opts.healthTimeoutMs ?? 5000, [this.conn.password]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const p = this.poolInstance;
    this.poolInstance = null;
    await p?.end().catch(() => undefined);
  }
}

function mysqlPermissions(configured: unknown, where: string): Record<string, string[]> {
  const out: Record<string, string[]> = { ...MYSQL_DEFAULT_PERMISSIONS };
  if (configured === undefined || configured === null) return out;
  if (typeof configured !== 'object' || Array.isArray(configured)) throw new Error(`${where}: must be a map of permission name to a list of privileges`);
  for (const [perm, list] of Object.entries(configured as Record<string, unknown>)) {
    if (!Array.isArray(list) || !list.length || list.some((p) => typeof p !== 'string')) throw new Error(`${where}.${perm}: must be a non-empty list of privilege names`);
    const privileges = (list as string[]).map((p) => p.trim().toUpperCase().replace(/\s+/g, ' '));
    for (const p of privileges) if (!ALLOWED.includes(p)) throw new Error(`${where}.${perm}: unknown privilege "${p}" (allowed: ${ALLOWED.join(', ')})`);
    out[perm] = privileges;
  }
  return out;
}

/** Deadlocks and lock waits on the privilege tables, which succeed when tried again. */
function isRetryable(err: unknown): boolean {
  const errno = (err as { errno?: number }).errno;
  return errno === 1213 || errno === 1205;
}
