// Codes for flows that require MFA: from the secret the configuration names, or from the
// person's own confirmed enrolment (never a pending one); used once, limited per user across
// requests and enrolment alike, and audited without the secret.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { TotpVerifier } from './mfa.ts';
import { MfaSecretSealer } from './secret-sealer.ts';
import { base32Decode, totpAt } from './totp.ts';
import { MfaEnrolments } from '../services/mfa-enrolment.ts';
import { LapseError } from '../engine/errors.ts';
import { buildConfig, createHarness, createTestStore, ent, flow, selector, user, HOUR, T0 } from '../engine/test-support.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { freshTestStoreUrl, testStoreKind } from '../store/postgres-test-support.ts';
import { ManualClock } from '../../../common/clock.ts';

const SECRET = 'JBSWY3DPEHPK3PXP';
const codeAt = (t: number, secret = SECRET) => totpAt(base32Decode(secret), Math.floor(t / 30_000));
/** A code that is not the right one at `t` for `secret`. */
const wrongAt = (t: number, secret = SECRET) => (codeAt(t, secret) === '000000' ? '111111' : '000000');

async function mfaHarness() {
  const config = buildConfig({
    users: [
      { ...user('alice', ['engineering'], 'bob'), mfa: { totpSecretEnv: 'ALICE_TOTP' } },
      user('bob', ['sre-leads']),
      user('carol', ['security']),
      user('dave', ['engineering'], 'bob'),
      user('erin', ['sre-leads']),
      user('frank', ['engineering'], 'bob'),
    ],
    extraFlows: [flow('mfa', { targets: [{ selector: selector('demo', 'database', ['read']) }], grantFor: HOUR, maxDuration: HOUR, settings: { requireMfa: true } })],
  });
  // The verifier needs the harness's store and clock; the engine needs the verifier.
  let verifier: TotpVerifier | undefined;
  const mfa = { isEnrolled: (u: string) => verifier!.isEnrolled(u), verify: (u: string, c: string) => verifier!.verify(u, c) };
  const h = await createHarness({ config, engine: { mfa } });
  const secrets = new MfaSecretSealer(randomBytes(32));
  verifier = new TotpVerifier({ users: () => h.engine.config.users, store: h.store, clock: h.clock, secrets, env: { ALICE_TOTP: SECRET } });
  const enrolments = new MfaEnrolments({ store: h.store, verifier, secrets, now: () => h.clock.now() });
  return { h, enrolments };
}

async function rejects(p: Promise<unknown>, kind: string, field?: string, message?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LapseError, String(err));
    assert.equal(err.kind, kind, err.message);
    if (field) assert.equal(err.field, field);
    if (message) assert.match(err.message, message);
    return true;
  });
}

test('a flow that requires MFA grants only with a valid code, and a code works once', async () => {
  const { h } = await mfaHarness();
  try {
    const request = { flowId: 'mfa', entitlements: [ent('database', 'app', 'read')] };
    await rejects(h.engine.createRequest('alice', request), 'invalid', 'mfaCode');
    await rejects(h.engine.createRequest('alice', { ...request, mfaCode: '000000' === codeAt(T0) ? '111111' : '000000' }), 'invalid', 'mfaCode');
    assert.equal((await h.demo.listGranted()).length, 0);
    const ok = await h.engine.createRequest('alice', { ...request, mfaCode: codeAt(T0) });
    assert.equal(ok.status, 'active');
    // Replaying the same code is refused, even within its 30 s step.
    await rejects(h.engine.createRequest('alice', { ...request, mfaCode: codeAt(T0) }), 'invalid', 'mfaCode');
    h.clock.advance(30_000);
    assert.equal((await h.engine.createRequest('alice', { ...request, mfaCode: codeAt(h.clock.now()) })).status, 'active');
  } finally {
    await h.close();
  }
});

test('a user with no MFA factor cannot use a flow that requires one, and is told why', async () => {
  const { h } = await mfaHarness();
  try {
    await assert.rejects(
      h.engine.createRequest('dave', { flowId: 'mfa', entitlements: [ent('database', 'app', 'read')], mfaCode: '123456' }),
      /requires MFA, and no MFA factor is configured for dave/,
    );
  } finally {
    await h.close();
  }
});

