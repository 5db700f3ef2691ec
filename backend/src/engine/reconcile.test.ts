// Reconciliation with the demo integration (a per-person target whose own record the test
// can read), and the periodic sweep of the scheduler, on a manual clock.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHarness, ent, MINUTE, type Harness } from './test-support.ts';
import { reconcile } from './reconcile.ts';
import { Scheduler } from './scheduler.ts';
import type { Store } from '../store/store.ts';

const appRead = ent('database', 'app', 'read');
const analyticsRead = ent('database', 'analytics', 'read');

async function withHarness(fn: (h: Harness) => Promise<void>): Promise<void> {
  const h = await createHarness();
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

const onTarget = async (h: Harness) => (await h.demo.listGranted()).map((g) => `${g.user} ${g.entitlement.resource}#${g.entitlement.permission}`).sort();
const run = (h: Harness, by = 'carol', store: Store = h.store) =>
  reconcile({ store, integrations: new Map([['demo', h.demo]]), now: () => h.clock.now(), pageSize: 2, withTargetLock: (u, i, fn) => h.engine.withTargetLock(u, i, fn) }, by);

describe('reconcile', () => {
  test('removes what no holding request covers, keeps what one does, and audits each fix', () => withHarness(async (h) => {
    const active = await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [appRead] });
    assert.equal(active.status, 'active');
    // Orphans: left on the target by requests the store does not hold (a crash, a hand edit).
    await h.demo.grant({ requestId: 'lost-1', user: { id: 'dave', email: '' }, entitlements: [appRead, analyticsRead], expiresAt: null });
    await h.demo.grant({ requestId: 'lost-2', user: { id: 'alice', email: '' }, entitlements: [analyticsRead], expiresAt: null });
    assert.deepEqual(await onTarget(h), ['alice analytics#read', 'alice app#read', 'dave analytics#read', 'dave app#read']);

    const report = await run(h);
    assert.deepEqual(report.integrations, [{ integration: 'demo', listed: 4, fixed: 2, failed: 0, error: null }]);
    assert.deepEqual(report.fixes.map((f) => [f.user, f.requestId, [...f.entitlements].sort(), f.ok]).sort(), [
      ['alice', 'lost-2', ['demo/database:analytics#read'], true],
      ['dave', 'lost-1', ['demo/database:analytics#read', 'demo/database:app#read'], true],
    ]);
    assert.deepEqual(await onTarget(h), ['alice app#read']);
    const audit = await h.store.listAudit({ action: 'reconcile.revoked' });
    assert.equal(audit.length, 2);
    assert.ok(audit.every((e) => e.actor === 'carol'));
    assert.equal((await h.store.listAudit({ action: 'reconcile.run' }))[0]!.data.fixed, 2);

    // Nothing left to fix: nothing done, nothing audited.
    const again = await run(h);
    assert.deepEqual(again.fixes, []);
    assert.equal((await h.store.listAudit({ action: 'reconcile.run' })).length, 1);
  }));

  test('an entitlement another holding request of the same person covers stays, even when the target names an ended request', () => withHarness(async (h) => {
    const first = await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [appRead] });
    const second = await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [appRead] });
    await h.engine.revoke('alice', first.id, 'done');
    await h.advance(0);
    assert.equal((await h.store.getRequest(first.id))!.status, 'revoked');
    assert.equal((await h.store.getRequest(second.id))!.status, 'active');
    assert.deepEqual((await run(h)).fixes, []);
    assert.deepEqual(await onTarget(h), ['alice app#read']);
  }));

  test('holding grants are read page by page, and every page counts', () => withHarness(async (h) => {
    // Three holding requests with a page size of two: two pages.
    const asks: [string, typeof appRead][] = [['alice', appRead], ['alice', analyticsRead], ['dave', appRead]];
    for (const [who, e] of asks) assert.equal((await h.engine.createRequest(who, { flowId: 'auto', entitlements: [e] })).status, 'active');
    await h.demo.grant({ requestId: 'lost', user: { id: 'dave', email: '' }, entitlements: [analyticsRead], expiresAt: null });
    const pages: number[] = [];
    const counting = new Proxy(h.store, {
      get: (target, prop, receiver) => prop === 'holdingGrantsPage'
        ? async (...args: Parameters<Store['holdingGrantsPage']>) => { const page = await target.holdingGrantsPage(...args); pages.push(page.length); return page; }
        : Reflect.get(target, prop, receiver),
    });
    const report = await run(h, 'carol', counting);
    assert.deepEqual(pages, [2, 1]);
    assert.deepEqual(report.fixes.map((f) => [f.user, f.entitlements]), [['dave', ['demo/database:analytics#read']]]);
    assert.deepEqual(await onTarget(h), ['alice analytics#read', 'alice app#read', 'dave app#read']);
  }));

  test('an entry a request started while the pages were read covers is kept', () => withHarness(async (h) => {
    // Left by a lost request: an orphan when listed. While reconciliation reads its pages,
    // alice asks for the same access again; her new grant must survive.
    await h.demo.grant({ requestId: 'lost', user: { id: 'alice', email: '' }, entitlements: [appRead], expiresAt: null });
    let fresh: string | null = null;
    const racing = new Proxy(h.store, {
      get: (target, prop, receiver) => prop === 'holdingGrantsPage'
        ? async (...args: Parameters<Store['holdingGrantsPage']>) => {
          const page = await target.holdingGrantsPage(...args);
          if (fresh === null) fresh = (await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [appRead] })).id;
          return page;
        }
        : Reflect.get(target, prop, receiver),
    });
    const report = await run(h, 'carol', racing);
    assert.equal((await h.store.getRequest(fresh!))!.status, 'active');
    assert.deepEqual(report.fixes, []);
    assert.deepEqual(await onTarget(h), ['alice app#read']);
  }));

  test('a failing revoke is reported and audited, and the rest goes on', () => withHarness(async (h) => {
    await h.demo.grant({ requestId: 'lost', user: { id: 'dave', email: '' }, entitlements: [appRead], expiresAt: null });
    h.demo.faults.revoke = 'target is read-only';
    const report = await run(h, 'system');
    assert.deepEqual(report.fixes.map((f) => [f.ok, f.error]), [[false, 'target is read-only']]);
    assert.equal((await h.store.listAudit({ action: 'reconcile.revoke_failed' })).length, 1);
    h.demo.faults.revoke = undefined;
    assert.deepEqual((await run(h, 'system')).fixes.map((f) => f.ok), [true]);
  }));
});

