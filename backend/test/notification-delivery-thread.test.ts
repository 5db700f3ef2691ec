// Where the outbox's deliveries run: in a thread of their own, off the API's event loop.
// A receiver in a process of its own notes when each delivery arrives; the test then holds
// the API's thread busy: with the delivery thread the notifications still arrive meanwhile
// (woken by the transitions, the poll set to an hour), on the API's event loop none does.
// Told that the API's thread is busy, the delivery thread gives way: it sends nothing until
// the API is quiet, or the notification five seconds old.
// A delivery thread that dies is started again and delivers what it held at once (not after
// the rows' two-minute lease); a reload that changes the channels reaches the thread, and
// one that configures notifications where there were none starts it; a channel whose
// receiver does not answer holds up no other; requests one after another are each woken.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startService, type Service } from '../src/service.ts';
import { silentLogger } from '../src/logger.ts';
import { EXAMPLE, appRead, call } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';
import type { DeliveryThread } from '../src/services/delivery-thread.ts';
import { FINISH_BATCH, THREAD_CONCURRENCY, THREAD_PER_CHANNEL } from '../src/services/outbox-delivery.ts';
import { ApiLoadGauge } from '../src/services/api-load.ts';
import { startSlowHookReceiver } from './slow-hook-receiver.ts';

const KEY = 'lapse-thread-test-webhook-key-0123456789';

/**
 * A webhook receiver in a child process: each delivery's idempotency key and arrival time
 * (its clock), as they come; it answers each after `answerAfterMs`.
 */
async function startChildReceiver(answerAfterMs = 0): Promise<{ url: string; arrivals: { key: string; at: number }[]; close(): void }> {
  const script = `
    const http = require('node:http');
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        console.log(JSON.stringify({ key: req.headers['x-lapse-idempotency-key'], at: Date.now() }));
        setTimeout(() => res.writeHead(200).end('ok'), ${answerAfterMs});
      });
    });
    server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const arrivals: { key: string; at: number }[] = [];
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve) => {
    lines.on('line', (line) => {
      const m = JSON.parse(line) as { port?: number; key?: string; at?: number };
      if (m.port) resolve(m.port);
      else arrivals.push({ key: m.key!, at: m.at! });
    });
  });
  return { url: `http://127.0.0.1:${port}/hook`, arrivals, close: () => child.kill() };
}

function writeConfig(dir: string, hookUrl: string): string {
  const path = join(dir, 'lapse.yaml');
  writeFileSync(path, `${readFileSync(EXAMPLE, 'utf8')}\nnotifications:\n  webhooks: [ { id: siem, url: "${hookUrl}", secretEnv: LAPSE_TEST_HOOK_KEY, events: [request.granted] } ]\n`);
  return path;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** `n` auto-approved requests by alice; their granted notifications' keys once all are written. */
async function grantMany(svc: Service, n: number): Promise<Set<string>> {
  const alice = (await createToken(svc.store, 'alice', 'alice')).token;
  const made = await Promise.all(Array.from({ length: n }, () => call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })));
  assert.ok(made.every((r) => r.body.status === 'active'), made.map((r) => r.text).join('\n'));
  const mine = new Set(made.map((r) => r.body.id as string));
  const keys = async () => new Set((await svc.store.listOutbox({ limit: 1000 })).filter((o) => o.channel === 'webhook:siem' && mine.has(o.requestId!)).map((o) => o.key));
  await until(async () => (await keys()).size === n, 'the notifications written');
  return keys();
}

