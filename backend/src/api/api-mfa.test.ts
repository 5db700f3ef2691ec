// TOTP self-enrolment over the API, against a real server whose demo-auto flow requires MFA:
// dave sets up a factor (the secret shown once), confirms it, and requests with its codes;
// alice's secret is in the configuration (the admin's); carol is the admin. As an attacker
// would try it: another person's reset as a non-admin, wrong, replayed, huge and non-digit
// codes, a pending enrolment's code on a flow, guessing at confirmation; and the secret is in
// no answer but the first, in no audit event, no log line and no byte of the database.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../service.ts';
import { createLogger } from '../logger.ts';
import { createToken } from '../auth/tokens.ts';
import { base32Decode, totpAt } from '../auth/totp.ts';
import { freshTestStoreUrl, TEST_SECRET_KEY, testStoreKind } from '../store/postgres-test-support.ts';
import { EXAMPLE, USERS, appRead, assertProblem, call, rawStoreBytes, type Res, type TestServer, type User } from './api-test-support.ts';

const ALICE_SECRET = 'JBSWY3DPEHPK3PXP';
let s: TestServer;
let configPath: string;
/** Every line the server logged, at every level. */
const logLines: string[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
  configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8')
    .replace('attributes: { team: payments } }', 'attributes: { team: payments }, mfa: { totpSecretEnv: ALICE_TOTP } }')
    .replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true }'));
  const store = testStoreKind() === 'postgres' ? await freshTestStoreUrl() : undefined;
  const svc = await startService({
    configPath, dataDir: join(dir, 'data'), port: 0, store,
    env: { ALICE_TOTP: ALICE_SECRET, ...(store ? { LAPSE_SECRET_KEY: TEST_SECRET_KEY } : {}) },
    logger: createLogger({ level: 'trace', destination: { write: (line: string) => { logLines.push(line); } } }),
  });
  const tokens = {} as Record<User, string>;
  for (const u of USERS) tokens[u] = (await createToken(svc.store, u, `test ${u}`)).token;
  s = { svc, dir, tokens, as: (user, method, path, body) => call(svc.url, method, path, tokens[user], body) };
});
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

const STEP_MS = 30_000;
/** The code of `secret` at a time step (the server takes the current step and one either side). */
const codeAt = (secret: string, step: number) => totpAt(base32Decode(secret), step);
const stepNow = () => Math.floor(Date.now() / STEP_MS);
/** A code that is none of `secret`'s around now. */
function wrongCode(secret: string): string {
  const near = new Set([-2, -1, 0, 1, 2].map((d) => codeAt(secret, stepNow() + d)));
  return ['000000', '111111', '222222', '333333'].find((c) => !near.has(c))!;
}

/** Every form the secret could leak in: as shown, in lower case, and its bytes as hex and base64. */
function formsOf(secret: string): string[] {
  const raw = base32Decode(secret);
  return [secret, secret.toLowerCase(), raw.toString('hex'), raw.toString('base64'), raw.toString('base64url')];
}

function assertNoSecret(text: string, secret: string, where: string): void {
  for (const form of formsOf(secret)) assert.ok(!text.includes(form), `${where} holds the secret (as ${form})`);
}

async function start(user: User): Promise<Res> {
  const res = await s.as(user, 'POST', '/api/v1/mfa/enrolment');
  assert.equal(res.status, 201, res.text);
  return res;
}

