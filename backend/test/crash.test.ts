// Crash recovery of a real server process (README, "Request lifecycle": a crash at any point
// leaves a job that runs again or a finished state: nothing stays granted past its expiry,
// nothing is granted twice).
//
// A `lapse server` child process runs on a temporary data directory with the demo
// integration, whose faults file lets the test slow down or break the target from outside.
// With work in every stage — access active, grant calls in flight (`granting`), revokes
// failing and waiting in backoff (`revoking`) — the server is killed with SIGKILL. Once every
// active request is past its expiry, the server is started again on the same data directory
// (the stale pid lock must not block it) and the test measures how long it takes to bring
// every overdue request to a final state: at most 2 s from the `listening` line. Then it
// checks the target's own record against the engine's: nothing left granted, every request
// granted exactly once per request that became active, and an intact audit chain.
//
// A revoke that was waiting out a backoff when the server died is retried as soon as the
// server starts again (service.ts), not when that backoff would have ended: the revokes
// here fail 4 times before the kill, so their next retry is ~8 s away at the restart.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'libsql';
import { openStore } from '../src/service.ts';
import { createToken } from '../src/auth/tokens.ts';
import type { GrantRecord, JobRecord, RequestRecord, RequestStatus } from '../src/domain/request.ts';
import { FINAL_STATUSES } from '../src/domain/request.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAPSE = join(ROOT, 'backend', 'bin', 'lapse.js');

/** The requirement: overdue work is finished this soon after a restart. */
const RECOVERY_BOUND_MS = 2000;
/** Requests revoked while the target is down (their revokes back off). */
const REVOKED_COUNT = 6;
/** Requests left active at the kill (they expire while the server is down). */
const ACTIVE_COUNT = 24;
/** Requests whose grant call is in flight at the kill. */
const GRANTING_COUNT = 10;
/** Failed revoke attempts to wait for before the kill: the 4th backs off ~8 s (±20 %). */
const REVOKE_FAILURES_BEFORE_KILL = 4;
/** How long the slow target holds a grant call (phase 2). */
const GRANT_LATENCY_MS = 20_000;

const USERS = Array.from({ length: REVOKED_COUNT + ACTIVE_COUNT + GRANTING_COUNT }, (_, i) => `u${String(i + 1).padStart(2, '0')}`);
const ENTITLEMENT = { integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' };

// ── child processes ──────────────────────────────────────────────────────────────────

const children = new Set<ChildProcess>();
let workDir: string | undefined;

after(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  await Promise.all([...children].map((c) => exited(c, 10_000).catch(() => undefined)));
  if (workDir && !process.env.LAPSE_KEEP_CRASH_DIR) rmSync(workDir, { recursive: true, force: true });
});

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
  });
}

interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Date.now() just before the process was started. */
  startedAt: number;
  /** Date.now() when the `listening` line arrived. */
  listeningAt: number;
  /** Everything the server wrote on stderr, for failure messages. */
  log: () => string;
}

function startServer(configPath: string, dataDir: string, timeoutMs = 90_000): Promise<ServerProcess> {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [LAPSE, 'server', '--config', configPath, '--data-dir', dataDir, '--port', '0'], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LAPSE_LOG_LEVEL: 'info' },
  });
  children.add(child);
  let stderr = '';
  let stdout = '';
  const log = () => `--- stderr ---\n${stderr.slice(-20_000)}\n--- stdout ---\n${stdout.slice(-5000)}`;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  return new Promise((resolvePromise, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server did not listen within ${timeoutMs} ms\n${log()}`));
    }, timeoutMs);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      pending += s;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const m = /^listening on (http:\/\/\S+)/.exec(line);
        if (m) {
          clearTimeout(timer);
          resolvePromise({ child, url: m[1]!, startedAt, listeningAt: Date.now(), log });
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited before listening (code ${code}, signal ${signal})\n${log()}`));
    });
  });
}

function runCli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [LAPSE, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  return exited(child, timeoutMs).then((code) => ({ code, out }));
}

// ── HTTP ─────────────────────────────────────────────────────────────────────────────

interface RequestView {
  id: string;
  requester: string;
  status: RequestStatus;
  expiresAt: string | null;
  grantedAt: string | null;
  endedAt: string | null;
}

