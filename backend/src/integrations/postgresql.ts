// The `postgresql` integration: one temporary LOGIN role per request, holding exactly the
// privileges asked for, dropped on revoke with its sessions ended.
//
// Config (`connection` of an integration of type postgresql):
//   host, port (5432), user            the integration's admin user (see "Required privileges")
//   password                           resolved by the config loader from passwordEnv / passwordFile
//   database ("postgres")              where roles are managed and discovery starts
//   accessHost, accessPort             host/port handed to requesters (default: host/port)
//   rolePrefix ("lapse_")              prefix of the roles Lapse creates
//   permissions                        optional overrides: permission → { database, schema, table, sequence } privilege lists
//   ssl (false), connectTimeoutMs (5000), statementTimeoutMs (15000)
//
// Resources: `database` ("db"), `schema` ("db/schema"), `table` ("db/schema/table").
// What a permission grants (defaults; the `permissions` map may change them or add more):
//   read   database: CONNECT;                  schema: USAGE;          table: SELECT;                          sequence: SELECT
//   write  database: CONNECT;                  schema: USAGE;          table: SELECT, INSERT, UPDATE, DELETE;  sequence: USAGE, SELECT
//   admin  database: CONNECT, CREATE, TEMPORARY; schema: USAGE, CREATE; table: ALL;                            sequence: ALL
// applied by resource type:
//   table     CONNECT on its database, USAGE on its schema, the table privileges on that table only
//   schema    CONNECT on its database, the schema privileges, the table and sequence privileges on every
//             table and sequence in the schema at grant time
//   database  the database privileges, and on every schema of it (except pg_* and information_schema)
//             what a `schema` resource gets, at grant time
//
// One role per request (not per person): revoking one request drops only its role, so
// another request of the same person that covers the same table keeps working.
//
// What the role created goes with it (DROP OWNED … CASCADE), never to another owner: a
// SECURITY DEFINER function, a view or anything else that acts with its owner's rights would
// otherwise keep acting after the grant ended, with the rights of whoever it was handed to.
// The admin user's sessions search pg_catalog only, so that a function or operator the role
// planted in a shared schema (shadowing a built-in) never runs as the admin user.

import pg from 'pg';
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Entitlement } from '../domain/request.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantSubject, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';
import {
  checkHealth, checkRolePrefix, cleanError, decodeMarker, DEFAULT_ROLE_PREFIX, encodeMarker, generatePassword, loginName, markerFor, mergePermissions,
  splitPath, withRetry, type LoginMarker,
} from './sql/common.ts';

