// The outbox across a crash: a real `lapse server` process delivers lifecycle webhooks to a
// slow receiver, and is killed with SIGKILL while deliveries are in flight. Started again on
// the same data directory, it delivers every notification the transitions wrote (none lost),
// and the receiver, counting by idempotency key, holds each once: a delivery cut off by the
// kill may arrive again, with the same key, which the receiver drops.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openStore } from '../src/service.ts';
import { createToken } from '../src/auth/tokens.ts';
import { EXAMPLE, appRead, call } from '../src/api/api-test-support.ts';
import { FINISH_BATCH, THREAD_CONCURRENCY } from '../src/services/outbox-delivery.ts';
import { startSlowHookReceiver } from './slow-hook-receiver.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const LAPSE = join(ROOT, 'backend', 'bin', 'lapse.js');
const KEY = 'lapse-crash-test-webhook-key-0123456789';
const REQUESTS = 20;

const children = new Set<ChildProcess>();
after(() => { for (const c of children) c.kill('SIGKILL'); });

function startServer(configPath: string, dataDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [LAPSE, 'server', '--config', configPath, '--data-dir', dataDir, '--port', '0'], {
    cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LAPSE_LOG_LEVEL: 'info', LAPSE_TEST_HOOK_KEY: KEY },
  });
  children.add(child);
  let stderr = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not listen\n${stderr}`)), 60_000);
    child.stderr!.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      const m = /^listening on (http:\/\/\S+)/m.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolvePromise({ child, url: m[1]! });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited before listening (code ${code}, signal ${signal})\n${stderr}`));
    });
  });
}

test('SIGKILL during deliveries: after the restart every notification is delivered, each once by idempotency key', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-notify-crash-'));
  // The receiver answers slowly, so that deliveries are in flight when the server dies.
  const receiver = await startSlowHookReceiver(150);
  const { received, url: hookUrl } = receiver;
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8')}\nnotifications:\n  webhooks: [ { id: siem, url: "${hookUrl}", secretEnv: LAPSE_TEST_HOOK_KEY, events: [request.granted] } ]\n`);
  const dataDir = join(dir, 'data');
  try {
    let s = await startServer(configPath, dataDir);
    const store = await openStore(dataDir);
    const token = (await createToken(store, 'alice', 'crash test')).token;
    await store.close();
    const made = await Promise.all(Array.from({ length: REQUESTS }, () => call(s.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead], duration: '1h' })));
    assert.ok(made.every((r) => r.body.status === 'active'), made.map((r) => r.text).join('\n'));
    // Some delivered, some in flight: then the kill.
    const deadline = Date.now() + 15_000;
    while (received.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    s.child.kill('SIGKILL');
    await new Promise((r) => s.child.once('exit', r));
    const beforeRestart = received.length;
    assert.ok(beforeRestart < REQUESTS, `the kill came before all were delivered (${beforeRestart} of ${REQUESTS})`);

    s = await startServer(configPath, dataDir);
    // (The on-call flow grants whoever is on shift too: its notification counts like the others.)
    const mine = new Set(made.map((r) => r.body.id as string));
    const until = Date.now() + 30_000;
    while (new Set(received).size < REQUESTS && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const check = await openStore(dataDir);
    try {
      const rows = (await check.listOutbox({ limit: 1000 })).filter((o) => o.channel === 'webhook:siem');
      assert.equal(rows.filter((o) => mine.has(o.requestId!)).length, REQUESTS, 'one notification per grant was written');
      assert.deepEqual(new Set(received), new Set(rows.map((o) => o.key)), 'every one delivered');
      assert.ok((await check.listOutbox({ limit: 1000 })).filter((o) => o.channel === 'webhook:siem').every((o) => o.status === 'delivered'));
    } finally {
      await check.close();
    }
    // At least once: a delivery the kill cut off (received, not yet marked) may come again, with
    // its key: those in flight, and those sent whose outcomes waited to be written together.
    const repeats = received.length - new Set(received).size;
    assert.ok(repeats <= THREAD_CONCURRENCY + FINISH_BATCH, `at most the deliveries in flight or not yet marked come again (${repeats})`);
    s.child.kill('SIGTERM');
    await new Promise((r) => s.child.once('exit', r));
  } finally {
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