async function api<T>(base: string, token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, intervalMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ── configuration ────────────────────────────────────────────────────────────────────

function writeConfig(path: string, faultsFile: string): void {
  const users = USERS.map((u) => `    - { id: ${u}, email: ${u}@example.com, name: User ${u}, groups: [engineering] }`).join('\n');
  writeFileSync(path, `# Crash test configuration (the shape of backend/examples/lapse.yaml).
settings:
  admins: [carol]
  expiryWarnings: [10m, 1m]

identities:
  users:
    - { id: carol, email: carol@example.com, name: Carol, groups: [security] }
${users}

integrations:
  - id: demo
    type: demo
    name: Demo
    owner: { group: security }
    connection: { faultsFile: ${JSON.stringify(faultsFile)} }
    resources:
      - { type: database, name: app, tags: { env: prod } }
      - { type: database, name: analytics, tags: { env: staging } }

flows:
  - id: short-read
    name: Short read access
    description: Read access to the demo databases, granted at once, for seconds.
    kind: self-serve
    requesters: { conditions: [ { attribute: group, op: is, value: [engineering] } ] }
    targets:
      - { integration: demo, resourceType: database, resources: any, permissions: [read] }
    grantFor: 3s
    maxDuration: 1h
    approval: automatic
`);
}

// ── the test ─────────────────────────────────────────────────────────────────────────

test('a SIGKILLed server finishes overdue work within 2 s of restarting, granting nothing twice', { timeout: 300_000 }, async () => {
  workDir = mkdtempSync(join(tmpdir(), 'lapse-crash-'));
  const dataDir = join(workDir, 'data');
  const configPath = join(workDir, 'lapse.yaml');
  const faultsFile = join(workDir, 'faults.json');
  // Written whole (rename), so the server never reads a half-written file.
  const setFaults = (faults: { grant?: string; revoke?: string; latencyMs?: number }) => {
    writeFileSync(faultsFile + '.tmp', JSON.stringify(faults));
    renameSync(faultsFile + '.tmp', faultsFile);
  };
  setFaults({});
  writeConfig(configPath, faultsFile);

  // Tokens, written to the store before the first start.
  const tokens = new Map<string, string>();
  {
    const store = openStore(dataDir);
    await store.migrate();
    for (const u of ['carol', ...USERS]) tokens.set(u, (await createToken(store, u, 'crash test')).token);
    await store.close();
  }
  const token = (u: string) => tokens.get(u)!;
  const admin = token('carol');

  let server = await startServer(configPath, dataDir);
  const base = server.url;
  const createRequest = (u: string, duration?: string) =>
    api<RequestView>(base, token(u), 'POST', '/api/v1/requests', { flowId: 'short-read', entitlements: [ENTITLEMENT], ...(duration ? { duration } : {}) });
  const listAll = async () => (await api<{ requests: RequestView[] }>(base, admin, 'GET', '/api/v1/requests?limit=1000')).requests;

  const revokedUsers = USERS.slice(0, REVOKED_COUNT);
  const activeUsers = USERS.slice(REVOKED_COUNT, REVOKED_COUNT + ACTIVE_COUNT);
  const grantingUsers = USERS.slice(REVOKED_COUNT + ACTIVE_COUNT);

  // 1a. Requests that will be revoked while the target is down: active at once.
  const toRevoke: RequestView[] = [];
  for (const u of revokedUsers) {
    const r = await createRequest(u, '1h');
    assert.equal(r.status, 'active', `request of ${u}`);
    toRevoke.push(r);
  }

  // 2. A slow target: grant calls hang for 20 s. Fire requests without waiting for answers;
  // they sit in `granting` with the grant call in flight until the kill.
  setFaults({ latencyMs: GRANT_LATENCY_MS });
  const grantsFiredAt = Date.now();
  const inFlight = grantingUsers.map((u) => createRequest(u).catch(() => undefined));
  void Promise.all(inFlight);
  await waitFor('the slow requests to be granting', 30_000, 50, async () => {
    const list = await listAll();
    return list.filter((r) => grantingUsers.includes(r.requester) && r.status === 'granting').length === GRANTING_COUNT ? true : undefined;
  });
  await sleep(750); // the grant calls have read the faults file and sleep in the target

  // 3. The target fails every revoke: the revokes stay `revoking` and are retried with backoff.
  setFaults({ revoke: 'target down (injected by the crash test)' });
  for (const r of toRevoke) {
    const revoking = await api<RequestView>(base, token(r.requester), 'POST', `/api/v1/requests/${r.id}/revoke`, { reason: 'crash test' });
    assert.equal(revoking.status, 'revoking', `revoke of ${r.id}`);
  }
  // Let them back off: wait for their 4th failed attempt, whose retry is due ~8 s (±20 %)
  // later, but kill while the slow grant calls are still in flight.
  const revokeIds = new Set(toRevoke.map((r) => r.id));
  await waitFor('revoke retries to back off', Math.max(0, grantsFiredAt + GRANT_LATENCY_MS - 7000 - Date.now()), 200, async () => {
    const { events } = await api<{ events: { requestId: string; data: { attempt: number } }[] }>(base, admin, 'GET', '/api/v1/audit?action=grant.revoke_failed&limit=1000');
    const attempts = new Map<string, number>();
    for (const e of events) if (revokeIds.has(e.requestId)) attempts.set(e.requestId, Math.max(attempts.get(e.requestId) ?? 0, e.data.attempt));
    return [...revokeIds].every((id) => (attempts.get(id) ?? 0) >= REVOKE_FAILURES_BEFORE_KILL) ? true : undefined;
  }).catch(() => console.log('note: the revokes had not failed 4 times yet at the kill'));

  // 1b. The other auto-approved requests, with the flow's short grantFor (3 s): active at
  // the kill, and expired soon after it.
  const actives = await Promise.all(activeUsers.map(async (u) => {
    const r = await createRequest(u);
    assert.equal(r.status, 'active', `request of ${u}`);
    return r;
  }));
  assert.equal(actives.length, ACTIVE_COUNT);

  // 4. Kill the server with all of that in flight.
  const killedPid = server.child.pid!;
  server.child.kill('SIGKILL');
  await exited(server.child, 30_000);
  const killedAt = Date.now();
  assert.ok(existsSync(join(dataDir, 'server.lock')), 'the killed server leaves its pid lock behind');
  assert.equal(readFileSync(join(dataDir, 'server.lock'), 'utf8').trim(), String(killedPid));

  // The state at the kill, from the store itself.
  const atKill = new Map<string, RequestRecord>();
  const revokeJobsAtKill: JobRecord[] = [];
  {
    const store = openStore(dataDir);
    for (const r of await store.listRequests({ limit: 1000 })) atKill.set(r.id, r);
    for (const r of atKill.values()) revokeJobsAtKill.push(...(await store.jobsOfRequest(r.id)).filter((j) => j.kind === 'revoke'));
    await store.close();
  }
  assert.equal(atKill.size, USERS.length);
  const byStatus = (s: RequestStatus) => [...atKill.values()].filter((r) => r.status === s);
  const counts = Object.fromEntries(['granting', 'active', 'revoking'].map((s) => [s, byStatus(s as RequestStatus).length]));
  console.log(`state at the kill: ${JSON.stringify(counts)}`);
  for (const r of atKill.values()) assert.ok(['granting', 'active', 'revoking'].includes(r.status), `request ${r.id} of ${r.requester} is ${r.status} at the kill`);
  for (const u of grantingUsers) assert.equal([...atKill.values()].find((r) => r.requester === u)?.status, 'granting', `the request of ${u} is granting at the kill`);
  for (const r of toRevoke) assert.equal(atKill.get(r.id)?.status, 'revoking', `the revoked request ${r.id} is revoking at the kill`);
  assert.ok(counts.active! > 0, 'some requests are active at the kill');
  const grantingAtKill = new Set(byStatus('granting').map((r) => r.id));
  const overdue = new Set([...atKill.values()].filter((r) => r.status !== 'granting').map((r) => r.id));

  // Wait until every active request is past its expiry: all of it is overdue at the restart.
  const lastExpiry = Math.max(...byStatus('active').map((r) => r.expiresAt!));
  if (lastExpiry >= Date.now()) await sleep(lastExpiry - Date.now() + 200);
  console.log(`server down for ${Date.now() - killedAt} ms`);

  // 5. The target is healthy again; restart on the same data directory.
  setFaults({});
  server = await startServer(configPath, dataDir);
  const restartedAt = server.listeningAt;
  const base2 = server.url;
  const backingOff = revokeJobsAtKill.filter((j) => j.dueAt > restartedAt && overdue.has(j.requestId));
  // Without the restart retrying them at once, these would wait out their backoff.
  console.log(`revokes still waiting in backoff at the restart: ${backingOff.length} (due up to ${Math.max(0, ...backingOff.map((j) => j.dueAt - restartedAt))} ms after it)`);
  if (backingOff.length === 0) console.log('note: the restart came after every revoke backoff had ended (slow machine?); this run did not exercise retrying them at once');

  const listAll2 = async () => (await api<{ requests: RequestView[] }>(base2, admin, 'GET', '/api/v1/requests?limit=1000')).requests;
  const isFinal = (s: RequestStatus) => FINAL_STATUSES.includes(s);
  let observedMs = -1;
  await waitFor('every overdue request to be final', 60_000, 50, async () => {
    const list = await listAll2();
    if (!list.filter((r) => overdue.has(r.id)).every((r) => isFinal(r.status))) return undefined;
    observedMs = Date.now() - restartedAt;
    return true;
  });
  await waitFor('every request to be final', 60_000, 200, async () => {
    const list = await listAll2();
    return list.length === USERS.length && list.every((r) => isFinal(r.status)) ? true : undefined;
  });

  // 6. Stop the server (gracefully) and check both records.
  server.child.kill('SIGTERM');
  assert.equal(await exited(server.child, 30_000), 0, `the server stops cleanly\n${server.log()}`);
  assert.ok(!existsSync(join(dataDir, 'server.lock')), 'a clean stop removes the pid lock');

  const final = new Map<string, RequestRecord>();
  const grantsOf = new Map<string, GrantRecord[]>();
  const leftoverJobs: JobRecord[] = [];
  {
    const store = openStore(dataDir);
    for (const r of await store.listRequests({ limit: 1000 })) {
      final.set(r.id, r);
      grantsOf.set(r.id, await store.getGrants(r.id));
      leftoverJobs.push(...(await store.jobsOfRequest(r.id)));
    }
    await store.close();
  }

  // Recovery time of the overdue requests, from the server's own end times.
  const recoveryMs = Math.max(...[...overdue].map((id) => final.get(id)!.endedAt! - restartedAt));
  console.log(`recovery after restart: every overdue request final ${recoveryMs} ms after the listening line (observed over HTTP after ${observedMs} ms); bound ${RECOVERY_BOUND_MS} ms`);
  assert.ok(recoveryMs <= RECOVERY_BOUND_MS, `overdue work took ${recoveryMs} ms after the restart (bound ${RECOVERY_BOUND_MS} ms)\n${server.log()}`);

  // The engine's state.
  assert.equal(leftoverJobs.length, 0, `no job is left: ${JSON.stringify(leftoverJobs)}`);
  for (const [id, r] of final) {
    const before = atKill.get(id)!;
    const expected: RequestStatus = revokeIds.has(id) ? 'revoked' : 'expired';
    assert.equal(r.status, expected, `request ${id} (${before.status} at the kill) ends ${expected}`);
    for (const g of grantsOf.get(id)!) assert.equal(g.status, 'revoked', `grant of ${id} on ${g.integration}`);
    if (grantingAtKill.has(id)) {
      // Granted after the restart (the work left over starts before the server listens),
      // held for its duration from then, then expired.
      assert.ok(r.grantedAt !== null && r.grantedAt >= server.startedAt, `request ${id} was granted after the restart`);
      assert.ok(r.expiresAt !== null && r.endedAt! >= r.expiresAt, `request ${id} ended at or after its expiry`);
    } else {
      assert.ok(r.grantedAt !== null && r.grantedAt < killedAt, `request ${id} was granted before the kill`);
    }
  }

  // The target's own record.
  const demo = new Database(join(dataDir, 'demo-demo.db'));
  try {
    const granted = demo.prepare('SELECT user_id, resource, permission, request_id FROM granted').all();
    assert.deepEqual(granted, [], 'nothing is left granted on the target');
    const grantCalls = new Map<string, number>();
    for (const row of demo.prepare("SELECT request_id, count(*) AS n FROM calls WHERE op = 'grant' AND ok = 1 GROUP BY request_id").all() as { request_id: string; n: number }[]) {
      grantCalls.set(row.request_id, Number(row.n));
    }
    const revokeCalls = new Map<string, number>();
    for (const row of demo.prepare("SELECT request_id, count(*) AS n FROM calls WHERE op = 'revoke' AND ok = 1 GROUP BY request_id").all() as { request_id: string; n: number }[]) {
      revokeCalls.set(row.request_id, Number(row.n));
    }
    for (const [id, r] of final) {
      // Every request here became active exactly once: exactly one successful grant call.
      assert.equal(grantCalls.get(id) ?? 0, r.grantedAt === null ? 0 : 1, `successful grant calls for ${id} (${atKill.get(id)!.status} at the kill)`);
      assert.ok((revokeCalls.get(id) ?? 0) >= 1, `a successful revoke call for ${id}`);
    }
    const failedRevokes = demo.prepare("SELECT count(*) AS n FROM calls WHERE op = 'revoke' AND ok = 0").get() as { n: number };
    assert.ok(Number(failedRevokes.n) >= REVOKED_COUNT, 'the injected revoke fault was hit');
  } finally {
    demo.close();
  }

  // The audit chain survived the crash.
  const verify = await runCli(['audit', 'verify', '--data-dir', dataDir]);
  assert.equal(verify.code, 0, `lapse audit verify: ${verify.out}`);
});