describe('periodic sweep', () => {
  test('the scheduler starts a periodic task at start and then every interval, never twice at once', () => withHarness(async (h) => {
    let runs = 0;
    let release: () => void = () => undefined;
    const scheduler = new Scheduler(h.store, h.engine, h.clock, {
      owner: 'sweep', idleMs: 5,
      periodic: [{ name: 'reconcile', everyMs: 5 * MINUTE, run: () => { runs++; return new Promise<void>((r) => { release = r; }); } }],
    });
    scheduler.start();
    const settle = () => new Promise((r) => setTimeout(r, 40));
    try {
      await settle();
      assert.equal(runs, 1, 'at start');
      h.clock.advance(10 * MINUTE);
      await settle();
      assert.equal(runs, 1, 'still running: not started again');
      release();
      await settle();
      assert.equal(runs, 2, 'due again once finished');
      release();
      h.clock.advance(4 * MINUTE);
      await settle();
      assert.equal(runs, 2, 'not before the interval');
      h.clock.advance(MINUTE);
      await settle();
      assert.equal(runs, 3);
      release();
    } finally {
      await scheduler.stop();
    }
  }));

  test('a task with firstAfterMs first runs that long after the start, then every interval', () => withHarness(async (h) => {
    let runs = 0;
    const scheduler = new Scheduler(h.store, h.engine, h.clock, {
      owner: 'sweep', idleMs: 5,
      periodic: [{ name: 'reconcile', everyMs: 5 * MINUTE, firstAfterMs: MINUTE, run: async () => { runs++; } }],
    });
    scheduler.start();
    const settle = () => new Promise((r) => setTimeout(r, 40));
    try {
      await settle();
      assert.equal(runs, 0, 'not at start');
      h.clock.advance(MINUTE - 1);
      await settle();
      assert.equal(runs, 0, 'not before firstAfterMs');
      h.clock.advance(1);
      await settle();
      assert.equal(runs, 1, 'at firstAfterMs');
      h.clock.advance(5 * MINUTE - 1);
      await settle();
      assert.equal(runs, 1, 'not before the interval');
      h.clock.advance(1);
      await settle();
      assert.equal(runs, 2);
    } finally {
      await scheduler.stop();
    }
  }));
});
