// Single sign-on against a real OpenID Provider (oidc-provider on 127.0.0.1): a person signs
// in through the provider's login and consent, gets a session (HttpOnly cookie, CSRF token),
// is created from their claims, sees the catalog their provider groups allow, requests and
// revokes access with the cookie, and signs out (here and at the provider). Refused, with
// the reason and nothing created: a replayed callback, a forged state, a domain or group not
// allowed, a person not configured where provisioning is off, a cancel at the provider.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService } from '../src/service.ts';
import { silentLogger } from '../src/logger.ts';
import { EXAMPLE, appRead } from '../src/api/api-test-support.ts';
import { signInAtProvider, startSsoServer, type SsoServer } from './oidc-provider-support.ts';
import type { SignInAttempt } from '../src/store/store.ts';

/** Cookies a browser would now hold for Lapse, from a callback's answer. */
function cookiesOf(res: Response): Record<string, string> {
  return Object.fromEntries(res.headers.getSetCookie().map((line) => {
    const [pair] = line.split(';');
    const eq = pair!.indexOf('=');
    return [pair!.slice(0, eq), pair!.slice(eq + 1)];
  }));
}

/** Follows the callback as the browser would: Lapse's answer (a redirect) and its cookies. */
async function callback(url: URL): Promise<{ res: Response; cookies: Record<string, string>; location: string }> {
  const res = await fetch(url, { redirect: 'manual' });
  return { res, cookies: cookiesOf(res), location: res.headers.get('location') ?? '' };
}