test('dave sets up a factor (shown once, as text, URI and QR code), confirms it, and a flow that requires MFA then takes its codes', async () => {
  assert.deepEqual((await s.as('dave', 'GET', '/api/v1/mfa')).body, { status: 'none', startedAt: null, confirmedAt: null });
  // No factor: the flow says so before looking at any code.
  assertProblem(await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: '123456' }), 403, undefined, /no MFA factor is configured for dave/);

  const started = await start('dave');
  assert.equal(started.headers.get('cache-control'), 'no-store');
  const { secret, otpauthUri, qrCode } = started.body as { secret: string; otpauthUri: string; qrCode: string };
  assert.match(secret, /^[A-Z2-7]{32}$/, '20 random bytes in base32');
  assert.equal(otpauthUri, `otpauth://totp/Lapse:dave?secret=${secret}&issuer=Lapse`);
  assert.match(qrCode, /^data:image\/svg\+xml;base64,/);
  assert.equal(started.body.status, 'pending');

  // Pending: the status holds no secret, and a right code of it does not pass the flow.
  const pending = await s.as('dave', 'GET', '/api/v1/mfa');
  assert.equal(pending.body.status, 'pending');
  assert.equal(pending.body.confirmedAt, null);
  assertNoSecret(pending.text, secret, 'GET /mfa while pending');
  const step = stepNow();
  assertProblem(await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: codeAt(secret, step) }), 403, undefined, /no MFA factor/);

  // A wrong code does not confirm; the right one does.
  assertProblem(await s.as('dave', 'POST', '/api/v1/mfa/enrolment/confirm', { code: wrongCode(secret) }), 422, 'code', /not valid/);
  const confirmed = await s.as('dave', 'POST', '/api/v1/mfa/enrolment/confirm', { code: codeAt(secret, step) });
  assert.equal(confirmed.status, 200, confirmed.text);
  assert.equal(confirmed.body.status, 'enrolled');
  assertNoSecret(confirmed.text, secret, 'the confirmation');
  const status = await s.as('dave', 'GET', '/api/v1/mfa');
  assert.equal(status.body.status, 'enrolled');
  assert.ok(status.body.confirmedAt);
  assertNoSecret(status.text, secret, 'GET /mfa once enrolled');
  // Replayed: confirming again is refused, and so is the code that confirmed, on a request.
  assertProblem(await s.as('dave', 'POST', '/api/v1/mfa/enrolment/confirm', { code: codeAt(secret, step) }), 409, undefined, /confirmed already/);
  assertProblem(await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: codeAt(secret, step) }), 422, 'mfaCode', /not valid/);
  // A later code passes.
  const granted = await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: codeAt(secret, step + 1) });
  assert.equal(granted.status, 201, granted.text);
  assert.equal(granted.body.status, 'active');
  // Set up once: starting again is refused while it is confirmed.
  assertProblem(await s.as('dave', 'POST', '/api/v1/mfa/enrolment'), 409, undefined, /enrolled already/);

  // Audited, without the secret; nor is it in any log line or anywhere in the database.
  const audit = await s.as('carol', 'GET', '/api/v1/audit?actor=dave&limit=1000');
  const actions = (audit.body.events as { action: string }[]).map((e) => e.action).filter((a) => a.startsWith('mfa.'));
  assert.deepEqual(actions, ['mfa.enrolment_started', 'mfa.failed', 'mfa.enrolled', 'mfa.failed']);
  assertNoSecret(audit.text, secret, 'the audit');
  assertNoSecret(logLines.join('\n'), secret, 'the log');
  assert.ok(logLines.some((l) => l.includes('/api/v1/mfa/enrolment')), 'the log does hold the calls');
  assertNoSecret((await rawStoreBytes(s)).toString('latin1'), secret, 'the database');
});

