// The SQLite store's write lock shared by the API's writer and the delivery thread
// (sqlite-write-lock.ts): between real threads, and how the store's writes wait for it
// without blocking the event loop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { SharedWriteLock } from './sqlite-write-lock.ts';
import { SqliteStore } from './sqlite-store.ts';
import { TEST_AUDIT_KEY } from './postgres-test-support.ts';
import { requestRecord } from './store-test-records.ts';

/** A thread holding `lock` as the delivery thread; `exited` settles when it has ended (listened for from its start, so that an early end is not missed). */
async function holder(lock: SharedWriteLock): Promise<{ worker: Worker; exited: Promise<unknown> }> {
  const worker = new Worker(new URL('./sqlite-write-lock-test-worker.ts', import.meta.url), { workerData: lock.memory });
  const exited = once(worker, 'exit');
  const [message] = await once(worker, 'message');
  assert.equal(message, 'held');
  return { worker, exited };
}

test('between threads: while the delivery thread holds the lock the API side waits for it, and only the holder frees it', async () => {
  const lock = new SharedWriteLock();
  const { worker, exited } = await holder(lock);
  assert.equal(lock.heldBy('delivery'), true);
  assert.equal(lock.tryAcquire('api'), false);
  lock.release('api');
  assert.equal(lock.heldBy('delivery'), true, 'a release by the side that does not hold it frees nothing');

  // Not free in time: the API side goes on without it (false), having waited the timeout.
  let t = performance.now();
  assert.equal(lock.acquire('api', 60), false);
  assert.ok(performance.now() - t >= 55, `waited ${performance.now() - t} ms`);

  // Freed by the thread while the API side waits on it: taken at once.
  worker.postMessage('release');
  t = performance.now();
  assert.equal(lock.acquire('api', 5000), true);
  assert.ok(performance.now() - t < 4000);
  assert.equal(lock.heldBy('api'), true);
  lock.release('api');
  assert.equal(lock.tryAcquire('delivery'), true);
  lock.release('delivery');
  await exited;
});

test('a thread that ended holding the lock leaves it held until released for it (as the delivery thread\'s exit handler does)', async () => {
  const lock = new SharedWriteLock();
  const { worker, exited } = await holder(lock);
  worker.postMessage('exit');
  await exited;
  assert.equal(lock.heldBy('delivery'), true);
  lock.release('delivery');
  assert.equal(lock.tryAcquire('api'), true);
  lock.release('api');
});

test('the store\'s writes wait for the delivery thread\'s write in turns of the event loop: timers run meanwhile, and they land once it is free', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-write-lock-'));
  const store = new SqliteStore(join(dir, 'lapse.db'), { auditKey: TEST_AUDIT_KEY });
  try {
    await store.migrate();
    const lock = store.writeLock!;
    const { worker, exited } = await holder(lock);
    const order: string[] = [];
    const committed = store.commit({ insertRequests: [requestRecord('r1')] }).then(() => order.push('commit'));
    const audited = store.appendAudit([{ at: 1, actor: 'alice', action: 'test.audit', requestId: null, data: {} }]).then(() => order.push('audit'));
    await new Promise((r) => setTimeout(r, 15));
    order.push('timer');
    assert.equal(await store.getRequest('r1'), null, 'nothing written while the thread holds the lock');
    worker.postMessage('release');
    await Promise.all([committed, audited]);
    assert.deepEqual(order.slice(0, 1), ['timer'], 'the event loop ran a timer before either write');
    assert.equal((await store.getRequest('r1'))?.id, 'r1');
    assert.equal((await store.listAudit({ limit: 10 })).filter((e) => e.action === 'test.audit').length, 1);
    assert.equal(lock.heldBy('api') || lock.heldBy('delivery'), false, 'the lock is free after the writes');
    await exited;
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