test('wrong codes are limited per user and audited: after 5 in 15 minutes even the right code waits', async () => {
  const { h } = await mfaHarness();
  try {
    const request = { flowId: 'mfa', entitlements: [ent('database', 'app', 'read')] };
    const wrong = (t: number) => (codeAt(t) === '000000' ? '111111' : '000000');
    for (let i = 1; i <= 5; i++) {
      await rejects(h.engine.createRequest('alice', { ...request, mfaCode: wrong(h.clock.now()) }), 'invalid', 'mfaCode', /not valid/);
      h.clock.advance(10_000);
    }
    // The sixth try is refused before the code is looked at, the right code included.
    await rejects(h.engine.createRequest('alice', { ...request, mfaCode: codeAt(h.clock.now()) }), 'too-many', 'mfaCode', /too many wrong MFA codes.*try again in 15 min/);
    assert.equal((await h.demo.listGranted()).length, 0);
    const audit = await h.store.listAudit({ actor: 'alice', limit: 100 });
    assert.deepEqual(audit.map((e) => e.action), ['mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.refused']);
    assert.deepEqual(audit.map((e) => e.data.failures), [1, 2, 3, 4, 5, 6]);
    assert.equal(audit[0]!.data.flowId, 'mfa');
    // Once the window has passed, the right code works, and a success starts the count again.
    h.clock.advance(15 * 60_000);
    assert.equal((await h.engine.createRequest('alice', { ...request, mfaCode: codeAt(h.clock.now()) })).status, 'active');
    h.clock.advance(30_000);
    await rejects(h.engine.createRequest('alice', { ...request, mfaCode: wrong(h.clock.now()) }), 'invalid', 'mfaCode');
    const last = (await h.store.listAudit({ actor: 'alice', action: 'mfa.failed', limit: 100 })).at(-1)!;
    assert.equal(last.data.failures, 1);
  } finally {
    await h.close();
  }
});

test('a code is accepted at most once, even by two replicas verifying it at the same moment', async () => {
  // A second process on the same store: a second store on the same database (PostgreSQL), or
  // the one store object a SQLite file has per process.
  const url = testStoreKind() === 'postgres' ? await freshTestStoreUrl() : null;
  const first = url ? new PostgresStore(url) : await createTestStore('sqlite');
  if (url) await first.migrate();
  const second = url ? new PostgresStore(url) : first;
  const clock = new ManualClock(T0);
  const users = buildConfig({ users: [{ ...user('alice', ['engineering']), mfa: { totpSecretEnv: 'ALICE_TOTP' } }] }).users;
  const byId = new Map(users.map((u) => [u.id, u]));
  const secrets = new MfaSecretSealer(randomBytes(32));
  const a = new TotpVerifier({ users: () => byId, store: first, clock, secrets, env: { ALICE_TOTP: SECRET } });
  const b = new TotpVerifier({ users: () => byId, store: second, clock, secrets, env: { ALICE_TOTP: SECRET } });
  try {
    for (let round = 0; round < 20; round++) {
      clock.advance(30_000);
      const code = codeAt(clock.now());
      const results = await Promise.all([a.verify('alice', code), b.verify('alice', code), a.verify('alice', code), b.verify('alice', code)]);
      assert.equal(results.filter((r) => r.ok).length, 1, `round ${round}: exactly one of four simultaneous uses of one code is accepted (${JSON.stringify(results)})`);
      assert.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'used'), JSON.stringify(results));
    }
    // An older code than the last one used is refused too.
    const older = codeAt(clock.now() - 30_000);
    assert.deepEqual(await a.verify('alice', older), { ok: false, reason: 'used', failures: 0 });
  } finally {
    if (second !== first) await second.close();
    await first.close();
  }
});

const mfaRequest = { flowId: 'mfa', entitlements: [ent('database', 'app', 'read')] };

