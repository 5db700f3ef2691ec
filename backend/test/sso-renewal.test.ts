// Renewal at the identity provider and step-up, against a real OpenID Provider (oidc-provider
// on 127.0.0.1), on both stores: a person's groups change at the provider and the catalog
// follows at the next renewal; a person the provider refuses at renewal is locked out (their
// session and tokens stop working) and offboarded (active access revoked, pending canceled,
// audited); a provider that cannot be reached changes nothing. A flow that requires MFA asks
// for a fresh sign-in at the provider (a step-up) instead of a TOTP code.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { call, appRead, usersWrite } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';
import { freshTestStoreUrl, TEST_SECRET_KEY } from '../src/store/postgres-test-support.ts';
import { signInAtProvider, signInCookies, startSsoServer, type SsoServer } from './oidc-provider-support.ts';

const MINUTE = 60_000;

/** The real time, moved forward by what a test says (Lapse's clock; the provider keeps its own). */
function shiftedClock() {
  return { offset: 0, now() { return Date.now() + this.offset; } };
}

async function asSession(l: SsoServer, cookies: Record<string, string>, method: string, path: string, body?: unknown) {
  const headers: Record<string, string> = { cookie: `lapse_session=${cookies.lapse_session}` };
  if (method !== 'GET') headers['x-csrf-token'] = cookies.lapse_csrf!;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${l.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const flowIds = async (l: SsoServer, cookies: Record<string, string>) => ((await asSession(l, cookies, 'GET', '/api/v1/catalog')).body.flows as { id: string }[]).map((f) => f.id);
const audit = async (l: SsoServer) => l.svc.store.listAudit({ limit: 1000 });

for (const store of ['sqlite', 'postgres'] as const) {
  test(`${store}: groups follow the provider at each renewal; a person it refuses is locked out and offboarded`, async () => {
    const clock = shiftedClock();
    const l = await startSsoServer('provisionUsers: true\nrenewEvery: 15m', {}, {
      clock, ...(store === 'postgres' ? { store: await freshTestStoreUrl(), env: { LAPSE_SECRET_KEY: TEST_SECRET_KEY } } : {}),
    });
    try {
      l.provider.accounts.set('hana-sub', { email: 'hana@example.com', email_verified: true, name: 'Hana', groups: ['marketing'] });
      const cookies = await signInCookies(l, 'hana-sub');
      assert.ok(!(await flowIds(l, cookies)).includes('demo-auto'), 'marketing: no engineering flows');
      const kept = (await l.svc.store.findRenewal('hana@example.com'))!;
      assert.match(kept.refreshToken!, /^v1:[A-Za-z0-9+/=]+$/, 'the refresh token is sealed in the store');

      l.provider.accounts.set('hana-sub', { email: 'hana@example.com', email_verified: true, name: 'Hana', groups: ['engineering'] });
      await l.svc.renewSignIns();
      assert.ok(!(await flowIds(l, cookies)).includes('demo-auto'), 'not due yet: nothing renewed');
      clock.offset += 16 * MINUTE;
      await l.svc.renewSignIns();
      await until(async () => (await flowIds(l, cookies)).includes('demo-auto'), 'engineering at the provider now: the engineering flows');
      const renewed = (await audit(l)).find((e) => e.action === 'user.identity_renewed');
      assert.deepEqual(renewed?.data, { user: 'hana@example.com', groupsBefore: ['marketing'], groups: ['engineering'] });

      const { token } = await createToken(l.svc.store, 'hana@example.com', 'hana laptop', clock.now());
      const active = await call(l.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead] });
      assert.equal(active.body.status, 'active', active.text);
      const pending = await call(l.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-7' });
      assert.equal(pending.body.status, 'pending', pending.text);

      // Removed at the provider: the refresh token is refused (invalid_grant).
      l.provider.accounts.delete('hana-sub');
      clock.offset += 16 * MINUTE;
      await l.svc.renewSignIns();
      await until(async () => (await l.svc.store.getRequest(pending.body.id))!.status === 'canceled', 'offboarding');
      assert.equal((await asSession(l, cookies, 'GET', '/api/v1/me')).status, 401, 'the session has ended');
      assert.equal((await call(l.url, 'GET', '/api/v1/me', token)).status, 401, 'the token no longer works');
      const request = (await l.svc.store.getRequest(active.body.id))!;
      assert.ok(['revoked', 'revoking'].includes(request.status), request.status);
      assert.equal(request.endReason, 'user-removed');
      assert.deepEqual((await l.svc.store.getGrants(active.body.id)).map((g) => g.status), ['revoked'], 'the grant on the target is revoked');
      assert.deepEqual([(await l.svc.store.getRequest(pending.body.id))!.status], ['canceled']);
      const events = await audit(l);
      const refused = events.find((e) => e.action === 'auth.renewal_refused');
      assert.equal(refused?.data.user, 'hana@example.com');
      assert.match(String(refused?.data.reason), /refused the renewal: invalid_grant/);
      assert.equal(refused?.data.sessions, 1);
      assert.ok(events.some((e) => e.action === 'user.offboarded' && e.data.user === 'hana@example.com'));
      assert.ok((await l.svc.store.listTokens('hana@example.com')).every((t) => t.revokedAt !== null), 'her tokens are revoked');
    } finally {
      await l.stop();
    }
  });
}

test('a configured person no longer in an allowed group at renewal is locked out; while the provider cannot be reached, nobody is', async () => {
  const clock = shiftedClock();
  const l = await startSsoServer('allowedGroups: [engineering, platform]', {}, { clock });
  try {
    l.provider.accounts.set('alice-sub', { email: 'alice@example.com', email_verified: true, name: 'Alice', groups: ['platform'] });
    l.provider.accounts.set('bob-sub', { email: 'bob@example.com', email_verified: true, name: 'Bob', groups: ['engineering'] });
    const alice = await signInCookies(l, 'alice-sub');
    const bob = await signInCookies(l, 'bob-sub');
    const { token: bobToken } = await createToken(l.svc.store, 'bob', 'bob laptop', clock.now());

    l.provider.accounts.set('bob-sub', { email: 'bob@example.com', email_verified: true, name: 'Bob', groups: ['marketing'] });
    clock.offset += 16 * MINUTE;
    await l.svc.renewSignIns();
    await until(async () => (await asSession(l, bob, 'GET', '/api/v1/me')).status === 401, 'bob\'s session ends');
    await until(async () => (await call(l.url, 'GET', '/api/v1/me', bobToken)).status === 401, 'bob\'s token stops working');
    const refused = (await audit(l)).find((e) => e.action === 'auth.renewal_refused');
    assert.equal(refused?.data.user, 'bob');
    assert.match(String(refused?.data.reason), /none of the groups allowed to sign in \(engineering, platform\)/);
    assert.equal((await asSession(l, alice, 'GET', '/api/v1/me')).status, 200, 'alice is still let in');

    // Bob is let in again when the provider puts him back and he signs in.
    l.provider.accounts.set('bob-sub', { email: 'bob@example.com', email_verified: true, name: 'Bob', groups: ['engineering'] });
    const bobAgain = await signInCookies(l, 'bob-sub');
    assert.equal((await asSession(l, bobAgain, 'GET', '/api/v1/me')).status, 200);

    // A refresh token that does not open (sealed under another key) stops alice's renewal, not alice.
    await l.svc.store.saveRenewal('alice', { refreshToken: 'v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', renewAt: 0, error: null });
    await l.svc.renewSignIns();
    await until(async () => (await l.svc.store.findRenewal('alice'))!.refreshToken === null, 'alice\'s renewal given up');
    assert.match((await l.svc.store.findRenewal('alice'))!.error!, /the refresh token cannot be opened/);
    assert.equal((await asSession(l, alice, 'GET', '/api/v1/me')).status, 200);
    await signInCookies(l, 'alice-sub');
    assert.match((await l.svc.store.findRenewal('alice'))!.refreshToken!, /^v1:/, 'renewed again after her next sign-in');

    // The provider is down: its silence says nothing about anyone, so nobody is locked out.
    await l.provider.close();
    clock.offset += 16 * MINUTE;
    const report = await l.svc.renewSignIns();
    assert.deepEqual(report.refused, []);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await asSession(l, alice, 'GET', '/api/v1/me')).status, 200);
    assert.equal((await asSession(l, bobAgain, 'GET', '/api/v1/me')).status, 200);
    assert.equal((await audit(l)).filter((e) => e.action === 'auth.renewal_refused').length, 1, 'only bob, once');
  } finally {
    await l.stop();
  }
});

