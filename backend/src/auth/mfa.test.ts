import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TotpVerifier } from './mfa.ts';
import { base32Decode, totpAt } from './totp.ts';
import { LapseError } from '../engine/errors.ts';
import { buildConfig, createHarness, createTestStore, ent, flow, selector, user, HOUR, T0 } from '../engine/test-support.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { freshTestStoreUrl, testStoreKind } from '../store/postgres-test-support.ts';
import { ManualClock } from '../../../common/clock.ts';

const SECRET = 'JBSWY3DPEHPK3PXP';
const codeAt = (t: number) => totpAt(base32Decode(SECRET), Math.floor(t / 30_000));

async function mfaHarness() {
  const config = buildConfig({
    users: [
      { ...user('alice', ['engineering'], 'bob'), mfa: { totpSecretEnv: 'ALICE_TOTP' } },
      user('bob', ['sre-leads']),
      user('carol', ['security']),
      user('dave', ['engineering'], 'bob'),
      user('erin', ['sre-leads']),
    ],
    extraFlows: [flow('mfa', { targets: [{ selector: selector('demo', 'database', ['read']) }], grantFor: HOUR, maxDuration: HOUR, settings: { requireMfa: true } })],
  });
  // The verifier needs the harness's store and clock; the engine needs the verifier.
  let verifier: TotpVerifier | undefined;
  const mfa = { isEnrolled: (u: string) => verifier!.isEnrolled(u), verify: (u: string, c: string) => verifier!.verify(u, c) };
  const h = await createHarness({ config, engine: { mfa } });
  verifier = new TotpVerifier(() => h.engine.config.users, h.store, h.clock, { ALICE_TOTP: SECRET });
  return { h };
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
  const a = new TotpVerifier(() => byId, first, clock, { ALICE_TOTP: SECRET });
  const b = new TotpVerifier(() => byId, second, clock, { ALICE_TOTP: SECRET });
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
