// `npm run bench -- notifications`: bursts of 1,000 auto-approved requests with email (a
// local SMTP server) and a lifecycle webhook configured, beside the same without them. Two
// kinds of burst per server, after 200 requests of warm-up: the (1,000 requests sent
// within one second, one every millisecond, each without waiting for the others; three
// times, the probes pooled) and a saturating one (8 clients as fast as they go). The API's p99 during each beside its p99 at rest (a
// probe of GET /api/v1/me, same run) and while the deliveries run after it, and the time
// from each transition to its delivery at the receiver (in each burst, and for requests
// sent one at a time after them) beside a bare POST to the same receiver. The server is a
// process of its own; the probe runs in a worker thread (probe-worker.ts), so that the
// burst's clients on this thread do not delay its timings; the receivers
// (notification-receivers.ts), standing for other machines, are a process of their own at
// a lower priority.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { httpCall, sleep, startServerProcess, summarize, tempDir, tokenFor, writeTeamConfig } from './support.ts';

const BURST = 1000;
/** The paced burst is sent this many times per server, its probes pooled. */
const PACED_ROUNDS = 3;
/** Requests sent before anything is measured, so that the server's code is compiled (as in a server that has run a while). */
const WARM = 200;
/** Requests sent one at a time after the burst, for the delivery latency of a quiet server. */
const QUIET = 50;
const KEY = 'bench-webhook-key-0123456789abcdef';

type Report = (name: string, figure: string, target?: string) => void;
const ms = (v: number) => `${v.toFixed(1)} ms`;

