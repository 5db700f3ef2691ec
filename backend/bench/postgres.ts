// PostgreSQL benchmarks (`npm run bench -- postgres`): the scheduler's revoke throughput and
// lag with 1, 2 and 3 replica processes on one database, beside the SQLite single process on
// the same grants, and the failover time after a replica holding due work is killed.
//
// Each run gets a fresh database on the server of BENCH_PG_URL (default: the test server),
// dropped afterwards. The grants are seeded into a SQLite store (fast), copied with
// `migrate-store`'s code, then their expiries are moved to start a few seconds ahead, so the
// time seeding takes does not matter.

import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'libsql';
import { stringify } from 'yaml';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { migrateStore } from '../src/store/migrate-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY, TEST_SECRET_KEY } from '../src/store/postgres-test-support.ts';
import type { RequestRecord } from '../src/domain/request.ts';
import { countStatuses, expiryLags, seedActiveGrants, sleep, startServerProcess, summarize, tempDir, type ServerProcess } from './support.ts';

type Report = (name: string, figure: string, target?: string) => void;

const USERS = 200;
const DATABASES = 500;
/** Seeded expiries start here (far ahead), then are moved to just ahead of the run. */
const SEED_BASE = Date.now() + 24 * 3_600_000;

function writeConfig(dir: string, recordFile: string, faultsFile?: string): string {
  const config = {
    settings: { admins: ['u0'], expiryWarnings: [] },
    identities: { users: Array.from({ length: USERS }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, groups: ['engineering'] })) },
    integrations: [{
      id: 'demo', type: 'demo', connection: { recordFile, ...(faultsFile ? { faultsFile } : {}) },
      resources: Array.from({ length: DATABASES }, (_, i) => ({ type: 'database', name: `db${i}` })),
    }],
    flows: [{
      id: 'auto', kind: 'self-serve',
      requesters: { conditions: [{ attribute: 'group', op: 'is', value: ['engineering'] }] },
      targets: [{ integration: 'demo', resourceType: 'database', resources: 'any', permissions: ['read', 'write'] }],
      grantFor: '1h', maxDuration: '8h', approval: 'automatic',
    }],
  };
  const path = join(dir, 'lapse.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

/** A SQLite data directory with `count` active grants expiring at SEED_BASE + spread; reused for every run. */
async function seedTemplate(count: number, spreadMs: number): Promise<string> {
  const dir = tempDir('pg-seed');
  await seedActiveGrants(dir, { users: USERS, databases: DATABASES, count, expiresAt: (i) => SEED_BASE + Math.floor((i * spreadMs) / count) });
  // Everything into the main files, which the runs copy.
  for (const file of ['lapse.db', 'demo-demo.db']) {
    const db = new Database(join(dir, file));
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    db.close();
  }
  return dir;
}

/** Moves every expiry (and its expire job) by `deltaMs`. */
async function shiftExpiries(store: PostgresStore, deltaMs: number): Promise<void> {
  await store.transaction(async (c) => {
    await c.query(
      `UPDATE requests SET doc = jsonb_set(jsonb_set(doc::jsonb, '{expiresAt}', to_jsonb((doc::jsonb->>'expiresAt')::bigint + $1)),
         '{grantedAt}', to_jsonb((doc::jsonb->>'grantedAt')::bigint + $1))::text WHERE status = 'active'`,
      [deltaMs],
    );
    await c.query("UPDATE jobs SET due_at = due_at + $1 WHERE kind = 'expire'", [deltaMs]);
  });
}

async function pgStatus(store: PostgresStore): Promise<Record<string, number>> {
  return store.countByStatus();
}

async function pgLags(store: PostgresStore): Promise<{ lags: number[]; firstExpiry: number; lastEnd: number }> {
  const rows = (await store.pool.query("SELECT doc FROM requests WHERE status = 'expired'")).rows as { doc: string }[];
  const docs = rows.map((r) => JSON.parse(r.doc) as RequestRecord);
  return {
    lags: docs.map((d) => d.endedAt! - d.expiresAt!),
    firstExpiry: Math.min(...docs.map((d) => d.expiresAt!)),
    lastEnd: Math.max(...docs.map((d) => d.endedAt!)),
  };
}

function figures(report: Report, label: string, count: number, lags: number[], firstExpiry: number, lastEnd: number): void {
  const s = summarize(lags);
  const seconds = (lastEnd - firstExpiry) / 1000;
  report(`${label}: revoked`, `${s.n.toLocaleString()} of ${count.toLocaleString()} in ${seconds.toFixed(1)} s from the first expiry (${(s.n / seconds).toFixed(0)} revokes/s)`);
  report(`${label}: lag p50 / p99 / max`, `${s.p50.toFixed(0)} / ${s.p99.toFixed(0)} / ${s.max.toFixed(0)} ms`);
}

async function waitUntilDone(status: () => Promise<Record<string, number>> | Record<string, number>, deadline: number): Promise<void> {
  for (;;) {
    await sleep(500);
    const st = await status();
    if ((st.active ?? 0) + (st.revoking ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`not finished: ${JSON.stringify(st)}`);
  }
}

async function sqliteRun(report: Report, template: string, count: number, spreadMs: number): Promise<void> {
  const dir = tempDir('pg-sqlite');
  for (const f of ['lapse.db', 'demo-demo.db']) copyFileSync(join(template, f), join(dir, f));
  const store = new SqliteStore(join(dir, 'lapse.db'));
  const start = Date.now() + 8000;
  store.execRaw("UPDATE requests SET doc = json_set(doc, '$.expiresAt', json_extract(doc, '$.expiresAt') + ?, '$.grantedAt', json_extract(doc, '$.grantedAt') + ?) WHERE status = 'active'", start - SEED_BASE, start - SEED_BASE);
  store.execRaw("UPDATE jobs SET due_at = due_at + ? WHERE kind = 'expire'", start - SEED_BASE);
  await store.close();
  const configPath = writeConfig(dir, join(dir, 'demo-demo.db'));
  const server = await startServerProcess(configPath, dir);
  try {
    await waitUntilDone(() => countStatuses(dir), start + spreadMs + 180_000);
  } finally {
    await server.stop();
  }
  const st = countStatuses(dir);
  if ((st.expired ?? 0) !== count) console.log(`  (SQLite run ended with ${JSON.stringify(st)})`);
  const db = new Database(join(dir, 'lapse.db'));
  const ends = db.prepare("SELECT min(json_extract(doc, '$.expiresAt')) AS a, max(json_extract(doc, '$.endedAt')) AS b FROM requests WHERE status = 'expired'").get() as { a: number; b: number };
  db.close();
  figures(report, 'SQLite, 1 process', count, expiryLags(dir), Number(ends.a), Number(ends.b));
}

async function replicaRun(report: Report, template: string, replicas: number, count: number, spreadMs: number): Promise<void> {
  const db = await createTestDatabase('lapse_bench');
  const dir = tempDir(`pg-${replicas}`);
  const store = new PostgresStore(db.url);
  const servers: ServerProcess[] = [];
  try {
    const source = new SqliteStore(join(template, 'lapse.db'));
    await migrateStore(source, store, TEST_AUDIT_KEY);
    await source.close();
    const recordFile = join(dir, 'demo-record.db');
    copyFileSync(join(template, 'demo-demo.db'), recordFile);
    const configPath = writeConfig(dir, recordFile);
    for (let i = 0; i < replicas; i++) servers.push(await startServerProcess(configPath, join(dir, `data-${i}`), { LAPSE_DATABASE_URL: db.url, LAPSE_SECRET_KEY: TEST_SECRET_KEY }));
    const start = Date.now() + 5000;
    await shiftExpiries(store, start - SEED_BASE);
    await waitUntilDone(() => pgStatus(store), start + spreadMs + 180_000);
    const { lags, firstExpiry, lastEnd } = await pgLags(store);
    figures(report, `PostgreSQL, ${replicas} replica${replicas > 1 ? 's' : ''}`, count, lags, firstExpiry, lastEnd);
  } finally {
    for (const s of servers) await s.stop();
    await store.close();
    await db.drop();
  }
}

/** Kills the replica that holds due work (slowed down by the target) and times how long until another finished it. */
async function failoverRun(report: Report): Promise<void> {
  const leaseMs = Number(process.env.BENCH_FAILOVER_LEASE_MS ?? 3000);
  // At most one grant per user: a person's revokes on one integration run one at a time in a
  // process, so a second grant of the same user would wait for the first's slow target call.
  const count = Math.min(USERS, Number(process.env.BENCH_FAILOVER_GRANTS ?? 200));
  const db = await createTestDatabase('lapse_bench');
  const dir = tempDir('pg-failover');
  const store = new PostgresStore(db.url);
  const servers: ServerProcess[] = [];
  const faultsFile = join(dir, 'faults.json');
  const setFaults = (faults: object) => {
    writeFileSync(faultsFile + '.tmp', JSON.stringify(faults));
    renameSync(faultsFile + '.tmp', faultsFile);
  };
  try {
    const template = tempDir('pg-failover-seed');
    await seedActiveGrants(template, { users: USERS, databases: DATABASES, count, expiresAt: () => SEED_BASE });
    const source = new SqliteStore(join(template, 'lapse.db'));
    await migrateStore(source, store, TEST_AUDIT_KEY);
    await source.close();
    const recordFile = join(dir, 'demo-record.db');
    copyFileSync(join(template, 'demo-demo.db'), recordFile);
    // Revokes hang in the target: whoever claims the due work holds it when killed.
    setFaults({ latencyMs: 60_000 });
    const configPath = writeConfig(dir, recordFile, faultsFile);
    for (let i = 0; i < 2; i++) servers.push(await startServerProcess(configPath, join(dir, `data-${i}`), { LAPSE_DATABASE_URL: db.url, LAPSE_SECRET_KEY: TEST_SECRET_KEY, LAPSE_LEASE_MS: String(leaseMs) }));
    await shiftExpiries(store, Date.now() + 1000 - SEED_BASE);
    // Wait until the expire jobs ran and the revoke jobs are claimed (held in the slow target).
    let held: { owner: string; ids: string[] } | undefined;
    for (let i = 0; i < 200 && !held; i++) {
      await sleep(100);
      const rows = (await store.pool.query("SELECT lease_owner, request_id FROM jobs WHERE kind = 'revoke' AND lease_owner IS NOT NULL")).rows as { lease_owner: string; request_id: string }[];
      const total = Number(((await store.pool.query("SELECT count(*) AS n FROM jobs WHERE kind = 'revoke'")).rows[0] as { n: string }).n);
      if (total === count && rows.length === count) {
        const byOwner = new Map<string, string[]>();
        for (const r of rows) byOwner.set(r.lease_owner, [...(byOwner.get(r.lease_owner) ?? []), r.request_id]);
        const [owner, ids] = [...byOwner.entries()].sort((a, b) => b[1].length - a[1].length)[0]!;
        held = { owner, ids };
      }
    }
    if (!held) throw new Error('the revoke jobs were never all claimed');
    const victim = servers.find((s) => held!.owner.includes(`:${s.child.pid}:`));
    if (!victim) throw new Error(`no server process matches lease owner ${held.owner}`);
    const leaseUntil = Number(((await store.pool.query('SELECT max(lease_until) AS t FROM jobs WHERE lease_owner = $1', [held.owner])).rows[0] as { t: string }).t);
    setFaults({});
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    // The survivor's own held revokes finish when its slow target calls return; only the victim's matter here.
    for (;;) {
      await sleep(50);
      const left = Number(((await store.pool.query("SELECT count(*) AS n FROM requests WHERE id = ANY($1::text[]) AND status <> 'expired'", [held.ids])).rows[0] as { n: string }).n);
      if (left === 0) break;
      if (Date.now() - killedAt > leaseMs + 60_000) throw new Error('the killed replica\'s work was not taken over');
    }
    const rows = (await store.pool.query("SELECT max((doc::jsonb->>'endedAt')::bigint) AS t FROM requests WHERE id = ANY($1::text[])", [held.ids])).rows as { t: string }[];
    const doneAt = Number(rows[0]!.t);
    report(`failover (lease ${leaseMs} ms, ${held.ids.length} revokes held by the killed replica)`, `${doneAt - killedAt} ms from the kill until another replica finished them (lease had ${Math.max(0, leaseUntil - killedAt)} ms left)`, `≤ lease + 1 s = ${leaseMs + 1000} ms`);
  } finally {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
    await store.close();
    await db.drop();
  }
}

export async function postgresBench(report: Report): Promise<void> {
  const count = Number(process.env.BENCH_PG_GRANTS ?? 50_000);
  const spreadMs = Number(process.env.BENCH_PG_SPREAD_S ?? 30) * 1000;
  // BENCH_PG_REPLICAS=0: the failover figure only.
  const replicaCounts = (process.env.BENCH_PG_REPLICAS ?? '1,2,3').split(',').map(Number).filter((n) => n > 0);
  if (replicaCounts.length > 0) {
    console.log(`postgres: ${count.toLocaleString()} active grants expiring over ${spreadMs / 1000} s; SQLite (1 process) and PostgreSQL (${replicaCounts.join(', ')} replicas)`);
    const template = await seedTemplate(count, spreadMs);
    await sqliteRun(report, template, count, spreadMs);
    for (const n of replicaCounts) await replicaRun(report, template, n, count, spreadMs);
  }
  await failoverRun(report);
}
