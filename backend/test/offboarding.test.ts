// Offboarding, on both stores: a person removed from the configuration loses their tokens at
// once, their active access is revoked and their pending requests canceled (audited, "user
// removed"), also when they were removed while the server was down; with
// settings.offboarding: suspend they are only locked out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, EXAMPLE, appRead, usersWrite, startTestServer, type TestServer } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';

const ZOE = '    - { id: zoe, email: zoe@example.com, name: Zoe, groups: [engineering], manager: bob }\n';

/** The example configuration with zoe, an engineer, among its users (and `settings` lines added). */
function writeConfig(dir: string, opts: { zoe: boolean; settings?: string }): string {
  let text = readFileSync(EXAMPLE, 'utf8').replace('  users:\n', `  users:\n${opts.zoe ? ZOE : ''}`);
  if (opts.settings) text = text.replace('settings:\n', `settings:\n  ${opts.settings}\n`);
  const path = join(dir, 'lapse.yaml');
  writeFileSync(path, text);
  return path;
}

async function zoeWithAccess(s: TestServer): Promise<{ token: string; active: string; pending: string }> {
  const { token } = await createToken(s.svc.store, 'zoe', 'zoe laptop');
  const active = await call(s.svc.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead] });
  assert.equal(active.body.status, 'active', active.text);
  const pending = await call(s.svc.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-9' });
  assert.equal(pending.body.status, 'pending', pending.text);
  return { token, active: active.body.id, pending: pending.body.id };
}

for (const store of ['sqlite', 'postgres'] as const) {
  test(`${store}: removed by a reload: token refused, access revoked, pending canceled, all audited`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-offboard-'));
    const configPath = writeConfig(dir, { zoe: true });
    const s = await startTestServer({ configPath, dir: join(dir, 'data'), store });
    try {
      const zoe = await zoeWithAccess(s);
      writeConfig(dir, { zoe: false });
      assert.equal((await s.svc.reload()).ok, true);
      const refused = await call(s.svc.url, 'GET', '/api/v1/me', zoe.token);
      assert.equal(refused.status, 401);
      assert.match(refused.body.detail, /no longer a Lapse user|not valid/);
      const active = (await s.svc.store.getRequest(zoe.active))!;
      assert.ok(['revoked', 'revoking'].includes(active.status), active.status);
      assert.deepEqual([active.endReason, active.endedBy, active.endNote], ['user-removed', 'system', 'user removed']);
      assert.deepEqual((await s.svc.store.getGrants(zoe.active)).map((g) => g.status), ['revoked'], 'the grant on the target is revoked');
      const pending = (await s.svc.store.getRequest(zoe.pending))!;
      assert.deepEqual([pending.status, pending.endReason], ['canceled', 'user-removed']);
      assert.ok((await s.svc.store.listTokens('zoe')).every((t) => t.revokedAt !== null), 'her tokens are revoked in the store');
      const audit = await s.svc.store.listAudit({ limit: 1000 });
      const offboarded = audit.find((e) => e.action === 'user.offboarded');
      assert.deepEqual(offboarded?.data, { user: 'zoe', reason: 'user removed', revoked: 1, canceled: 1, failed: 0 });
      assert.ok(audit.some((e) => e.action === 'user.credentials_revoked' && e.data.user === 'zoe' && e.data.tokens === 1));
      // The others are untouched.
      assert.equal((await s.as('alice', 'GET', '/api/v1/me')).status, 200);
    } finally {
      await s.svc.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('removed while the server was down: offboarded at the next start', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-offboard-down-'));
  const configPath = writeConfig(dir, { zoe: true });
  let s = await startTestServer({ configPath, dir: join(dir, 'data'), store: 'sqlite' });
  try {
    const zoe = await zoeWithAccess(s);
    await s.svc.stop();
    writeConfig(dir, { zoe: false });
    s = await startTestServer({ configPath, dir: join(dir, 'data'), store: 'sqlite' });
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', zoe.token)).status, 401);
    assert.equal((await s.svc.store.getRequest(zoe.active))!.endReason, 'user-removed');
    assert.equal((await s.svc.store.getRequest(zoe.pending))!.status, 'canceled');
  } finally {
    await s.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('settings.offboarding: suspend locks the person out and leaves their access to end on its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-suspend-'));
  const configPath = writeConfig(dir, { zoe: true, settings: 'offboarding: suspend' });
  const s = await startTestServer({ configPath, dir: join(dir, 'data'), store: 'sqlite' });
  try {
    const zoe = await zoeWithAccess(s);
    writeConfig(dir, { zoe: false, settings: 'offboarding: suspend' });
    assert.equal((await s.svc.reload()).ok, true);
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', zoe.token)).status, 401);
    assert.equal((await s.svc.store.getRequest(zoe.active))!.status, 'active');
    assert.ok((await s.svc.store.listTokens('zoe')).every((t) => t.revokedAt === null), 'suspended, not revoked: back when she is added again');
    assert.ok((await s.svc.store.listAudit({ limit: 1000 })).some((e) => e.action === 'user.suspended' && e.data.user === 'zoe'));
    writeConfig(dir, { zoe: true, settings: 'offboarding: suspend' });
    assert.equal((await s.svc.reload()).ok, true);
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', zoe.token)).status, 200, 'added back: her token works again');
  } finally {
    await s.svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