/** A call with the session cookie (and, for changes, the CSRF token unless left out). */
async function asSession(l: SsoServer, cookies: Record<string, string>, method: string, path: string, body?: unknown, opts: { csrf?: boolean } = {}) {
  const headers: Record<string, string> = { cookie: `lapse_session=${cookies.lapse_session}` };
  if (opts.csrf !== false && method !== 'GET') headers['x-csrf-token'] = cookies.lapse_csrf!;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${l.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const auditActions = async (l: SsoServer) => (await l.svc.store.listAudit({ limit: 1000 })).map((e) => ({ action: e.action, actor: e.actor, data: e.data }));

describe('single sign-on with people created from their claims', () => {
  let l: SsoServer;
  before(async () => {
    l = await startSsoServer('provisionUsers: true\nallowedEmailDomains: [example.com, partner.example]');
    l.provider.accounts.set('frank-sub', { email: 'Frank@Example.com', email_verified: true, name: 'Frank', groups: ['engineering'] });
    l.provider.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, name: 'Gina', groups: ['marketing'] });
    l.provider.accounts.set('alice-sub', { email: 'alice@example.com', email_verified: true, name: 'Alice at the provider', groups: ['platform'] });
    l.provider.accounts.set('mallory-sub', { email: 'mallory@elsewhere.test', email_verified: true, name: 'Mallory', groups: ['engineering'] });
  });
  after(async () => { await l.stop(); });

  test('GET /auth/config says single sign-on is on', async () => {
    const res = await fetch(`${l.url}/auth/config`);
    assert.deepEqual(await res.json(), { singleSignOn: true });
  });

  test('a new person signs in, is created from their claims, and works with the session cookie and its CSRF token', async () => {
    const back = await callback(await signInAtProvider(l.url, 'frank-sub', { returnTo: '/#/access' }));
    assert.equal(back.res.status, 303);
    assert.equal(back.location, '/#/access');
    assert.ok(back.cookies.lapse_session && back.cookies.lapse_csrf, JSON.stringify(back.cookies));
    const setCookie = back.res.headers.getSetCookie().join('\n');
    assert.match(setCookie, /lapse_session=[^;]+;.*HttpOnly/i);
    assert.match(setCookie, /lapse_session=[^;]+;.*SameSite=Lax/i);
    assert.doesNotMatch(setCookie.split('\n').find((c) => c.startsWith('lapse_csrf'))!, /HttpOnly/i, 'the portal reads the CSRF token');

    const me = await asSession(l, back.cookies, 'GET', '/api/v1/me');
    assert.equal(me.status, 200);
    assert.equal(me.body.id, 'frank@example.com');
    assert.deepEqual([me.body.email, me.body.name, me.body.groups], ['frank@example.com', 'Frank', ['engineering']]);
    const catalog = await asSession(l, back.cookies, 'GET', '/api/v1/catalog');
    assert.ok(catalog.body.flows.some((f: { id: string }) => f.id === 'demo-auto'), 'engineering at the provider: the engineering flows');

    const noCsrf = await asSession(l, back.cookies, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] }, { csrf: false });
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.body.detail, /CSRF token/);
    const wrongCsrf = await fetch(`${l.url}/api/v1/requests`, {
      method: 'POST', headers: { cookie: `lapse_session=${back.cookies.lapse_session}`, 'x-csrf-token': 'guessed', 'content-type': 'application/json' },
      body: JSON.stringify({ flowId: 'demo-auto', entitlements: [appRead] }),
    });
    assert.equal(wrongCsrf.status, 403);
    assert.equal((await l.svc.store.listRequests({ requester: 'frank@example.com', limit: 10 })).length, 0, 'nothing was requested without the CSRF token');

    const created = await asSession(l, back.cookies, 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, 'active');
    const revoked = await asSession(l, back.cookies, 'POST', `/api/v1/requests/${created.body.id}/revoke`, {});
    assert.equal(revoked.body.status, 'revoked');

    const forcedOut = await asSession(l, back.cookies, 'POST', '/auth/logout', {}, { csrf: false });
    assert.equal(forcedOut.status, 403, 'another site cannot sign the person out');
    assert.equal((await asSession(l, back.cookies, 'GET', '/api/v1/me')).status, 200);
    const out = await asSession(l, back.cookies, 'POST', '/auth/logout', {});
    assert.equal(out.status, 200);
    assert.match(out.body.logoutUrl, new RegExp(`^${l.provider.issuer}/session/end\\?`), 'RP-initiated logout at the provider');
    assert.match(out.body.logoutUrl, /id_token_hint=/);
    assert.equal((await asSession(l, back.cookies, 'GET', '/api/v1/me')).status, 401, 'the session has ended');
    const actions = await auditActions(l);
    assert.ok(actions.some((a) => a.action === 'auth.sign_in' && a.actor === 'frank@example.com' && a.data.created === true));
    assert.ok(actions.some((a) => a.action === 'auth.sign_out' && a.actor === 'frank@example.com'));
  });

  test('groups come from the provider: another person sees another catalog, and a change at the provider shows at the next sign-in', async () => {
    const gina = await callback(await signInAtProvider(l.url, 'gina-sub'));
    const catalog = await asSession(l, gina.cookies, 'GET', '/api/v1/catalog');
    assert.equal(catalog.body.flows.some((f: { id: string }) => f.id === 'demo-auto'), false, 'marketing: no engineering flow');
    l.provider.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, name: 'Gina', groups: ['marketing', 'engineering'] });
    const again = await callback(await signInAtProvider(l.url, 'gina-sub'));
    const after = await asSession(l, again.cookies, 'GET', '/api/v1/catalog');
    assert.ok(after.body.flows.some((f: { id: string }) => f.id === 'demo-auto'), 'engineering now');
  });

  test('a configured person is matched by email: the configured user, with the provider\'s groups added', async () => {
    const alice = await callback(await signInAtProvider(l.url, 'alice-sub'));
    const me = await asSession(l, alice.cookies, 'GET', '/api/v1/me');
    assert.equal(me.body.id, 'alice');
    assert.equal(me.body.name, 'Alice', 'the configuration\'s name');
    assert.deepEqual([...me.body.groups].sort(), ['engineering', 'platform']);
  });

  test('refused with the reason, nothing created: an email domain not allowed', async () => {
    const back = await callback(await signInAtProvider(l.url, 'mallory-sub'));
    assert.equal(back.res.status, 303);
    assert.match(decodeURIComponent(back.location), /^\/\?sign_in_error=the email domain elsewhere\.test is not allowed to sign in/);
    assert.equal(back.cookies.lapse_session, undefined);
    assert.equal(await l.svc.store.findProvisionedUser('mallory@elsewhere.test'), null);
    assert.ok((await auditActions(l)).some((a) => a.action === 'auth.sign_in_refused' && /elsewhere\.test/.test(String(a.data.reason))));
  });

  test('a callback replayed, or with a forged state, is refused; the code is not used again', async () => {
    const url = await signInAtProvider(l.url, 'frank-sub');
    const first = await callback(url);
    assert.ok(first.cookies.lapse_session);
    const replay = await callback(url);
    assert.match(decodeURIComponent(replay.location), /sign_in_error=this sign-in has expired or was already used/);
    assert.equal(replay.cookies.lapse_session, undefined);
    const forged = new URL(url);
    forged.searchParams.set('state', 'forged-state');
    assert.match(decodeURIComponent((await callback(forged)).location), /sign_in_error=this sign-in has expired or was already used/);
  });

  test('the provider\'s answer is checked against the request: a changed nonce, a changed PKCE verifier, an attempt past its time', async () => {
    const tamper = async (change: (a: SignInAttempt) => SignInAttempt): Promise<string> => {
      const url = await signInAtProvider(l.url, 'frank-sub');
      const state = url.searchParams.get('state')!;
      const attempt = (await l.svc.store.takeSignInAttempt(state, Date.now()))!;
      await l.svc.store.saveSignInAttempt(change(attempt));
      const back = await callback(url);
      assert.equal(back.cookies.lapse_session, undefined);
      return decodeURIComponent(back.location);
    };
    assert.match(await tamper((a) => ({ ...a, nonce: 'not-the-nonce-sent' })), /sign_in_error=the identity provider's answer was refused: .*nonce/i);
    assert.match(await tamper((a) => ({ ...a, codeVerifier: 'x'.repeat(64) })), /sign_in_error=the identity provider's answer was refused: invalid_grant/);
    assert.match(await tamper((a) => ({ ...a, expiresAt: Date.now() - 1 })), /sign_in_error=this sign-in has expired or was already used/);
  });

  test('a person who cancels at the provider comes back with its reason', async () => {
    const back = await callback(await signInAtProvider(l.url, 'frank-sub', { deny: true }));
    assert.match(decodeURIComponent(back.location), /sign_in_error=the identity provider refused: access_denied/);
    assert.equal(back.cookies.lapse_session, undefined);
  });

  test('/auth/login refuses a huge or unknown parameter before going to the provider', async () => {
    const long = await fetch(`${l.url}/auth/login?returnTo=/${'x'.repeat(3000)}`, { redirect: 'manual' });
    assert.equal(long.status, 400);
    const unknown = await fetch(`${l.url}/auth/login?prompt=none`, { redirect: 'manual' });
    assert.equal(unknown.status, 400);
  });

  test('returnTo is a path of the portal only: another site becomes /', async () => {
    for (const evil of ['https://evil.example/', '//evil.example/x', '/\\evil.example']) {
      const back = await callback(await signInAtProvider(l.url, 'frank-sub', { returnTo: evil }));
      assert.equal(back.location, '/', evil);
    }
  });
});

