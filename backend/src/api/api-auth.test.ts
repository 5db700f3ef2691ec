// API tests over real HTTP (part 1): authentication, the failed-auth limiter, tokens stored
// hashed, the admin token file, health/metrics/OpenAPI, me and catalog, configuration reload.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../service.ts';
import { silentLogger } from '../logger.ts';
import { EXAMPLE, call, assertProblem, ent, rawStoreBytes, startTestServer, type TestServer } from './api-test-support.ts';
import { createToken, hashToken } from '../auth/tokens.ts';

// ── authentication ───────────────────────────────────────────────────────────────────

describe('authentication', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

  test('a valid token authenticates as its user', async () => {
    const res = await s.as('alice', 'GET', '/api/v1/me');
    assert.equal(res.status, 200);
    assert.equal(res.body.id, 'alice');
  });

  test('no token → 401 problem with a bearer challenge', async () => {
    const res = await call(s.svc.url, 'GET', '/api/v1/me');
    assertProblem(res, 401, undefined, /Authorization: Bearer/);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  });

  test('malformed, unknown and non-bearer credentials → 401', async () => {
    assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', 'not-a-token'), 401, undefined, /not valid/);
    const unknown = `lapse_abcdefghijkl_${'A'.repeat(43)}`;
    assertProblem(await call(s.svc.url, 'GET', '/api/v1/catalog', unknown), 401, undefined, /not valid/);
    assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', undefined, undefined, { headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` } }), 401);
  });

  test('a token revoked in the store stops working at once', async () => {
    const { token, record } = await createToken(s.svc.store, 'dave', 'to revoke');
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', token)).status, 200);
    assert.equal(await s.svc.store.revokeToken(record.id, Date.now()), true);
    assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', token), 401, undefined, /revoked/);
    // Other tokens of other users are unaffected.
    assert.equal((await s.as('dave', 'GET', '/api/v1/me')).status, 200);
  });

  test('tokens are stored hashed: the database never holds the token text', async () => {
    const { token, record } = await createToken(s.svc.store, 'erin', 'hash check');
    const secret = token.slice('lapse_'.length + 13); // after lapse_<id>_ (the secret may itself hold '_')
    assert.ok(secret.length >= 32, 'the whole secret');
    const listed = await s.svc.store.listTokens();
    assert.ok(listed.some((t) => t.id === record.id && t.userId === 'erin'), 'listed.some((t) => t.id === record.id && t.userId === \'erin\')');
    assert.ok(!JSON.stringify(listed).includes(secret), 'listTokens exposes no secret');
    const found = await s.svc.store.findTokenByHash(hashToken(token));
    assert.equal(found?.id, record.id);
    assert.equal(await s.svc.store.findTokenByHash(token), null, 'the token itself is not a lookup key');
    // The raw bytes of the database (and its write-ahead log) hold the hash, never the token.
    const bytes = await rawStoreBytes(s);
    assert.ok(bytes.includes(hashToken(token)), 'the hash is in the database files (so the search below is meaningful)');
    assert.ok(!bytes.includes(secret), 'the token secret is not in the database files');
    assert.ok(!bytes.includes(token), 'the token text is not in the database files');
    assert.ok(!bytes.includes(s.tokens.alice.slice('lapse_'.length + 13)), 'no other token text either');
  });

  test('the OpenAPI document and health endpoints need no token', async () => {
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/openapi.json')).status, 200);
    assert.equal((await call(s.svc.url, 'GET', '/healthz')).status, 200);
  });
});

describe('failed authentication is rate-limited per address', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

  test('10 failures a minute are answered 401; the 11th bad token gets 429 with retry-after', async () => {
    for (let i = 0; i < 10; i++) {
      assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess${String(i).padStart(2, '0')}_${'x'.repeat(40)}`), 401);
    }
    const limited = await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess10_${'x'.repeat(40)}`);
    assertProblem(limited, 429, undefined, /too many failed/);
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 60, `retry-after ${limited.headers.get('retry-after')}`);
    // While blocked, further guesses are refused, but a valid token from the same address
    // still works (others' failures never lock a person out; see api-security.test.ts), and
    // health checks outside /api/v1 still answer.
    assert.equal((await s.as('alice', 'GET', '/api/v1/me')).status, 200);
    assert.equal((await call(s.svc.url, 'GET', '/healthz')).status, 200);
  });
});

