// `npm run bench -- notifications`: a burst of 1,000 auto-approved requests with email (a
// local SMTP server) and a lifecycle webhook configured. The API's p99 during the burst beside
// its p99 at rest (a probe of GET /api/v1/me, same run), and the time from each transition to
// its delivery at the receiver (in the burst, and for requests sent one at a time after it)
// beside a bare POST to the same receiver. The server is a process of its own; the probe runs
// in a worker thread (probe-worker.ts), so that the burst's clients on this thread do not
// delay its timings; the receivers (notification-receivers.ts), standing for other
// machines, are a process of their own at a lower priority.

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { httpCall, sleep, startServerProcess, summarize, tempDir, tokenFor, writeTeamConfig } from './support.ts';

const BURST = 1000;
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

  /** Starts a server on `configPath`, measures the probe at rest, then during the burst. */
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
    try {
      await probe(1000); // warm-up
      const rest = await probe(3000);
      // The burst: 8 clients, 1,000 requests as fast as they go, while the probe measures.
      let next = 0;
      const burstStart = performance.now();
      const posts: number[] = [];
      let done = false;
      const burst = Promise.all(Array.from({ length: 8 }, async (_, c) => {
        while (next < BURST) {
          const i = next++;
          const t = performance.now();
          await httpCall(`${server.url}/api/v1/requests`, 'POST', tokens[c]!, { flowId: 'auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: `db${i % 400}`, permission: i % 800 < 400 ? 'read' : 'write' }], duration: '1h' });
          posts.push(performance.now() - t);
        }
      })).then(() => { done = true; });
      const during: number[] = [];
      while (!done) during.push(...(await probe(200)));
      await burst;
      const seconds = (performance.now() - burstStart) / 1000;
      // The deliveries go on after the burst: the probe measures the API while they run alone.
      const delivering: number[] = [];
      const oneAtATime: number[] = [];
      if (withNotifications) {
        const deadline = Date.now() + 120_000;
        while ((delivered.size < BURST || mails < BURST) && Date.now() < deadline) delivering.push(...(await probe(200)));
        // Then requests one at a time, nothing else going on: each one's transition to its
        // webhook delivery (how long a notification waits for its deliverer to look).
        for (let i = 0; i < QUIET; i++) {
          const before = new Set(delivered.keys());
          const t = Date.now();
          await httpCall(`${server.url}/api/v1/requests`, 'POST', tokens[0]!, { flowId: 'auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: `db${i % 400}`, permission: 'read' }], duration: '2h' });
          while (delivered.size === before.size && Date.now() - t < 5000) await sleep(1);
          for (const [key, at] of delivered) if (!before.has(key)) oneAtATime.push(at - (transitionAt.get(key) ?? at));
          await sleep(20);
        }
      }
      return { rest: summarize(rest), during: summarize(during), delivering: summarize(delivering.length ? delivering : [NaN]), seconds, posts: summarize(posts), oneAtATime: summarize(oneAtATime.length ? oneAtATime : [NaN]) };
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
    const toDelivery = [...delivered].slice(0, BURST).map(([key, at]) => at - (transitionAt.get(key) ?? at));
    const d = summarize(toDelivery);
    const b = summarize(bare);
    report('burst without notifications', `${BURST} requests in ${without.seconds.toFixed(1)} s; GET /api/v1/me p99 at rest ${ms(without.rest.p99)}, during ${ms(without.during.p99)}`);
    report('burst with email and a webhook', `${BURST} requests in ${withN.seconds.toFixed(1)} s; GET /api/v1/me p99 at rest ${ms(withN.rest.p99)}, during the burst ${ms(withN.during.p99)}, while the deliveries run after it ${ms(withN.delivering.p99)} (${withN.delivering.n} probes)`);
    report('API p99 during the burst / at rest, with notifications', (withN.during.p99 / withN.rest.p99).toFixed(2), '≤ 2');
    report('API p99 during the burst, with / without notifications', (withN.during.p99 / without.during.p99).toFixed(2));
    report('API p99 while deliveries run / at rest', (withN.delivering.p99 / withN.rest.p99).toFixed(2), '≤ 2');
    report('delivered', `${delivered.size} webhooks, ${mails} mails of ${BURST + QUIET} each`);
    report('transition to webhook delivery p50 / p99 (the burst)', `${ms(d.p50)} / ${ms(d.p99)}`);
    report(`transition to webhook delivery p50 / p99 (${QUIET} requests one at a time)`, `${ms(withN.oneAtATime.p50)} / ${ms(withN.oneAtATime.p99)}`);
    report('bare POST to the receiver p50 / p99', `${ms(b.p50)} / ${ms(b.p99)}`);
  } finally {
    await prober.terminate();
    receivers.stdin!.end();
    await new Promise((r) => (receivers.exitCode === null ? receivers.once('exit', r) : r(null)));
  }
}
