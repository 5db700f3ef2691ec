// `npm run bench [-- catalog throughput scheduler recovery postgres sql-latency pg-storm kv-latency renderer menu startup notifications activity portal-pages inventory]`:
// prints figures and ratios.
// Targets from the backend issue are printed beside each figure; nothing here asserts:
// the machine is shared, so figures are for reading, not for failing a build.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config/load.ts';
import { CompiledConfig, catalogFor } from '../src/domain/catalog.ts';
import {
  countStatuses, demoGrantedCount, endTimes, expiryLags, httpCall, jobsWatcher, loadLoop, REPO, seedActiveGrants, sleep, startServerProcess, summarize, tempDir, tokenFor, writeTeamConfig,
} from './support.ts';
import { rendererBench } from '../../renderer/bench/renderer-bench.ts';
import { menuBench } from '../../main/bench/menu-bench.ts';
import { pgStormBench, sqlLatencyBench } from './integrations-sql.ts';
import { kvLatencyBench } from './integrations-kv.ts';
import { postgresBench } from './postgres.ts';
import { startupBench } from './startup.ts';
import { notificationsBench } from './notifications.ts';
import { activityBench } from './activity.ts';
import { portalPagesBench } from './portal-pages.ts';
import { inventoryBench } from './inventory.ts';

type Row = [string, string, string];
const rows: Row[] = [];
const report = (name: string, figure: string, target = '') => {
  rows.push([name, figure, target]);
  console.log(`  ${name}: ${figure}${target ? `   (target ${target})` : ''}`);
};
const ms = (v: number) => `${v.toFixed(2)} ms`;

async function catalogBench(): Promise<void> {
  console.log('catalog: 200 users, 500 flows, 20,000 resources, 50 bundles');
  const integrations = Array.from({ length: 20 }, (_, i) => ({
    id: `int${i}`, type: 'demo',
    resources: Array.from({ length: 1000 }, (_, j) => ({ type: j % 4 === 0 ? 'database' : 'table', name: `r${j}`, ...(j % 4 === 0 ? {} : { parent: `r${j - (j % 4)}` }), tags: { team: `t${j % 50}`, env: j % 2 ? 'prod' : 'staging' } })),
  }));
  const groups = Array.from({ length: 40 }, (_, i) => `g${i}`);
  const config = {
    settings: { admins: ['u0'] },
    identities: { users: Array.from({ length: 200 }, (_, i) => ({ id: `u${i}`, email: `u${i}@example.com`, groups: [groups[i % 40], groups[(i * 7) % 40]], manager: i ? 'u0' : undefined })) },
    integrations,
    bundles: Array.from({ length: 50 }, (_, b) => ({ id: `b${b}`, targets: [{ integration: `int${b % 20}`, resourceType: 'database', resources: { tags: { team: `t${(b * 4) % 50}` } }, permissions: ['read'] }] })),
    flows: Array.from({ length: 500 }, (_, f) => ({
      id: `f${f}`,
      requesters: { match: 'any', conditions: [{ attribute: 'group', op: 'is', value: [groups[f % 40]] }] },
      ...(f % 5 === 0 ? { when: { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '08:00', to: '20:00', timezone: 'Europe/Berlin' } } : {}),
      targets: [
        { integration: `int${f % 20}`, resourceType: 'table', resources: { tags: { team: `t${f % 50}` } }, permissions: ['read', 'write'] },
        ...(f % 10 === 0 ? [{ bundle: `b${f % 50}` }] : []),
      ],
      grantFor: '1h', maxDuration: '8h',
      approval: f % 3 === 0 ? 'automatic' : { mode: 'anyOf', groups: [{ conditions: [{ attribute: 'manager' }] }] },
    })),
  };
  const text = stringify(config);
  const parsed = parseConfig(text, 'bench.yaml');
  if (!parsed.ok) throw new Error(`bench config invalid: ${parsed.errors.slice(0, 3).map((e) => e.message).join('; ')}`);
  const compiled = new CompiledConfig(parsed.config);
  const user = compiled.users.get('u17')!;
  const now = Date.now();
  const first = performance.now();
  let flows = catalogFor(compiled, user, now);
  const cold = performance.now() - first;
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    flows = catalogFor(compiled, user, now + i * 1000);
    bytes = JSON.stringify({ flows }).length;
    samples.push(performance.now() - t);
  }
  const s = summarize(samples);
  report('catalog flows visible to one user', `${flows.length} flows, ${flows.reduce((n, f) => n + f.entitlements.length, 0)} entitlements, ${(bytes / 1024).toFixed(0)} KiB JSON`);
  report('catalog first call (expands selectors)', ms(cold));
  report('catalog p50 (compute + serialise)', ms(s.p50));
  report('catalog p99 (compute + serialise)', ms(s.p99), '≤ 10 ms');

  // The same over HTTP against a real server.
  const dir = tempDir('catalog');
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, text);
  const token = await tokenFor(dir, 'u17');
  const server = await startServerProcess(configPath, dir);
  try {
    const lat: number[] = [];
    for (let i = 0; i < 300; i++) {
      const t = performance.now();
      const res = await httpCall(`${server.url}/api/v1/catalog`, 'GET', token);
      if (res.status !== 200) throw new Error(`catalog ${res.status}`);
      lat.push(performance.now() - t);
    }
    const h = summarize(lat.slice(20));
    report('catalog over HTTP p50', ms(h.p50));
    report('catalog over HTTP p99', ms(h.p99), '≤ 10 ms');
  } finally {
    await server.stop();
  }
}

