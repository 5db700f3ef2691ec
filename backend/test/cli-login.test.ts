// `lapse login` against a real OpenID Provider: the printed address is followed through the
// provider's login and consent as a browser would, the loopback receives the one-time code,
// the token lands in a 0600 file, the other verbs use it with no --token, and `lapse logout`
// revokes it. A code used twice, a wrong verifier and a redirect that is not loopback are refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { approveDeviceInChromium, signInAtProvider, signInWithChromium, startSsoServer, type SsoServer } from './oidc-provider-support.ts';
import { createToken } from '../src/auth/tokens.ts';

const BIN = fileURLToPath(new URL('../bin/lapse.js', import.meta.url));
let sso: SsoServer;
let home: string;
before(async () => {
  // demo-auto requires MFA here: with single sign-on, a step-up at the provider.
  sso = await startSsoServer('provisionUsers: true', {}, {
    editConfig: (yaml) => yaml.replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true }'),
  });
  sso.provider.accounts.set('frank-sub', { email: 'frank@example.com', email_verified: true, name: 'Frank', groups: ['engineering'] });
  home = mkdtempSync(join(tmpdir(), 'lapse-cli-home-'));
});
after(async () => {
  await sso.stop();
  rmSync(home, { recursive: true, force: true });
});

const env = () => ({ ...process.env, XDG_CONFIG_HOME: home, LAPSE_URL: '', LAPSE_TOKEN: '', LAPSE_CREDENTIALS: '' });

/** Runs the CLI without blocking: the server answering it runs in this process. */
function lapse(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: env(), encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('lapse login, the printed address followed in Chromium: sign in at the provider, a 0600 credential, the other verbs use it, lapse logout revokes it', async () => {
  const { code, out, printed: loginUrl, loopback, lapseCookies } = await loginThroughBrowser([], 'frank-sub', { chromium: true });
  assert.match(loginUrl.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  assert.match(loginUrl.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
  // The browser went to the provider, back to Lapse's callback, then to the loopback with the code.
  assert.equal(loopback.origin + loopback.pathname, loginUrl.searchParams.get('redirect_uri'));
  assert.equal(loopback.searchParams.get('state'), loginUrl.searchParams.get('state'));
  // (Cookies go by host, not port: the browser also holds the provider's, on the same 127.0.0.1.)
  assert.deepEqual(lapseCookies.filter((name) => name.includes('lapse')), [], 'no portal session for an app sign-in');
  assert.equal(code, 0, out);
  assert.match(out, /signed in to http:\/\/127\.0\.0\.1:\d+ as frank@example\.com until 20\d\d-/);

  const file = join(home, 'lapse', 'credentials.json');
  assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  assert.equal((statSync(join(home, 'lapse')).mode & 0o777).toString(8), '700');
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(stored.user, 'frank@example.com');
  assert.equal(stored.url, sso.url);

  const status = await lapse(['catalog', '--json']);
  assert.equal(status.status, 0, status.stderr);
  assert.ok((JSON.parse(status.stdout) as { flows: { id: string }[] }).flows.some((f) => f.id === 'demo-auto'), 'no --token, no --url: the stored ones');

  // The code is spent: exchanging it again is refused.
  const again = await fetch(`${sso.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: loopback.searchParams.get('code'), code_verifier: 'x'.repeat(43) }) });
  assert.equal(again.status, 401);

  const out2 = await lapse(['logout']);
  assert.equal(out2.status, 0, out2.stderr);
  assert.match(out2.stdout, /the token is revoked and removed/);
  assert.throws(() => statSync(file));
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${stored.token}` } })).status, 401, 'revoked at the server');
  const none = await lapse(['catalog']);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /sign in with `lapse login`/);
});

