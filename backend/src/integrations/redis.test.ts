// The redis integration against the real Redis on 127.0.0.1:6379. Least privilege is proven
// from the requester's side: a client that logs in with the delivered credentials. Every
// test uses its own account prefix and its own keys, and removes what it created.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisIntegration, aclRules, escapeKeyPrefix } from './redis.ts';
import type { Entitlement } from '../domain/request.ts';
import type { GrantInput } from './integration.ts';
import { startTcpProxy } from '../../test/tcp-proxy.ts';

const HOST = '127.0.0.1';
const PORT = 6379;
const run = randomBytes(4).toString('hex');
const prefix = `lt${run}_`;
const keyBase = `lapse-test:${run}:`;

const admin = new Redis({ host: HOST, port: PORT, lazyConnect: true, maxRetriesPerRequest: 1 });
const integration = new RedisIntegration('cache', { host: HOST, port: PORT, rolePrefix: prefix });
const clients: Redis[] = [];

after(async () => {
  for (const c of clients) c.disconnect();
  const users = (await admin.call('ACL', 'USERS')) as string[];
  for (const u of users) if (u.startsWith(prefix)) await admin.call('ACL', 'DELUSER', u);
  const keys = await admin.keys(`${keyBase.replace(/[*?[\]\\]/g, '\\$&')}*`);
  if (keys.length) await admin.del(...keys);
  await integration.close();
  admin.disconnect();
});

const ent = (resource: string, permission: string): Entitlement => ({ integration: 'cache', resourceType: 'key-prefix', resource, permission });
let n = 0;
const input = (entitlements: Entitlement[], userId = 'alice'): GrantInput => ({
  requestId: `req-${run}-${++n}`, user: { id: userId, email: `${userId}@example.com` }, entitlements, expiresAt: null,
});

