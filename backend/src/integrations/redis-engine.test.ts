// The redis integration driven by the engine (manual clock), against the real Redis behind a
// TCP proxy the test owns: expiry ends the live session; with the target cut away a due
// revoke stays `revoking` with its error, is retried with backoff and completes once the
// target is back; a grant that cannot be made ends `failed` with a clear error; a grant run
// again after a crash leaves one ACL user, not two.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createHarness, flow, selector, resource, MINUTE, type Harness } from '../engine/test-support.ts';
import type { Integration } from './integration.ts';
import { RedisIntegration } from './redis.ts';
import { startTcpProxy, type TcpProxy } from '../../test/tcp-proxy.ts';

const run = randomBytes(4).toString('hex');
const prefix = `le${run}_`;
const keyPrefix = `lapse-engine:${run}:`;
const admin = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
const clients: Redis[] = [];

after(async () => {
  for (const c of clients) c.disconnect();
  const users = (await admin.call('ACL', 'USERS')) as string[];
  for (const u of users) if (u.startsWith(prefix)) await admin.call('ACL', 'DELUSER', u);
  await admin.del(`${keyPrefix}k`);
  admin.disconnect();
});

async function setup(): Promise<{ h: Harness; proxy: TcpProxy; cache: RedisIntegration; close: () => Promise<void> }> {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
  const cache = new RedisIntegration('cache', { host: '127.0.0.1', port: proxy.port, rolePrefix: prefix, timeoutMs: 1500 });
  const h = await createHarness({
    overrides: {
      extraIntegrations: [{ id: 'cache', type: 'redis', name: 'Cache', connection: {}, resourceTypes: { 'key-prefix': { permissions: ['read', 'write'] } }, resources: [resource('key-prefix', keyPrefix)] }],
      extraFlows: [flow('cache', { targets: [{ selector: selector('cache', 'key-prefix', ['read']) }], grantFor: 10 * MINUTE })],
    },
    engine: { integrations: new Map<string, Integration>([['cache', cache]]) },
  });
  return { h, proxy, cache, close: async () => { await h.close(); await cache.close(); await proxy.close(); } };
}

const cacheRead = { integration: 'cache', resourceType: 'key-prefix', resource: keyPrefix, permission: 'read' };

async function login(details: Record<string, string>): Promise<Redis> {
  // Straight to Redis, not through the proxy: only the revoke can end this session.
  const c = new Redis({ host: '127.0.0.1', port: 6379, username: details.user, password: details.password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

test('expiry ends the session; a revoke with the target down stays revoking, retries with backoff, and completes when it is back', async () => {
  const { h, proxy, close } = await setup();
  try {
    await admin.set(`${keyPrefix}k`, 'v');
    const r = await h.engine.createRequest('alice', { flowId: 'cache', entitlements: [cacheRead] });
    assert.equal(r.status, 'active');
    const [grant] = await h.store.getGrants(r.id);
    const session = await login(grant!.accessDetails!);
    assert.equal(await session.get(`${keyPrefix}k`), 'v');

    proxy.cut();
    await h.advance(10 * MINUTE);
    let request = (await h.store.getRequest(r.id))!;
    assert.equal(request.status, 'revoking');
    assert.match(request.error!, /^revoke on cache failed \(attempt 1\): redis 127\.0\.0\.1:\d+: ACL GETUSER failed/);
    assert.equal(await session.get(`${keyPrefix}k`), 'v', 'still there while the target cannot be reached');

    await h.advance(1300); // the first backoff (1 s ± 20 %): attempt 2, still down
    const [g2] = await h.store.getGrants(r.id);
    assert.equal(g2!.attempts, 2);
    assert.equal(g2!.status, 'revoking');

    proxy.restore();
    await h.advance(2500);
    request = (await h.store.getRequest(r.id))!;
    assert.equal(request.status, 'expired');
    await assert.rejects(session.get(`${keyPrefix}k`), 'the open session was killed');
    assert.equal(await admin.call('ACL', 'GETUSER', grant!.accessDetails!.user!), null);
  } finally {
    await close();
  }
});

test('a grant that cannot be made ends failed with a clear error; a grant run again leaves one user', async () => {
  const { h, proxy, cache, close } = await setup();
  try {
    proxy.cut();
    const r = await h.engine.createRequest('alice', { flowId: 'cache', entitlements: [cacheRead] });
    await h.advance(1000);
    await h.advance(2000);
    const failed = (await h.store.getRequest(r.id))!;
    assert.equal(failed.status, 'failed');
    assert.match(failed.error!, /^grant on cache failed after 3 attempt\(s\): redis 127\.0\.0\.1:\d+: ACL GETUSER failed: .*\(cannot connect: connect ECONN/);
    proxy.restore();
    // The client reconnects on its own (backoff up to 1 s).
    for (let i = 0; i < 50 && !(await cache.health()).ok; i++) await new Promise((resolve) => setTimeout(resolve, 100));

    // As after a crash between the target call and the state write: the call runs twice.
    const input = { requestId: `crash-${run}`, user: { id: 'alice', email: '' }, entitlements: [cacheRead], expiresAt: null };
    await cache.grant(input);
    const second = await cache.grant(input);
    const mine = (await cache.listGranted()).filter((e) => e.account === cache.accountOf(input.requestId, input.user));
    assert.equal(mine.length, 1);
    const c = await login(second.accessDetails!);
    assert.equal(await c.get(`${keyPrefix}k`), 'v');
    await cache.revoke({ ...input, stillCovered: [] });
  } finally {
    await close();
  }
});
