// A configuration reload applies what it changes in the integrations, against real targets:
// - a webhook integration moved from receiver A to receiver B: the next grant (and the revoke
//   of what A granted) reach B, never A again; the answer and the audit say what changed;
// - a PostgreSQL integration whose connection changes (another role prefix, another database
//   created for the test) creates the next login with the new settings; one whose new
//   database does not exist is refused with the reason, and the old one keeps working;
// - a command integration whose new path does not exist is refused, the old one keeps working;
// - removing an integration that an active request holds is refused with the request listed
//   and nothing changed; with revokeRemoved (and the CLI's --revoke-removed) the access is
//   revoked on the target, audited, and the integration dropped once its revoke is done (kept
//   while a failing revoke is retried, dropped once it succeeds);
// - an integration taken out of use is closed only after the calls running on it end.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, waitFor, type TestServer } from '../src/api/api-test-support.ts';
import { DemoIntegration } from '../src/integrations/demo-integration.ts';
import { trackCalls } from '../src/integrations/in-flight.ts';
import type { Integration } from '../src/integrations/integration.ts';
import { main } from '../src/cli/main.ts';
import { closeSessions, createPgDatabase, hex, pgCleanup, pgConnect, pgRolesWithPrefix, uniquePrefix } from '../src/integrations/sql/sql-test-support.ts';

const HOOK_SECRET = 'reload-hook-secret-0123456789';
const USERS = `identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: bob, email: bob@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
    - { id: dave, email: dave@example.com, groups: [engineering] }
    - { id: erin, email: erin@example.com, groups: [security] }
`;
const auto = (id: string, integration: string, resourceType: string, permission: string) =>
  `  - { id: ${id}, targets: [ { integration: ${integration}, resourceType: ${resourceType}, resources: any, permissions: [${permission}] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }\n`;

/** A webhook receiver that records which requests reached it, by action. */
interface Receiver {
  url: string;
  calls: { action: string; requestId: string }[];
  server: Server;
}

async function receiver(): Promise<Receiver> {
  const calls: Receiver['calls'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { action: string; requestId: string };
      calls.push({ action: body.action, requestId: body.requestId });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`, calls, server };
}

async function untilStatus(s: TestServer, id: string, status: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if ((await s.svc.store.getRequest(id))?.status === status) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`request ${id} is ${(await s.svc.store.getRequest(id))?.status}, expected ${status}`);
}

const reload = (s: TestServer, body?: unknown) => s.as('carol', 'POST', '/api/v1/admin/config/reload', body);

describe('a reload that changes a webhook integration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-reload-'));
  const configPath = join(dir, 'lapse.yaml');
  let a: Receiver;
  let b: Receiver;
  let s: TestServer;
  const config = (url: string) => `settings: { admins: [carol], reconcileEvery: "off" }
${USERS}integrations:
  - id: hook
    type: webhook
    connection: { url: "${url}", secretEnv: LAPSE_TEST_HOOK_SECRET }
    resourceTypes: { service: { permissions: [use] } }
    resources: [ { type: service, name: billing } ]
flows:
${auto('hook-use', 'hook', 'service', 'use')}`;
  before(async () => {
    a = await receiver();
    b = await receiver();
    writeFileSync(configPath, config(a.url));
    s = await startTestServer({ configPath, env: { LAPSE_TEST_HOOK_SECRET: HOOK_SECRET } });
  });
  after(async () => {
    await s.svc.stop();
    for (const r of [a, b]) {
      r.server.closeAllConnections();
      r.server.close();
    }
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test('the next grant, and the revoke of what A granted, reach receiver B; A is not called again', async () => {
    const entitlements = [{ integration: 'hook', resourceType: 'service', resource: 'billing', permission: 'use' }];
    const first = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'hook-use', entitlements });
    assert.equal(first.body.status, 'active', first.text);
    assert.deepEqual(a.calls, [{ action: 'grant', requestId: first.body.id }]);

    writeFileSync(configPath, config(b.url));
    const res = await reload(s);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.integrations, { added: [], changed: [{ id: 'hook', parts: ['connection'] }], removed: [] });

    const second = await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'hook-use', entitlements });
    assert.equal(second.body.status, 'active', second.text);
    assert.deepEqual(b.calls, [{ action: 'grant', requestId: second.body.id }], 'the grant after the reload reached B');
    assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${first.body.id}/revoke`, {})).status, 200);
    await untilStatus(s, first.body.id, 'revoked');
    assert.deepEqual(b.calls.at(-1), { action: 'revoke', requestId: first.body.id }, 'the revoke went to the integration in force');
    assert.equal(a.calls.length, 1, 'A heard nothing after the reload');

    const audit = await s.as('carol', 'GET', '/api/v1/audit?action=config.reloaded');
    assert.deepEqual(audit.body.events.at(-1).data.changes.integrations.changed, [{ id: 'hook', parts: ['connection'] }]);

    // Reloading the same file again changes nothing, and says so.
    const same = await reload(s);
    assert.deepEqual(same.body.integrations, { added: [], changed: [], removed: [] });
    const out: string[] = [];
    assert.equal(await main(['config', 'reload', '--url', s.svc.url, '--token', s.tokens.carol], (l) => out.push(l)), 0);
    assert.deepEqual(out, ['configuration reloaded', '  no integration, flow or user added, changed or removed']);
  });
});

