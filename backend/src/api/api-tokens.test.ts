// Self-service API tokens: made (shown once, expiring), listed without the secret, revoked;
// what only admins may do; expiry; every event audited; and `lapse token create` refusing a
// user the configuration does not have.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertProblem, call, startTestServer, type TestServer } from './api-test-support.ts';
import { createToken } from '../auth/tokens.ts';

let s: TestServer;
before(async () => { s = await startTestServer(); });
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

const DAY = 86_400_000;

test('a person makes a token (shown once, 90 days by default), uses it, lists it without the secret, revokes it', async () => {
  const made = await s.as('alice', 'POST', '/api/v1/tokens', { name: 'laptop' });
  assert.equal(made.status, 201, made.text);
  assert.match(made.body.token, /^lapse_[a-z0-9]{12}_/);
  assert.equal(made.body.user, 'alice');
  assert.equal(made.body.kind, 'personal');
  const lifetime = Date.parse(made.body.expiresAt) - Date.parse(made.body.createdAt);
  assert.equal(lifetime, 90 * DAY);
  assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', made.body.token)).body.id, 'alice');
  const listed = await s.as('alice', 'GET', '/api/v1/tokens');
  const mine = listed.body.tokens.find((t: { id: string }) => t.id === made.body.id);
  assert.ok(mine.lastUsedAt, 'last use shown');
  assert.equal(JSON.stringify(listed.body).includes(made.body.token), false, 'the token is never listed');
  assert.equal(JSON.stringify(listed.body).includes('lapse_'), false);
  assertProblem(await s.as('bob', 'DELETE', `/api/v1/tokens/${made.body.id}`), 404);
  assert.equal((await s.as('alice', 'DELETE', `/api/v1/tokens/${made.body.id}`)).status, 204);
  assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', made.body.token)).status, 401);
  assertProblem(await s.as('alice', 'DELETE', `/api/v1/tokens/${made.body.id}`), 404, undefined, /no active token/);
  const actions = (await s.svc.store.listAudit({ limit: 1000 })).filter((e) => e.data.tokenId === made.body.id).map((e) => `${e.action} by ${e.actor}`);
  assert.deepEqual(actions, ['token.created by alice', 'token.first_used by system', 'token.revoked by alice']);
});

test('lifetimes: a duration up to 366 days; never only for an admin\'s service token; bad values name the field', async () => {
  const short = await s.as('alice', 'POST', '/api/v1/tokens', { name: 'ci', expiresIn: '2d' });
  assert.equal(Date.parse(short.body.expiresAt) - Date.parse(short.body.createdAt), 2 * DAY);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', expiresIn: '400d' }), 422, 'expiresIn', /at most/);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', expiresIn: 'soon' }), 422, 'expiresIn', /expected a duration/);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', expiresIn: 'never' }), 422, 'expiresIn', /only a service token/);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: '' }), 400, 'name');
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', secret: 'y' }), 400, 'secret');
});

test('only admins make service tokens, tokens for others, and see others\' tokens; never for an unknown user', async () => {
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', kind: 'service' }), 403);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', user: 'bob' }), 403);
  assertProblem(await s.as('alice', 'GET', '/api/v1/tokens?user=bob'), 403);
  const service = await s.as('carol', 'POST', '/api/v1/tokens', { name: 'deploy pipeline', kind: 'service', user: 'bob', expiresIn: 'never' });
  assert.equal(service.status, 201, service.text);
  assert.deepEqual([service.body.user, service.body.kind, service.body.expiresAt], ['bob', 'service', null]);
  assert.ok((await s.as('carol', 'GET', '/api/v1/tokens?user=*')).body.tokens.some((t: { id: string }) => t.id === service.body.id));
  assertProblem(await s.as('carol', 'POST', '/api/v1/tokens', { name: 'x', user: 'nobody' }), 422, 'user', /unknown user "nobody"/);
  assertProblem(await s.as('carol', 'POST', '/api/v1/tokens', { name: 'x', user: "o'brien\"; DROP TABLE tokens;--" }), 422, 'user');
});

test('an expired token stops working; the first try after expiry revokes it, audited once', async () => {
  const now = Date.now();
  const { token, record } = await createToken(s.svc.store, 'alice', 'old', now - 2 * DAY, { expiresAt: now - 1000 });
  assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', token), 401);
  assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', token), 401);
  const expired = (await s.svc.store.listAudit({ limit: 1000 })).filter((e) => e.action === 'token.expired' && e.data.tokenId === record.id);
  assert.equal(expired.length, 1);
  assert.deepEqual([expired[0]!.actor, expired[0]!.data.user, expired[0]!.data.expiredAt], ['system', 'alice', now - 1000]);
  const listed = (await s.as('alice', 'GET', '/api/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === record.id);
  assert.ok(listed.revokedAt, 'listed as ended');
});

test('lapse token create refuses a user the configuration does not have', () => {
  const bin = fileURLToPath(new URL('../../bin/lapse.js', import.meta.url));
  const unknown = spawnSync(process.execPath, [bin, 'token', 'create', '--user', 'nobody', '--data-dir', s.dir], { encoding: 'utf8' });
  assert.equal(unknown.status, 2, unknown.stderr);
  assert.match(unknown.stderr, /unknown user "nobody": not a user of the configuration the server last loaded/);
  const known = spawnSync(process.execPath, [bin, 'token', 'create', '--user', 'dave', '--data-dir', s.dir, '--expires-in', '1d'], { encoding: 'utf8' });
  assert.equal(known.status, 0, known.stderr);
  assert.match(known.stdout.trim(), /^lapse_[a-z0-9]{12}_/);
});

test('hostile input: a name full of quotes and control characters kept exactly, too long a name, a huge lifetime, disguised ids', async () => {
  const name = "o'brien \"laptop\"; DROP TABLE tokens;-- \u0007\u001b[2J\u202e";
  const made = await s.as('alice', 'POST', '/api/v1/tokens', { name });
  assert.equal(made.status, 201, made.text);
  assert.equal((await s.as('alice', 'GET', '/api/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === made.body.id).name, name);
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x'.repeat(201) }), 400, 'name');
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', expiresIn: '99999999999d' }), 422, 'expiresIn');
  assertProblem(await s.as('alice', 'POST', '/api/v1/tokens', { name: 'x', expiresIn: '-5d' }), 422, 'expiresIn');
  for (const id of ['..%2Ftokens', `${made.body.id}%00`, 'x'.repeat(300)]) {
    const res = await s.as('alice', 'DELETE', `/api/v1/tokens/${id}`);
    // 414: Fastify refuses a path parameter longer than 100 characters before any route runs.
    assert.ok([400, 404, 414].includes(res.status), `${id}: ${res.status}`);
  }
  assert.equal((await call(s.svc.url, 'GET', '/api/v1/me', made.body.token)).status, 200, 'none of them touched the token');
});
