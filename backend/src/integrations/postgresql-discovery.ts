// What the postgresql integration offers to request: every database the admin user may
// connect to, with the schemas and tables in each.

import type { DiscoveredResource } from './integration.ts';
import type { PgAdminSessions } from './postgresql-sessions.ts';

export async function listResources(sessions: PgAdminSessions): Promise<DiscoveredResource[]> {
  const out: DiscoveredResource[] = [];
  const dbs = await sessions.query<{ datname: string }>(sessions.adminDb,
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT') ORDER BY datname");
  for (const { datname } of dbs.rows) {
    out.push({ type: 'database', name: datname, tags: {} });
    let rows: { nspname: string; relname: string | null }[];
    try {
      rows = await discoverIn(sessions, datname);
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
async function discoverIn(sessions: PgAdminSessions, database: string): Promise<{ nspname: string; relname: string | null }[]> {
  const sql = `SELECT n.nspname, c.relname FROM pg_namespace n
        LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
       WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
       ORDER BY n.nspname, c.relname`;
  if (database === sessions.adminDb || sessions.hasPool(database)) return (await sessions.query<{ nspname: string; relname: string | null }>(database, sql)).rows;
  const client = sessions.newClient(database);
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.query<{ nspname: string; relname: string | null }>(sql)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}
