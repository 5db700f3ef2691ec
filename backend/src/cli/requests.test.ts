// `lapse status` against a real server: a list shows when active access expires and when
// ended access ended (never "in …" for a revoked row), and a reader that stops reading
// ends the bin quietly.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { appRead, startTestServer, type TestServer } from '../api/api-test-support.ts';
import { main } from './main.ts';

const REPO = new URL('../../..', import.meta.url).pathname;
const BIN = join(REPO, 'backend/bin/lapse.js');
let server: TestServer | undefined;
after(async () => {
  await server?.svc.stop();
  if (server) rmSync(server.dir, { recursive: true, force: true });
});

test('lapse status: active access shows its expiry, revoked access when it ended; a closed pipe ends it quietly', async () => {
  server = await startTestServer();
  const s = server;
  const create = async () => {
    const r = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.equal(r.status, 201, r.text);
    return r.body.id as string;
  };
  const active = await create();
  const revoked = await create();
  assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${revoked}/revoke`, { reason: 'done' })).status, 200);
  for (let i = 0; i < 200 && (await s.as('alice', 'GET', `/api/v1/requests/${revoked}`)).body.status !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 25));

  const lines: string[] = [];
  assert.equal(await main(['status', '--all', '--url', s.svc.url, '--token', s.tokens.alice], (l) => lines.push(l)), 0);
  assert.match(lines[0]!, /^id +requester +flow +status +expires +entitlements$/);
  const row = (id: string) => lines.find((l) => l.startsWith(id)) ?? assert.fail(`no row for ${id}: ${lines.join('\n')}`);
  assert.match(row(active), / active +in (29|30) min +1$/);
  assert.match(row(revoked), / revoked +ended \d+s ago +1$/);
  assert.doesNotMatch(row(revoked), / in \d/);

  // `true` reads nothing: every write meets a closed pipe.
  const { stdout, stderr } = await promisify(execFile)('bash', ['-c', `"${process.execPath}" "${BIN}" status --url "${s.svc.url}" --token "${s.tokens.alice}" | true; echo "status \${PIPESTATUS[0]}"`], { encoding: 'utf8' });
  assert.equal(stdout, 'status 0\n');
  assert.equal(stderr, '');
});