async function throughputBench(): Promise<void> {
  console.log('throughput: auto-approved requests to active over HTTP, 8 concurrent clients');
  const dir = tempDir('throughput');
  const configPath = writeTeamConfig(dir, 50, 200);
  const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => tokenFor(dir, `u${i}`)));
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const server = await startServerProcess(configPath, dir);
  const baseline = await startBaseline();
  const lapseBody = (c: number, i: number) => ({ flowId: 'auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: `db${(c * 1000 + i) % 200}`, permission: 'read' }], duration: '1h' });
  const baselineBody = { flowId: 'auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db1', permission: 'read' }], duration: '1h' };
  let n = 100_000;
  const lapseSlice = (ms: number) => loadLoop(8, ms, async (c) => {
    const res = await httpCall(`${server.url}/api/v1/requests`, 'POST', tokens[c]!, lapseBody(c, n++));
    return res.status === 201 && res.body.includes('"status":"active"');
  });
  const baselineSlice = (ms: number) => loadLoop(8, ms, async () => (await httpCall(`${baseline.url}/requests`, 'POST', null, baselineBody)).status === 201);
  const lapse = { ok: 0, failed: 0, latencies: [] as number[], seconds: 0 };
  const base = { ok: 0, failed: 0, latencies: [] as number[], seconds: 0 };
  const add = (into: typeof lapse, r: typeof lapse) => {
    into.ok += r.ok; into.failed += r.failed; into.seconds += r.seconds; into.latencies.push(...r.latencies);
  };
  try {
    // Warm-up, then alternating slices of the two, so that both see the same machine (it is
    // shared: a neighbour's load during one long run would skew the ratio).
    await lapseSlice(1500);
    await baselineSlice(1500);
    const slices = Math.max(1, Math.round(seconds / 2));
    for (let i = 0; i < slices; i++) {
      add(lapse, await lapseSlice((seconds * 1000) / slices));
      add(base, await baselineSlice((seconds * 1000) / slices));
    }
  } finally {
    await server.stop();
    baseline.stop();
  }
  const rps = lapse.ok / lapse.seconds;
  const baseRps = base.ok / base.seconds;
  report('requests to active', `${rps.toFixed(0)} req/s, p99 ${ms(summarize(lapse.latencies).p99)}, ${lapse.failed} failed`, '≥ 1,000 req/s');
  report('baseline (fastify + one SQLite insert)', `${baseRps.toFixed(0)} req/s, p99 ${ms(summarize(base.latencies).p99)}`);
  report('ratio lapse / baseline', (rps / baseRps).toFixed(2), '≥ 0.25');
}

