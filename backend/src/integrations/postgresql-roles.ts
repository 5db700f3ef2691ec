// The life of a postgresql role: created with its marker (or, created already for the same
// request, given a new password), and dropped with its sessions ended and all it owns, many
// objects a batch per transaction; the SCRAM verifier its password is set with.

import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { decodeMarker, encodeMarker, withRetry, type LoginMarker } from './sql/common.ts';
import { isRetryable, quoteIdent, quoteLiteral, type PgAdminSessions } from './postgresql-sessions.ts';
import { revokeHeld } from './postgresql-privileges.ts';

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

/** Creates the role, or gives an existing one of the same request a new password (a re-run after a crash). */
export async function ensureRole(sessions: PgAdminSessions, role: string, password: string, marker: LoginMarker, expiresAt: number | null): Promise<void> {
  const validUntil = expiresAt === null ? 'infinity' : new Date(expiresAt).toISOString();
  // The server receives a SCRAM verifier, never the password itself (nothing to leak in its logs).
  const secret = quoteLiteral(await scramVerifier(password));
  const attrs = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD ${secret} VALID UNTIL ${quoteLiteral(validUntil)}`;
  const comment = `COMMENT ON ROLE ${quoteIdent(role)} IS ${quoteLiteral(encodeMarker(marker))}`;
  await withRetry(async () => {
    const client = await sessions.pool(sessions.adminDb).connect();
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

/**
 * Disables the role, ends its sessions, then in every database where it owns or holds
 * anything drops what it owns, with whatever depends on it (a trigger it put on another's
 * table, someone's view over its table), and revokes what it holds; then drops it. Nothing
 * it made changes owner. Gone already: nothing to do. Not Lapse's (no marker of this
 * integration): refused. If what it owns cannot all be dropped, it stays disabled, without
 * sessions and stripped of its privileges, and the error says so (a later revoke finishes).
 */
export async function dropRole(sessions: PgAdminSessions, role: string, integration: string, requestId: string | null): Promise<void> {
  const found = await sessions.query<{ oid: number; comment: string | null }>(
    sessions.adminDb, "SELECT oid, shobj_description(oid, 'pg_authid') AS comment FROM pg_roles WHERE rolname = $1", [role]);
  if (!found.rowCount) return;
  const marker = decodeMarker(found.rows[0]!.comment);
  if (!marker || marker.integration !== integration || (requestId !== null && marker.request !== requestId)) {
    throw new Error(`role ${role} exists but was not created by Lapse for this request; leaving it alone`);
  }
  const oid = found.rows[0]!.oid;
  await withRetry(() => sessions.query(sessions.adminDb, `ALTER ROLE ${quoteIdent(role)} NOLOGIN`), isRetryable);
  // Gone, not just signalled: a session still committing could add an object after the drop looked.
  await endSessions(sessions, role);
  const dependent = await sessions.query<{ datname: string; owned: number }>(sessions.adminDb,
    `SELECT d.datname,
              (SELECT count(*) FROM pg_shdepend s WHERE s.dbid = d.oid AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = $1 AND s.deptype = 'o')::int AS owned
         FROM pg_database d
        WHERE d.datallowconn AND (d.oid IN (SELECT dbid FROM pg_shdepend WHERE refclassid = 'pg_authid'::regclass AND refobjid = $1 AND dbid <> 0)
           OR d.datname = ANY($2::text[]))
        ORDER BY d.datname`,
    [oid, markerDatabases(marker)]);
  const databases = dependent.rows.length ? dependent.rows : [{ datname: sessions.adminDb, owned: 0 }];
  const failures: string[] = [];
  for (const { datname, owned } of databases) {
    try {
      await dropOwned(sessions, datname, role, oid, owned);
    } catch (err) {
      failures.push(`in database ${datname}: ${(err as Error).message}`);
    }
  }
  if (failures.length) {
    const stripped = await revokeHeld(sessions, role, databases.map((d) => d.datname));
    // Short, the cause last: error texts are cut to their end.
    throw new Error(`${role} is disabled (NOLOGIN), its sessions ended${stripped ? ' and its privileges revoked' : ''}, `
      + `but not all it owns could be dropped: ${failures.join('; ')}`);
  }
  await endSessions(sessions, role);
  try {
    await withRetry(() => sessions.query(sessions.adminDb, `DROP ROLE IF EXISTS ${quoteIdent(role)}`), isRetryable);
  } catch (err) {
    const e = err as { code?: string; message?: string; detail?: string };
    if (e.code !== '2BP01') throw err; // 2BP01: objects still depend on it (say, in a database that allows no connections)
    throw new Error(`${role} is disabled (NOLOGIN) and its sessions ended, but cannot be dropped: ${e.message}${e.detail ? ` (${e.detail.replace(/\n/g, '; ')})` : ''}`);
  }
}

/** Drops what the role owns in `database` and revokes what it holds there; many objects go a batch per transaction first. */
async function dropOwned(sessions: PgAdminSessions, database: string, role: string, oid: number, owned: number): Promise<void> {
  const dropAll = `DROP OWNED BY ${quoteIdent(role)} CASCADE`;
  if (owned <= DROP_BATCH) {
    try {
      await sessions.runAcl(database, [dropAll]);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '53200') throw err; // 53200: out of shared memory (the lock table)
    }
  }
  await dropOwnedInBatches(sessions, database, oid);
  await sessions.runAcl(database, [dropAll]);
}

/**
 * Drops the role's objects in `database`, a batch per transaction, schemas last. DROP OWNED
 * locks every object in one transaction, and a login can make tens of thousands in a
 * second (large objects, functions): that would exhaust the lock table and fail every
 * revoke, leaving its definer code running. Kinds not listed in DROP_KIND are left to the
 * final DROP OWNED.
 */
async function dropOwnedInBatches(sessions: PgAdminSessions, database: string, oid: number): Promise<void> {
  for (const schemas of [false, true]) {
    let after = '0';
    for (;;) {
      const rows = (await sessions.query<{ objid: string; type: string; identity: string }>(database,
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
      await sessions.runAcl(database, statements).catch(async () => {
        for (const st of statements) await sessions.runAcl(database, [st]).catch(() => undefined);
      });
    }
  }
}

/**
 * Ends the role's sessions and waits until they are gone (a terminated backend finishes
 * what it is committing before it exits).
 */
async function endSessions(sessions: PgAdminSessions, role: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const res = await sessions.query<{ n: number }>(sessions.adminDb,
      'SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [role]);
    if (res.rows[0]!.n === 0) return;
    if (attempt >= 50) throw new Error(`the sessions of ${role} did not end`);
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, 10 * (attempt + 1))));
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

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802 / 7677), as `ALTER ROLE … PASSWORD` accepts it. */
export async function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): Promise<string> {
  // Off the event loop (libuv's pool): a few milliseconds of CPU per grant.
  const salted = await pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