// ── the admin token file ─────────────────────────────────────────────────────────────

describe('admin token file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('first start writes <data-dir>/admin-token (0600) for carol; a second start keeps it', async () => {
    const path = join(dir, 'admin-token');
    let svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: {} });
    let first: { text: string; mtimeMs: number; ino: number };
    try {
      assert.ok(existsSync(path), 'existsSync(path)');
      const st = statSync(path);
      assert.equal(st.mode & 0o777, 0o600);
      first = { text: readFileSync(path, 'utf8'), mtimeMs: st.mtimeMs, ino: st.ino };
      const token = first.text.trim();
      assert.match(token, /^lapse_[a-z0-9]{12}_[A-Za-z0-9_-]{32,}$/);
      const me = await call(svc.url, 'GET', '/api/v1/me', token);
      assert.equal(me.status, 200);
      assert.equal(me.body.id, 'carol');
      assert.deepEqual(me.body.roles, ['requester', 'admin']);
      // It is an admin token: admin-only endpoints answer.
      assert.equal((await call(svc.url, 'GET', '/api/v1/audit/verify', token)).status, 200);
    } finally {
      await svc.stop();
    }
    await new Promise((r) => setTimeout(r, 20));
    svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: {} });
    try {
      const st = statSync(path);
      assert.equal(readFileSync(path, 'utf8'), first.text, 'not rewritten');
      assert.equal(st.mtimeMs, first.mtimeMs, 'not touched');
      assert.equal(st.ino, first.ino);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal((await svc.store.listTokens('carol')).length, 1, 'no second admin token was created');
      const me = await call(svc.url, 'GET', '/api/v1/me', first.text.trim());
      assert.equal(me.status, 200);
      assert.equal(me.body.id, 'carol');
    } finally {
      await svc.stop();
    }
  });

  test('with LAPSE_ADMIN_TOKEN set, no file is written and that token is carol\'s', async () => {
    const other = mkdtempSync(join(tmpdir(), 'lapse-'));
    const token = `lapse_envadmin0001_${'Q'.repeat(40)}`;
    const svc = await startService({ configPath: EXAMPLE, dataDir: other, port: 0, logger: silentLogger, env: { LAPSE_ADMIN_TOKEN: token } });
    try {
      assert.equal(existsSync(join(other, 'admin-token')), false);
      const me = await call(svc.url, 'GET', '/api/v1/me', token);
      assert.equal(me.status, 200);
      assert.equal(me.body.id, 'carol');
      assert.ok(me.body.roles.includes('admin'), 'me.body.roles.includes(\'admin\')');
    } finally {
      await svc.stop();
      rmSync(other, { recursive: true, force: true });
    }
  });
});

// ── health, metrics, OpenAPI, me, catalog ──────────────────────────────────────────

