// What the postgresql integration offers to request: every database the admin user may
// connect to, with the schemas and tables in each, and the comment on each (COMMENT ON …),
// which may hold a `lapse:` line of tags.

import type { DiscoveredResource } from './integration.ts';
import type { PgAdminSessions } from './postgresql-sessions.ts';

export async function listResources(sessions: PgAdminSessions, only?: string[]): Promise<DiscoveredResource[]> {
  const out: DiscoveredResource[] = [];
  const dbs = await sessions.query<{ datname: string; comment: string | null }>(sessions.adminDb,
    "SELECT datname, shobj_description(oid, 'pg_database') AS comment FROM pg_database WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT') AND ($1::text[] IS NULL OR datname = ANY($1)) ORDER BY datname", [only ?? null]);
  for (const { datname, comment } of dbs.rows) {
    out.push({ type: 'database', name: datname, tags: {}, comment });
    let rows: Row[];
    try {
      rows = await discoverIn(sessions, datname);
    } catch {
      continue; // dropped meanwhile, or not reachable with these credentials
    }
    const seen = new Set<string>();
    for (const r of rows) {
      if (!seen.has(r.nspname)) {
        seen.add(r.nspname);
        out.push({ type: 'schema', name: r.nspname, parent: datname, tags: {}, comment: r.nspcomment });
      }
      if (r.relname !== null) out.push({ type: 'table', name: r.relname, parent: `${datname}/${r.nspname}`, tags: {}, comment: r.relcomment });
    }
  }
  return out;
}

/**
 * Schemas and tables of one database, over a connection of its own: discovery visits
 * every database and keeps nothing open, and never ends a pool a grant may be using.
 */
type Row = { nspname: string; nspcomment: string | null; relname: string | null; relcomment: string | null };

async function discoverIn(sessions: PgAdminSessions, database: string): Promise<Row[]> {
  const sql = `SELECT n.nspname, obj_description(n.oid, 'pg_namespace') AS nspcomment, c.relname, obj_description(c.oid, 'pg_class') AS relcomment FROM pg_namespace n
        LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       ORDER BY n.nspname, c.relname`;
  if (database === sessions.adminDb || sessions.hasPool(database)) return (await sessions.query<Row>(database, sql)).rows;
  const client = sessions.newClient(database);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<Row>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