describe('single sign-on without provisioning, and groups that may sign in', () => {
  let l: SsoServer;
  before(async () => {
    l = await startSsoServer('allowedGroups: [engineering, sre-leads]');
    l.provider.accounts.set('dave-sub', { email: 'dave@example.com', email_verified: true, name: 'Dave', groups: ['engineering'] });
    l.provider.accounts.set('bob-sub', { email: 'bob@example.com', email_verified: true, name: 'Bob', groups: ['finance'] });
    l.provider.accounts.set('stranger-sub', { email: 'stranger@example.com', email_verified: true, name: 'Stranger', groups: ['engineering'] });
    l.provider.accounts.set('unverified-sub', { email: 'erin@example.com', email_verified: false, name: 'Erin?', groups: ['sre-leads'] });
  });
  after(async () => { await l.stop(); });

  test('a configured person in an allowed group signs in', async () => {
    const back = await callback(await signInAtProvider(l.url, 'dave-sub'));
    assert.equal((await asSession(l, back.cookies, 'GET', '/api/v1/me')).body.id, 'dave');
  });

  test('refused: a person in no allowed group, a person not configured, an email the provider has not verified', async () => {
    const cases: [string, RegExp][] = [
      ['bob-sub', /you are in none of the groups allowed to sign in \(engineering, sre-leads\)/],
      ['stranger-sub', /stranger@example\.com is not a Lapse user: ask an admin to add you/],
      ['unverified-sub', /has not verified the email address erin@example\.com/],
    ];
    for (const [subject, reason] of cases) {
      const back = await callback(await signInAtProvider(l.url, subject));
      assert.match(decodeURIComponent(back.location), reason, subject);
      assert.equal(back.cookies.lapse_session, undefined, subject);
    }
    assert.deepEqual((await l.svc.store.listProvisionedUsers()).map((u) => u.id), ['dave']);
  });

  test('a person removed from the configuration loses their session at once, and is offboarded', async () => {
    const back = await callback(await signInAtProvider(l.url, 'dave-sub'));
    assert.equal((await asSession(l, back.cookies, 'GET', '/api/v1/me')).status, 200);
    const path = join(l.dir, 'lapse.yaml');
    writeFileSync(path, readFileSync(path, 'utf8').replace(/^ {4}- \{ id: dave, .*\n/m, '').replace(/, dave\b/g, '').replace(/\bdave, /g, ''));
    const reload = await l.svc.reload();
    assert.equal(reload.ok, true, JSON.stringify(reload));
    const refused = await asSession(l, back.cookies, 'GET', '/api/v1/me');
    assert.equal(refused.status, 401);
    assert.match(refused.body.detail, /no longer a Lapse user|session has ended/);
    // The reload offboarded him: his sessions revoked with the reason, his access revoked.
    assert.ok((await auditActions(l)).some((a) => a.action === 'user.credentials_revoked' && a.data.user === 'dave' && a.data.reason === 'user removed' && Number(a.data.sessions) >= 1));
    assert.ok((await auditActions(l)).some((a) => a.action === 'user.offboarded' && a.data.user === 'dave'));
  });
});

test('an issuer that does not describe itself (a wrong issuer URL): sign-in is unavailable, with the reason', async () => {
  const sso = await startSsoServer('provisionUsers: true');
  try {
    const path = join(sso.dir, 'lapse.yaml');
    writeFileSync(path, readFileSync(path, 'utf8').replace(`issuer: ${sso.provider.issuer}`, `issuer: ${sso.provider.issuer}/not-the-issuer`));
    await sso.svc.stop();
    const svc = await startService({ configPath: path, dataDir: join(sso.dir, 'data'), port: sso.svc.port, logger: silentLogger, env: { LAPSE_TEST_OIDC_SECRET: sso.provider.clientSecret } });
    try {
      const res = await fetch(`${sso.url}/auth/login`, { redirect: 'manual' });
      assert.equal(res.status, 503);
      assert.match((await res.json()).detail, /the identity provider http:\/\/127\.0\.0\.1:\d+\/not-the-issuer cannot be reached or described itself wrongly/);
    } finally {
      await svc.stop();
    }
  } finally {
    await sso.provider.close();
    rmSync(sso.dir, { recursive: true, force: true });
  }
});

test('without settings.oidc: /auth/config says so, and /auth/login does not exist', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-sso-off-'));
  const svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: {} });
  try {
    assert.deepEqual(await (await fetch(`${svc.url}/auth/config`)).json(), { singleSignOn: false });
    assert.equal((await fetch(`${svc.url}/auth/login`, { redirect: 'manual' })).status, 404);
    assert.equal((await fetch(`${svc.url}/api/v1/me`, { headers: { cookie: 'lapse_session=anything' } })).status, 401, 'a cookie is no credential here');
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