test('an app sign-in is refused: a redirect that is not loopback, a challenge that is not S256, a wrong verifier', async () => {
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'; // S256 of the RFC 7636 example verifier
  for (const [redirect, expected] of [['https://evil.example/cb', /loopback/], ['http://127.0.0.1/cb', /loopback address with a port/], ['http://10.0.0.1:8080/cb', /loopback/]] as const) {
    const res = await fetch(`${sso.url}/auth/login?redirect_uri=${encodeURIComponent(redirect)}&state=abcdefgh&code_challenge=${challenge}`, { redirect: 'manual' });
    assert.equal(res.status, 422, redirect);
    assert.match((await res.json()).detail, expected);
  }
  const plain = await fetch(`${sso.url}/auth/login?redirect_uri=${encodeURIComponent('http://127.0.0.1:5000/cb')}&state=abcdefgh&code_challenge=plain`, { redirect: 'manual' });
  assert.equal(plain.status, 422);
  const printed = `${sso.url}/auth/login?redirect_uri=${encodeURIComponent('http://127.0.0.1:5999/cb')}&state=abcdefgh&code_challenge=${challenge}`;
  const callback = await signInAtProvider(sso.url, 'frank-sub', { startUrl: printed });
  const loopback = new URL((await fetch(callback, { redirect: 'manual' })).headers.get('location')!);
  const wrong = await fetch(`${sso.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: loopback.searchParams.get('code'), code_verifier: 'a'.repeat(43) }) });
  assert.equal(wrong.status, 401);
  assert.match((await wrong.json()).detail, /does not match the sign-in's challenge/);
  const right = await fetch(`${sso.url}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: loopback.searchParams.get('code'), code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk' }) });
  assert.equal(right.status, 401, 'a code is taken once, even by a wrong verifier');
});

/**
 * `lapse login ARGS` with the printed address followed as a browser would (in Chromium, or
 * by a client that keeps cookies), through the provider as `subject`, Lapse's callback and
 * the loopback: the exit code and output, the loopback address, and the cookies Lapse set.
 */
async function loginThroughBrowser(args: string[], subject: string, opts: { chromium?: boolean } = {}): Promise<{ code: number | null; out: string; printed: URL; loopback: URL; lapseCookies: string[] }> {
  const child = spawn(process.execPath, [BIN, 'login', '--url', sso.url, '--no-browser', ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const printed = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/auth\/login\?\S+)/.exec(out);
      if (m) { clearInterval(t); resolve(m[1]!); }
    }, 20);
    child.once('exit', (code) => { clearInterval(t); reject(new Error(`lapse login exited ${code}: ${out}`)); });
  });
  if (opts.chromium) {
    const end = await signInWithChromium(printed, subject, sso.provider.issuer, sso.url);
    assert.match(end.text, /Signed in to Lapse/);
    return { code: await exited, out, printed: new URL(printed), loopback: new URL(end.url), lapseCookies: end.cookies };
  }
  const atLapse = await fetch(await signInAtProvider(sso.url, subject, { startUrl: printed }), { redirect: 'manual' });
  assert.equal(atLapse.status, 303);
  const loopback = new URL(atLapse.headers.get('location')!);
  assert.match(await (await fetch(loopback)).text(), /Signed in to Lapse/);
  return { code: await exited, out, printed: new URL(printed), loopback, lapseCookies: atLapse.headers.getSetCookie().map((c) => c.split('=')[0]!) };
}

