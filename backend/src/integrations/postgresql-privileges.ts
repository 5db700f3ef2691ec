// What a postgresql permission grants, by resource type (database, schema, table): the
// privilege levels and their defaults, entitlements read as targets, the GRANT statements
// of a grant, and the REVOKEs that strip a role that could not be dropped.

import type { Entitlement } from '../domain/request.ts';
import { splitPath } from './sql/common.ts';
import { quoteIdent, type PgAdminSessions } from './postgresql-sessions.ts';

export type PgLevel = 'database' | 'schema' | 'table' | 'sequence';

export const ALLOWED: Record<PgLevel, readonly string[]> = {
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

/** The privileges per level of each permission. */
export type PgPermissions = Record<string, Record<PgLevel, string[]>>;

export interface Target {
  entitlement: Entitlement;
  database: string;
  schema?: string;
  table?: string;
}

export function parseTarget(permissions: PgPermissions, e: Entitlement): Target {
  if (!permissions[e.permission]) throw new Error(`unknown permission "${e.permission}" (known: ${Object.keys(permissions).join(', ')})`);
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

export function grantStatements(permissions: PgPermissions, role: string, t: Target, schemas: string[]): string[] {
  const p = permissions[t.entitlement.permission]!;
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

export async function applyGrants(sessions: PgAdminSessions, permissions: PgPermissions, database: string, role: string, targets: Target[]): Promise<void> {
  const schemas = targets.some((t) => t.schema === undefined)
    ? (await sessions.query<{ nspname: string }>(database,
      "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).rows.map((r) => r.nspname)
    : [];
  await sessions.runAcl(database, targets.flatMap((t) => grantStatements(permissions, role, t, schemas)));
}

/**
 * Revokes everything the role holds on the databases, schemas, tables and sequences of
 * `databases` (what a grant gives), so that a role that could not be dropped keeps no
 * privilege for its definer code to use. Best effort: false when some of it failed.
 */
export async function revokeHeld(sessions: PgAdminSessions, role: string, databases: string[]): Promise<boolean> {
  const r = quoteIdent(role);
  let ok = true;
  for (const database of databases) {
    try {
      const schemas = (await sessions.query<{ nspname: string }>(database,
        "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).rows.map((x) => x.nspname);
      await sessions.runAcl(database, [
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
