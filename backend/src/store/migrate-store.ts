// `lapse migrate-store`: moves an embedded SQLite store to PostgreSQL. Everything is copied
// as stored (requests, grants, jobs, the audit log with its chain and head, favorites,
// token hashes, meta, sessions, sign-in attempts, provisioned users, the notification outbox, the audit stream's cursors, TOTP enrolments with
// their secrets still sealed) in one transaction on the target, which must be empty;
// afterwards the row counts are compared and the target's audit chain is verified against
// its head.

import { verifyAuditChain } from '../audit/verify.ts';
import { entitlementKey, type RequestRecord } from '../domain/request.ts';
import type { PostgresStore } from './postgres-store.ts';
import { storedKey } from './postgres-changes.ts';
import { STORE_TABLES, type SqliteStore } from './sqlite-store.ts';

export interface MigrationReport {
  /** Rows copied per table. */
  copied: Record<string, number>;
  auditEvents: number;
}

const ROWS_PER_INSERT = 500;

function holdingsOf(from: SqliteStore): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const row of from.readTable('requests')) {
    if (row.status !== 'granting' && row.status !== 'active') continue;
    const r = JSON.parse(String(row.doc)) as RequestRecord;
    for (const key of new Set(r.entitlements.map(entitlementKey))) rows.push({ requester: r.requester, ent_key: storedKey(key), request_id: r.id });
  }
  return rows;
}

async function verifyChain(store: SqliteStore | PostgresStore, auditKey: Buffer): Promise<{ ok: boolean; checked: number; problems: string }> {
  const result = await verifyAuditChain(store, auditKey);
  return { ok: result.ok, checked: result.checked, problems: result.problems.map((p) => `event ${p.seq}: ${p.problem}`).join('; ') };
}

/** `auditKey`: the audit chain's key (the source server's secret key, which the replicas must share). */
export async function migrateStore(from: SqliteStore, to: PostgresStore, auditKey: Buffer): Promise<MigrationReport> {
  await from.migrate();
  await to.migrate();
  // A broken chain is not carried over silently: it must be looked at where it broke.
  const source = await verifyChain(from, auditKey);
  if (!source.ok) throw new Error(`the source's audit chain does not verify (${source.problems}): nothing was copied`);
  const copied: Record<string, number> = {};
  await to.transaction(async (c) => {
    // No replica may write while the copy runs; a target in use is refused below anyway.
    await c.query(`LOCK TABLE ${STORE_TABLES.join(', ')} IN EXCLUSIVE MODE NOWAIT`).catch((err: unknown) => {
      throw new Error(`the target store is in use (${(err as Error).message}); stop its replicas first`);
    });
    for (const table of STORE_TABLES) {
      if (table === 'audit_head') continue;
      const n = Number(((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0] as { n: string }).n);
      if (n > 0) throw new Error(`the target store is not empty (${table} has ${n} rows): migrate into a new, empty database`);
    }
    for (const table of STORE_TABLES) {
      // Holdings are rebuilt from the requests: their keys hold NUL separators, which the
      // SQLite driver cuts short on reading and PostgreSQL text stores encoded.
      const rows = table === 'holdings' ? holdingsOf(from) : from.readTable(table);
      copied[table] = rows.length;
      if (table === 'audit_head') {
        // The target's head row exists from its first migration (seq 0): set it to the source's.
        const head = rows[0];
        if (head) await c.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [Number(head.seq), String(head.hash)]);
        continue;
      }
      for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
        const chunk = rows.slice(i, i + ROWS_PER_INSERT);
        const cols = Object.keys(chunk[0]!);
        const params: unknown[] = [];
        const values = chunk.map((row) => `(${cols.map((col) => {
          params.push(row[col] ?? null);
          return `$${params.length}`;
        }).join(', ')})`);
        await c.query(`INSERT INTO ${table} (${cols.map((col) => `"${col}"`).join(', ')}) VALUES ${values.join(', ')}`, params);
      }
    }
    // Checked before the commit: the counts as the target now holds them.
    for (const table of STORE_TABLES) {
      if (table === 'audit_head') continue;
      const n = Number(((await c.query(`SELECT count(*) AS n FROM ${table}`)).rows[0] as { n: string }).n);
      if (n !== copied[table]) throw new Error(`copy check failed: ${table} has ${n} rows on the target, ${copied[table]} in the source`);
    }
  });
  const target = await verifyChain(to, auditKey);
  if (!target.ok) throw new Error(`the copied audit chain does not verify: ${target.problems}`);
  if (target.checked !== source.checked) throw new Error(`the target holds ${target.checked} audit events, the source ${source.checked}`);
  return { copied, auditEvents: target.checked };
}