async function login(details: Record<string, string> | null): Promise<Redis> {
  assert.ok(details);
  const c = new Redis({ host: details.host, port: Number(details.port), username: details.user, password: details.password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

test('read: GET under the prefix works; GET outside, SET and KEYS are refused', async () => {
  await admin.set(`${keyBase}app:a`, 'inside');
  await admin.set(`${keyBase}other:a`, 'outside');
  const { accessDetails } = await integration.grant(input([ent(`${keyBase}app:`, 'read')]));
  assert.match(accessDetails!.url, new RegExp(`^redis://${accessDetails!.user}:.+@127\\.0\\.0\\.1:6379$`));
  const c = await login(accessDetails);
  assert.equal(await c.get(`${keyBase}app:a`), 'inside');
  await assert.rejects(c.get(`${keyBase}other:a`), /NOPERM/);
  await assert.rejects(c.set(`${keyBase}app:a`, 'changed'), /NOPERM/);
  await assert.rejects(c.keys('*'), /NOPERM/);
  assert.equal(await admin.get(`${keyBase}app:a`), 'inside');
});

test('write: SET under the prefix works, outside it is refused; read on one prefix and write on another stay apart', async () => {
  const { accessDetails } = await integration.grant(input([ent(`${keyBase}w:`, 'write'), ent(`${keyBase}r:`, 'read')]));
  const c = await login(accessDetails);
  await c.set(`${keyBase}w:x`, '1');
  assert.equal(await admin.get(`${keyBase}w:x`), '1');
  await assert.rejects(c.set(`${keyBase}r:x`, '1'), /NOPERM/);
  await assert.rejects(c.set(`${keyBase}elsewhere`, '1'), /NOPERM/);
  assert.equal(await c.get(`${keyBase}r:x`), null);
});

test('revoke kills the open connection and the password stops working; revoke and grant are idempotent', async () => {
  const req = input([ent(`${keyBase}rv:`, 'read')]);
  await integration.grant(req);
  const { accessDetails } = await integration.grant(req); // a repeated grant: same user, fresh password
  const c = await login(accessDetails);
  assert.equal(await c.get(`${keyBase}rv:x`), null);
  await integration.revoke({ requestId: req.requestId, user: req.user, entitlements: req.entitlements, stillCovered: [] });
  await assert.rejects(c.get(`${keyBase}rv:x`));
  const fresh = new Redis({ host: HOST, port: PORT, lazyConnect: true, maxRetriesPerRequest: 0 });
  clients.push(fresh);
  await assert.rejects(fresh.call('AUTH', accessDetails!.user, accessDetails!.password), /WRONGPASS|invalid username-password/i);
  assert.equal(await admin.call('ACL', 'GETUSER', accessDetails!.user), null);
  await integration.revoke({ requestId: req.requestId, user: req.user, entitlements: req.entitlements, stillCovered: [] });
});

test('hostile prefixes are matched literally and cannot add ACL rules; hostile user ids become plain names', async () => {
  await admin.set(`${keyBase}star*x`, 'literal');
  await admin.set(`${keyBase}starry`, 'widened');
  const hostileUser = `bob' ; ACL SETUSER evil on nopass ~* +@all \\ ü`;
  const { accessDetails } = await integration.grant(input([ent(`${keyBase}star*`, 'read'), ent(`${keyBase}q?[a]\\`, 'read')], hostileUser));
  assert.match(accessDetails!.user, new RegExp(`^${prefix}bobaclsetuserevilonn_[0-9a-f]{10}$`));
  const c = await login(accessDetails);
  assert.equal(await c.get(`${keyBase}star*x`), 'literal');
  await assert.rejects(c.get(`${keyBase}starry`), /NOPERM/, 'the * in the prefix does not widen it');
  await assert.rejects(c.get(`${keyBase}qxa`), /NOPERM/);
  assert.equal(await c.get(`${keyBase}q?[a]\\z`), null);
  assert.equal(await admin.call('ACL', 'GETUSER', 'evil'), null);

  for (const bad of [`${keyBase}a b`, `${keyBase}a\nb`, '']) {
    await assert.rejects(integration.grant(input([ent(bad, 'read')])), /white space|empty/);
  }
  assert.equal(escapeKeyPrefix('a*b?c[d]e\\'), 'a\\*b\\?c\\[d\\]e\\\\');
  assert.throws(() => aclRules('pw', [ent('x', 'read')], { read: { keys: 'read', commands: ['allkeys'] } }), /not an ACL command rule/);
  assert.throws(() => aclRules('pw', [ent('x', 'admin')], { read: { keys: 'read', commands: [] } }), /permission "admin" is not configured/);
});

test('overlap: two requests of one person; revoking one keeps the other', async () => {
  const a = input([ent(`${keyBase}ov:`, 'read')]);
  const b = input([ent(`${keyBase}ov:`, 'read')]);
  const ca = await login((await integration.grant(a)).accessDetails);
  const cb = await login((await integration.grant(b)).accessDetails);
  await integration.revoke({ requestId: a.requestId, user: a.user, entitlements: a.entitlements, stillCovered: a.entitlements });
  await assert.rejects(ca.get(`${keyBase}ov:x`));
  assert.equal(await cb.get(`${keyBase}ov:x`), null);
});

test('listGranted lists only users with the prefix; removeAccount refuses others', async () => {
  const foreign = `other${run}`;
  await admin.call('ACL', 'SETUSER', foreign, 'on', '>x-secret-x', '~*', '+@read');
  try {
    const req = input([ent(`${keyBase}lg:`, 'write')], 'carol');
    await integration.grant(req);
    const listed = await integration.listGranted();
    assert.ok(listed.every((e) => e.account!.startsWith(prefix)));
    const mine = listed.filter((e) => e.account === integration.accountOf(req.requestId, req.user));
    assert.deepEqual(mine.map((e) => [e.user, e.entitlement.resource, e.entitlement.permission]), [['carol', `${keyBase}lg:`, 'write']]);
    await assert.rejects(integration.removeAccount(foreign), /does not start with/);
    assert.notEqual(await admin.call('ACL', 'GETUSER', foreign), null);

    // A user with the prefix that this integration did not create (no ownership marker) is
    // neither listed, nor removed, nor taken over by a grant that would reuse its name.
    const impostorReq = input([ent(`${keyBase}lg:`, 'read')], 'mallory');
    const impostor = integration.accountOf(impostorReq.requestId, impostorReq.user);
    await admin.call('ACL', 'SETUSER', impostor, 'on', '>impostor-pass', '~*', '+@all');
    assert.ok(!(await integration.listGranted()).some((e) => e.account === impostor));
    await assert.rejects(integration.removeAccount(impostor), /not created by this integration/);
    await assert.rejects(integration.grant(impostorReq), /exists and was not created by this integration/);
    assert.match(String(((await admin.call('ACL', 'GETUSER', impostor)) as unknown[])[7]), /~\*/);
  } finally {
    await admin.call('ACL', 'DELUSER', foreign);
  }
});

test('health: ok against the server; a closed port reports the error', async () => {
  assert.equal((await integration.health()).ok, true);
  const proxy = await startTcpProxy({ host: HOST, port: PORT });
  const down = new RedisIntegration('down', { host: HOST, port: proxy.port, rolePrefix: prefix, timeoutMs: 500 });
  try {
    proxy.cut();
    const h = await down.health();
    assert.equal(h.ok, false);
    assert.match(h.error!, new RegExp(`redis 127\\.0\\.0\\.1:${proxy.port}: ACL USERS failed`));
    await assert.rejects(down.grant(input([ent(`${keyBase}down:`, 'read')])), /redis 127\.0\.0\.1/);
    proxy.restore();
    // The client reconnects on its own, with a backoff of up to 1 s.
    let back = await down.health();
    for (let i = 0; i < 50 && !back.ok; i++) back = await new Promise((resolve) => setTimeout(resolve, 100)).then(() => down.health());
    assert.equal(back.ok, true, back.error ?? '');
  } finally {
    await down.close();
    await proxy.close();
  }
});