export async function notificationsBench(report: Report): Promise<void> {
  console.log(`notifications: a burst of ${BURST} auto-approved requests with email and a webhook configured`);
  // The receivers stand for other machines: a process of their own, at a lower priority.
  const receivers = spawn(process.execPath, [...process.execArgv, new URL('./notification-receivers.ts', import.meta.url).pathname], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    setPriority(receivers.pid!, 10);
  } catch {
    // Not allowed here: they run at the same priority.
  }
  let mails = 0;
  const delivered = new Map<string, number>();
  const transitionAt = new Map<string, number>();
  const ports = await new Promise<{ smtpPort: number; hookPort: number }>((resolve, reject) => {
    receivers.once('exit', (code) => reject(new Error(`the receivers ended (${code})`)));
    createInterface({ input: receivers.stdout! }).on('line', (line) => {
      const m = JSON.parse(line) as { smtpPort?: number; hookPort?: number; mail?: number; key?: string; at?: number; transitionAt?: number | null };
      if (m.smtpPort) resolve(m as { smtpPort: number; hookPort: number });
      else if (m.mail) mails++;
      else if (m.key) {
        delivered.set(m.key, m.at!);
        if (m.transitionAt) transitionAt.set(m.key, m.transitionAt);
      }
    });
  });
  const prober = new Worker(new URL('./probe-worker.ts', import.meta.url));
  let probeFailed: ((err: Error) => void) | null = null;
  prober.on('error', (err) => probeFailed?.(err));
  const hookUrl = `http://127.0.0.1:${ports.hookPort}/hook`;

  /** One request of the burst: user u(i % 8) asks for one of 400 databases, read or write. */
  const post = (url: string, tokens: string[], i: number, duration = '1h') => httpCall(`${url}/api/v1/requests`, 'POST', tokens[i % tokens.length]!, { flowId: 'auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: `db${i % 400}`, permission: i % 800 < 400 ? 'read' : 'write' }], duration });
  const allDelivered = async (count: number, probe: (ms: number) => Promise<number[]>): Promise<number[]> => {
    const during: number[] = [];
    const deadline = Date.now() + 120_000;
    while ((delivered.size < count || mails < count) && Date.now() < deadline) during.push(...(await probe(200)));
    return during;
  };

  /** Starts a server, measures the probe at rest, during each burst and while its deliveries run. */
  const burstOn = async (label: string, withNotifications: boolean) => {
    const dir = tempDir(label);
    const configPath = writeTeamConfig(dir, 50, 400);
    if (withNotifications) {
      writeFileSync(configPath, `${readFileSync(configPath, 'utf8')}notifications:\n  email: { host: 127.0.0.1, port: ${ports.smtpPort}, from: lapse@example.com }\n  webhooks: [ { id: bench, url: "${hookUrl}", secretEnv: BENCH_HOOK_KEY, events: [request.granted] } ]\n`);
    }
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => tokenFor(dir, `u${i}`)));
    const probeToken = await tokenFor(dir, 'u9');
    const server = await startServerProcess(configPath, dir, { BENCH_HOOK_KEY: KEY });
    const probe = (durationMs: number): Promise<number[]> => new Promise((resolve, reject) => {
      probeFailed = reject;
      prober.once('message', resolve);
      prober.postMessage({ url: `${server.url}/api/v1/me`, token: probeToken, durationMs });
    });
    const deliveredBefore = delivered.size;
    try {
      // Warm-up: the request path (and, with notifications, the deliveries) run a while first.
      let warmed = 0;
      await Promise.all(Array.from({ length: 8 }, async () => {
        while (warmed < WARM) await post(server.url, tokens, (PACED_ROUNDS + 1) * BURST + warmed++);
      }));
      if (withNotifications) await allDelivered(deliveredBefore + WARM, probe);
      await probe(1000);
      // At rest: 3 s now, and a second before each paced round (pooled), so that the ratio
      // compares the bursts with the same minutes of this machine.
      const rest = await probe(3000);

      // The burst: 1,000 requests sent within one second, one every millisecond,
      // each without waiting for the ones before (as many clients as it takes). Sent
      // PACED_ROUNDS times (each after the last one's deliveries), and the probes of all the
      // rounds pooled: one second gives some 150 probes, whose p99 is their second largest.
      const pacedWindow = { from: Date.now(), to: 0 };
      const pacedPosts: number[] = [];
      const duringPaced: number[] = [];
      const afterPaced: number[] = [];
      let pacedSeconds = 0;
      /** The API thread's CPU time and the wall time of the rounds, while their requests were sent. */
      const busy = { cpuMs: 0, wallMs: 0 };
      for (let round = 0; round < PACED_ROUNDS; round++) {
        if (round > 0) rest.push(...(await probe(1000)));
        const cpuBefore = server.apiThreadCpuMs();
        const pacedStart = performance.now();
        const paced = Promise.all(Array.from({ length: BURST }, async (_, i) => {
          const due = pacedStart + (i * 1000) / BURST;
          if (due > performance.now()) await sleep(due - performance.now());
          const t = performance.now();
          const res = await post(server.url, tokens, i);
          if (res.status !== 201) throw new Error(`POST /requests: HTTP ${res.status} ${res.body}`);
          pacedPosts.push(performance.now() - t);
        }));
        let pacedDone = false;
        void paced.then(() => { pacedDone = true; }, () => { pacedDone = true; });
        while (!pacedDone) duringPaced.push(...(await probe(100)));
        await paced;
        busy.cpuMs += server.apiThreadCpuMs() - cpuBefore;
        busy.wallMs += performance.now() - pacedStart;
        pacedSeconds = Math.max(pacedSeconds, (performance.now() - pacedStart) / 1000);
        if (withNotifications) afterPaced.push(...(await allDelivered(deliveredBefore + WARM + (round + 1) * BURST, probe)));
      }
      pacedWindow.to = Date.now();

      // A saturating burst: 8 clients, 1,000 requests as fast as they go (the server's ceiling).
      const saturatedWindow = { from: Date.now(), to: 0 };
      let next = 0;
      const burstStart = performance.now();
      const posts: number[] = [];
      let done = false;
      const burst = Promise.all(Array.from({ length: 8 }, async () => {
        while (next < BURST) {
          const i = next++;
          const t = performance.now();
          await post(server.url, tokens, PACED_ROUNDS * BURST + i);
          posts.push(performance.now() - t);
        }
      })).then(() => { done = true; });
      const during: number[] = [];
      while (!done) during.push(...(await probe(100)));
      await burst;
      const seconds = (performance.now() - burstStart) / 1000;
      saturatedWindow.to = Date.now();
      // The deliveries go on after the burst: the probe measures the API while they run alone.
      const delivering = withNotifications ? await allDelivered(deliveredBefore + WARM + (PACED_ROUNDS + 1) * BURST, probe) : [];
      const oneAtATime: number[] = [];
      if (withNotifications) {
        // Then requests one at a time, nothing else going on: each one's transition to its
        // webhook delivery (how long a notification waits for its deliverer to look).
        for (let i = 0; i < QUIET; i++) {
          const before = new Set(delivered.keys());
          const t = Date.now();
          await post(server.url, tokens.slice(0, 1), i, '2h');
          while (delivered.size === before.size && Date.now() - t < 5000) await sleep(1);
          for (const [key, at] of delivered) if (!before.has(key)) oneAtATime.push(at - (transitionAt.get(key) ?? at));
          await sleep(20);
        }
      }
      const orNaN = (v: number[]) => summarize(v.length ? v : [NaN]);
      return {
        rest: summarize(rest),
        paced: { during: summarize(duringPaced), seconds: pacedSeconds, posts: summarize(pacedPosts), after: orNaN(afterPaced), window: pacedWindow, busy: busy.cpuMs / busy.wallMs, cpuPerRequestMs: busy.cpuMs / (PACED_ROUNDS * BURST) },
        saturated: { during: summarize(during), seconds, posts: summarize(posts), window: saturatedWindow },
        delivering: orNaN(delivering),
        oneAtATime: orNaN(oneAtATime),
      };
    } finally {
      await server.stop();
    }
  };
  try {
    const without = await burstOn('notifications-off', false);
    const withN = await burstOn('notifications-on', true);
    // A bare POST to the same receiver, for what the network and receiver cost on their own.
    const bare: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      bare.push(performance.now() - t);
    }
    const toDelivery = (w: { from: number; to: number }) => summarize([...delivered].flatMap(([key, at]) => {
      const from = transitionAt.get(key);
      return from !== undefined && from >= w.from && from <= w.to ? [at - from] : [];
    }));
    const dp = toDelivery(withN.paced.window);
    const ds = toDelivery(withN.saturated.window);
    const b = summarize(bare);
    const x = (a: number, c: number) => (a / c).toFixed(2);
    report('at rest: GET /api/v1/me p99, without / with notifications', `${ms(without.rest.p99)} / ${ms(withN.rest.p99)}`);
    report(`${BURST} requests within a second (one every ${1000 / BURST} ms), ${PACED_ROUNDS} times`, `each sent in ${without.paced.seconds.toFixed(2)} s / ${withN.paced.seconds.toFixed(2)} s at most without / with notifications; POST p50 ${ms(withN.paced.posts.p50)}, p99 ${ms(withN.paced.posts.p99)} with`);
    report('  GET /api/v1/me p99 during it, without / with notifications', `${ms(without.paced.during.p99)} / ${ms(withN.paced.during.p99)} (${withN.paced.during.n} probes with)`);
    const pct = (v: number) => `${(100 * v).toFixed(0)} %`;
    report('  the API thread busy while they are sent, without / with notifications', `${pct(without.paced.busy)} / ${pct(withN.paced.busy)} (CPU per request ${without.paced.cpuPerRequestMs.toFixed(2)} / ${withN.paced.cpuPerRequestMs.toFixed(2)} ms, the probes' included)`);
    report('  API p99 during the burst / at rest, with notifications', x(withN.paced.during.p99, withN.rest.p99), '≤ 2');
    // The same without notifications: what the burst alone does to the API on this machine.
    report('  API p99 during the burst / at rest, without notifications', x(without.paced.during.p99, without.rest.p99));
    report('  API p99 during the burst, with / without notifications', x(withN.paced.during.p99, without.paced.during.p99));
    report('  API p99 while its deliveries run / at rest', x(withN.paced.after.p99, withN.rest.p99), '≤ 2');
    report('  transition to webhook delivery p50 / p99', `${ms(dp.p50)} / ${ms(dp.p99)} (${dp.n} deliveries)`);
    report(`${BURST} requests as fast as 8 clients go (saturating)`, `in ${without.saturated.seconds.toFixed(2)} s / ${withN.saturated.seconds.toFixed(2)} s without / with notifications; POST p50 ${ms(withN.saturated.posts.p50)}, p99 ${ms(withN.saturated.posts.p99)} with`);
    report('  GET /api/v1/me p99 during it, without / with notifications', `${ms(without.saturated.during.p99)} / ${ms(withN.saturated.during.p99)}`);
    report('  API p99 during the burst / at rest, with notifications', x(withN.saturated.during.p99, withN.rest.p99));
    report('  API p99 during the burst, with / without notifications', x(withN.saturated.during.p99, without.saturated.during.p99));
    report('  API p99 while its deliveries run / at rest', `${x(withN.delivering.p99, withN.rest.p99)} (${withN.delivering.n} probes)`);
    report('  transition to webhook delivery p50 / p99', `${ms(ds.p50)} / ${ms(ds.p99)} (${ds.n} deliveries)`);
    report('delivered', `${delivered.size} webhooks, ${mails} mails of ${WARM + (PACED_ROUNDS + 1) * BURST + QUIET} each`);
    report(`transition to webhook delivery p50 / p99 (${QUIET} requests one at a time)`, `${ms(withN.oneAtATime.p50)} / ${ms(withN.oneAtATime.p99)}`);
    report('bare POST to the receiver p50 / p99', `${ms(b.p50)} / ${ms(b.p99)}`);
  } finally {
    await prober.terminate();
    receivers.stdin!.end();
    await new Promise((r) => (receivers.exitCode === null ? receivers.once('exit', r) : r(null)));
  }
}