test('a self-enrolled factor passes a flow that requires MFA only once confirmed; a pending one is no factor', async () => {
  const { h, enrolments } = await mfaHarness();
  try {
    assert.deepEqual(await enrolments.status('frank'), { status: 'none', startedAt: null, confirmedAt: null });
    const started = await enrolments.start('frank');
    assert.equal(started.status, 'pending');
    assert.match(started.secret, /^[A-Z2-7]{32}$/);
    assert.equal(started.otpauthUri, `otpauth://totp/Lapse:frank?secret=${started.secret}&issuer=Lapse`);
    assert.match(started.qrCode, /^data:image\/svg\+xml;base64,[A-Za-z0-9+/]+=*$/);
    assert.match(Buffer.from(started.qrCode.split(',')[1]!, 'base64').toString('utf8'), /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);

    // Pending: a right code of its secret does not pass, and the person is told there is no factor.
    await rejects(h.engine.createRequest('frank', { ...mfaRequest, mfaCode: codeAt(h.clock.now(), started.secret) }), 'forbidden', undefined, /requires MFA, and no MFA factor is configured for frank/);
    assert.equal((await h.demo.listGranted()).length, 0);

    await enrolments.confirm('frank', codeAt(h.clock.now(), started.secret));
    const status = await enrolments.status('frank');
    assert.equal(status.status, 'enrolled');
    assert.equal(status.confirmedAt, new Date(h.clock.now()).toISOString());
    assert.ok(!JSON.stringify(status).includes(started.secret), 'the status never holds the secret');

    // The code that confirmed is used: the same one is refused for a request, the next step's works.
    await rejects(h.engine.createRequest('frank', { ...mfaRequest, mfaCode: codeAt(h.clock.now(), started.secret) }), 'invalid', 'mfaCode', /not valid/);
    h.clock.advance(30_000);
    assert.equal((await h.engine.createRequest('frank', { ...mfaRequest, mfaCode: codeAt(h.clock.now(), started.secret) })).status, 'active');

    // Stored sealed: the row holds neither the secret nor its bytes in any usual form.
    const stored = (await h.store.getMfaEnrolment('frank'))!;
    assert.match(stored.secret, /^v1:/);
    const raw = base32Decode(started.secret);
    for (const form of [started.secret, started.secret.toLowerCase(), raw.toString('hex'), raw.toString('base64')]) assert.ok(!stored.secret.includes(form));

    const mfaEvents = (await h.store.listAudit({ actor: 'frank', limit: 100 })).filter((e) => e.action.startsWith('mfa.'));
    assert.deepEqual(mfaEvents.map((e) => [e.action, e.data.reason ?? null]), [['mfa.enrolment_started', null], ['mfa.enrolled', null], ['mfa.failed', 'used']]);
    const everything = JSON.stringify(await h.store.listAudit({ limit: 1000 }));
    for (const form of [started.secret, raw.toString('hex'), raw.toString('base64'), stored.secret]) assert.ok(!everything.includes(form), 'the audit holds no form of the secret');
  } finally {
    await h.close();
  }
});

test('starting again replaces a pending enrolment (its codes no longer confirm); a confirmed one must be removed first, with a code', async () => {
  const { h, enrolments } = await mfaHarness();
  try {
    const first = await enrolments.start('frank');
    const second = await enrolments.start('frank');
    assert.notEqual(second.secret, first.secret, 'a fresh secret each time');
    await rejects(enrolments.confirm('frank', codeAt(h.clock.now(), first.secret)), 'invalid', 'code', /not valid/);
    await enrolments.confirm('frank', codeAt(h.clock.now(), second.secret));
    await rejects(enrolments.start('frank'), 'conflict', undefined, /enrolled already/);
    await rejects(enrolments.confirm('frank', codeAt(h.clock.now(), second.secret)), 'conflict', undefined, /confirmed already/);
    assert.equal((await enrolments.status('frank')).status, 'enrolled');

    // Removing it needs a code: none, a wrong one, the one already used are all refused.
    await rejects(enrolments.removeOwn('frank', undefined), 'invalid', 'code', /needs a current code/);
    await rejects(enrolments.removeOwn('frank', wrongAt(h.clock.now(), second.secret)), 'invalid', 'code', /not valid/);
    await rejects(enrolments.removeOwn('frank', codeAt(h.clock.now(), second.secret)), 'invalid', 'code', /used already/);
    assert.equal((await enrolments.status('frank')).status, 'enrolled');
    h.clock.advance(30_000);
    await enrolments.removeOwn('frank', codeAt(h.clock.now(), second.secret));
    assert.equal((await enrolments.status('frank')).status, 'none');
    await rejects(h.engine.createRequest('frank', { ...mfaRequest, mfaCode: codeAt(h.clock.now() + 30_000, second.secret) }), 'forbidden');
    await rejects(enrolments.removeOwn('frank', undefined), 'not-found');

    // A pending one is removed without a code; then a new enrolment can start.
    await enrolments.start('frank');
    await enrolments.removeOwn('frank', undefined);
    assert.equal((await enrolments.status('frank')).status, 'none');
    await rejects(enrolments.confirm('frank', '123456'), 'conflict', undefined, /no enrolment to confirm/);
    const resets = await h.store.listAudit({ action: 'mfa.reset', limit: 100 });
    assert.deepEqual(resets.map((e) => [e.actor, e.data.user, e.data.state]), [['frank', 'frank', 'confirmed'], ['frank', 'frank', 'pending']]);
  } finally {
    await h.close();
  }
});

