// The audit stream with replicas on one PostgreSQL store: two services stream to the same
// receiver, and each event is delivered once to it (one replica at a time holds the
// subscriber's lease); a replica that stops hands the subscriber over at once, and one that
// died holds it only until its lease lapses.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresStore } from '../store/postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY, TEST_SECRET_KEY } from '../store/postgres-test-support.ts';
import { startService, type Service } from '../service.ts';
import { silentLogger } from '../logger.ts';
import { AuditStream } from './stream.ts';
import { startWebhookReceiver, waitUntil } from './webhook-receiver-test-support.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-stream-pg-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number) => ({ at: Date.now(), actor: 'system', action: 'test.event', requestId: null, data: { i } });
const FAST = { pollMs: 50, backoff: { baseMs: 100, maxMs: 400 } };

test('two replicas on one database: each event delivered once to the subscriber, in order; a replica that stops hands over', async () => {
  const key = randomBytes(24).toString('base64');
  const receiver = await startWebhookReceiver(key);
  const url = await freshTestStoreUrl();
  const example = readFileSync(join(import.meta.dirname, '../../examples/lapse.yaml'), 'utf8');
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${example}\nauditStream:\n  subscribers:\n    - { id: hook, type: webhook, url: "${receiver.url}/in", secretEnv: LAPSE_TEST_AUDIT_KEY }\n`);
  const env = { LAPSE_SECRET_KEY: TEST_SECRET_KEY, LAPSE_TEST_AUDIT_KEY: key };
  const replicas: Service[] = [];
  for (const name of ['a', 'b']) replicas.push(await startService({ configPath, dataDir: join(dir, name), port: 0, logger: silentLogger, env, store: url, auditStream: FAST }));
  const [a, b] = replicas as [Service, Service];
  try {
    // Both replicas write to the one chain while both run their streams.
    for (let i = 0; i < 20; i++) await (i % 2 ? a : b).store.appendAudit([event(i)]);
    const delivered = async (store: Service['store']) => {
      const head = (await store.auditHead())!.seq;
      return waitUntil(`event ${head} at the receiver`, 20_000, async () => (receiver.requests.some((r) => r.status === 200 && r.body.seq === head) ? head : undefined));
    };
    await delivered(a.store);
    const holder = (await a.store.listAuditStreams()).find((c) => c.subscriber === 'hook')!.owner;
    assert.ok(holder !== null, 'one replica holds the subscriber');
    // One replica stops (cleanly: it gives its lease up); the other goes on from the cursor.
    await a.stop();
    for (let i = 20; i < 30; i++) await b.store.appendAudit([event(i)]);
    const head = await delivered(b.store);
    const after = (await b.store.listAuditStreams()).find((c) => c.subscriber === 'hook')!;
    assert.equal(after.deliveredSeq, head);
    assert.ok(after.owner !== null);
    const accepted = receiver.requests.filter((r) => r.status === 200);
    const byKey = new Map<string, number>();
    for (const r of accepted) byKey.set(String(r.headers['idempotency-key']), (byKey.get(String(r.headers['idempotency-key'])) ?? 0) + 1);
    assert.deepEqual([...byKey.values()].filter((n) => n !== 1), [], 'no idempotency key twice');
    assert.deepEqual(accepted.map((r) => r.body.seq), Array.from({ length: head }, (_, i) => i + 1), 'every event once, in order');
    assert.ok(accepted.every((r) => r.verified));
  } finally {
    for (const r of replicas) await r.stop();
    await receiver.close();
  }
});

test('a lease left by a replica that died is taken over once it lapses', async () => {
  const key = randomBytes(24).toString('base64');
  const receiver = await startWebhookReceiver(key);
  const store = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  await store.migrate();
  try {
    await store.appendAudit([event(1), event(2)]);
    // The dead replica: it took the lease and never renewed it.
    const now = Date.now();
    assert.ok(await store.claimAuditStream('hook', 'dead-replica', now, now + 1500));
    assert.equal(await store.claimAuditStream('hook', 'other', now + 1, now + 5000), null, 'held: not taken');
    const s = new AuditStream({
      store, owner: 'live-replica', leaseMs: 5000, now: () => Date.now(), env: { KEY: key }, ...FAST,
      subscribers: [{ id: 'hook', type: 'webhook', url: `${receiver.url}/in`, secret: { env: 'KEY' }, timeoutMs: 5000 }],
    });
    s.start();
    try {
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(receiver.requests.length, 0, 'nothing while the dead replica\'s lease holds');
      await waitUntil('the takeover', 10_000, async () => ((await s.status())[0]!.lag === 0 ? true : undefined));
      assert.ok(Date.now() >= now + 1500, 'only after the lease lapsed');
      assert.equal((await store.listAuditStreams())[0]!.owner, 'live-replica');
    } finally {
      await s.stop();
    }
    assert.equal((await store.listAuditStreams())[0]!.owner, null, 'a clean stop gives the lease up');
    assert.deepEqual(receiver.requests.map((r) => r.body.seq), [1, 2]);
  } finally {
    await store.close();
    await receiver.close();
  }
});
