// The tray app's single sign-on against a real OpenID Provider and Lapse server: the
// "browser" follows the address the app opens through the provider's login and consent,
// back to Lapse and on to the app's loopback address; the app gets the person's token,
// which the server accepts. A wrong state, a refused code and no answer at all reject with
// a message for the person; from the settings, the token lands in the keychain.

import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Conf from 'conf';
import { signInAtProvider, signInWithChromium, startSsoServer, type SsoServer } from '../../backend/test/oidc-provider-support.ts';
import { startTestServer } from '../../backend/src/api/api-test-support.ts';
import { singleSignOnOffered, ssoSignIn, SsoSignInError } from '../../backend/src/auth/app-sign-in.ts';
import { createToken } from '../../backend/src/auth/tokens.ts';
import { SettingsAndToken } from './settings-and-token.ts';
import { SettingsStore } from './settings.ts';
import { TokenVault, type KeychainEntry } from './keychain.ts';
import { CallError } from './server-api.ts';

let sso: SsoServer;
const dirs: string[] = [];
before(async () => {
  // demo-auto requires MFA here: with single sign-on, a step-up at the provider.
  sso = await startSsoServer('provisionUsers: true', {}, {
    editConfig: (yaml) => yaml.replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true }'),
  });
  sso.provider.accounts.set('frank-sub', { email: 'frank@example.com', email_verified: true, name: 'Frank', groups: ['engineering'] });
});
after(async () => {
  await sso?.stop();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

/** The browser: frank signs in at the provider, Lapse's callback sends it on, and it arrives at the loopback (whose answer is kept). */
async function browserAs(subject: string, url: string, change?: (loopback: URL) => void): Promise<Response> {
  const callback = await signInAtProvider(sso.url, subject, { startUrl: url });
  const atLapse = await fetch(callback, { redirect: 'manual' });
  assert.equal(atLapse.status, 303);
  const loopback = new URL(atLapse.headers.get('location')!);
  change?.(loopback);
  return fetch(loopback);
}

const rejection = async (p: Promise<unknown>): Promise<SsoSignInError> => {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SsoSignInError, String(err));
    return err;
  }
  assert.fail('expected the sign-in to be refused');
};

test('the server says whether it offers single sign-on', async () => {
  assert.equal(await singleSignOnOffered(sso.url), true);
  const plain = await startTestServer();
  try {
    assert.equal(await singleSignOnOffered(plain.svc.url), false);
  } finally {
    await plain.svc.stop();
  }
  assert.equal(await singleSignOnOffered('http://127.0.0.1:1'), null, 'no server there');
});

