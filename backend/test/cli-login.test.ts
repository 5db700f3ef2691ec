// `lapse login` against a real OpenID Provider: the printed address is followed through the
// provider's login and consent as a browser would, the loopback receives the one-time code,
// the token lands in a 0600 file, the other verbs use it with no --token, and `lapse logout`
// revokes it. A code used twice, a wrong verifier and a redirect that is not loopback are refused.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signInAtProvider, startSsoServer, type SsoServer } from './oidc-provider-support.ts';

const BIN = fileURLToPath(new URL('../bin/lapse.js', import.meta.url));
let sso: SsoServer;
let home: string;
before(async () => {
  sso = await startSsoServer('provisionUsers: true');
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

test('lapse login: sign in at the provider, a 0600 credential, the other verbs use it, lapse logout revokes it', async () => {
  const child = spawn(process.execPath, [BIN, 'login', '--url', sso.url, '--no-browser'], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const printed = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /(http:\/\/127\.0\.0\.1:\d+\/auth\/login\?\S+)/.exec(out);
      if (m) { clearInterval(t); resolve(m[1]!); }
    }, 20);
    child.once('exit', (code) => { clearInterval(t); reject(new Error(`lapse login exited ${code}: ${out}${err}`)); });
  });
  const loginUrl = new URL(printed);
  assert.match(loginUrl.searchParams.get('redirect_uri')!, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  assert.match(loginUrl.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
  // The browser: the provider, back at Lapse's callback, then to the loopback with the code.
  const callback = await signInAtProvider(sso.url, 'frank-sub', { startUrl: printed });
  const atLapse = await fetch(callback, { redirect: 'manual' });
  assert.equal(atLapse.status, 303);
  const loopback = new URL(atLapse.headers.get('location')!);
  assert.equal(loopback.origin + loopback.pathname, loginUrl.searchParams.get('redirect_uri'));
  assert.equal(loopback.searchParams.get('state'), loginUrl.searchParams.get('state'));
  assert.equal(atLapse.headers.getSetCookie().length, 0, 'no portal session for an app sign-in');
  const page = await fetch(loopback);
  assert.match(await page.text(), /Signed in to Lapse/);
  const code = await exited;
  assert.equal(code, 0, out + err);
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