test('a person removes their own factor only with a current code; a pending one goes without', async () => {
  const { secret } = (await start('erin')).body as { secret: string };
  const step = stepNow();
  assert.equal((await s.as('erin', 'POST', '/api/v1/mfa/enrolment/confirm', { code: codeAt(secret, step) })).status, 200);
  assertProblem(await s.as('erin', 'DELETE', '/api/v1/mfa'), 422, 'code', /needs a current code/);
  assertProblem(await s.as('erin', 'DELETE', '/api/v1/mfa', {}), 422, 'code');
  assertProblem(await s.as('erin', 'DELETE', '/api/v1/mfa', { code: wrongCode(secret) }), 422, 'code', /not valid/);
  assertProblem(await s.as('erin', 'DELETE', '/api/v1/mfa', { code: codeAt(secret, step) }), 422, 'code', /used already/);
  assert.equal((await s.as('erin', 'GET', '/api/v1/mfa')).body.status, 'enrolled');
  assert.equal((await s.as('erin', 'DELETE', '/api/v1/mfa', { code: codeAt(secret, step + 1) })).status, 204);
  assert.equal((await s.as('erin', 'GET', '/api/v1/mfa')).body.status, 'none');
  assertProblem(await s.as('erin', 'DELETE', '/api/v1/mfa'), 404);

  await start('erin');
  assert.equal((await s.as('erin', 'DELETE', '/api/v1/mfa')).status, 204);
  assert.equal((await s.as('erin', 'GET', '/api/v1/mfa')).body.status, 'none');
});