describe('health, metrics, OpenAPI, me and catalog', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

  test('/healthz and /readyz answer 200', async () => {
    const h = await call(s.svc.url, 'GET', '/healthz');
    assert.equal(h.status, 200);
    assert.deepEqual(h.body, { status: 'ok' });
    const r = await call(s.svc.url, 'GET', '/readyz');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ready' });
  });

  test('/metrics is Prometheus text with request counts by status', async () => {
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'analytics', 'read')] });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, 'active');
    const res = await call(s.svc.url, 'GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    assert.match(res.text, /^# HELP lapse_requests /m);
    assert.match(res.text, /^# TYPE lapse_requests gauge$/m);
    const active = Number(/^lapse_requests\{status="active"\} (\d+)$/m.exec(res.text)?.[1]);
    const counts = await s.svc.store.countByStatus();
    assert.equal(active, counts.active);
    assert.ok(active >= 1, 'active >= 1');
    assert.match(res.text, /^lapse_requests\{status="pending"\} \d+$/m);
    assert.match(res.text, /^lapse_scheduler_overdue_seconds [\d.]+$/m);
    for (const line of res.text.trim().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [\d.e+-]+)$/, `a Prometheus line: ${line}`);
    }
  });

  test('/api/v1/openapi.json lists the paths', async () => {
    const res = await call(s.svc.url, 'GET', '/api/v1/openapi.json');
    assert.equal(res.status, 200);
    assert.equal(res.body.openapi, '3.0.3');
    const paths = Object.keys(res.body.paths);
    for (const p of [
      '/api/v1/me', '/api/v1/catalog', '/api/v1/requests', '/api/v1/requests/{id}', '/api/v1/requests/{id}/approve', '/api/v1/requests/{id}/deny',
      '/api/v1/requests/{id}/cancel', '/api/v1/requests/{id}/revoke', '/api/v1/requests/{id}/extend', '/api/v1/requests/{id}/mark-revoke-canceled',
      '/api/v1/approvals', '/api/v1/favorites', '/api/v1/favorites/{id}', '/api/v1/favorites/{id}/request', '/api/v1/admin/revoke-all',
      '/api/v1/audit', '/api/v1/audit/verify', '/api/v1/reports/activity.csv', '/api/v1/events',
    ]) assert.ok(paths.includes(p), `openapi lists ${p}`);
    assert.ok(res.body.paths['/api/v1/requests'].post.requestBody, 'the create body schema is documented');
    assert.ok(res.body.paths['/api/v1/favorites/{id}'].put && res.body.paths['/api/v1/favorites/{id}'].delete, 'res.body.paths[\'/api/v1/favorites/{id}\'].put && res.body.paths[\'/api/v1/favorite');
  });

  test('GET /api/v1/me: identity, roles and the server\'s expiry warnings', async () => {
    const alice = await s.as('alice', 'GET', '/api/v1/me');
    assert.equal(alice.status, 200);
    assert.deepEqual(alice.body, { id: 'alice', email: 'alice@example.com', name: 'Alice', groups: ['engineering'], roles: ['requester'], expiryWarnings: ['10m', '1m'] });
    assert.deepEqual((await s.as('bob', 'GET', '/api/v1/me')).body.roles, ['requester', 'approver']);
    assert.deepEqual((await s.as('erin', 'GET', '/api/v1/me')).body.roles, ['requester', 'approver']);
    assert.deepEqual((await s.as('carol', 'GET', '/api/v1/me')).body.roles, ['requester', 'admin']);
  });

  test('GET /api/v1/catalog for alice: availability, reasons, expanded entitlements, bundles, durations', async () => {
    const res = await s.as('alice', 'GET', '/api/v1/catalog');
    assert.equal(res.status, 200);
    const byId = new Map<string, any>(res.body.flows.map((f: { id: string }) => [f.id, f]));
    for (const id of ['demo-auto', 'demo-approval', 'demo-bundle-flow', 'demo-maintenance']) assert.ok(byId.has(id), `catalog has ${id}`);

    const auto = byId.get('demo-auto');
    assert.equal(auto.available, true);
    assert.equal(auto.reason, null);
    assert.equal(auto.approval, 'automatic');
    assert.equal(auto.defaultDuration, '1h');
    assert.equal(auto.maxDuration, '8h');
    assert.deepEqual(new Set(auto.entitlements), new Set([ent('database', 'app', 'read'), ent('database', 'analytics', 'read')]));

    const approval = byId.get('demo-approval');
    assert.equal(approval.available, true);
    assert.equal(approval.requireJustification, true);
    assert.equal(approval.breakGlass, true);
    assert.deepEqual(new Set(approval.entitlements), new Set([ent('table', 'app/users', 'write'), ent('table', 'app/orders', 'write')]));

    const bundle = byId.get('demo-bundle-flow');
    assert.equal(bundle.available, true);
    assert.equal(bundle.bundles.length, 1);
    assert.equal(bundle.bundles[0].id, 'demo-bundle');
    assert.equal(bundle.bundles[0].name, 'Demo bundle');
    assert.deepEqual(new Set(bundle.bundles[0].entitlements), new Set([ent('database', 'app', 'read'), ent('database', 'analytics', 'read')]));

    const maintenance = byId.get('demo-maintenance');
    assert.equal(maintenance.available, false);
    assert.match(maintenance.reason, /window/);
    assert.match(maintenance.reason, /Pacific\/Kiritimati/);
    assert.deepEqual(maintenance.entitlements, [ent('database', 'analytics', 'admin')]);

    // While alice is on call the automatic flow is listed, but not as requestable.
    const oncall = byId.get('demo-oncall');
    if (oncall) {
      assert.equal(oncall.available, false);
      assert.match(oncall.reason, /automatically/);
    }

    // Requesting the flow outside its window is refused, naming the flow.
    assertProblem(await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-maintenance', entitlements: [ent('database', 'analytics', 'admin')] }), 422, 'flowId', /window/);
  });

  test('GET /api/v1/catalog for carol (in no requester group) is empty', async () => {
    const res = await s.as('carol', 'GET', '/api/v1/catalog');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.flows, []);
  });
});