test('sign in through the browser (Chromium, at the provider\'s own pages): frank\'s token, which the server accepts', async () => {
  let opened = '';
  let page: { text: string } | undefined;
  const got = await ssoSignIn({
    serverUrl: `${sso.url}/`, name: 'Lapse desktop in a test', timeoutMs: 30_000,
    openBrowser: async (url) => {
      opened = url;
      page = await signInWithChromium(url, 'frank-sub', sso.provider.issuer, sso.url);
    },
  });
  const start = new URL(opened);
  assert.equal(start.origin + start.pathname, `${sso.url}/auth/login`);
  assert.match(start.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  assert.match(start.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(start.searchParams.get('name'), 'Lapse desktop in a test');
  assert.match(page!.text, /Signed in to Lapse/);

  assert.equal(got.user, 'frank@example.com');
  assert.match(got.expiresAt ?? '', /^20\d\d-/);
  const me = await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${got.token}` } });
  assert.equal(me.status, 200);
  assert.equal((await me.json() as { id: string }).id, 'frank@example.com');
});

test('a wrong state at the loopback is refused, and the sign-in ends', async () => {
  let page: Response | undefined;
  const err = await rejection(ssoSignIn({
    serverUrl: sso.url, timeoutMs: 30_000,
    openBrowser: async (url) => {
      page = await browserAs('frank-sub', url, (loopback) => loopback.searchParams.set('state', 'someone-elses-state'));
    },
  }));
  assert.equal(err.reason, 'state');
  assert.match(err.message, /did not start \(the state does not match\)/);
  assert.equal(page!.status, 400);
  assert.match(await page!.text(), /does not match the one the Lapse app started/);
});

test('a code the server refuses: the server\'s reason', async () => {
  const err = await rejection(ssoSignIn({
    serverUrl: sso.url, timeoutMs: 30_000,
    openBrowser: async (url) => {
      await browserAs('frank-sub', url, (loopback) => loopback.searchParams.set('code', 'not-the-code-the-server-gave'));
    },
  }));
  assert.equal(err.reason, 'refused');
  assert.match(err.message, /^the server refused the sign-in \(401\): /);
});

test('no answer from the browser: the wait ends with a message; a browser that does not open says so', async () => {
  const t0 = Date.now();
  const err = await rejection(ssoSignIn({ serverUrl: sso.url, timeoutMs: 200, openBrowser: () => undefined }));
  assert.equal(err.reason, 'timeout');
  assert.equal(err.message, 'no answer from the browser within 1 second; sign in again');
  assert.ok(Date.now() - t0 < 5000);
  const long = await rejection(ssoSignIn({ serverUrl: sso.url, timeoutMs: 5 * 60_000, openBrowser: () => { throw new Error('no browser'); } }));
  assert.match(long.message, /^the browser could not be opened \(no browser\); open http:\/\/127\.0\.0\.1:\d+\/auth\/login\?/);
});

test('the five-minute wait is named as such', async () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let settled = false;
    const err = rejection(ssoSignIn({ serverUrl: sso.url, openBrowser: () => undefined })).finally(() => { settled = true; });
    // The timer is set once the loopback listens: the clock runs on a minute at a time until it ends the wait.
    for (let i = 0; i < 1000 && !settled; i++) {
      await new Promise((r) => setImmediate(r));
      mock.timers.tick(60_000);
    }
    assert.equal((await err).message, 'no answer from the browser within 5 minutes; sign in again');
  } finally {
    mock.timers.reset();
  }
});

/** An in-memory keychain: the real one is tested in keychain.test.ts. */
function memoryVault(): { vault: TokenVault; data: Map<string, string> } {
  const data = new Map<string, string>();
  const vault = new TokenVault((service, account): KeychainEntry => ({
    getPassword: () => data.get(`${service}/${account}`) ?? null,
    setPassword: (p) => void data.set(`${service}/${account}`, p),
    deletePassword: () => data.delete(`${service}/${account}`),
  }));
  return { vault, data };
}

test('from the settings: the token single sign-on gives is kept in the keychain, and the app reconnects', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-sso-settings-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  const { vault } = memoryVault();
  let reconnects = 0;
  let refusedNext = false;
  const st = new SettingsAndToken({
    settings, vault, ssoTimeoutMs: 30_000,
    shell: {
      setLaunchAtLogin: () => undefined,
      openExternal: async (url) => {
        await browserAs('frank-sub', url, refusedNext ? (loopback) => loopback.searchParams.set('code', 'spent') : undefined);
      },
    },
    reconnect: async () => { reconnects++; },
    requestRefresh: () => undefined,
  });
  assert.equal(await st.ssoAvailable(), null, 'embedded: no server to ask');
  await assert.rejects(st.signInWithSso(), (e: unknown) => e instanceof CallError && e.data.field === 'embedded');

  await st.updateSettings({ embedded: false, serverUrl: sso.url });
  assert.equal(await st.ssoAvailable(), true);
  reconnects = 0;
  const got = await st.signInWithSso();
  assert.equal(got.user, 'frank@example.com');
  assert.equal(reconnects, 1);
  assert.equal(st.desktopSettings().hasToken, true);
  const token = st.tokenFor(sso.url)!;
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200);

  // A refused sign-in keeps the token there was.
  refusedNext = true;
  await assert.rejects(st.signInWithSso(), (e: unknown) => e instanceof CallError && e.data.status === 401 && /^the server refused the sign-in/.test(e.data.detail));
  assert.equal(st.tokenFor(sso.url), token);
  assert.equal(reconnects, 1);
});

test('a step-up from the request window: the token that comes back carries a fresh sign-in at the provider, which a flow requiring MFA takes', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-sso-step-up-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  let opened = '';
  const st = new SettingsAndToken({
    settings, vault: memoryVault().vault, ssoTimeoutMs: 30_000,
    shell: { setLaunchAtLogin: () => undefined, openExternal: async (url) => { opened = url; await browserAs('frank-sub', url); } },
    reconnect: async () => undefined,
    requestRefresh: () => undefined,
  });
  await st.updateSettings({ embedded: false, serverUrl: sso.url });
  const request = (token: string) => fetch(`${sso.url}/api/v1/requests`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ flowId: 'demo-auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' }] }),
  });
  const { token: byHand } = await createToken(sso.svc.store, 'frank@example.com', 'pasted by hand');
  const refused = await request(byHand);
  assert.equal(refused.status, 403);
  assert.deepEqual((await refused.json() as { stepUp: unknown }).stepUp, { flowId: 'demo-auto', signIn: '/auth/login?stepUp=demo-auto' });

  await st.signInWithSso('demo-auto');
  assert.equal(new URL(opened).searchParams.get('stepUp'), 'demo-auto');
  assert.equal((await request(st.tokenFor(sso.url)!)).status, 201);
});

test('the app\'s token from single sign-on is renewed at the server once a third of its lifetime is left, and replaced in the keychain', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'lapse-sso-renew-'));
  dirs.push(cwd);
  const settings = new SettingsStore(new Conf<Record<string, unknown>>({ cwd, configName: 'settings', projectName: 'lapse-test' }));
  let reconnects = 0;
  const st = new SettingsAndToken({
    settings, vault: memoryVault().vault, ssoTimeoutMs: 30_000,
    shell: { setLaunchAtLogin: () => undefined, openExternal: async (url) => { await browserAs('frank-sub', url); } },
    reconnect: async () => { reconnects++; },
    requestRefresh: () => undefined,
  });
  assert.equal(await st.renewTokenIfDue(Date.now()), false, 'embedded: nothing to renew');
  await st.updateSettings({ embedded: false, serverUrl: sso.url });
  const got = await st.signInWithSso();
  const first = st.tokenFor(sso.url)!;
  const end = Date.parse(got.expiresAt!);
  reconnects = 0;
  assert.equal(await st.renewTokenIfDue(Date.now()), false, 'most of its life left');
  assert.equal(st.tokenFor(sso.url), first);
  assert.equal(await st.renewTokenIfDue(end - 10 * 86_400_000), true, 'ten days before its end (of 90)');
  const second = st.tokenFor(sso.url)!;
  assert.notEqual(second, first);
  assert.equal(reconnects, 1);
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${first}` } })).status, 401, 'the old token is revoked');
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${second}` } })).status, 200);

  // A token pasted by hand is not the server's to renew: it stays as it is.
  const { token: pasted } = await createToken(sso.svc.store, 'frank@example.com', 'pasted', Date.now(), { expiresAt: Date.now() + 86_400_000 });
  await st.setToken(pasted);
  assert.equal(await st.renewTokenIfDue(Date.now()), false);
  assert.equal(st.tokenFor(sso.url), pasted);
});