for (const where of ['thread', 'event-loop'] as const) {
  test(`deliveries ${where === 'thread' ? 'go on' : 'stop'} while the API's thread is busy when they run ${where === 'thread' ? 'in a thread of their own, woken by the transitions' : 'on its event loop'}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
    // Each delivery takes 250 ms: 150 take over two seconds with sixteen at once.
    const receiver = await startChildReceiver(250);
    const svc = await startService({
      configPath: writeConfig(dir, receiver.url), dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY },
      // The poll once an hour: what is delivered within the test was woken by its transition.
      // The thread does not give way to the busy API here (the next test shows that it does).
      delivery: { in: where, pollMs: 3_600_000, apiLoad: null },
    });
    try {
      const n = 150;
      const keys = await grantMany(svc, n);
      const mine = () => receiver.arrivals.filter((a) => keys.has(a.key));
      // The API's thread does nothing else for 1.5 s: no request answered, no timer, no I/O.
      const busyFrom = Date.now();
      while (Date.now() < busyFrom + 1500) { /* busy */ }
      const busyTo = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 300)); // the receiver's lines come in
      const before = mine().filter((a) => a.at < busyFrom).length;
      assert.ok(before < n, `deliveries were left when the API's thread went busy (${before} of ${n} arrived before)`);
      // (A request sent just before the thread went busy may reach the receiver a moment after.)
      const duringBusy = mine().filter((a) => a.at >= busyFrom + 250 && a.at <= busyTo).length;
      if (where === 'thread') assert.ok(duringBusy > 0, 'notifications arrived while the API\'s thread was busy');
      else assert.equal(duringBusy, 0, 'nothing is sent while the event loop is held');
      await until(() => new Set(mine().map((a) => a.key)).size === n, 'every notification', 30_000);
      assert.equal(mine().length, n, 'each once');
    } finally {
      await svc.stop();
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the delivery thread gives way to a busy API: nothing is sent until it is quiet, or the notification five seconds old', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  const receiver = await startChildReceiver();
  // The API's load as the test says it is (the thread reads the same memory as from a measuring gauge).
  const gauge = new ApiLoadGauge();
  const apiLoad = { memory: gauge.memory, start: () => gauge.write(0), stop: () => gauge.stop() };
  const clock = { offset: 0, now() { return Date.now() + this.offset; } };
  const svc = await startService({
    configPath: writeConfig(dir, receiver.url), dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY }, clock,
    delivery: { pollMs: 3_600_000, apiLoad },
  });
  try {
    const arrived = (keys: Set<string>) => receiver.arrivals.filter((a) => keys.has(a.key)).length;
    // Busy: written, claimed, and held back.
    gauge.write(0.9);
    const first = await grantMany(svc, 10);
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(arrived(first), 0, 'nothing sent while the API is busy');
    // Quiet again (a fresh measurement): sent at once.
    gauge.write(0.1);
    await until(() => arrived(first) === 10, 'sent once the API is quiet', 3_000);

    // Busy for good: once the notifications are five seconds old they leave anyway.
    gauge.write(0.9);
    const second = await grantMany(svc, 10);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(arrived(second), 0, 'held back');
    clock.offset += 5_000;
    await svc.deliverNotifications();
    await until(() => arrived(second) === 10, 'sent five seconds after their transitions, the API still busy', 3_000);
    assert.equal(receiver.arrivals.length, new Set(receiver.arrivals.map((a) => a.key)).size, 'each once');
  } finally {
    await svc.stop();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a delivery thread that dies is started again, and what it held is delivered at once, not after the lease', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  // A slow receiver: deliveries are in flight when the thread dies.
  const receiver = await startSlowHookReceiver(200);
  const { received } = receiver;
  const svc = await startService({
    configPath: writeConfig(dir, receiver.url), dataDir: join(dir, 'data'), port: 0, logger: silentLogger,
    env: { LAPSE_TEST_HOOK_KEY: KEY },
  });
  try {
    const thread = svc.delivery as DeliveryThread;
    assert.equal(thread.starts, 1);
    const keys = await grantMany(svc, 40);
    await until(() => received.length >= 2, 'some delivered');
    await thread.kill();
    const atKill = new Set(received).size;
    assert.ok(atKill < keys.size, `the thread died with deliveries left (${atKill} of ${keys.size})`);
    // The rows it held are leased for two minutes: well within that, all arrive.
    await until(() => [...keys].every((k) => received.includes(k)), 'every notification after the restart', 20_000);
    assert.equal(thread.starts, 2, 'started again once');
    await until(async () => (await svc.store.outboxCounts()).pending === 0, 'every row marked delivered');
    const repeats = received.length - new Set(received).size;
    assert.ok(repeats <= THREAD_CONCURRENCY + FINISH_BATCH, `at most what was in flight, or sent and not yet marked, came again (${repeats})`);
  } finally {
    await svc.stop();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a reload that changes the channels reaches the delivery thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  const before = await startChildReceiver();
  const after = await startChildReceiver();
  const configPath = writeConfig(dir, before.url);
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY } });
  try {
    const first = await grantMany(svc, 2);
    await until(() => before.arrivals.filter((a) => first.has(a.key)).length === 2, 'delivered to the first receiver');
    writeConfig(dir, after.url);
    assert.equal((await svc.reload()).ok, true);
    const second = await grantMany(svc, 2);
    await until(() => after.arrivals.filter((a) => second.has(a.key)).length === 2, 'delivered to the receiver the reload named');
    assert.equal(before.arrivals.filter((a) => second.has(a.key)).length, 0, 'nothing more to the old one');
  } finally {
    await svc.stop();
    before.close();
    after.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without notifications configured no delivery thread runs; a reload that configures them starts one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  const receiver = await startChildReceiver();
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8'));
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY } });
  try {
    const thread = svc.delivery as DeliveryThread;
    assert.deepEqual(await svc.deliverNotifications(), { delivered: 0, retried: 0, failed: 0 });
    assert.equal(thread.starts, 0);
    writeConfig(dir, receiver.url);
    assert.equal((await svc.reload()).ok, true);
    const keys = await grantMany(svc, 2);
    await until(() => receiver.arrivals.filter((a) => keys.has(a.key)).length === 2, 'delivered once configured');
    assert.equal(thread.starts, 1);
  } finally {
    await svc.stop();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a channel whose receiver does not answer holds up no other channel: it takes at most half the senders', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  // `stuck` answers nothing until the test lets it; `fast` answers at once.
  const held: ServerResponse[] = [];
  const stuckSeen: string[] = [];
  const fastSeen: string[] = [];
  const stuck = createServer((req, res) => { req.resume(); req.on('end', () => { stuckSeen.push(String(req.headers['x-lapse-idempotency-key'])); held.push(res); }); });
  const fast = createServer((req, res) => { req.resume(); req.on('end', () => { fastSeen.push(String(req.headers['x-lapse-idempotency-key'])); res.writeHead(200).end('ok'); }); });
  await Promise.all([stuck, fast].map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))));
  const url = (s: typeof stuck) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`;
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8')}\nnotifications:\n  webhooks:\n    - { id: stuck, url: "${url(stuck)}", secretEnv: LAPSE_TEST_HOOK_KEY, events: [request.granted] }\n    - { id: fast, url: "${url(fast)}", secretEnv: LAPSE_TEST_HOOK_KEY, events: [request.granted] }\n`);
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY } });
  try {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    const made = await Promise.all(Array.from({ length: 40 }, () => call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })));
    assert.ok(made.every((r) => r.body.status === 'active'));
    const mine = new Set(made.map((r) => r.body.id as string));
    const keysOf = async (channel: string) => new Set((await svc.store.listOutbox({ limit: 1000 })).filter((o) => o.channel === channel && mine.has(o.requestId!)).map((o) => o.key));
    const fastKeys = await keysOf('webhook:fast');
    assert.equal(fastKeys.size, 40);
    // Every one to `fast` arrives while `stuck` holds what it was sent, unanswered.
    await until(() => [...fastKeys].every((k) => fastSeen.includes(k)), 'every notification to the channel that answers');
    assert.equal(held.length, THREAD_PER_CHANNEL, 'the stuck channel has half the senders, no more');
    // Requests made while those senders are held: the pass under way takes their rows, which
    // do not wait for the stuck channel to let go of it.
    const later = await Promise.all(Array.from({ length: 10 }, () => call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })));
    for (const r of later) mine.add(r.body.id as string);
    await until(async () => (await keysOf('webhook:fast')).size === 50, 'the later rows written');
    const laterFast = [...(await keysOf('webhook:fast'))].filter((k) => !fastKeys.has(k));
    await until(() => laterFast.every((k) => fastSeen.includes(k)), 'the later ones to the channel that answers, the stuck one still held');
    assert.equal(held.length, THREAD_PER_CHANNEL, 'still held');
    for (const res of held.splice(0)) res.writeHead(200).end('ok');
    const stuckKeys = await keysOf('webhook:stuck');
    const answer = setInterval(() => { for (const res of held.splice(0)) res.writeHead(200).end('ok'); }, 20);
    try {
      await until(() => [...stuckKeys].every((k) => stuckSeen.includes(k)), 'the stuck channel\'s, once it answers');
    } finally {
      clearInterval(answer);
    }
  } finally {
    await svc.stop();
    for (const s of [stuck, fast]) { s.closeAllConnections(); s.close(); }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('requests one after another are each delivered, woken by their transitions, with the poll set to an hour', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-delivery-thread-'));
  const receiver = await startChildReceiver();
  const svc = await startService({
    configPath: writeConfig(dir, receiver.url), dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_HOOK_KEY: KEY },
    delivery: { pollMs: 3_600_000 },
  });
  try {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    for (let i = 0; i < 30; i++) {
      const r = await call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
      assert.equal(r.body.status, 'active', r.text);
      const key = async () => (await svc.store.listOutbox({ limit: 1000 })).find((o) => o.channel === 'webhook:siem' && o.requestId === r.body.id)?.key;
      await until(async () => { const k = await key(); return k !== undefined && receiver.arrivals.some((a) => a.key === k); }, `request ${i + 1}'s notification, woken by its transition`, 5000);
    }
  } finally {
    await svc.stop();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
