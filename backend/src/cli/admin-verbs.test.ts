// The admin verbs of the panic button and of stuck revocations, against a real server:
// `lapse revoke-all` only previews without --yes (nothing revoked), and with --yes revokes
// what it previewed; `lapse stuck` lists revokes a down target refuses; `lapse retry-revoke`
// and `lapse mark-revoke-canceled` take several ids and say each one's outcome; a requester
// is refused (the bin prints the error, exit 1; main() throws it).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { analyticsRead, appRead, startTestServer, type TestServer, type User } from '../api/api-test-support.ts';
import type { Entitlement } from '../domain/request.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';
import { main } from './main.ts';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

/** Runs `lapse ARGS` in this process as `user`: its exit code and lines. */
async function lapse(user: User, args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await main([...args, '--url', s.svc.url, '--token', s.tokens[user]], (l) => lines.push(l));
  return { code, lines };
}

async function statusOf(id: string): Promise<string> {
  return (await s.as('carol', 'GET', `/api/v1/requests/${id}`)).body.status;
}

async function until(id: string, status: string): Promise<void> {
  for (let i = 0; i < 200 && (await statusOf(id)) !== status; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(await statusOf(id), status);
}

async function activeRequest(user: User, entitlement: Entitlement): Promise<string> {
  const r = await s.as(user, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [entitlement], duration: '30m' });
  assert.equal(r.status, 201, r.text);
  await until(r.body.id, 'active');
  return r.body.id;
}

test('revoke-all previews without --yes and revokes nothing; with --yes it revokes what matched, with the reason', async () => {
  const dave = await activeRequest('dave', analyticsRead);
  const alice = await activeRequest('alice', appRead);

  const preview = await lapse('carol', ['revoke-all', '--user', 'dave', '--resource', 'analytics']);
  assert.equal(preview.code, 0, preview.lines.join('\n'));
  assert.match(preview.lines[0]!, /^would revoke 1 request\(s\): 1 grant\(s\) of 1 person\(s\)$/);
  assert.ok(preview.lines.includes('  demo: 1 grant(s)'), preview.lines.join('\n'));
  assert.match(preview.lines.at(-1)!, /nothing revoked yet: run again with --yes/);
  assert.equal(await statusOf(dave), 'active', 'a preview revokes nothing');

  const json = await lapse('carol', ['revoke-all', '--user', 'dave', '--json']);
  assert.deepEqual(JSON.parse(json.lines.join('\n')), { requests: 1, grants: 1, users: 1, byIntegration: [{ integration: 'demo', grants: 1 }] });

  await assert.rejects(lapse('alice', ['revoke-all', '--user', 'dave', '--yes', '--reason', 'mine now']), /403 Forbidden: this needs the admin role/);
  assert.equal(await statusOf(dave), 'active', 'a requester cannot press it');

  const done = await lapse('carol', ['revoke-all', '--user', 'dave', '--resource', 'analytics', '--yes', '--reason', 'incident "42"']);
  assert.equal(done.code, 0, done.lines.join('\n'));
  assert.deepEqual(done.lines, ['revoking 1 request(s)']);
  await until(dave, 'revoked');
  assert.equal((await s.as('carol', 'GET', `/api/v1/requests/${dave}`)).body.endNote, 'incident "42"');
  assert.equal(await statusOf(alice), 'active', 'outside the filter');

  const nothing = await lapse('carol', ['revoke-all', '--user', `o'brien"; --`]);
  assert.deepEqual(nothing.lines, ['would revoke 0 request(s): 0 grant(s) of 0 person(s)', 'nothing matches']);
  await s.as('alice', 'POST', `/api/v1/requests/${alice}/revoke`, {});
  await until(alice, 'revoked');
});

test('stuck lists what a down target refuses to revoke; retry-revoke and mark-revoke-canceled take several ids and say each outcome', async () => {
  const demo = s.svc.integrations.get('demo') as DemoIntegration;
  const stuck = [await activeRequest('alice', appRead), await activeRequest('dave', analyticsRead), await activeRequest('dave', appRead)];
  demo.faults = { revoke: 'demo target is down' };
  try {
    for (const id of stuck) assert.equal((await s.as('carol', 'POST', `/api/v1/requests/${id}/revoke`, {})).status, 200);
    for (const id of stuck) await until(id, 'revoking');

    const list = await lapse('carol', ['stuck']);
    assert.equal(list.code, 0, list.lines.join('\n'));
    assert.match(list.lines[0]!, /^id +requester +attempts +next retry +last error$/);
    for (const id of stuck) {
      const row = list.lines.find((l) => l.startsWith(id)) ?? assert.fail(`${id} not listed:\n${list.lines.join('\n')}`);
      assert.match(row, /demo target is down/);
    }
    await assert.rejects(lapse('dave', ['stuck']), /403 Forbidden: this needs the admin role/, 'a requester is refused');
    await assert.rejects(lapse('dave', ['retry-revoke', stuck[0]!]), /403 Forbidden/);

    const retried = await lapse('carol', ['retry-revoke', stuck[0]!, 'no-such-request']);
    assert.equal(retried.code, 1, 'one id could not be retried');
    assert.deepEqual(retried.lines, [`retrying now: ${stuck[0]}`, '  not retried no-such-request: request no-such-request not found']);

    await assert.rejects(lapse('carol', ['mark-revoke-canceled', stuck[1]!]), /--reason TEXT is required/);
    await assert.rejects(lapse('carol', ['retry-revoke']), /REQUEST_ID is required/);
    const canceled = await lapse('carol', ['mark-revoke-canceled', stuck[1]!, stuck[2]!, '--reason', 'removed by hand']);
    assert.equal(canceled.code, 0, canceled.lines.join('\n'));
    assert.deepEqual(canceled.lines, [`marked revoke-canceled: ${stuck[1]}, ${stuck[2]}`]);
    for (const id of [stuck[1]!, stuck[2]!]) assert.equal(await statusOf(id), 'revoke_canceled');
  } finally {
    demo.faults = {};
  }
  assert.equal((await lapse('carol', ['retry-revoke', stuck[0]!])).code, 0);
  await until(stuck[0]!, 'revoked');
  const after = await lapse('carol', ['stuck', '--json']);
  assert.deepEqual(JSON.parse(after.lines.join('\n')).revocations, []);
});