test('wrong codes at confirmation count toward the same limit as a request\'s: past 5, even the right code waits', async () => {
  const { h, enrolments } = await mfaHarness();
  try {
    const started = await enrolments.start('frank');
    for (let i = 1; i <= 5; i++) {
      await rejects(enrolments.confirm('frank', wrongAt(h.clock.now(), started.secret)), 'invalid', 'code', /not valid/);
      h.clock.advance(10_000);
    }
    await rejects(enrolments.confirm('frank', codeAt(h.clock.now(), started.secret)), 'too-many', 'code', /too many wrong MFA codes.*try again in \d+ min/);
    assert.equal((await enrolments.status('frank')).status, 'pending');
    const audit = await h.store.listAudit({ actor: 'frank', limit: 100 });
    assert.deepEqual(audit.filter((e) => e.action.startsWith('mfa.f') || e.action === 'mfa.refused').map((e) => [e.action, e.data.for, e.data.failures]), [
      ['mfa.failed', 'enrolment', 1], ['mfa.failed', 'enrolment', 2], ['mfa.failed', 'enrolment', 3], ['mfa.failed', 'enrolment', 4], ['mfa.failed', 'enrolment', 5], ['mfa.refused', 'enrolment', 6],
    ]);
    // The window passes: the right code confirms.
    h.clock.advance(15 * 60_000);
    assert.equal((await enrolments.confirm('frank', codeAt(h.clock.now(), started.secret))).status, 'enrolled');

    // And the other way round: wrong codes on requests lock out removing the factor too.
    for (let i = 1; i <= 5; i++) await rejects(h.engine.createRequest('frank', { ...mfaRequest, mfaCode: wrongAt(h.clock.now(), started.secret) }), 'invalid', 'mfaCode');
    h.clock.advance(30_000);
    await rejects(enrolments.removeOwn('frank', codeAt(h.clock.now(), started.secret)), 'too-many', 'code');
    assert.equal((await enrolments.status('frank')).status, 'enrolled');
  } finally {
    await h.close();
  }
});

test('a secret the configuration names comes first: such a user is told the admin manages it, and cannot enrol', async () => {
  const { h, enrolments } = await mfaHarness();
  try {
    assert.deepEqual(await enrolments.status('alice'), { status: 'configured', startedAt: null, confirmedAt: null });
    await rejects(enrolments.start('alice'), 'conflict', undefined, /configuration: the admin manages it/);
    await rejects(enrolments.confirm('alice', codeAt(h.clock.now())), 'conflict', undefined, /admin manages it/);
    await rejects(enrolments.removeOwn('alice', codeAt(h.clock.now())), 'conflict', undefined, /admin manages it/);
    await rejects(enrolments.reset({ id: 'carol', admin: true }, 'alice'), 'conflict', undefined, /set in the server's configuration/);
    // Her configured secret still works.
    assert.equal((await h.engine.createRequest('alice', { ...mfaRequest, mfaCode: codeAt(h.clock.now()) })).status, 'active');
  } finally {
    await h.close();
  }
});

test('an admin resets another person\'s factor; nobody else can, and they learn nothing of whether it exists', async () => {
  const { h, enrolments } = await mfaHarness();
  try {
    const started = await enrolments.start('frank');
    await enrolments.confirm('frank', codeAt(h.clock.now(), started.secret));
    for (const target of ['frank', 'nobody', 'dave']) {
      await rejects(enrolments.reset({ id: 'dave', admin: false }, target), 'forbidden', undefined, /only admins/);
    }
    assert.equal((await enrolments.status('frank')).status, 'enrolled');
    await enrolments.reset({ id: 'carol', admin: true }, 'frank');
    assert.equal((await enrolments.status('frank')).status, 'none');
    await rejects(enrolments.reset({ id: 'carol', admin: true }, 'frank'), 'not-found', undefined, /frank has no MFA enrolment/);
    h.clock.advance(30_000);
    await rejects(h.engine.createRequest('frank', { ...mfaRequest, mfaCode: codeAt(h.clock.now(), started.secret) }), 'forbidden');
    const reset = (await h.store.listAudit({ action: 'mfa.reset', limit: 10 }))[0]!;
    assert.deepEqual([reset.actor, reset.data.user, reset.data.state], ['carol', 'frank', 'confirmed']);
    // After the reset frank sets up a new factor.
    assert.notEqual((await enrolments.start('frank')).secret, started.secret);
  } finally {
    await h.close();
  }
});

test('a sealed secret opens only for its user, and only with its key', () => {
  const key = randomBytes(32);
  const sealer = new MfaSecretSealer(key);
  const sealed = sealer.seal('frank', 'JBSWY3DPEHPK3PXP');
  assert.equal(sealer.open('frank', sealed), 'JBSWY3DPEHPK3PXP');
  assert.notEqual(sealer.seal('frank', 'JBSWY3DPEHPK3PXP'), sealed, 'a fresh nonce per seal');
  assert.throws(() => sealer.open('alice', sealed), 'copied onto another user');
  assert.throws(() => new MfaSecretSealer(randomBytes(32)).open('frank', sealed), 'another key');
  assert.throws(() => sealer.open('frank', 'v2:' + sealed.slice(3)), /unknown version/);
  assert.throws(() => new MfaSecretSealer(randomBytes(16)), /32 bytes/);
});
