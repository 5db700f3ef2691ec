// A real server with a redis integration (against the Redis on 127.0.0.1:6379, as an
// ACL-only admin user whose password comes from an environment variable), a demo
// integration, and a redis integration pointing at a closed port. It shows that:
// - credentials by reference are read at start and never show up in logs, API answers, the
//   audit or the store; access details are sealed at rest (the raw SQLite file does not
//   hold the delivered password) and shown to the requester only, again while active;
// - reconciliation (API and CLI) removes what Lapse created and no request covers — an
//   orphan ACL user with the prefix, an orphan demo grant — and touches nothing else;
// - integration health is reported per integration and marks the catalog's flows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startService, type Service } from '../src/service.ts';
import { createLogger } from '../src/logger.ts';
import { createToken } from '../src/auth/tokens.ts';
import { call } from '../src/api/api-test-support.ts';
import { main } from '../src/cli/main.ts';
import type { RedisIntegration } from '../src/integrations/redis.ts';
import type { DemoIntegration } from '../src/integrations/demo-integration.ts';
import { SECRET_KEY_FILE } from '../src/engine/access-sealer.ts';

const run = randomBytes(4).toString('hex');
const prefix = `ls${run}_`;
const adminUser = `lapseadm${run}`;
const ADMIN_PASSWORD = `adm-${randomBytes(12).toString('hex')}`;
const keyPrefix = `lapse-svc:${run}:app:`;
const otherKey = `lapse-svc:${run}:other`;
const foreignUser = `foreign${run}`;

const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
const clients: Redis[] = [];
const dir = mkdtempSync(join(tmpdir(), 'lapse-integrations-'));
const logLines: string[] = [];
let svc: Service;
let closedPort: number;
const tokens: Record<string, string> = {};

function config(): string {
  return `settings:
  admins: [carol]
  reconcileEvery: "off"
  healthCheckEvery: 10s
identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
integrations:
  - id: cache
    type: redis
    connection: { host: 127.0.0.1, port: 6379, user: ${adminUser}, passwordEnv: LAPSE_TEST_REDIS_PASSWORD, rolePrefix: ${prefix} }
    resources: [ { type: key-prefix, name: "${keyPrefix}" } ]
  - id: demo
    type: demo
    resources: [ { type: database, name: app } ]
  - id: broken
    type: redis
    connection: { host: 127.0.0.1, port: ${closedPort}, rolePrefix: ${prefix}, timeoutMs: 300 }
    resources: [ { type: key-prefix, name: "x:" } ]
  - id: pg
    type: postgresql
    connection: { host: 127.0.0.1, port: 5432, user: postgres, database: test, passwordFile: ${join(dir, 'pg.pw')}, rolePrefix: ${prefix} }
  - id: my
    type: mysql
    connection: { host: 127.0.0.1, port: 3306, user: root, rolePrefix: ${prefix} }
flows:
  - { id: cache-read, targets: [ { integration: cache, resourceType: key-prefix, resources: any, permissions: [read] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }
  - { id: demo-read, targets: [ { integration: demo, resourceType: database, resources: any, permissions: [read] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }
  - { id: broken-read, targets: [ { integration: broken, resourceType: key-prefix, resources: any, permissions: [read] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }
`;
}

before(async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((resolve) => probe.close(resolve));
  // An admin that may manage ACL users and kill clients, nothing else.
  await redis.call('ACL', 'SETUSER', adminUser, 'on', `>${ADMIN_PASSWORD}`, '+acl', '+client|kill', '+ping');
  await redis.set(`${keyPrefix}greeting`, 'hello');
  await redis.set(otherKey, 'not yours');
  writeFileSync(join(dir, 'pg.pw'), 'trust-auth-ignores-this\n', { mode: 0o600 });
  writeFileSync(join(dir, 'lapse.yaml'), config());
  svc = await startService({
    configPath: join(dir, 'lapse.yaml'), dataDir: join(dir, 'data'), port: 0,
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    env: { LAPSE_TEST_REDIS_PASSWORD: ADMIN_PASSWORD },
  });
  for (const u of ['alice', 'carol']) tokens[u] = (await createToken(svc.store, u, `test ${u}`)).token;
});

