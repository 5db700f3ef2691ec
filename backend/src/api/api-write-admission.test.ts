// State-changing calls take turns (write-admission.ts) in a real server: one turn here, held
// by a grant whose webhook target has not answered yet. Other writes wait for it; reads do
// not; past the waiting limit a write is refused with 503 and retry-after; the metrics say
// how many wait; once the target answers, every waiting call is carried out.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertProblem, call, startTestServer, waitFor, type Res, type TestServer } from './api-test-support.ts';

const HOOK_SECRET = 'write-admission-hook-secret-0123';

/** A webhook target that holds every call until `open()`, then answers each at once. */
const held: ServerResponse[] = [];
let opened = false;
let target: Server;
let s: TestServer;
const dir = mkdtempSync(join(tmpdir(), 'lapse-admission-'));

before(async () => {
  target = createServer((req, res) => {
    req.resume();
    req.on('end', () => (opened ? res.writeHead(204).end() : held.push(res)));
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `settings: { admins: [carol], reconcileEvery: "off" }
identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: bob, email: bob@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
    - { id: dave, email: dave@example.com, groups: [engineering] }
    - { id: erin, email: erin@example.com, groups: [engineering] }
integrations:
  - id: hook
    type: webhook
    connection: { url: "http://127.0.0.1:${(target.address() as { port: number }).port}/hook", secretEnv: LAPSE_TEST_HOOK_SECRET }
    resourceTypes: { service: { permissions: [use] } }
    resources: [ { type: service, name: billing } ]
flows:
  - { id: hook-use, targets: [ { integration: hook, resourceType: service, resources: any, permissions: [use] } ], approval: automatic, requesters: { conditions: [ { attribute: group, value: engineering } ] } }
`);
  s = await startTestServer({ configPath, env: { LAPSE_TEST_HOOK_SECRET: HOOK_SECRET }, writeAdmission: { concurrency: 1, holdMs: 60_000, maxWaiting: 2 } });
});

after(async () => {
  opened = true;
  for (const res of held) res.writeHead(204).end();
  await s.svc.stop();
  target.closeAllConnections();
  target.close();
  rmSync(s.dir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

const ask = (user: 'alice' | 'bob' | 'dave' | 'erin') => s.as(user, 'POST', '/api/v1/requests', {
  flowId: 'hook-use', entitlements: [{ integration: 'hook', resourceType: 'service', resource: 'billing', permission: 'use' }], duration: '1h',
});

async function gauges(): Promise<{ waiting: number; inProgress: number }> {
  const text = (await call(s.svc.url, 'GET', '/metrics')).text;
  const read = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { waiting: read('lapse_http_writes_waiting'), inProgress: read('lapse_http_writes_in_progress') };
}

test('writes wait for the turn a slow grant holds, reads do not, and past the limit a write is told to retry', async () => {
  // alice's grant reaches the target, which holds it: her call keeps the only turn.
  const first = ask('alice');
  assert.ok(await waitFor(() => held.length === 1, 5000), 'the grant reached the target');
  const bob = ask('bob');
  const dave = ask('dave');
  let queued = { waiting: 0, inProgress: 0 };
  for (let i = 0; i < 250 && queued.waiting < 2; i++) {
    queued = await gauges();
    if (queued.waiting < 2) await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(queued, { waiting: 2, inProgress: 1 }, 'two writes wait behind the one in progress');

  // Reads are answered while the writes wait, and the waiting ones have not run.
  const me = await s.as('carol', 'GET', '/api/v1/me');
  assert.equal(me.status, 200);
  const mine = await s.as('bob', 'GET', '/api/v1/requests');
  assert.equal(mine.status, 200);
  assert.equal(mine.body.requests.length, 0, 'bob\'s request waits for its turn, not yet created');
  assert.equal(held.length, 1);

  // A third write finds the line full: 503, retry-after, and nothing created.
  const busy = await ask('erin');
  assertProblem(busy, 503, undefined, /busy: 2 state-changing calls are waiting/);
  assert.equal(busy.headers.get('retry-after'), '1');
  assert.equal((await s.as('erin', 'GET', '/api/v1/requests')).body.requests.length, 0);

  // The target answers: alice's grant ends, then bob's and dave's calls run, one at a time.
  opened = true;
  for (const res of held.splice(0)) res.writeHead(204).end();
  const answers: Res[] = await Promise.all([first, bob, dave]);
  for (const res of answers) {
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.status, 'active');
  }
  assert.deepEqual(await gauges(), { waiting: 0, inProgress: 0 });
});