describe('a reload that changes a command integration to a path that does not exist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-reload-'));
  const configPath = join(dir, 'lapse.yaml');
  const script = join(dir, 'grant.sh');
  const log = join(dir, 'calls.log');
  let s: TestServer;
  const config = (path: string) => `settings: { admins: [carol], reconcileEvery: "off" }
${USERS}integrations:
  - id: cmd
    type: command
    connection: { path: ${path} }
    resourceTypes: { service: { permissions: [use] } }
    resources: [ { type: service, name: billing } ]
flows:
${auto('cmd-use', 'cmd', 'service', 'use')}`;
  before(async () => {
    writeFileSync(script, `#!/bin/sh\ncat >> ${log}\n`);
    chmodSync(script, 0o755);
    writeFileSync(configPath, config(script));
    s = await startTestServer({ configPath });
  });
  after(async () => {
    await s.svc.stop();
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test('is refused with the reason; the old integration keeps working', async () => {
    const missing = join(dir, 'no-such-command');
    writeFileSync(configPath, config(missing));
    const res = await reload(s);
    assert.equal(res.status, 422, res.text);
    assert.match(res.body.detail, /integration "cmd" changed, but its new settings cannot be used: command .*no-such-command is not an executable file \(ENOENT\)/);
    assert.match(res.body.detail, /the running configuration stays/);

    const granted = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'cmd-use', entitlements: [{ integration: 'cmd', resourceType: 'service', resource: 'billing', permission: 'use' }] });
    assert.equal(granted.body.status, 'active', granted.text);
    assert.match(readFileSync(log, 'utf8'), new RegExp(granted.body.id), 'the old command ran the grant');
    const audit = await s.as('carol', 'GET', '/api/v1/audit?action=config.reloaded');
    assert.equal(audit.body.events.length, 0, 'a refused reload is not recorded as one');
  });
});

