import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseDocument } from 'yaml';
import { countOverdueRevokes, embeddedConfig, startEmbedded, userIdFromOsUser } from './embedded.ts';
import type { RequestRecord } from '../../backend/src/domain/request.ts';
import { silentLogger } from '../../backend/src/logger.ts';

const EXAMPLE = fileURLToPath(new URL('../../backend/examples/lapse.yaml', import.meta.url));
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('OS user names become valid user ids', () => {
  assert.equal(userIdFromOsUser('Jane.Doe'), 'jane.doe');
  assert.equal(userIdFromOsUser('CORP\\jdoe'), 'corp-jdoe');
  assert.equal(userIdFromOsUser('Jürgen Ölz'), 'j-rgen-lz');
  assert.equal(userIdFromOsUser('___'), '___');
  assert.equal(userIdFromOsUser('..'), 'me');
});

test('the embedded configuration adds the person as admin, requester and approver, keeping the example', () => {
  const text = embeddedConfig(readFileSync(EXAMPLE, 'utf8'), 'jdoe', 'Jane Doe');
  const c = parse(text);
  assert.deepEqual(c.settings.admins, ['jdoe', 'carol']);
  assert.deepEqual(c.identities.users[0], { id: 'jdoe', email: 'jdoe@localhost', name: 'Jane Doe', groups: ['engineering', 'sre-leads'] });
  assert.equal(c.identities.users.length, 6);
  assert.equal(c.flows.length, 5);
  assert.match(text, /# Lapse example configuration/, 'comments kept');
  // An OS user named like an example user replaces it rather than clashing.
  const clash = parse(embeddedConfig(readFileSync(EXAMPLE, 'utf8'), 'alice'));
  assert.equal(clash.identities.users.filter((u: { id: string }) => u.id === 'alice').length, 1);
  assert.deepEqual(clash.settings.admins, ['alice', 'carol']);
});

test('embedded mode starts the backend on a local file; the person gets a working token, revoked at stop', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-embedded-'));
  dirs.push(dir);
  const e = await startEmbedded({ dir, exampleConfigPath: EXAMPLE, osUser: 'Jane.Doe', logger: silentLogger });
  let stopped = false;
  try {
    assert.match(e.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const auth = { authorization: `Bearer ${e.token}` };
    const me = await (await fetch(`${e.url}/api/v1/me`, { headers: auth })).json() as { id: string; roles: string[] };
    assert.equal(me.id, 'jane.doe');
    assert.deepEqual(me.roles, ['requester', 'approver', 'admin']);
    const catalog = await (await fetch(`${e.url}/api/v1/catalog`, { headers: auth })).json() as { flows: { id: string }[] };
    assert.ok(catalog.flows.some((f) => f.id === 'demo-auto'));
    const created = await fetch(`${e.url}/api/v1/requests`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ flowId: 'demo-auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' }] }) });
    assert.equal(created.status, 201);
    await e.stop();
    stopped = true;
    // The data stays for the next start; the token of the previous run no longer works.
    const again = await startEmbedded({ dir, exampleConfigPath: EXAMPLE, osUser: 'Jane.Doe', logger: silentLogger });
    try {
      assert.equal((await fetch(`${again.url}/api/v1/me`, { headers: auth })).status, 401);
      const mine = await (await fetch(`${again.url}/api/v1/requests?mine=true`, { headers: { authorization: `Bearer ${again.token}` } })).json() as { requests: unknown[] };
      assert.equal(mine.requests.length, 1);
    } finally {
      await again.stop();
    }
  } finally {
    if (!stopped) await e.stop();
  }
});

test('embedded mode passes the variables its configuration names: a command integration\'s secretEnv resolves; one not set leaves it unavailable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-embedded-'));
  dirs.push(dir);
  const doc = parseDocument(embeddedConfig(readFileSync(EXAMPLE, 'utf8'), 'jdoe'));
  for (const [id, secretEnv] of [['cmd-named', 'LAPSE_TEST_CMD_SECRET'], ['cmd-unset', 'LAPSE_TEST_NOT_SET']]) {
    doc.addIn(['integrations'], doc.createNode({ id, type: 'command', name: id, connection: { path: process.execPath, secretEnv }, resourceTypes: { service: { permissions: ['use'] } }, resources: [{ type: 'service', name: 'x' }] }));
  }
  writeFileSync(join(dir, 'lapse.yaml'), doc.toString());
  const e = await startEmbedded({ dir, exampleConfigPath: EXAMPLE, osUser: 'jdoe', logger: silentLogger, env: { PATH: process.env.PATH, LAPSE_TEST_CMD_SECRET: 's3cret', UNRELATED_SECRET: 'x' } });
  try {
    assert.equal(e.overdueRevokes, 0, 'nothing fell due: a first start');
    const named = await e.service.integrations.get('cmd-named')!.health();
    assert.deepEqual([named.ok, named.error], [true, null]);
    const unset = await e.service.integrations.get('cmd-unset')!.health();
    assert.equal(unset.ok, false);
    assert.match(unset.error ?? '', /LAPSE_TEST_NOT_SET, which is not set/);
  } finally {
    await e.stop();
  }
});

test('overdue revokes: access that lapsed before the start and was ended at it (or is being ended), not what ended before', async () => {
  const START = Date.parse('2026-01-05T12:00:00.000Z');
  const rows = [
    { status: 'expired', expiresAt: START - 60_000, endedAt: START + 50 },
    { status: 'revoking', expiresAt: START - 3_600_000, endedAt: null },
    { status: 'active', expiresAt: START - 1000, endedAt: null },
    { status: 'expired', expiresAt: START - 7_200_000, endedAt: START - 7_199_000 },
    { status: 'active', expiresAt: START + 60_000, endedAt: null },
    { status: 'active', expiresAt: null, endedAt: null },
  ] as RequestRecord[];
  assert.equal(await countOverdueRevokes({ listRequests: async () => rows }, START), 3);
});