after(async () => {
  for (const c of clients) c.disconnect();
  await svc?.stop();
  const users = (await redis.call('ACL', 'USERS')) as string[];
  for (const u of users) if (u.startsWith(prefix) || u === adminUser || u === foreignUser) await redis.call('ACL', 'DELUSER', u);
  await redis.del(`${keyPrefix}greeting`, otherKey);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const as = (user: string, method: string, path: string, body?: unknown) => call(svc.url, method, path, tokens[user], body);

async function login(details: Record<string, string>): Promise<Redis> {
  const c = new Redis({ host: details.host, port: Number(details.port), username: details.user, password: details.password, lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => undefined);
  clients.push(c);
  await c.connect();
  return c;
}

/** Every byte Lapse keeps on disk (store, WAL, demo target, key file excluded). */
function dataDirBytes(): string {
  const dataDir = join(dir, 'data');
  return readdirSync(dataDir).filter((f) => f !== SECRET_KEY_FILE).map((f) => readFileSync(join(dataDir, f)).toString('latin1')).join('\n');
}

let requestId: string;
let delivered: Record<string, string>;

test('a grant delivers working credentials to the requester only; they are sealed in the store', async () => {
  const created = await as('alice', 'POST', '/api/v1/requests', { flowId: 'cache-read', entitlements: [{ integration: 'cache', resourceType: 'key-prefix', resource: keyPrefix, permission: 'read' }] });
  assert.equal(created.status, 201, created.text);
  requestId = created.body.id;
  assert.equal(created.body.status, 'active', created.text);
  delivered = created.body.grants[0].accessDetails;
  assert.equal(delivered.user, svc.integrations.get('cache')!.accountOf!(requestId, { id: 'alice', email: '' }));

  const c = await login(delivered);
  assert.equal(await c.get(`${keyPrefix}greeting`), 'hello');
  await assert.rejects(c.get(otherKey), /NOPERM/);

  // Again, while active: on the request and on /access; to the requester only.
  assert.deepEqual((await as('alice', 'GET', `/api/v1/requests/${requestId}`)).body.grants[0].accessDetails, delivered);
  const again = await as('alice', 'GET', `/api/v1/requests/${requestId}/access`);
  assert.deepEqual(again.body.grants, [{ integration: 'cache', accessDetails: delivered }]);
  const asAdmin = await as('carol', 'GET', `/api/v1/requests/${requestId}`);
  assert.equal(asAdmin.status, 200);
  assert.equal('accessDetails' in asAdmin.body.grants[0], false);
  assert.equal((await as('carol', 'GET', `/api/v1/requests/${requestId}/access`)).status, 403);

  // At rest: the store holds an envelope, not the password.
  const [grant] = await svc.store.getGrants(requestId);
  assert.deepEqual(Object.keys(grant!.accessDetails!), ['sealed']);
  assert.match(grant!.accessDetails!.sealed!, /^v1:[A-Za-z0-9+/=]+$/);
  assert.equal(dataDirBytes().includes(delivered.password!), false, 'the raw store files do not hold the delivered password');
  const keyFile = statSync(join(dir, 'data', SECRET_KEY_FILE));
  assert.equal(keyFile.mode & 0o777, 0o600);
});

test('integrations report their health; the catalog marks flows whose integration is unhealthy', async () => {
  const res = await as('carol', 'GET', '/api/v1/integrations?check=true');
  assert.equal(res.status, 200);
  const byId = Object.fromEntries(res.body.integrations.map((i: { id: string }) => [i.id, i]));
  assert.deepEqual(Object.keys(byId).sort(), ['broken', 'cache', 'demo', 'my', 'pg']);
  assert.deepEqual([byId.pg.type, byId.pg.health.ok, byId.my.type, byId.my.health.ok], ['postgresql', true, 'mysql', true], res.text);
  assert.equal(byId.cache.type, 'redis');
  assert.equal(byId.cache.health.ok, true);
  assert.equal(byId.cache.health.error, null);
  assert.equal(byId.broken.health.ok, false);
  assert.match(byId.broken.health.error, new RegExp(`redis 127\\.0\\.0\\.1:${closedPort}: ACL USERS failed: .*(ECONNREFUSED|Connection is closed)`));
  assert.ok(!Number.isNaN(Date.parse(byId.broken.health.checkedAt)));

  const cli: string[] = [];
  assert.equal(await main(['integrations', '--url', svc.url, '--token', tokens.carol!], (line) => cli.push(line)), 1);
  assert.ok(cli.includes('cache (redis): ok'), cli.join('\n'));
  assert.ok(cli.some((l) => /^broken \(redis\): UNHEALTHY: redis 127\.0\.0\.1:\d+: ACL USERS failed/.test(l)), cli.join('\n'));

  const catalog = await as('alice', 'GET', '/api/v1/catalog');
  const flows = Object.fromEntries(catalog.body.flows.map((f: { id: string }) => [f.id, f]));
  assert.deepEqual(flows['cache-read'].integrationHealth, []);
  assert.equal(flows['broken-read'].integrationHealth.length, 1);
  assert.equal(flows['broken-read'].integrationHealth[0].integration, 'broken');
  assert.match(flows['broken-read'].integrationHealth[0].error, /ACL USERS failed/);

  // A grant there fails with a clear error for the requester.
  const failed = await as('alice', 'POST', '/api/v1/requests', { flowId: 'broken-read', entitlements: [{ integration: 'broken', resourceType: 'key-prefix', resource: 'x:', permission: 'read' }] });
  assert.equal(failed.status, 201);
  assert.ok(['granting', 'failed'].includes(failed.body.status));
});

test('reconcile removes an orphan ACL user and an orphan demo grant; an active request, and users without the prefix, stay', async () => {
  const cache = svc.integrations.get('cache') as RedisIntegration;
  const demo = svc.integrations.get('demo') as DemoIntegration;
  // Left behind by "a crash": access on the targets with no request in the store.
  const orphan = await cache.grant({ requestId: `gone-${run}`, user: { id: 'alice', email: '' }, entitlements: [{ integration: 'cache', resourceType: 'key-prefix', resource: keyPrefix, permission: 'read' }], expiresAt: null });
  await demo.grant({ requestId: `gone-${run}`, user: { id: 'alice', email: '' }, entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' }], expiresAt: null });
  await redis.call('ACL', 'SETUSER', foreignUser, 'on', '>foreign-pass', '~*', '+@read');

  assert.equal((await as('alice', 'POST', '/api/v1/admin/reconcile')).status, 403);
  const res = await as('carol', 'POST', '/api/v1/admin/reconcile');
  assert.equal(res.status, 200, res.text);
  const fixes = res.body.fixes.map((f: { integration: string; account: string | null; user: string; ok: boolean }) => [f.integration, f.account, f.user, f.ok]);
  assert.deepEqual(fixes.filter((f: unknown[]) => f[0] === 'cache' || f[0] === 'demo').sort(), [['cache', orphan.accessDetails!.user, 'alice', true], ['demo', null, 'alice', true]]);
  const broken = res.body.integrations.find((i: { integration: string }) => i.integration === 'broken');
  assert.match(broken.error, /ACL USERS failed/);

  assert.equal(await redis.call('ACL', 'GETUSER', orphan.accessDetails!.user), null);
  assert.deepEqual(await demo.listGranted(), []);
  assert.notEqual(await redis.call('ACL', 'GETUSER', foreignUser), null, 'a user without the prefix is untouched');
  assert.notEqual(await redis.call('ACL', 'GETUSER', adminUser), null);
  const c = await login(delivered);
  assert.equal(await c.get(`${keyPrefix}greeting`), 'hello', 'the active request keeps its access');

  const audit = await as('carol', 'GET', '/api/v1/audit?action=reconcile.revoked');
  assert.equal(audit.body.events.length, 2);

  // The CLI verb: nothing left to fix.
  const out: string[] = [];
  const code = await main(['reconcile', '--url', svc.url, '--token', tokens.carol!], (s) => out.push(s));
  assert.equal(code, 1, 'the unreachable integration makes the run incomplete');
  assert.ok(out.includes('cache: 1 listed, 0 removed'), out.join('\n'));
  assert.ok(out.includes('demo: 0 listed, 0 removed'), out.join('\n'));
  assert.ok(out.some((l) => /^broken: not reconciled: /.test(l)), out.join('\n'));
});

test('after revoke the access details are gone and so is the access', async () => {
  const res = await as('alice', 'POST', `/api/v1/requests/${requestId}/revoke`, { reason: 'done' });
  assert.equal(res.status, 200);
  for (let i = 0; i < 100 && (await svc.store.getRequest(requestId))!.status !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal((await svc.store.getRequest(requestId))!.status, 'revoked');
  assert.equal((await as('alice', 'GET', `/api/v1/requests/${requestId}/access`)).status, 409);
  assert.equal((await as('alice', 'GET', `/api/v1/requests/${requestId}`)).body.grants[0].accessDetails, null);
  assert.equal(await redis.call('ACL', 'GETUSER', delivered.user!), null);
});

test('no secret appears in the logs, the API answers or the audit', async () => {
  const secrets = [ADMIN_PASSWORD, delivered.password!];
  const answers = [
    (await as('carol', 'GET', '/api/v1/integrations?check=true')).text,
    (await as('carol', 'GET', '/api/v1/requests')).text,
    (await as('carol', 'GET', '/api/v1/audit?limit=1000')).text,
    (await as('alice', 'GET', '/api/v1/catalog')).text,
    (await as('alice', 'GET', '/api/v1/requests?mine=true')).text,
  ];
  const logs = logLines.join('\n');
  assert.ok(logs.length > 0);
  for (const s of secrets) {
    assert.equal(logs.includes(s), false, 'logs');
    for (const a of answers) assert.equal(a.includes(s), false, 'API answers');
    assert.equal(dataDirBytes().includes(s), false, 'store files');
  }
});

test('credentials that cannot be read leave the integration unavailable with a reason naming the variable, not a value', async () => {
  const other = await startService({
    configPath: join(dir, 'lapse.yaml'), dataDir: join(dir, 'data2'), port: 0, logger: createLogger({ level: 'error', destination: { write: () => undefined } }),
    env: { LAPSE_SECRET_KEY: randomBytes(32).toString('base64') },
  });
  try {
    const report = await other.integrations.get('cache')!.health();
    assert.deepEqual([report.ok, report.error], [false, 'integration "cache": connection.passwordEnv names the environment variable LAPSE_TEST_REDIS_PASSWORD, which is not set']);
    assert.deepEqual(readdirSync(join(dir, 'data2')).includes(SECRET_KEY_FILE), false, 'LAPSE_SECRET_KEY given: no key file');
  } finally {
    await other.stop();
  }
  await assert.rejects(
    startService({ configPath: join(dir, 'lapse.yaml'), dataDir: join(dir, 'data3'), port: 0, logger: createLogger({ level: 'error', destination: { write: () => undefined } }), env: { LAPSE_SECRET_KEY: 'too-short' } }),
    /LAPSE_SECRET_KEY must be the base64 encoding of 32 random bytes/,
  );
});