/** The baseline server: the same framework doing one SQLite insert per request. */
async function startBaseline(): Promise<{ url: string; stop: () => void }> {
  const dir = tempDir('baseline');
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'backend/bench/baseline-server.ts'), join(dir, 'baseline.db')], { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`baseline exited ${code}`)));
  });
  return { url, stop: () => child.kill('SIGTERM') };
}

async function schedulerBench(): Promise<void> {
  const count = Number(process.env.BENCH_SCHEDULER_GRANTS ?? 100_000);
  const spreadMs = Number(process.env.BENCH_SCHEDULER_SPREAD_S ?? 60) * 1000;
  console.log(`scheduler: ${count.toLocaleString()} active grants expiring over ${spreadMs / 1000} s`);
  const dir = tempDir('scheduler');
  const configPath = writeTeamConfig(dir, 200, 500);
  const t0 = Date.now() + 20_000;
  const seedStart = performance.now();
  await seedActiveGrants(dir, { users: 200, databases: 500, count, expiresAt: (i) => t0 + Math.floor((i * spreadMs) / count) });
  console.log(`  (seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s)`);
  if (Date.now() > t0 - 5000) throw new Error('seeding took too long for the planned start; lower BENCH_SCHEDULER_GRANTS');
  const server = await startServerProcess(configPath, dir);
  const jobs = jobsWatcher(dir);
  let peak = 0;
  try {
    const deadline = t0 + spreadMs + 120_000;
    // Each seeded grant has one job (its expiry): none left, all revoked.
    for (;;) {
      await sleep(1000);
      peak = Math.max(peak, server.peakRss());
      if (jobs.left() === 0) break;
      if (Date.now() > deadline) throw new Error(`not finished: ${JSON.stringify(countStatuses(dir))}`);
    }
    peak = Math.max(peak, server.peakRss());
  } finally {
    jobs.close();
    await server.stop();
  }
  const lags = summarize(expiryLags(dir));
  report('revoked at expiry', `${lags.n.toLocaleString()} of ${count.toLocaleString()}, left on target: ${demoGrantedCount(dir)}`);
  report('lag p50', ms(lags.p50));
  report('lag p99', ms(lags.p99), '≤ 250 ms');
  report('lag max', ms(lags.max), '≤ 1 s');
  report('peak RSS', `${(peak / 1024 / 1024).toFixed(0)} MB`, '≤ 400 MB');
}