describe('a reload that changes a PostgreSQL integration\'s connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-reload-'));
  const configPath = join(dir, 'lapse.yaml');
  const db = `lapse_t_rl_${hex()}`;
  const prefixA = uniquePrefix();
  const prefixB = uniquePrefix();
  let s: TestServer;
  const config = (database: string, prefix: string) => `settings: { admins: [carol], reconcileEvery: "off" }
${USERS}integrations:
  - id: pg
    type: postgresql
    connection: { host: 127.0.0.1, port: 5432, user: postgres, database: ${database}, rolePrefix: ${prefix} }
    resources: [ { type: database, name: ${db} }, { type: schema, name: public, parent: ${db} }, { type: table, name: items, parent: ${db}/public } ]
flows:
${auto('pg-read', 'pg', 'table', 'read')}`;
  const entitlements = [{ integration: 'pg', resourceType: 'table', resource: `${db}/public/items`, permission: 'read' }];
  before(async () => {
    await createPgDatabase(db, ['CREATE TABLE items (id int)', 'INSERT INTO items VALUES (1), (2)']);
    writeFileSync(configPath, config('postgres', prefixA));
    s = await startTestServer({ configPath });
  });
  after(async () => {
    await closeSessions();
    await s.svc.stop();
    await pgCleanup([db], prefixA);
    await pgCleanup([], prefixB);
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  test('the next grant creates its login with the new settings; a database that does not exist is refused', async () => {
    const before = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'pg-read', entitlements });
    assert.equal(before.body.status, 'active', before.text);
    assert.equal((await pgRolesWithPrefix(prefixA)).length, 1);
    assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${before.body.id}/revoke`, {})).status, 200);
    await untilStatus(s, before.body.id, 'revoked');
    assert.deepEqual(await pgRolesWithPrefix(prefixA), []);

    // Another database to manage roles from, and another prefix for them.
    writeFileSync(configPath, config(db, prefixB));
    const res = await reload(s);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.integrations.changed, [{ id: 'pg', parts: ['connection'] }]);

    const afterReload = await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'pg-read', entitlements });
    assert.equal(afterReload.body.status, 'active', afterReload.text);
    assert.equal((await pgRolesWithPrefix(prefixB)).length, 1, 'the login was made by the new integration');
    assert.deepEqual(await pgRolesWithPrefix(prefixA), []);
    const detail = await s.as('dave', 'GET', `/api/v1/requests/${afterReload.body.id}`);
    const grant = detail.body.grants.find((g: { integration: string }) => g.integration === 'pg');
    const session = await pgConnect(grant.accessDetails.url);
    assert.equal((await session.query('SELECT count(*)::int AS n FROM items')).rows[0].n, 2);

    writeFileSync(configPath, config(`lapse_t_missing_${hex()}`, prefixB));
    const refused = await reload(s);
    assert.equal(refused.status, 422, refused.text);
    assert.match(refused.body.detail, /integration "pg" changed, but its new settings cannot be used: .*does not exist/);

    // The integration in force is still the one the last good reload made.
    assert.equal((await s.as('dave', 'POST', `/api/v1/requests/${afterReload.body.id}/revoke`, {})).status, 200);
    await untilStatus(s, afterReload.body.id, 'revoked');
    assert.deepEqual(await pgRolesWithPrefix(prefixB), [], 'revoked by the integration in force');
  });
});

describe('a reload that removes an integration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-reload-'));
  const configPath = join(dir, 'lapse.yaml');
  const record = join(dir, 'extra.db');
  let s: TestServer;
  const base = `settings: { admins: [carol], reconcileEvery: "off" }
${USERS}integrations:
  - id: demo
    type: demo
    resources: [ { type: database, name: app } ]
`;
  const faults = join(dir, 'faults.json');
  const extra = `  - id: extra
    type: demo
    connection: { recordFile: ${record}, faultsFile: ${faults} }
    resources: [ { type: database, name: app } ]
`;
  const withExtra = `${base}${extra}flows:\n${auto('demo-read', 'demo', 'database', 'read')}${auto('extra-read', 'extra', 'database', 'read')}`;
  const withoutExtra = `${base}flows:\n${auto('demo-read', 'demo', 'database', 'read')}`;
  before(async () => {
    writeFileSync(configPath, withExtra);
    s = await startTestServer({ configPath });
  });
  after(async () => {
    await s.svc.stop();
    rmSync(s.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const onTarget = async (): Promise<string[]> => {
    const target = new DemoIntegration('extra', record, []);
    try {
      return (await target.listGranted()).map((g) => g.requestId ?? '');
    } finally {
      await target.close();
    }
  };

  test('while a request holds a grant on it: refused with the request listed, nothing changed', async () => {
    const held = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'extra-read', entitlements: [{ integration: 'extra', resourceType: 'database', resource: 'app', permission: 'read' }] });
    assert.equal(held.body.status, 'active', held.text);
    writeFileSync(configPath, withoutExtra);
    const res = await reload(s);
    assert.equal(res.status, 409, res.text);
    assert.deepEqual(res.body.requests, [{ id: held.body.id, integration: 'extra', requester: 'alice', flowId: 'extra-read', status: 'active' }]);
    assert.match(res.body.detail, new RegExp(`"extra" cannot be removed while requests hold grants on it: ${held.body.id} \\(alice, flow extra-read, active\\)`));
    assert.match(res.body.detail, /--revoke-removed/);

    assert.equal((await s.svc.store.getRequest(held.body.id))?.status, 'active');
    assert.ok(s.svc.integrations.has('extra'));
    const catalog = await s.as('alice', 'GET', '/api/v1/catalog');
    assert.ok(catalog.body.flows.some((f: { id: string }) => f.id === 'extra-read'), 'the running configuration stays');
    assert.deepEqual(await onTarget(), [held.body.id]);

    // The CLI says the same, and fails.
    await assert.rejects(main(['config', 'reload', '--url', s.svc.url, '--token', s.tokens.carol], () => undefined), (err: Error) => {
      assert.match(err.message, new RegExp(`^409 Configuration refused: .*${held.body.id} \\(alice, flow extra-read, active\\)`));
      return true;
    });
  });

  test('with --revoke-removed: the access is revoked on the target, audited, and the integration dropped after', async () => {
    const [held] = await s.svc.store.listRequests({ statuses: ['active'], requester: 'alice' });
    assert.ok(held);
    const out: string[] = [];
    assert.equal(await main(['config', 'reload', '--revoke-removed', '--url', s.svc.url, '--token', s.tokens.carol], (l) => out.push(l)), 0, out.join('\n'));
    assert.ok(out.includes('  integrations removed: extra'), out.join('\n'));
    assert.ok(out.includes(`  revoking 1 request(s) on removed integrations: ${held.id}`), out.join('\n'));
    assert.ok(out.includes('  flows: 0 added, 1 removed'), out.join('\n'));

    await untilStatus(s, held.id, 'revoked');
    const r = (await s.svc.store.getRequest(held.id))!;
    assert.equal(r.endReason, 'integration-removed');
    assert.equal(r.endNote, 'integration removed from the configuration');
    assert.deepEqual(await onTarget(), [], 'gone from the target');
    const audit = await s.as('carol', 'GET', `/api/v1/audit?requestId=${held.id}&action=request.revoking`);
    assert.equal(audit.body.events[0].data.reason, 'integration removed from the configuration');
    const reloaded = await s.as('carol', 'GET', '/api/v1/audit?action=config.reloaded');
    assert.deepEqual(reloaded.body.events.at(-1).data.changes.revoked, [held.id]);
    assert.ok(await waitFor(() => !s.svc.integrations.has('extra'), 10_000), 'dropped once its revoke finished');
  });

  test('holding nothing: removed at once', async () => {
    writeFileSync(configPath, withExtra);
    const added = await reload(s);
    assert.deepEqual(added.body.integrations.added, ['extra']);
    assert.ok(s.svc.integrations.has('extra'));
    writeFileSync(configPath, withoutExtra);
    const removed = await reload(s, { revokeRemoved: false });
    assert.equal(removed.status, 200, removed.text);
    assert.deepEqual(removed.body.integrations.removed, ['extra']);
    assert.deepEqual(removed.body.revoked, []);
    assert.ok(!s.svc.integrations.has('extra'));
  });

  test('a revoke that fails keeps the integration, for its retries, until it succeeds', async () => {
    writeFileSync(configPath, withExtra);
    assert.equal((await reload(s)).status, 200);
    const held = await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'extra-read', entitlements: [{ integration: 'extra', resourceType: 'database', resource: 'app', permission: 'read' }] });
    assert.equal(held.body.status, 'active', held.text);
    writeFileSync(faults, JSON.stringify({ revoke: 'the target is down' }));
    writeFileSync(configPath, withoutExtra);
    const res = await reload(s, { revokeRemoved: true });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.revoked, [held.body.id]);
    assert.deepEqual(res.body.leaving, ['extra'], 'kept for the revoke');
    assert.ok(s.svc.integrations.has('extra'));
    assert.equal((await s.svc.store.getRequest(held.body.id))?.status, 'revoking');
    const catalog = await s.as('dave', 'GET', '/api/v1/catalog');
    assert.ok(!catalog.body.flows.some((f: { id: string }) => f.id === 'extra-read'), 'no flow offers it any more');

    writeFileSync(faults, '{}');
    await untilStatus(s, held.body.id, 'revoked');
    assert.deepEqual(await onTarget(), []);
    assert.ok(await waitFor(() => !s.svc.integrations.has('extra'), 10_000), 'dropped once its revoke succeeded');
  });
});

test('an integration taken out of use is closed only once the calls running on it end', async () => {
  let release: () => void = () => undefined;
  let closed = false;
  const slow = {
    id: 'slow', type: 'demo',
    grant: () => new Promise<{ accessDetails: null }>((resolve) => { release = () => resolve({ accessDetails: null }); }),
    revoke: async () => undefined, listGranted: async () => [], listResources: async () => [],
    health: async () => ({ ok: true, checkedAt: 0, error: null }),
    close: async () => { closed = true; },
  } satisfies Integration;
  const tracked = trackCalls(slow);
  const call = tracked.integration.grant({ requestId: 'r', user: { id: 'u', email: 'u@example.com' }, entitlements: [], expiresAt: null });
  assert.equal(await tracked.idle(100), false, 'a call is running');
  release();
  await call;
  assert.equal(await tracked.idle(100), true);
  assert.equal(closed, false);
});