test('codes that are not six digits are refused by the schema, naming the field, and count as no guess', async () => {
  await start('bob');
  for (const code of ['1'.repeat(100_000), '12345a', '１２３４５６', '12345', '1234567', ' 123456', '123456\n', '-12345', 123456, null, ['123456']]) {
    assertProblem(await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', { code }), 400, 'code');
    assertProblem(await s.as('bob', 'DELETE', '/api/v1/mfa', { code }), 400, 'code');
  }
  assertProblem(await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', {}), 400, 'code', /required/);
  assertProblem(await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', { code: '123456', secret: 'JBSWY3DPEHPK3PXP' }), 400, 'secret', /not a known field/);
  // A body far past the limit is refused before it is read.
  const huge = await call(s.svc.url, 'POST', '/api/v1/mfa/enrolment/confirm', s.tokens.bob, undefined, { raw: JSON.stringify({ code: '1'.repeat(1_000_000) }) });
  assertProblem(huge, 413);
  const failures = (await s.svc.store.listAudit({ actor: 'bob', limit: 1000 })).filter((e) => e.action === 'mfa.failed' || e.action === 'mfa.refused');
  assert.equal(failures.length, 0, 'none of those was checked against the secret');
  assert.equal((await s.as('bob', 'DELETE', '/api/v1/mfa')).status, 204);
});

test('guessing at confirmation is limited: after 5 wrong codes even the right one is refused (429, retry-after), each audited', async () => {
  const { secret } = (await start('bob')).body as { secret: string };
  for (let i = 0; i < 5; i++) assertProblem(await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', { code: wrongCode(secret) }), 422, 'code');
  const locked = await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', { code: codeAt(secret, stepNow()) });
  assertProblem(locked, 429, 'code', /too many wrong MFA codes/);
  const retry = Number(locked.headers.get('retry-after'));
  assert.ok(retry > 14 * 60 && retry <= 15 * 60, `retry-after ${retry}`);
  assert.equal((await s.as('bob', 'GET', '/api/v1/mfa')).body.status, 'pending');
  const audit = (await s.svc.store.listAudit({ actor: 'bob', limit: 1000 })).filter((e) => e.action === 'mfa.failed' || e.action === 'mfa.refused');
  assert.deepEqual(audit.map((e) => [e.action, e.data.for, e.data.failures]), [
    ['mfa.failed', 'enrolment', 1], ['mfa.failed', 'enrolment', 2], ['mfa.failed', 'enrolment', 3], ['mfa.failed', 'enrolment', 4], ['mfa.failed', 'enrolment', 5], ['mfa.refused', 'enrolment', 6],
  ]);
  // Setting up again does not start the count over.
  const again = (await start('bob')).body as { secret: string };
  assertProblem(await s.as('bob', 'POST', '/api/v1/mfa/enrolment/confirm', { code: codeAt(again.secret, stepNow()) }), 429, 'code');
});

test('alice\'s secret is in the configuration: she is told the admin manages it; her configured codes still work', async () => {
  assert.deepEqual((await s.as('alice', 'GET', '/api/v1/mfa')).body, { status: 'configured', startedAt: null, confirmedAt: null });
  assertProblem(await s.as('alice', 'POST', '/api/v1/mfa/enrolment'), 409, undefined, /admin manages it/);
  assertProblem(await s.as('alice', 'POST', '/api/v1/mfa/enrolment/confirm', { code: '123456' }), 409, undefined, /admin manages it/);
  assertProblem(await s.as('alice', 'DELETE', '/api/v1/mfa', { code: '123456' }), 409, undefined, /admin manages it/);
  assertProblem(await s.as('carol', 'DELETE', '/api/v1/users/alice/mfa'), 409, undefined, /configuration/);
  const granted = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: codeAt(ALICE_SECRET, stepNow()) });
  assert.equal(granted.status, 201, granted.text);
  // More time on the flow asks for a code again, like the request did.
  assertProblem(await s.as('alice', 'POST', `/api/v1/requests/${granted.body.id}/extend`, { duration: '30m' }), 422, 'mfaCode', /requires an MFA code/);
  assertProblem(await s.as('alice', 'POST', `/api/v1/requests/${granted.body.id}/extend`, { duration: '30m', mfaCode: '000000' }), 422, 'mfaCode', /not valid/);
  const extended = await s.as('alice', 'POST', `/api/v1/requests/${granted.body.id}/extend`, { duration: '30m', mfaCode: codeAt(ALICE_SECRET, stepNow() + 1) });
  assert.equal(extended.status, 200, extended.text);
  assert.equal(extended.body.extensions, 1);
});

test('only an admin resets another person\'s factor; anyone else gets the same 403 whether that person or factor exists or not', async () => {
  assert.equal((await s.as('dave', 'GET', '/api/v1/mfa')).body.status, 'enrolled');
  const refusals = await Promise.all(['dave', 'nobody', 'erin', 'bob', 'carol', encodeURIComponent('o\'brien "x"'), 'x'.repeat(100)].map((id) => s.as('bob', 'DELETE', `/api/v1/users/${id}/mfa`)));
  for (const r of refusals) assertProblem(r, 403, undefined, /only admins/);
  assert.equal(new Set(refusals.map((r) => r.text)).size, 1, 'one answer for all: nothing about who exists');
  assert.equal((await s.as('dave', 'GET', '/api/v1/mfa')).body.status, 'enrolled', 'dave keeps his factor');

  assertProblem(await s.as('carol', 'DELETE', '/api/v1/users/nobody/mfa'), 404, undefined, /nobody has no MFA enrolment/);
  assert.equal((await s.as('carol', 'DELETE', '/api/v1/users/dave/mfa')).status, 204);
  assert.equal((await s.as('dave', 'GET', '/api/v1/mfa')).body.status, 'none');
  assertProblem(await s.as('dave', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: '123456' }), 403, undefined, /no MFA factor/);
  const reset = (await s.svc.store.listAudit({ action: 'mfa.reset', limit: 100 })).find((e) => e.data.user === 'dave')!;
  assert.deepEqual([reset.actor, reset.data.state], ['carol', 'confirmed']);
  // dave sets up anew.
  assert.equal((await start('dave')).body.status, 'pending');
});

test('a person removed from the configuration loses their enrolment with their other credentials', async () => {
  // (erin's codes of this time step are used already: her set-up stays pending here, which goes just the same.)
  await start('erin');
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace(/^ *- \{ id: erin,.*\n/m, ''));
  assert.equal((await s.svc.reload()).ok, true);
  assert.equal(s.svc.engine.config.users.has('erin'), false);
  assert.equal(await s.svc.store.getMfaEnrolment('erin'), null);
  const reset = (await s.svc.store.listAudit({ action: 'mfa.reset', limit: 1000 })).filter((e) => e.data.user === 'erin').at(-1)!;
  assert.deepEqual([reset.actor, reset.data.state, reset.data.reason], ['system', 'pending', 'user removed']);
});