// ── configuration reload ─────────────────────────────────────────────────────────────

describe('configuration reload', () => {
  let s: TestServer;
  let configPath: string;
  let original: string;
  const configDir = mkdtempSync(join(tmpdir(), 'lapse-'));
  before(async () => {
    configPath = join(configDir, 'lapse.yaml');
    copyFileSync(EXAMPLE, configPath);
    original = readFileSync(configPath, 'utf8');
    s = await startTestServer({ configPath });
  });
  after(async () => {
    await s.svc.stop();
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(configDir, { recursive: true, force: true });
  });

  test('only admins may reload', async () => {
    assertProblem(await s.as('alice', 'POST', '/api/v1/admin/config/reload'), 403, undefined, /admin/);
    assertProblem(await s.as('bob', 'POST', '/api/v1/admin/config/reload'), 403);
  });

  test('a broken file is refused with file:line errors; the running configuration stays', async () => {
    const lines = original.split('\n');
    const index = lines.findIndex((l) => l.trim() === 'grantFor: 1h');
    assert.ok(index > 0, 'index > 0');
    lines[index] = lines[index]!.replace('1h', 'soon');
    writeFileSync(configPath, lines.join('\n'));
    const res = await s.as('carol', 'POST', '/api/v1/admin/config/reload');
    assertProblem(res, 422);
    assert.ok(res.body.detail.includes(`${configPath}:${index + 1}:`), `file:line in "${res.body.detail}"`);
    assert.match(res.body.detail, /grantFor/);
    assert.ok(Array.isArray(res.body.errors) && res.body.errors.length >= 1, 'Array.isArray(res.body.errors) && res.body.errors.length >= 1');
    assert.ok(res.body.errors.every((e: string) => e.startsWith(`${configPath}:`)), JSON.stringify(res.body.errors));

    const catalog = await s.as('alice', 'GET', '/api/v1/catalog');
    assert.equal(catalog.status, 200);
    const auto = catalog.body.flows.find((f: { id: string }) => f.id === 'demo-auto');
    assert.equal(auto.defaultDuration, '1h', 'still the running configuration');
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'app', 'read')] });
    assert.equal(created.status, 201);
    assert.equal(created.body.duration, '1h');

    writeFileSync(configPath, original + 'oops: [\n');
    const syntax = await s.as('carol', 'POST', '/api/v1/admin/config/reload');
    assertProblem(syntax, 422);
    assert.match(syntax.body.detail, new RegExp(`^${configPath.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: `));
  });

  test('a fixed file reloads (200) and a new flow appears in the catalog', async () => {
    const extra = `
  - id: demo-extra
    name: Extra read
    description: Added by a reload.
    requesters: { conditions: [ { attribute: group, value: engineering } ] }
    targets:
      - { integration: demo, resourceType: table, resources: { names: [users] }, permissions: [read] }
    grantFor: 15m
    approval: automatic
`;
    writeFileSync(configPath, original.trimEnd() + '\n' + extra);
    const res = await s.as('carol', 'POST', '/api/v1/admin/config/reload');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, {
      status: 'reloaded', integrations: { added: [], changed: [], removed: [] }, flows: { added: 1, removed: 0 }, users: { added: 0, removed: 0 }, revoked: [], leaving: [],
    }, 'the answer says what changed');
    const catalog = await s.as('alice', 'GET', '/api/v1/catalog');
    const flow = catalog.body.flows.find((f: { id: string }) => f.id === 'demo-extra');
    assert.ok(flow, 'the new flow is in the catalog');
    assert.equal(flow.available, true);
    assert.equal(flow.defaultDuration, '15m');
    assert.deepEqual(flow.entitlements, [ent('table', 'app/users', 'read')]);
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-extra', entitlements: [ent('table', 'app/users', 'read')] });
    assert.equal(created.status, 201, created.text);
    assert.equal(created.body.status, 'active');
    const audit = await s.as('carol', 'GET', '/api/v1/audit?action=config.reloaded');
    assert.equal(audit.body.events.length, 1, 'only the successful reload is recorded');
    assert.deepEqual(audit.body.events[0].data.changes.flows, { added: 1, removed: 0 }, 'the audit records what changed');
  });
});