/** Waits until `check` holds (the scheduler's own renewal may be the one doing the work). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('step-up: a flow that requires MFA takes a credential the provider authenticated recently enough, and sends anyone else to sign in again', async () => {
  const clock = shiftedClock();
  const l = await startSsoServer('provisionUsers: true\nstepUp: { maxAge: 30m }', {}, {
    clock,
    // demo-auto requires MFA here, with a step-up of at most 5 minutes.
    editConfig: (yaml) => yaml.replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true, stepUp: { maxAge: 5m } }'),
  });
  try {
    l.provider.accounts.set('ivy-sub', { email: 'ivy@example.com', email_verified: true, name: 'Ivy', groups: ['engineering'] });
    const cookies = await signInCookies(l, 'ivy-sub');
    const fresh = await asSession(l, cookies, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] });
    assert.equal(fresh.status, 201, 'signed in a moment ago: the step-up is met');

    // A token made by hand was never authenticated at the provider; a code is no substitute.
    const { token } = await createToken(l.svc.store, 'ivy@example.com', 'by hand', clock.now());
    const byHand = await call(l.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead], mfaCode: '123456' });
    assert.equal(byHand.status, 403);
    assert.match(byHand.body.detail, /requires a fresh sign-in at the identity provider \(a step-up\): this credential was not made by signing in at the identity provider/);
    assert.deepEqual(byHand.body.stepUp, { flowId: 'demo-auto', signIn: '/auth/login?stepUp=demo-auto' });

    // Six minutes later the session's authentication is too old for this flow.
    clock.offset += 6 * MINUTE;
    const stale = await asSession(l, cookies, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] });
    assert.equal(stale.status, 403);
    assert.match(stale.body.detail, /you last authenticated there 6 min ago; this flow needs it within 5 min/);
    assert.ok((await l.svc.store.listAudit({ limit: 1000 })).some((e) => e.action === 'mfa.step_up_required' && e.data.flowId === 'demo-auto'));

    // The step-up asks the provider for an authentication at most 4 minutes old (max_age).
    const start = await fetch(`${l.url}${stale.body.stepUp.signIn}`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    assert.equal(new URL(start.headers.get('location')!).searchParams.get('max_age'), '240');
    assert.equal((await fetch(`${l.url}/auth/login?stepUp=demo-approval`, { redirect: 'manual' })).status, 422, 'a flow that requires no MFA has no step-up');
    assert.equal((await fetch(`${l.url}/auth/login?stepUp=${encodeURIComponent('no "such" flow')}`, { redirect: 'manual' })).status, 422);

    // Through the provider (its clock is the real one: Lapse's is put back to it), the step-up
    // gives a session that meets the flow, and the sign-in is audited as one.
    clock.offset = 0;
    const back = await fetch(await signInAtProvider(l.url, 'ivy-sub', { startUrl: `${l.url}${stale.body.stepUp.signIn}` }), { redirect: 'manual' });
    assert.equal(back.status, 303);
    const stepped = Object.fromEntries(back.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]));
    const granted = await asSession(l, stepped, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] });
    assert.equal(granted.status, 201, JSON.stringify(granted.body));
    const signIns = (await l.svc.store.listAudit({ limit: 1000 })).filter((e) => e.action === 'auth.sign_in' && e.actor === 'ivy@example.com');
    assert.deepEqual(signIns.map((e) => e.data.stepUp ?? false), [false, true]);
  } finally {
    await l.stop();
  }
});

/** An app's token through single sign-on (as the tray and `lapse login` get one): loopback redirect, code, verifier. */
async function appToken(l: SsoServer, subject: string): Promise<string> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const start = `${l.url}/auth/login?${new URLSearchParams({ redirect_uri: 'http://127.0.0.1:5999/cb', state: 'state-0123', code_challenge: challenge, name: 'tray on a laptop' })}`;
  const back = await fetch(await signInAtProvider(l.url, subject, { startUrl: start }), { redirect: 'manual' });
  const code = new URL(back.headers.get('location')!).searchParams.get('code');
  const res = await fetch(`${l.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, code_verifier: verifier }) });
  assert.equal(res.status, 200);
  return ((await res.json()) as { token: string }).token;
}

test('an app\'s token renews itself while the provider renews its person; a token made by hand, a session, or a person the provider does not renew cannot', async () => {
  const clock = shiftedClock();
  const l = await startSsoServer('provisionUsers: true', {}, {
    clock, editConfig: (yaml) => yaml.replace('settings:\n', 'settings:\n  tokens: { defaultLifetime: 30d, maxLifetime: 60d }\n'),
  });
  try {
    l.provider.accounts.set('jo-sub', { email: 'jo@example.com', email_verified: true, name: 'Jo', groups: ['engineering'] });
    const first = await appToken(l, 'jo-sub');
    clock.offset += 20 * 86_400_000;
    const renewed = await call(l.url, 'POST', '/api/v1/tokens/renew', first);
    assert.equal(renewed.status, 201, renewed.text);
    assert.equal(renewed.body.name, 'tray on a laptop');
    assert.equal(Date.parse(renewed.body.expiresAt), Date.parse(renewed.body.createdAt) + 30 * 86_400_000, 'settings.tokens.defaultLifetime from now');
    assert.equal((await call(l.url, 'GET', '/api/v1/me', first)).status, 401, 'the old token is revoked');
    assert.equal((await call(l.url, 'GET', '/api/v1/me', renewed.body.token)).status, 200);
    const audit = await l.svc.store.listAudit({ limit: 1000 });
    assert.ok(audit.some((e) => e.action === 'token.renewed' && e.data.newTokenId === renewed.body.id));

    const { token: byHand } = await createToken(l.svc.store, 'jo@example.com', 'by hand', clock.now());
    const manual = await call(l.url, 'POST', '/api/v1/tokens/renew', byHand);
    assert.equal(manual.status, 403);
    assert.match(manual.body.detail, /only a token single sign-on made for an app renews itself/);
    const cookies = await signInCookies(l, 'jo-sub');
    const session = await asSession(l, cookies, 'POST', '/api/v1/tokens/renew');
    assert.equal(session.status, 422);
    assert.match(session.body.detail, /a session is not renewed here/);

    // A provider that gave no refresh token does not vouch for the person later: no renewal.
    await l.svc.store.saveRenewal('jo@example.com', { refreshToken: null, renewAt: null, error: null });
    const unvouched = await call(l.url, 'POST', '/api/v1/tokens/renew', renewed.body.token);
    assert.equal(unvouched.status, 403);
    assert.match(unvouched.body.detail, /the identity provider does not renew you/);
  } finally {
    await l.stop();
  }
});

test('with single sign-on the identity provider is the second factor: no authenticator is set up', async () => {
  const l = await startSsoServer('provisionUsers: true');
  try {
    l.provider.accounts.set('kim-sub', { email: 'kim@example.com', email_verified: true, name: 'Kim', groups: ['engineering'] });
    const cookies = await signInCookies(l, 'kim-sub');
    assert.deepEqual((await asSession(l, cookies, 'GET', '/api/v1/mfa')).body, { status: 'provider', startedAt: null, confirmedAt: null });
    const start = await asSession(l, cookies, 'POST', '/api/v1/mfa/enrolment');
    assert.equal(start.status, 409);
    assert.match(start.body.detail, /flows that require MFA ask it for a fresh sign-in \(a step-up\)/);
  } finally {
    await l.stop();
  }
});