async function recoveryBench(): Promise<void> {
  const overdue = Number(process.env.BENCH_RECOVERY_GRANTS ?? 10_000);
  console.log(`recovery and revocation storm: ${overdue.toLocaleString()} grants expired while the server was down, ${overdue.toLocaleString()} more expiring in one second`);
  const dir = tempDir('recovery');
  const configPath = writeTeamConfig(dir, 200, 500);
  const token = await tokenFor(dir, 'u1');
  const now = Date.now();
  const stormAt = now + 25_000;
  await seedActiveGrants(dir, {
    users: 200, databases: 500, count: overdue * 2,
    expiresAt: (i) => (i % 2 === 0 ? now - 60_000 : stormAt + (i % 1000)),
  });

  // At rest first: a server with nothing due, same data size (on a copy of the config, different dir).
  const restDir = tempDir('rest');
  const restConfig = writeTeamConfig(restDir, 200, 500);
  const restToken = await tokenFor(restDir, 'u1');
  await seedActiveGrants(restDir, { users: 200, databases: 500, count: overdue * 2, expiresAt: () => Date.now() + 3_600_000 });
  const rest = await startServerProcess(restConfig, restDir);
  const restRequest = 'seed-0000001';
  const restCatalog: number[] = [];
  const restGet: number[] = [];
  try {
    await sleep(500);
    await probeApi(rest.url, restToken, restRequest, 3000, restCatalog, restGet);
  } finally {
    await rest.stop();
  }

  const server = await startServerProcess(configPath, dir);
  const jobs = jobsWatcher(dir);
  const catalogLat: number[] = [];
  const getLat: number[] = [];
  try {
    const probing = (async () => {
      const until = stormAt + 15_000;
      while (Date.now() < until) await probeApi(server.url, token, 'seed-0000001', 250, catalogLat, getLat);
    })();
    // Each seeded grant has one job (its expiry) until it is revoked: first the overdue
    // ones' jobs run out, then, after the storm, all of them.
    const waitForJobs = async (dueBy?: number) => {
      while (jobs.left(dueBy) > 0) {
        if (Date.now() > stormAt + 120_000) throw new Error(`storm not finished: ${JSON.stringify(countStatuses(dir))}`);
        await sleep(100);
      }
    };
    await waitForJobs(stormAt - 1);
    await waitForJobs();
    await probing;
  } finally {
    jobs.close();
    await server.stop();
  }
  // When each was revoked, as the server recorded it (the overdue grants are the even seeds).
  const ended = endTimes(dir);
  const lastEnd = (overdueSet: boolean) => {
    let last = 0;
    for (let i = overdueSet ? 0 : 1; i < overdue * 2; i += 2) {
      const at = ended.get(`seed-${i.toString().padStart(7, '0')}`);
      if (at == null) throw new Error(`seed-${i} was not revoked`);
      last = Math.max(last, at);
    }
    return last;
  };
  const recoveredMs = lastEnd(true) - server.startedAt;
  const stormMs = lastEnd(false) - stormAt;
  report('recovery: overdue revoked after start', `${(recoveredMs / 1000).toFixed(2)} s from process start (${((recoveredMs - (server.listeningAt - server.startedAt)) / 1000).toFixed(2)} s from listening)`, '≤ 5 s');
  report(`storm: ${overdue.toLocaleString()} expiring in 1 s all revoked`, `${(stormMs / 1000).toFixed(2)} s after the first expiry`);
  const rc = summarize(restCatalog), rg = summarize(restGet), sc = summarize(catalogLat), sg = summarize(getLat);
  report('GET /catalog p99 at rest / during storm', `${ms(rc.p99)} / ${ms(sc.p99)} (n=${sc.n})`, '≤ 50 ms');
  report('GET /requests/:id p99 at rest / during storm', `${ms(rg.p99)} / ${ms(sg.p99)} (n=${sg.n})`, '≤ 50 ms');
}

async function probeApi(url: string, token: string, requestId: string, durationMs: number, catalog: number[], get: number[]): Promise<void> {
  const end = Date.now() + durationMs;
  while (Date.now() < end) {
    let t = performance.now();
    const a = await httpCall(`${url}/api/v1/catalog`, 'GET', token);
    catalog.push(performance.now() - t);
    t = performance.now();
    const b = await httpCall(`${url}/api/v1/requests/${requestId}`, 'GET', token);
    get.push(performance.now() - t);
    if (a.status !== 200 || (b.status !== 200 && b.status !== 404)) throw new Error(`probe failed: ${a.status} ${b.status} ${b.body}`);
    await sleep(20);
  }
}

const SCENARIOS: Record<string, () => Promise<void>> = {
  catalog: catalogBench,
  throughput: throughputBench,
  scheduler: schedulerBench,
  recovery: recoveryBench,
  renderer: () => rendererBench(report),
  menu: () => menuBench(report),
  'sql-latency': () => sqlLatencyBench(report),
  'pg-storm': () => pgStormBench(report),
  'kv-latency': () => kvLatencyBench(report),
  postgres: () => postgresBench(report),
  startup: () => startupBench(report),
  notifications: () => notificationsBench(report),
  activity: () => activityBench(report),
  'portal-pages': () => portalPagesBench(report),
  inventory: () => inventoryBench(report),
};

const chosen = process.argv.slice(2).filter((a) => a in SCENARIOS);
for (const name of chosen.length ? chosen : Object.keys(SCENARIOS)) {
  await SCENARIOS[name]!();
}
console.log('\n| benchmark | figure | target |\n| --- | --- | --- |');
for (const [name, figure, target] of rows) console.log(`| ${name} | ${figure} | ${target} |`);
process.exit(0);