export interface PostgresConnection {
  host: string;
  port?: number;
  user: string;
  password?: string;
  database?: string;
  accessHost?: string;
  accessPort?: number;
  rolePrefix?: string;
  permissions?: Record<string, Partial<Record<PgLevel, string[]>>>;
  ssl?: boolean;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

export interface PostgresOptions {
  clock?: () => number;
  /** Overrides connection.rolePrefix. */
  rolePrefix?: string;
  healthTimeoutMs?: number;
  /** Connections per database pool (default 4). */
  poolSize?: number;
}

export type PgLevel = 'database' | 'schema' | 'table' | 'sequence';

const ALLOWED: Record<PgLevel, readonly string[]> = {
  database: ['CONNECT', 'CREATE', 'TEMPORARY', 'ALL'],
  schema: ['USAGE', 'CREATE', 'ALL'],
  table: ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER', 'ALL'],
  sequence: ['USAGE', 'SELECT', 'UPDATE', 'ALL'],
};

export const PG_DEFAULT_PERMISSIONS: Record<string, Record<PgLevel, string[]>> = {
  read: { database: ['CONNECT'], schema: ['USAGE'], table: ['SELECT'], sequence: ['SELECT'] },
  write: { database: ['CONNECT'], schema: ['USAGE'], table: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'], sequence: ['USAGE', 'SELECT'] },
  admin: { database: ['CONNECT', 'CREATE', 'TEMPORARY'], schema: ['USAGE', 'CREATE'], table: ['ALL'], sequence: ['ALL'] },
};

/** PostgreSQL's maximum identifier length (NAMEDATALEN - 1). */
const MAX_ROLE_LENGTH = 63;

/**
 * The admin user's sessions resolve unqualified names in pg_catalog only (pg_temp last): a
 * role with CREATE on a schema can plant a function or operator there that matches a
 * built-in's call more closely (`starts_with(name, text)`), which would run as the admin user.
 */
const ADMIN_SESSION_OPTIONS = '-c search_path=pg_catalog,pg_temp';

/**
 * Objects dropped per transaction when a role owns many: each takes a lock until commit, and
 * the server's lock table is shared and small (max_locks_per_transaction × connections).
 */
const DROP_BATCH = 200;

/** How an object `pg_identify_object` describes is dropped, for the kinds dropped in batches. */
const DROP_KIND: Record<string, string> = {
  table: 'TABLE', view: 'VIEW', 'materialized view': 'MATERIALIZED VIEW', sequence: 'SEQUENCE', 'foreign table': 'FOREIGN TABLE',
  function: 'ROUTINE', procedure: 'ROUTINE', aggregate: 'ROUTINE', type: 'TYPE', operator: 'OPERATOR', schema: 'SCHEMA',
  collation: 'COLLATION', conversion: 'CONVERSION', 'text search configuration': 'TEXT SEARCH CONFIGURATION',
  'text search dictionary': 'TEXT SEARCH DICTIONARY', 'statistics object': 'STATISTICS', publication: 'PUBLICATION',
};

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
const quoteLiteral = (text: string): string => pg.escapeLiteral(text);

interface Target {
  entitlement: Entitlement;
  database: string;
  schema?: string;
  table?: string;
}

export class PostgresIntegration implements Integration {
  readonly type = 'postgresql';
  private readonly pools = new Map<string, pg.Pool>();
  private readonly prefix: string;
  private readonly permissions: Record<string, Record<PgLevel, string[]>>;
  private readonly now: () => number;
  /** ACL changes waiting for their database's next transaction (see runAcl). */
  private readonly aclQueues = new Map<string, { statements: string[]; resolve: () => void; reject: (err: unknown) => void }[]>();
  private readonly adminDb: string;
  private closed = false;

  constructor(
    readonly id: string,
    private readonly conn: PostgresConnection,
    private readonly opts: PostgresOptions = {},
  ) {
    const where = `integration ${id}: connection`;
    if (!conn.host) throw new Error(`${where}.host is required`);
    if (!conn.user) throw new Error(`${where}.user is required`);
    this.prefix = checkRolePrefix(opts.rolePrefix ?? conn.rolePrefix ?? DEFAULT_ROLE_PREFIX, `${where}.rolePrefix`);
    this.permissions = mergePermissions(PG_DEFAULT_PERMISSIONS, conn.permissions, ALLOWED, `${where}.permissions`);
    this.now = opts.clock ?? Date.now;
    this.adminDb = conn.database ?? 'postgres';
  }

  /** The role a request gets on this integration. */
  roleFor(requestId: string, userId: string): string {
    return loginName(this.prefix, this.id, requestId, userId, MAX_ROLE_LENGTH);
  }

  accountOf(requestId: string, user: GrantSubject): string {
    return this.roleFor(requestId, user.id);
  }

  private pool(database: string): pg.Pool {
    if (this.closed) throw new Error(`integration ${this.id} is closed`);
    let p = this.pools.get(database);
    if (!p) {
      p = new pg.Pool({
        host: this.conn.host,
        port: this.conn.port ?? 5432,
        user: this.conn.user,
        password: this.conn.password,
        database,
        ssl: this.conn.ssl ? { rejectUnauthorized: true } : undefined,
        max: this.opts.poolSize ?? 4,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: this.conn.connectTimeoutMs ?? 5000,
        statement_timeout: this.conn.statementTimeoutMs ?? 15_000,
        query_timeout: (this.conn.statementTimeoutMs ?? 15_000) + 2000,
        allowExitOnIdle: true,
        application_name: 'lapse',
        options: ADMIN_SESSION_OPTIONS,
      });
      // A connection dropping (server restart, network cut) must not crash the process: an
      // idle client's error reaches the pool, a busy one's its query, which rejects.
      p.on('error', () => undefined);
      p.on('connect', (client) => client.on('error', () => undefined));
      this.pools.set(database, p);
    }
    return p;
  }

  private async query<R extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool(database).query<R>(text, values);
  }

  private parseTarget(e: Entitlement): Target {
    if (!this.permissions[e.permission]) throw new Error(`unknown permission "${e.permission}" (known: ${Object.keys(this.permissions).join(', ')})`);
    switch (e.resourceType) {
      case 'database': {
        const [database] = splitPath(e.resource, 1, 'database');
        if (e.resource.includes('/')) throw new Error(`database "${e.resource}" must be a single name`);
        return { entitlement: e, database: database! };
      }
      case 'schema': {
        const [database, schema] = splitPath(e.resource, 2, 'schema');
        if (schema!.includes('/')) throw new Error(`schema "${e.resource}" must be "database/schema"`);
        return { entitlement: e, database: database!, schema };
      }
      case 'table': {
        const [database, schema, table] = splitPath(e.resource, 3, 'table');
        return { entitlement: e, database: database!, schema, table };
      }
      default:
        throw new Error(`unknown resource type "${e.resourceType}" (postgresql knows database, schema, table)`);
    }
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    const targets = input.entitlements.map((e) => this.parseTarget(e));
    const role = this.roleFor(input.requestId, input.user.id);
    const password = generatePassword();
    const marker = markerFor(this.id, input.requestId, input.user.id, input.entitlements);
    try {
      await this.ensureRole(role, password, marker, input.expiresAt);
      const byDatabase = new Map<string, Target[]>();
      for (const t of targets) byDatabase.set(t.database, [...(byDatabase.get(t.database) ?? []), t]);
      for (const [database, list] of byDatabase) await this.applyGrants(database, role, list);
    } catch (err) {
      // Half a grant is no grant: the role goes (when the server can be reached), and a
      // retry starts afresh. What cannot be removed now, reconciliation removes later.
      await this.dropRole(role, this.id, input.requestId).catch(() => undefined);
      throw cleanError(err, [password, this.conn.password], `grant of ${role} failed`);
    }
    const host = this.conn.accessHost ?? this.conn.host;
    const port = this.conn.accessPort ?? this.conn.port ?? 5432;
    const databases = [...new Set(targets.map((t) => t.database))];
    const database = databases[0] ?? this.adminDb;
    const url = `postgresql://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(database)}`;
    return {
      accessDetails: {
        host, port: String(port), database, user: role, password, url,
        ...(databases.length > 1 ? { databases: databases.join(', ') } : {}),
        ...(input.expiresAt !== null ? { validUntil: new Date(input.expiresAt).toISOString() } : {}),
      },
    };
  }

  /** Creates the role, or gives an existing one of the same request a new password (a re-run after a crash). */
  private async ensureRole(role: string, password: string, marker: LoginMarker, expiresAt: number | null): Promise<void> {
    const validUntil = expiresAt === null ? 'infinity' : new Date(expiresAt).toISOString();
    // The server receives a SCRAM verifier, never the password itself (nothing to leak in its logs).
    const secret = quoteLiteral(await scramVerifier(password));
    const attrs = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD ${secret} VALID UNTIL ${quoteLiteral(validUntil)}`;
    const comment = `COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(encodeMarker(marker))}`;
    await withRetry(async () => {
      const client = await this.pool(this.adminDb).connect();
      try {
        // The usual case in one round trip. Created and marked in one transaction: no Lapse
        // role exists without its marker.
        try {
          await client.query(['BEGIN', `CREATE ROLE ${quoteIdent(role)} WITH ${attrs}`, comment, 'COMMIT'].join(';\n'));
          return;
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          if ((err as { code?: string }).code !== '42710') throw err; // 42710: the role exists (a grant run again)
        }
        await client.query('BEGIN');
        const found = await client.query<{ comment: string | null }>(
          "SELECT shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [role]);
        if (!found.rowCount) throw Object.assign(new Error(`role ${role} vanished while being granted`), { code: '40001' }); // retried
        const existing = decodeMarker(found.rows[0]!.comment);
        if (!existing || existing.integration !== marker.integration || existing.request !== marker.request) {
          throw new Error(`role ${role} already exists and was not created by Lapse for this request; leaving it alone`);
        }
        await client.query(`ALTER ROLE ${quoteIdent(role)} WITH ${attrs}`);
        await client.query(comment);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    }, isRetryable);
  }

  private grantStatements(role: string, t: Target, schemas: string[]): string[] {
    const p = this.permissions[t.entitlement.permission]!;
    const r = quoteIdent(role);
    const db = quoteIdent(t.database);
    const list = (privs: string[]) => privs.join(', ');
    const out: string[] = [];
    const dbPrivs = t.entitlement.resourceType === 'database' ? [...new Set(['CONNECT', ...p.database])] : ['CONNECT'];
    out.push(`GRANT ${list(dbPrivs)} ON DATABASE ${db} TO ${r}`);
    if (t.table !== undefined) {
      out.push(`GRANT USAGE ON SCHEMA ${quoteIdent(t.schema!)} TO ${r}`);
      if (p.table.length) out.push(`GRANT ${list(p.table)} ON TABLE ${quoteIdent(t.schema!)}.${quoteIdent(t.table)} TO ${r}`);
      return out;
    }
    for (const s of t.schema !== undefined ? [t.schema] : schemas) {
      const qs = quoteIdent(s);
      if (p.schema.length) out.push(`GRANT ${list(p.schema)} ON SCHEMA ${qs} TO ${r}`);
      if (p.table.length) out.push(`GRANT ${list(p.table)} ON ALL TABLES IN SCHEMA ${qs} TO ${r}`);
      if (p.sequence.length) out.push(`GRANT ${list(p.sequence)} ON ALL SEQUENCES IN SCHEMA ${qs} TO ${r}`);
    }
    return out;
  }

  private async applyGrants(database: string, role: string, targets: Target[]): Promise<void> {
    const schemas = targets.some((t) => t.schema === undefined)
      ? (await this.query<{ nspname: string }>(database,
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).rows.map((r) => r.nspname)
      : [];
    await this.runAcl(database, targets.flatMap((t) => this.grantStatements(role, t, schemas)));
  }

  /**
   * Runs ACL-changing statements in `database`. Concurrent GRANTs on one object collide in
   * PostgreSQL ("tuple concurrently updated"), so the changes of one database run one
   * transaction at a time here; whatever queued up meanwhile (other requests' grants and
   * revokes) shares the next transaction. If a shared transaction fails, each part is run
   * alone, so one bad grant fails only its own request.
   */
  private runAcl(database: string, statements: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const queued = this.aclQueues.get(database);
      const item = { statements, resolve, reject };
      if (queued) {
        queued.push(item);
        return;
      }
      this.aclQueues.set(database, [item]);
      void this.drainAcl(database);
    });
  }

  private async drainAcl(database: string): Promise<void> {
    for (;;) {
      const batch = this.aclQueues.get(database)!;
      if (!batch.length) {
        this.aclQueues.delete(database);
        return;
      }
      this.aclQueues.set(database, []);
      try {
        await withRetry(() => this.inTransaction(database, batch.flatMap((b) => b.statements)), isRetryable);
        for (const b of batch) b.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        for (const b of batch) {
          try {
            await withRetry(() => this.inTransaction(database, b.statements), isRetryable);
            b.resolve();
          } catch (e) {
            b.reject(e);
          }
        }
      }
    }
  }

  private async inTransaction(database: string, statements: string[]): Promise<void> {
    const client = await this.pool(database).connect();
    try {
      // One round trip: the statements are fully quoted, without parameters.
      await client.query(['BEGIN', ...statements, 'COMMIT'].join(';\n'));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async revoke(input: RevokeInput): Promise<void> {
    // The role is this request's alone: `stillCovered` access lives in the other request's role.
    const role = this.roleFor(input.requestId, input.user.id);
    try {
      await this.dropRole(role, this.id, input.requestId);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `revoke of ${role} failed`);
    }
  }

  /**
   * Disables the role, ends its sessions, then in every database where it owns or holds
   * anything drops what it owns, with whatever depends on it (a trigger it put on another's
   * table, someone's view over its table), and revokes what it holds; then drops it. Nothing
   * it made changes owner. Gone already: nothing to do. Not Lapse's (no marker of this
   * integration): refused. If what it owns cannot all be dropped, it stays disabled, without
   * sessions and stripped of its privileges, and the error says so (a later revoke finishes).
   */
  private async dropRole(role: string, integration: string, requestId: string | null): Promise<void> {
    const found = await this.query<{ oid: number; comment: string | null }>(
      this.adminDb, "SELECT oid, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [role]);
    if (!found.rowCount) return;
    const marker = decodeMarker(found.rows[0]!.comment);
    if (!marker || marker.integration !== integration || (requestId !== null && marker.request !== requestId)) {
      throw new Error(`role ${role} exists but was not created by Lapse for this request; leaving it alone`);
    }
    const oid = found.rows[0]!.oid;
    await withRetry(() => this.query(this.adminDb, `ALTER ROLE ${quoteIdent(role)} NOLOGIN`), isRetryable);
    // Gone, not just signalled: a session still committing could add an object after the drop looked.
    await this.endSessions(role);
    const dependent = await this.query<{ datname: string; owned: number }>(this.adminDb,
      `SELECT d.datname,
              (SELECT count(*) FROM pg_shdepend s WHERE s.dbid = d.oid AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1 AND s.deptype = 'o')::int AS owned
         FROM pg_database d
        WHERE d.datallowconn AND (d.oid IN (SELECT dbid FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass AND refobjid = $1 AND dbid <> 0)
           OR d.datname = ANY($2::text[]))
        ORDER BY d.datname`,
      [oid, markerDatabases(marker)]);
    const databases = dependent.rows.length ? dependent.rows : [{ datname: this.adminDb, owned: 0 }];
    const failures: string[] = [];
    for (const { datname, owned } of databases) {
      try {
        await this.dropOwned(datname, role, oid, owned);
      } catch (err) {
        failures.push(`in database ${datname}: ${(err as Error).message}`);
      }
    }
    if (failures.length) {
      const stripped = await this.revokeHeld(role, databases.map((d) => d.datname));
      // Short, the cause last: error texts are cut to their end.
      throw new Error(`${role} is disabled (NOLOGIN), its sessions ended${stripped ? ' and its privileges revoked' : ''}, `
        + `but not all it owns could be dropped: ${failures.join('; ')}`);
    }
    await this.endSessions(role);
    try {
      await withRetry(() => this.query(this.adminDb, `DROP ROLE IF EXISTS ${quoteIdent(role)}`), isRetryable);
    } catch (err) {
      const e = err as { code?: string; message?: string; detail?: string };
      if (e.code !== '2BP01') throw err; // 2BP01: objects still depend on it (say, in a database that allows no connections)
      throw new Error(`${role} is disabled (NOLOGIN) and its sessions ended, but cannot be dropped: ${e.message}${e.detail ? ` (${e.detail.replace(/\n/g, '; ')})` : ''}`);
    }
  }

  /** Drops what the role owns in `database` and revokes what it holds there; many objects go a batch per transaction first. */
  private async dropOwned(database: string, role: string, oid: number, owned: number): Promise<void> {
    const dropAll = `DROP OWNED BY ${quoteIdent(role)} CASCADE`;
    if (owned <= DROP_BATCH) {
      try {
        await this.runAcl(database, [dropAll]);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '53200') throw err; // 53200: out of shared memory (the lock table)
      }
    }
    await this.dropOwnedInBatches(database, oid);
    await this.runAcl(database, [dropAll]);
  }

  /**
   * Drops the role's objects in `database`, a batch per transaction, schemas last. DROP OWNED
   * locks every object in one transaction, and a login can make tens of thousands in a
   * second (large objects, functions): that would exhaust the lock table and fail every
   * revoke, leaving its definer code running. Kinds not listed in DROP_KIND are left to the
   * final DROP OWNED.
   */
  private async dropOwnedInBatches(database: string, oid: number): Promise<void> {
    for (const schemas of [false, true]) {
      let after = '0';
      for (;;) {
        const rows = (await this.query<{ objid: string; type: string; identity: string }>(database,
          `SELECT s.objid::text AS objid, i.type, i.identity
             FROM (SELECT classid, objid, objsubid FROM pg_shdepend
                    WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND refclassid = 'pg_authid'::regclass AND refobjid = $1 AND deptype = 'o'
                      AND objid > $2::oid AND (classid = 'pg_namespace'::regclass) = $3
                    ORDER BY objid LIMIT $4) s
             CROSS JOIN LATERAL pg_identify_object(s.classid, s.objid, s.objsubid) i
            ORDER BY s.objid`, [oid, after, schemas, DROP_BATCH])).rows;
        if (!rows.length) break;
        after = rows[rows.length - 1]!.objid;
        const statements = batchDrops(rows);
        if (!statements.length) continue;
        // One that fails (gone meanwhile, blocked) does not hold up the others; the final DROP OWNED reports it.
        await this.runAcl(database, statements).catch(async () => {
          for (const st of statements) await this.runAcl(database, [st]).catch(() => undefined);
        });
      }
    }
  }

  /**
   * Revokes everything the role holds on the databases, schemas, tables and sequences of
   * `databases` (what a grant gives), so that a role that could not be dropped keeps no
   * privilege for its definer code to use. Best effort: false when some of it failed.
   */
  private async revokeHeld(role: string, databases: string[]): Promise<boolean> {
    const r = quoteIdent(role);
    let ok = true;
    for (const database of databases) {
      try {
        const schemas = (await this.query<{ nspname: string }>(database,
          "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).rows.map((x) => x.nspname);
        await this.runAcl(database, [
          `REVOKE ALL ON DATABASE ${quoteIdent(database)} FROM ${r}`,
          ...schemas.flatMap((n) => [
            `REVOKE ALL ON ALL TABLES IN SCHEMA ${quoteIdent(n)} FROM ${r}`,
            `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${quoteIdent(n)} FROM ${r}`,
            `REVOKE ALL ON SCHEMA ${quoteIdent(n)} FROM ${r}`,
          ]),
        ]);
      } catch {
        ok = false;
      }
    }
    return ok;
  }

  /**
   * Ends the role's sessions and waits until they are gone (a terminated backend finishes
   * what it is committing before it exits).
   */
  private async endSessions(role: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const res = await this.query<{ n: number }>(this.adminDb,
        'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [role]);
      if (res.rows[0]!.n === 0) return;
      if (attempt >= 50) throw new Error(`the sessions of ${role} did not end`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, 10 * (attempt + 1))));
    }
  }

  /** Roles of this integration's prefix that carry its marker, one entry per entitlement they were granted. */
  async listGranted(): Promise<GrantedEntry[]> {
    const roles = await this.markedRoles();
    return roles.flatMap(({ role, marker }) => marker.entitlements.map((e) => ({
      account: role,
      user: marker.user,
      requestId: marker.request,
      entitlement: { integration: this.id, resourceType: e.resourceType, resource: e.resource, permission: e.permission },
    })));
  }

  /** Names and markers of the roles this integration created (prefix and its marker), for reconciliation and tests. */
  async markedRoles(): Promise<{ role: string; marker: LoginMarker }[]> {
    const res = await this.query<{ rolname: string; comment: string | null }>(this.adminDb,
      "SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname", [this.prefix]);
    return res.rows
      .map((r) => ({ role: r.rolname, marker: decodeMarker(r.comment) }))
      .filter((r): r is { role: string; marker: LoginMarker } => r.marker !== null && r.marker.integration === this.id);
  }

  /** Drops a role this integration created, by name (reconciliation of a login no request covers). */
  async removeAccount(role: string): Promise<void> {
    try {
      await this.dropRole(role, this.id, null);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `removing ${role} failed`);
    }
  }

  async listResources(): Promise<DiscoveredResource[]> {
    const out: DiscoveredResource[] = [];
    const dbs = await this.query<{ datname: string }>(this.adminDb,
      "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT') ORDER BY datname");
    for (const { datname } of dbs.rows) {
      out.push({ type: 'database', name: datname, tags: {} });
      let rows: { nspname: string; relname: string | null }[];
      try {
        rows = await this.discoverIn(datname);
      } catch {
        continue; // dropped meanwhile, or not reachable with these credentials
      }
      const seen = new Set<string>();
      for (const r of rows) {
        if (!seen.has(r.nspname)) {
          seen.add(r.nspname);
          out.push({ type: 'schema', name: r.nspname, parent: datname, tags: {} });
        }
        if (r.relname !== null) out.push({ type: 'table', name: r.relname, parent: `${datname}/${r.nspname}`, tags: {} });
      }
    }
    return out;
  }

  /**
   * Schemas and tables of one database, over a connection of its own: discovery visits
   * every database and keeps nothing open, and never ends a pool a grant may be using.
   */
  private async discoverIn(database: string): Promise<{ nspname: string; relname: string | null }[]> {
    const sql = `SELECT n.nspname, c.relname FROM pg_namespace n
        LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       ORDER BY n.nspname, c.relname`;
    if (database === this.adminDb || this.pools.has(database)) return (await this.query<{ nspname: string; relname: string | null }>(database, sql)).rows;
    const client = new pg.Client({
      host: this.conn.host, port: this.conn.port ?? 5432, user: this.conn.user, password: this.conn.password, database,
      ssl: this.conn.ssl ? { rejectUnauthorized: true } : undefined, connectionTimeoutMillis: this.conn.connectTimeoutMs ?? 5000,
      statement_timeout: this.conn.statementTimeoutMs ?? 15_000, application_name: 'lapse', options: ADMIN_SESSION_OPTIONS,
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return (await client.query<{ nspname: string; relname: string | null }>(sql)).rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async health(): Promise<HealthReport> {
    return checkHealth(() => this.query(this.adminDb, 'SELECT 1'), this.now(), this.opts.healthTimeoutMs ?? 5000, [this.conn.password]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }
}

const pbkdf2Async = promisify(pbkdf2);

function markerDatabases(m: LoginMarker): string[] {
  return [...new Set(m.entitlements.map((e) => e.resource.split('/')[0]!))];
}

/**
 * DROP statements for a batch of a role's objects as `pg_identify_object` names them (the
 * identity comes quoted from the server); large objects are unlinked in one statement.
 */
function batchDrops(rows: { objid: string; type: string; identity: string }[]): string[] {
  const out: string[] = [];
  const largeObjects = rows.filter((r) => r.type === 'large object' && /^\d+$/.test(r.objid)).map((r) => r.objid);
  if (largeObjects.length) {
    out.push(`SELECT count(lo_unlink(oid)) FROM pg_largeobject_metadata WHERE oid = ANY('{${largeObjects.join(',')}}'::oid[])`);
  }
  for (const r of rows) {
    const kind = DROP_KIND[r.type];
    if (kind) out.push(`DROP ${kind} IF EXISTS ${r.identity} CASCADE`);
  }
  return out;
}

/** Catalog races between concurrent sessions that succeed when tried again. */
function isRetryable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '40001' || e.code === '40P01' || e.code === '23505' || e.code === '42710'
    || (e.code === 'XX000' && /tuple concurrently (updated|deleted)/.test(e.message ?? ''));
}

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 / 7677), as `ALTER ROLE … PASSWORD` accepts it. */
export async function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): Promise<string> {
  // Off the event loop (libuv's pool): a few milliseconds of CPU per grant.
  const salted = await pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
