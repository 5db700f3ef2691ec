// A job slower than its lease keeps the lease while its process lives: the scheduler
// extends the leases of the jobs the engine is running, so another process (or replica)
// does not take them over; once the job is done there is nothing left to renew. On both stores.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from './scheduler.ts';
import { createHarness, ent, MINUTE } from './test-support.ts';

for (const store of ['sqlite', 'postgres'] as const) {
  test(`a slow revoke keeps its lease while it runs, and another owner cannot claim it (${store})`, async () => {
    const h = await createHarness({ store });
    try {
      const r = await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [ent('database', 'app', 'read')], duration: '30m' });
      const scheduler = new Scheduler(h.store, h.engine, h.clock, { owner: 'test', leaseMs: 1000 });
      // The target answers slowly (real time): the expire job and the revoke it starts are running.
      h.demo.faults.latencyMs = 400;
      h.clock.advance(30 * MINUTE);
      const running = scheduler.runDue();
      await new Promise((resolve) => setTimeout(resolve, 150));
      const held = (await h.store.jobsOfRequest(r.id)).filter((j) => j.leaseOwner === 'test');
      assert.ok(held.length >= 1, 'the expire (and its revoke) are held');
      assert.ok(h.engine.runningJobs.size >= 1);
      // Past the original lease: renewed, the jobs are not claimable by another owner.
      h.clock.advance(900);
      assert.equal(await scheduler.renewLeases(), held.length);
      h.clock.advance(500);
      assert.deepEqual(await h.store.claimDueJobs(h.clock.now(), 'other', h.clock.now() + 1000, 10), []);
      await running;
      assert.equal(h.engine.runningJobs.size, 0);
      assert.equal(await scheduler.renewLeases(), 0, 'nothing left to renew');
      assert.equal((await h.store.getRequest(r.id))!.status, 'expired');
      assert.equal(h.demo.countCalls('revoke', r.id), 1);
    } finally {
      await h.close();
    }
  });
}
