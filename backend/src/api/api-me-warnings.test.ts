// `GET /api/v1/me` tells the server's expiry warnings (`settings.expiryWarnings`), so that
// clients (the tray) warn at the same moments as the server's `request.expiring` events:
// as durations, latest first, from the configuration running now.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE, startTestServer, type TestServer } from './api-test-support.ts';

const WARNINGS = /^ {2}expiryWarnings: \[10m, 1m\]$/m;
let s: TestServer;
let configPath: string;
let example: string;
const configDir = mkdtempSync(join(tmpdir(), 'lapse-'));

before(async () => {
  example = readFileSync(EXAMPLE, 'utf8');
  assert.match(example, WARNINGS, 'the example sets the default warnings');
  configPath = join(configDir, 'lapse.yaml');
  // Not the default, not in order, one of them not whole minutes.
  writeFileSync(configPath, example.replace(WARNINGS, '  expiryWarnings: [5m, 90s, 30m]'));
  s = await startTestServer({ configPath });
});
after(async () => {
  await s?.svc.stop();
  if (s) rmSync(s.dir, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
});

test('me shows the configured expiry warnings, latest first, as durations', async () => {
  for (const user of ['alice', 'bob', 'carol'] as const) {
    const res = await s.as(user, 'GET', '/api/v1/me');
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.expiryWarnings, ['30m', '5m', '1m30s'], `for ${user}`);
  }
});

test('after a configuration reload, me shows the new warnings; none configured is an empty list', async () => {
  writeFileSync(configPath, example.replace(WARNINGS, '  expiryWarnings: []'));
  const reload = await s.as('carol', 'POST', '/api/v1/admin/config/reload');
  assert.equal(reload.status, 200, reload.text);
  assert.deepEqual((await s.as('alice', 'GET', '/api/v1/me')).body.expiryWarnings, []);
});

test('the OpenAPI document describes the field', async () => {
  const res = await s.as('alice', 'GET', '/api/v1/openapi.json');
  assert.equal(res.status, 200);
  const schema = JSON.stringify(res.body.paths['/api/v1/me'].get.responses['200']);
  assert.match(schema, /expiryWarnings/);
});
