import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TotpVerifier } from './mfa.ts';
import { base32Decode, totpAt } from './totp.ts';
import { LapseError } from '../engine/errors.ts';
import { buildConfig, createHarness, ent, flow, selector, user, HOUR, T0 } from '../engine/test-support.ts';

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

async function rejects(p: Promise<unknown>, kind: string, field?: string) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof LapseError, String(err));
    assert.equal(err.kind, kind);
    if (field) assert.equal(err.field, field);
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
