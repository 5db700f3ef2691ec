// Shared pieces of the benchmarks: generated configurations, seeding a data directory
// directly through the store, a server child process, an HTTP load loop and percentiles.

import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import Database from 'libsql';
import { stringify } from 'yaml';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { entitlementKey, jobId, type Entitlement, type GrantRecord, type JobRecord, type RequestRecord } from '../src/domain/request.ts';
import { createToken } from '../src/auth/tokens.ts';
import { openStore } from '../src/service.ts';
import type { Integration } from '../src/integrations/integration.ts';

export const REPO = new URL('../..', import.meta.url).pathname;

const tempDirs: string[] = [];
// A scenario's data directories hold up to hundreds of megabytes: gone when the bench ends
// (BENCH_KEEP_DIRS=1 keeps them for a look).
process.on('exit', () => {
  if (process.env.BENCH_KEEP_DIRS) return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `lapse-bench-${label}-`));
  tempDirs.push(dir);
  return dir;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export function summarize(values: number[]): { n: number; p50: number; p99: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

/** A team of `users` people and `databases` demo databases; one auto-approved flow over them all. */
export function writeTeamConfig(dir: string, users: number, databases: number): string {
  const config = {
    settings: { admins: ['u0'] },
    identities: {
      users: Array.from({ length: users }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, groups: ['engineering'] })),
    },
    integrations: [{
      id: 'demo', type: 'demo',
      resources: Array.from({ length: databases }, (_, i) => ({ type: 'database', name: `db${i}`, tags: { env: i % 2 ? 'prod' : 'staging' } })),
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

export interface SeedSpec {
  users: number;
  databases: number;
  count: number;
  /** expiresAt of the i-th grant. */
  expiresAt: (i: number) => number;
}

/**
 * Writes `count` active requests (one entitlement each, a distinct user/database pair
 * where possible) with their expire jobs, and the demo integration's own record of them.
 */
export async function seedActiveGrants(dataDir: string, spec: SeedSpec): Promise<void> {
  const store = new SqliteStore(join(dataDir, 'lapse.db'));
  await store.migrate();
  const demo = new Database(join(dataDir, 'demo-demo.db'));
  demo.exec(`CREATE TABLE IF NOT EXISTS granted (
      user_id TEXT NOT NULL, resource_type TEXT NOT NULL, resource TEXT NOT NULL, permission TEXT NOT NULL,
      request_id TEXT, granted_at INTEGER NOT NULL, PRIMARY KEY (user_id, resource_type, resource, permission));
    CREATE TABLE IF NOT EXISTS calls (seq INTEGER PRIMARY KEY, op TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL,
      entitlements TEXT NOT NULL, ok INTEGER NOT NULL, at INTEGER NOT NULL);`);
  const insertGranted = demo.prepare('INSERT OR IGNORE INTO granted VALUES (?, ?, ?, ?, ?, ?)');
  const now = Date.now();
  const batch = 2000;
  for (let start = 0; start < spec.count; start += batch) {
    const requests: RequestRecord[] = [];
    const grants: GrantRecord[] = [];
    const jobs: JobRecord[] = [];
    demo.exec('BEGIN');
    for (let i = start; i < Math.min(spec.count, start + batch); i++) {
      const user = `u${i % spec.users}`;
      const permission = Math.floor(i / (spec.users * spec.databases)) % 2 ? 'write' : 'read';
      const e: Entitlement = { integration: 'demo', resourceType: 'database', resource: `db${Math.floor(i / spec.users) % spec.databases}`, permission };
      const id = `seed-${i.toString().padStart(7, '0')}`;
      const expiresAt = spec.expiresAt(i);
      requests.push({
        id, requester: user, flowId: 'auto', bundleId: null, status: 'active', entitlements: [e], durationMs: 3_600_000, justification: null,
        labels: [], breakGlass: false, createdAt: now - 3_600_000, updatedAt: now, startAt: null, grantedAt: expiresAt - 3_600_000, expiresAt,
        endedAt: null, endReason: null, endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic', decisions: [],
        extensions: 0, pendingExtension: null, error: null, version: 1,
      });
      grants.push({ requestId: id, integration: 'demo', status: 'active', entitlements: [e], accessDetails: null, attempts: 1, lastError: null, grantedAt: expiresAt - 3_600_000, revokedAt: null });
      jobs.push({ id: jobId('expire', id), kind: 'expire', requestId: id, integration: null, warningOffsetsMs: [], dueAt: expiresAt, attempts: 0, lastError: null, leaseOwner: null, leaseUntil: null });
      insertGranted.run(user, e.resourceType, e.resource, e.permission, id, now);
      void entitlementKey;
    }
    demo.exec('COMMIT');
    await store.commit({ insertRequests: requests, insertGrants: grants, insertJobs: jobs });
  }
  demo.close();
  await store.close();
}

export async function tokenFor(dataDir: string, user: string): Promise<string> {
  // With the audit key (made on first use, as the server would): making a token is audited.
  const store = openStore(dataDir);
  await store.migrate();
  const { token } = await createToken(store, user, 'bench');
  await store.close();
  return token;
}

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  startedAt: number;
  /** When the `listening` line arrived. */
  listeningAt: number;
  /** Peak resident set size of the server process (VmHWM), bytes. */
  peakRss(): number;
  /** CPU time the server's main thread (its API) has used so far, ms (Linux's USER_HZ of 100: 10 ms steps). */
  apiThreadCpuMs(): number;
  stop(): Promise<void>;
}

export async function startServerProcess(configPath: string, dataDir: string, env: Record<string, string> = {}): Promise<ServerProcess> {
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS ? process.env.BENCH_SERVER_NODE_ARGS.split(' ') : [];
  const child = spawn(process.execPath, [...nodeArgs, join(REPO, 'backend/bin/lapse.js'), 'server', '--config', configPath, '--data-dir', dataDir, '--port', '0'], {
    env: { ...process.env, LAPSE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (process.env.BENCH_SERVER_STDERR) child.stderr!.on('data', (d: Buffer) => process.stderr.write(d));
  const startedAt = Date.now();
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${buf}`)), 60_000);
    child.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${buf}`)));
  });
  const listeningAt = Date.now();
  return {
    url,
    port: Number(new URL(url).port),
    child,
    startedAt,
    listeningAt,
    peakRss() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    },
    apiThreadCpuMs() {
      // Fields 14 and 15 of stat (utime, stime), counted after the command name in parentheses.
      const stat = readFileSync(`/proc/${child.pid}/task/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function httpCall(url: string, method: string, token: string | null, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(url, {
      method, agent,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

/** Runs `clients` concurrent loops of `call` for `durationMs`; latencies in ms. */
export async function loadLoop(clients: number, durationMs: number, call: (client: number, i: number) => Promise<boolean>): Promise<{ ok: number; failed: number; latencies: number[]; seconds: number }> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    let i = 0;
    while (performance.now() < end) {
      const t = performance.now();
      const success = await call(c, i++).catch(() => false);
      latencies.push(performance.now() - t);
      if (success) ok++;
      else failed++;
    }
  }));
  return { ok, failed, latencies, seconds: (performance.now() - start) / 1000 };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Jobs left in a data directory's store (with `dueBy`, those due by then), read over one
 * connection kept open: a cheap look (an index range), so that watching a server work
 * takes next to nothing from it.
 */
export function jobsWatcher(dataDir: string): { left(dueBy?: number): number; close(): void } {
  const db = new Database(join(dataDir, 'lapse.db'));
  const all = db.prepare('SELECT count(*) AS n FROM jobs');
  const due = db.prepare('SELECT count(*) AS n FROM jobs WHERE due_at <= ?');
  return {
    left: (dueBy) => Number(((dueBy === undefined ? all.get() : due.get(dueBy)) as { n: number }).n),
    close: () => db.close(),
  };
}

/** When each request ended (endedAt), by id, straight from a data directory's store. */
export function endTimes(dataDir: string): Map<string, number | null> {
  const db = new Database(join(dataDir, 'lapse.db'));
  try {
    return new Map((db.prepare('SELECT id, doc FROM requests').all() as { id: string; doc: string }[]).map((r) => [r.id, (JSON.parse(r.doc) as RequestRecord).endedAt]));
  } finally {
    db.close();
  }
}

/** Counts requests by status straight from a data directory's store. */
export function countStatuses(dataDir: string): Record<string, number> {
  const db = new Database(join(dataDir, 'lapse.db'));
  try {
    const out: Record<string, number> = {};
    for (const row of db.prepare('SELECT status, count(*) AS n FROM requests GROUP BY status').all() as { status: string; n: number }[]) out[row.status] = Number(row.n);
    return out;
  } finally {
    db.close();
  }
}

/** Revocation lag (endedAt − expiresAt) of every expired request, ms. */
export function expiryLags(dataDir: string): number[] {
  const db = new Database(join(dataDir, 'lapse.db'));
  try {
    return (db.prepare("SELECT doc FROM requests WHERE status = 'expired'").all() as { doc: string }[]).map((r) => {
      const d = JSON.parse(r.doc) as RequestRecord;
      return d.endedAt! - d.expiresAt!;
    });
  } finally {
    db.close();
  }
}

export function demoGrantedCount(dataDir: string): number {
  const db = new Database(join(dataDir, 'demo-demo.db'));
  try {
    return Number((db.prepare('SELECT count(*) AS n FROM granted').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

/** `n` grant-then-revoke cycles straight on an integration (each its own request): the latency of each call, in ms. */
export async function grantRevokeCycles(integration: Integration, ent: Entitlement, n: number): Promise<{ grant: number[]; revoke: number[] }> {
  const grant: number[] = [];
  const revoke: number[] = [];
  for (let i = 0; i < n; i++) {
    const input = { requestId: `bench-${randomBytes(4).toString('hex')}-${i}`, user: { id: `u${i % 20}`, email: `u${i % 20}@example.com` }, entitlements: [ent], expiresAt: Date.now() + 3_600_000 };
    let t = performance.now();
    await integration.grant(input);
    grant.push(performance.now() - t);
    t = performance.now();
    await integration.revoke({ ...input, stillCovered: [] });
    revoke.push(performance.now() - t);
  }
  return { grant, revoke };
}