test('lapse login --step-up FLOW: a flow that requires MFA refuses a token the provider did not just authenticate, and says how to step up; the stepped-up token replaces the old one', async () => {
  const { token: byHand } = await createToken(sso.svc.store, 'frank@example.com', 'by hand');
  const refused = await new Promise<{ status: number; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, 'request', 'demo-auto', '--entitlement', 'demo/database:app#read'], { env: { ...env(), LAPSE_URL: sso.url, LAPSE_TOKEN: byHand }, encoding: 'utf8' }, (err, _stdout, stderr) => {
      resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /403 Forbidden: flow "demo-auto" requires a fresh sign-in at the identity provider \(a step-up\)/);
  assert.match(refused.stderr, /\nlapse: run: lapse login --step-up "demo-auto", then try again\n/);

  const first = await loginThroughBrowser([], 'frank-sub');
  assert.equal(first.code, 0, first.out);
  const firstToken = JSON.parse(readFileSync(join(home, 'lapse', 'credentials.json'), 'utf8')).token as string;
  const stepped = await loginThroughBrowser(['--step-up', 'demo-auto'], 'frank-sub');
  assert.equal(stepped.code, 0, stepped.out);
  assert.equal(stepped.printed.searchParams.get('stepUp'), 'demo-auto');
  assert.match(stepped.out, /\(stepped up for demo-auto\)/);
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${firstToken}` } })).status, 401, 'the replaced token is revoked');

  const granted = await lapse(['request', 'demo-auto', '--entitlement', 'demo/database:app#read', '--json']);
  assert.equal(granted.status, 0, granted.stderr);
  assert.equal(JSON.parse(granted.stdout).status, 'active');
  const audit = await sso.svc.store.listAudit({ limit: 1000 });
  assert.ok(audit.some((e) => e.action === 'auth.sign_in' && e.actor === 'frank@example.com' && e.data.stepUp === true));
  assert.equal((await lapse(['logout'])).status, 0);
});

test('the stored token is renewed at the server once two thirds of its life are over, before the verb that uses it', async () => {
  const first = await loginThroughBrowser([], 'frank-sub');
  assert.equal(first.code, 0, first.out);
  const file = join(home, 'lapse', 'credentials.json');
  const stored = JSON.parse(readFileSync(file, 'utf8'));
  assert.ok(Date.parse(stored.renewAfter) > Date.now() + 50 * 86_400_000, `about 60 of its 90 days: ${stored.renewAfter}`);
  const quiet = await lapse(['catalog', '--json']);
  assert.equal(quiet.status, 0, quiet.stderr);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, stored.token, 'not due: the same token');

  writeFileSync(file, JSON.stringify({ ...stored, renewAfter: new Date(Date.now() - 1000).toISOString() }), { mode: 0o600 });
  const renewed = await lapse(['catalog', '--json']);
  assert.equal(renewed.status, 0, renewed.stderr);
  const now = JSON.parse(readFileSync(file, 'utf8'));
  assert.notEqual(now.token, stored.token);
  assert.ok(Date.parse(now.renewAfter) > Date.now() + 50 * 86_400_000);
  assert.equal((statSync(file).mode & 0o777).toString(8), '600');
  assert.equal((await fetch(`${sso.url}/api/v1/me`, { headers: { authorization: `Bearer ${stored.token}` } })).status, 401, 'the old token is revoked');
  const ended = await lapse(['catalog', '--token', stored.token]);
  assert.equal(ended.status, 1);
  assert.match(ended.stderr, /401 Unauthorized: the token is not valid .*\nlapse: sign in again with `lapse login`/s);
  assert.equal((await lapse(['logout'])).status, 0);
});

/** `lapse login --device`, its printed address (with the code) approved, or refused, in Chromium: its exit code and output. */
async function deviceLogin(opts: { abort?: boolean } = {}): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [BIN, 'login', '--url', sso.url, '--device'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const complete = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /\(or open (http:\/\/127\.0\.0\.1:\d+\/device\S*)\)/.exec(out);
      if (m) { clearInterval(t); resolve(m[1]!); }
    }, 20);
    child.once('exit', (code) => { clearInterval(t); reject(new Error(`lapse login --device exited ${code}: ${out}`)); });
  });
  assert.match(out, /To sign in, open http:\/\/127\.0\.0\.1:\d+\/device on any device and enter the code [A-Z-]+/);
  await approveDeviceInChromium(complete, 'frank-sub', sso.provider.issuer, opts);
  return { code: await exited, out };
}

test('lapse login --device: a code to type at the provider, approved on another device (Chromium), and the token kept as with a browser', async () => {
  const { code, out } = await deviceLogin();
  assert.equal(code, 0, out);
  assert.match(out, /signed in to http:\/\/127\.0\.0\.1:\d+ as frank@example\.com until 20\d\d-/);
  const catalog = await lapse(['catalog', '--json']);
  assert.equal(catalog.status, 0, catalog.stderr);
  const audit = await sso.svc.store.listAudit({ limit: 1000 });
  assert.ok(audit.some((e) => e.action === 'auth.sign_in' && e.actor === 'frank@example.com' && e.data.via === 'device'));
  assert.equal((await lapse(['logout'])).status, 0);

  // The server's half, hostile: a handle it never gave, and one already used, are refused.
  const forged = await fetch(`${sso.url}/auth/device/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deviceCode: 'x'.repeat(43) }) });
  assert.equal(forged.status, 401);
  assert.match(((await forged.json()) as { detail: string }).detail, /this device sign-in has ended/);
  assert.equal((await lapse(['login', '--device', '--step-up', 'demo-auto', '--url', sso.url])).status, 2, '--step-up needs the browser');
});

test('lapse login --device refused at the provider: the reason, no token, audited', async () => {
  const { code, out } = await deviceLogin({ abort: true });
  assert.equal(code, 1, out);
  assert.match(out, /lapse: 401 Unauthorized: the identity provider's answer was refused: access_denied/);
  assert.throws(() => statSync(join(home, 'lapse', 'credentials.json')), 'nothing stored');
  const audit = await sso.svc.store.listAudit({ limit: 1000 });
  assert.ok(audit.some((e) => e.action === 'auth.sign_in_refused' && e.data.via === 'device' && /access_denied/.test(String(e.data.reason))));
});
