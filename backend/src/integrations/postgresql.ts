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
//
// Beside this file: the admin sessions, ACL transactions and quoting (postgresql-sessions.ts),
// what a permission grants by resource type (postgresql-privileges.ts), the role's creation
// and removal with all it owns (postgresql-roles.ts), and resource listing (postgresql-discovery.ts).

import type { DiscoveredResource, GrantedEntry, GrantInput, GrantSubject, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';
import {
  checkHealth, checkRolePrefix, cleanError, decodeMarker, DEFAULT_ROLE_PREFIX, generatePassword, loginName, markerFor, mergePermissions,
  type LoginMarker,
} from './sql/common.ts';
import { PgAdminSessions } from './postgresql-sessions.ts';
import { ALLOWED, applyGrants, parseTarget, PG_DEFAULT_PERMISSIONS, type PgLevel, type Target } from './postgresql-privileges.ts';
import { dropRole, ensureRole } from './postgresql-roles.ts';
import * as discovery from './postgresql-discovery.ts';

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
  /** The databases discovery looks into (default: every one). */
  discoverDatabases?: string[];
}

export interface PostgresOptions {
  clock?: () => number;
  /** Overrides connection.rolePrefix. */
  rolePrefix?: string;
  healthTimeoutMs?: number;
  /** Connections per database pool (default 4). */
  poolSize?: number;
}

/** PostgreSQL's maximum identifier length (NAMEDATALEN - 1). */
const MAX_ROLE_LENGTH = 63;

export class PostgresIntegration implements Integration {
  readonly type = 'postgresql';
  private readonly prefix: string;
  private readonly permissions: Record<string, Record<PgLevel, string[]>>;
  private readonly now: () => number;
  private readonly adminDb: string;
  private readonly sessions: PgAdminSessions;

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
    this.sessions = new PgAdminSessions(id, conn, this.adminDb, opts.poolSize);
  }

  /** The role a request gets on this integration. */
  roleFor(requestId: string, userId: string): string {
    return loginName(this.prefix, this.id, requestId, userId, MAX_ROLE_LENGTH);
  }

  accountOf(requestId: string, user: GrantSubject): string {
    return this.roleFor(requestId, user.id);
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    const targets = input.entitlements.map((e) => parseTarget(this.permissions, e));
    const role = this.roleFor(input.requestId, input.user.id);
    const password = generatePassword();
    const marker = markerFor(this.id, input.requestId, input.user.id, input.entitlements);
    try {
      await ensureRole(this.sessions, role, password, marker, input.expiresAt);
      const byDatabase = new Map<string, Target[]>();
      for (const t of targets) byDatabase.set(t.database, [...(byDatabase.get(t.database) ?? []), t]);
      for (const [database, list] of byDatabase) await applyGrants(this.sessions, this.permissions, database, role, list);
    } catch (err) {
      // Half a grant is no grant: the role goes (when the server can be reached), and a
      // retry starts afresh. What cannot be removed now, reconciliation removes later.
      await dropRole(this.sessions, role, this.id, input.requestId).catch(() => undefined);
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

  async revoke(input: RevokeInput): Promise<void> {
    // The role is this request's alone: `stillCovered` access lives in the other request's role.
    const role = this.roleFor(input.requestId, input.user.id);
    try {
      await dropRole(this.sessions, role, this.id, input.requestId);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `revoke of ${role} failed`);
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
    const res = await this.sessions.query<{ rolname: string; comment: string | null }>(this.adminDb,
      "SELECT rolname, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname", [this.prefix]);
    return res.rows
      .map((r) => ({ role: r.rolname, marker: decodeMarker(r.comment) }))
      .filter((r): r is { role: string; marker: LoginMarker } => r.marker !== null && r.marker.integration === this.id);
  }

  /** Drops a role this integration created, by name (reconciliation of a login no request covers). */
  async removeAccount(role: string): Promise<void> {
    try {
      await dropRole(this.sessions, role, this.id, null);
    } catch (err) {
      throw cleanError(err, [this.conn.password], `removing ${role} failed`);
    }
  }

  readonly discovers = true;

  /** Databases the admin user may connect to, with their schemas and tables (postgresql-discovery.ts). */
  async listResources(): Promise<DiscoveredResource[]> {
    return discovery.listResources(this.sessions, this.conn.discoverDatabases);
  }

  async health(): Promise<HealthReport> {
    return checkHealth(() => this.sessions.query(this.adminDb, 'SELECT 1'), this.now(), this.opts.healthTimeoutMs ?? 5000, [this.conn.password]);
  }

  async close(): Promise<void> {
    await this.sessions.close();
  }
}
