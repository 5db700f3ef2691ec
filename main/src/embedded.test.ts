import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { embeddedConfig, startEmbedded, userIdFromOsUser } from './embedded.ts';
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
