// The portal's LapseApi over HTTP against a real server: typed errors with the field at
// fault, the calls the views make, and the events stream with its connection state through
// a server restart. With single sign-on (a real OpenID Provider): the session cookie, the
// CSRF token sent from its cookie on every change (not on reads, not with a token), the
// events stream on the cookie, and the end of the session.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startService, type Service } from '../../../backend/src/service.ts';
import { silentLogger } from '../../../backend/src/logger.ts';
import { EXAMPLE, startTestServer, usersWrite, appRead, type TestServer } from '../../../backend/src/api/api-test-support.ts';
import { createToken } from '../../../backend/src/auth/tokens.ts';
import { base32Decode, totpAt } from '../../../backend/src/auth/totp.ts';
import { createHttpApi, csrfTokenFrom, parseSseBlock, TOKEN_KEY, type HttpApi, type TokenStorage } from './http-api.ts';
import { ApiError, type StreamMessage } from '../../../common/lapse-api.ts';
import { signInCookies, startSsoServer, type SsoServer } from '../../../backend/test/oidc-provider-support.ts';

class MemoryStorage implements TokenStorage {
  readonly map = new Map<string, string>();
  getItem(k: string) { return this.map.get(k) ?? null; }
  setItem(k: string, v: string) { this.map.set(k, v); }
  removeItem(k: string) { this.map.delete(k); }
}

let server: TestServer;
let svc: Service;
const apis = {} as Record<'alice' | 'bob', HttpApi>;
const storages = { alice: new MemoryStorage(), bob: new MemoryStorage() };

async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `an ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

before(async () => {
  server = await startTestServer();
  svc = server.svc;
  for (const u of ['alice', 'bob'] as const) {
    apis[u] = createHttpApi({ baseUrl: svc.url, storage: storages[u] });
    await apis[u].setToken(`  ${server.tokens[u]}\n`);
  }
});
after(async () => {
  await svc.stop();
  rmSync(server.dir, { recursive: true, force: true });
});

describe('createHttpApi', () => {
  test('the token is kept trimmed in the given storage and sent; without it, or with a bad one, a 401 ApiError', async () => {
    assert.equal(storages.alice.getItem(TOKEN_KEY), server.tokens.alice);
    assert.equal((await apis.alice.me()).id, 'alice');
    const anonymous = createHttpApi({ baseUrl: svc.url, storage: new MemoryStorage() });
    const e = await rejection(anonymous.me());
    assert.equal(e.status, 401);
    assert.match(e.detail, /send a token/);
    const storage = new MemoryStorage();
    const wrong = createHttpApi({ baseUrl: svc.url, storage });
    await wrong.setToken('lapse_not-a-real-token');
    assert.equal((await rejection(wrong.me())).status, 401);
    await wrong.clearToken();
    assert.equal(storage.getItem(TOKEN_KEY), null);
  });

  test('errors carry the field the API names: from the engine and from the schema', async () => {
    const missing = await rejection(apis.alice.createRequest({ flowId: 'demo-approval', entitlements: [usersWrite] }));
    assert.equal(missing.status, 422);
    assert.equal(missing.field, 'justification');
    assert.match(missing.detail, /requires a justification/);
    const badMfa = await rejection(apis.alice.createRequest({ flowId: 'demo-auto', entitlements: [appRead], mfaCode: '12' }));
    assert.equal(badMfa.status, 400);
    assert.equal(badMfa.field, 'mfaCode');
    const tooLong = await rejection(apis.alice.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '9h' }));
    assert.equal(tooLong.field, 'duration');
    // Plain data for IPC.
    assert.deepEqual(JSON.parse(JSON.stringify(tooLong)), { status: 422, title: 'Invalid request', detail: tooLong.detail, field: 'duration' });
    assert.equal(ApiError.from(JSON.parse(JSON.stringify(tooLong))).field, 'duration');
    const desktop = await rejection(apis.alice.getSettings());
    assert.equal(desktop.status, 501);
    assert.equal((await rejection(apis.alice.signInWithSso())).status, 501, 'the portal signs in with its own session');
    assert.equal((await rejection(apis.alice.ssoAvailable())).status, 501);
  });

  test('request, inbox, approve with a reason, access details, favorites, revoke: the views\' calls', async () => {
    const catalog = await apis.alice.catalog();
    assert.ok(catalog.flows.some((f) => f.id === 'demo-approval' && f.maxDuration === '4h' && f.requireJustification));
    const r = await apis.alice.createRequest({ flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-1', duration: '30m' });
    assert.equal(r.status, 'pending');
    const inbox = await apis.bob.approvals();
    const item = inbox.find((x) => x.id === r.id);
    assert.ok(item, 'in bob\'s inbox');
    assert.equal(item.approverReasonRequired, true);
    assert.ok(item.yourApproverRoles.length > 0);
    assert.equal((await rejection(apis.bob.approve(r.id))).field, 'reason');
    const approved = await apis.bob.approve(r.id, 'ok');
    assert.ok(['granting', 'active'].includes(approved.status), approved.status);
    for (let i = 0; i < 100 && (await apis.alice.getRequest(r.id)).status !== 'active'; i++) await new Promise((res) => setTimeout(res, 20));
    const details = await apis.alice.accessDetails(r.id);
    assert.ok(details.demo && Object.keys(details.demo).length > 0, JSON.stringify(details));
    assert.deepEqual(await apis.bob.accessDetails(r.id), {}, 'access details are the requester\'s only');

    const fav = await apis.alice.createFavorite({ name: 'read app', flowId: 'demo-auto', entitlements: [appRead], duration: '15m' });
    assert.ok((await apis.alice.listFavorites()).favorites.some((f) => f.id === fav.id));
    const fromFav = await apis.alice.requestFromFavorite(fav.id);
    assert.equal(fromFav.duration, '15m');
    await apis.alice.deleteFavorite(fav.id);
    assert.ok(!(await apis.alice.listFavorites()).favorites.some((f) => f.id === fav.id));

    const revoked = await apis.alice.revoke(r.id);
    assert.ok(['revoking', 'revoked'].includes(revoked.status), revoked.status);
    const mine = await apis.alice.listMyRequests({ statuses: ['revoking', 'revoked'] });
    assert.ok(mine.some((x) => x.id === r.id));
  });

  test('API tokens: made (the token shown once), listed without the secret, revoked', async () => {
    const made = await apis.alice.createToken({ name: 'laptop', expiresIn: '30d' });
    assert.equal(made.name, 'laptop');
    assert.equal(made.user, 'alice');
    assert.equal(made.kind, 'personal');
    assert.ok(made.token.length > 10, 'the token is in the answer');
    const days = (Date.parse(made.expiresAt!) - Date.parse(made.createdAt!)) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 0.01, `30 days, got ${days}`);
    // The new token works.
    const other = createHttpApi({ baseUrl: svc.url, storage: new MemoryStorage() });
    await other.setToken(made.token);
    assert.equal((await other.me()).id, 'alice');

    const listed = (await apis.alice.listTokens()).find((t) => t.id === made.id);
    assert.ok(listed, 'listed');
    assert.equal(listed.revokedAt, null);
    assert.ok(!('token' in listed), 'no secret in the list');
    assert.ok(!JSON.stringify(await apis.alice.listTokens()).includes(made.token), 'the secret is nowhere in the list');
    assert.ok(!(await apis.bob.listTokens()).some((t) => t.id === made.id), 'bob sees his own tokens only');
    assert.equal((await rejection(apis.bob.revokeToken(made.id))).status, 404, 'not bob\'s to revoke');

    const defaulted = await apis.alice.createToken({ name: 'default lifetime' });
    assert.ok(Math.abs((Date.parse(defaulted.expiresAt!) - Date.parse(defaulted.createdAt!)) / 86_400_000 - 90) < 0.01, 'default 90 days');
    const tooLong = await rejection(apis.alice.createToken({ name: 'forever', expiresIn: '400d' }));
    assert.equal(tooLong.field, 'expiresIn');

    await apis.alice.revokeToken(made.id);
    const after = (await apis.alice.listTokens()).find((t) => t.id === made.id);
    assert.ok(after?.revokedAt, 'revoked');
    assert.ok(!(await apis.alice.listTokens()).some((t) => t.id === made.id && t.revokedAt === null), 'no longer active');
    assert.equal((await rejection(other.me())).status, 401, 'the revoked token no longer works');
    assert.equal((await rejection(apis.alice.revokeToken(made.id))).status, 404);
    await apis.alice.revokeToken(defaulted.id);
  });

  test('two-factor authentication: set up (the secret once), confirmed with a code from it, removed with a later one', async () => {
    assert.deepEqual(await apis.bob.mfaStatus(), { status: 'none', startedAt: null, confirmedAt: null });
    const started = await apis.bob.startMfaEnrolment();
    assert.equal(started.status, 'pending');
    assert.match(started.qrCode, /^data:image\/svg\+xml;base64,/);
    const step = Math.floor(Date.now() / 30_000);
    const code = (s: number) => totpAt(base32Decode(started.secret), s);
    const wrong = ['000000', '111111', '222222', '333333'].find((c) => ![-1, 0, 1, 2].some((d) => code(step + d) === c))!;
    const refused = await rejection(apis.bob.confirmMfaEnrolment(wrong));
    assert.deepEqual([refused.status, refused.field], [422, 'code']);
    assert.equal((await apis.bob.confirmMfaEnrolment(code(step))).status, 'enrolled');
    const status = await apis.bob.mfaStatus();
    assert.equal(status.status, 'enrolled');
    assert.ok(!JSON.stringify(status).includes(started.secret));
    assert.deepEqual(await rejection(apis.bob.removeMfa()).then((e) => [e.status, e.field]), [422, 'code']);
    assert.equal((await rejection(apis.bob.startMfaEnrolment())).status, 409);
    await apis.bob.removeMfa(code(step + 1));
    assert.equal((await apis.bob.mfaStatus()).status, 'none');
  });

  test('the events stream: events and connection state, reconnecting through a server restart', async () => {
    const got: StreamMessage[] = [];
    const stop = apis.alice.subscribe((m) => got.push(m));
    await waitFor('online', () => got.some((m) => m.kind === 'connection' && m.state === 'online'));
    assert.equal(await apis.alice.connectionState(), 'online');
    const r = await apis.alice.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
    await waitFor('request.granted', () => got.some((m) => m.kind === 'event' && m.event.type === 'request.granted' && m.event.requestId === r.id));

    // The server goes away and comes back on the same port with the same data.
    const port = svc.port;
    await svc.stop();
    await waitFor('reconnecting', () => got.some((m) => m.kind === 'connection' && m.state === 'reconnecting'));
    svc = await startService({ configPath: EXAMPLE, dataDir: server.dir, port, logger: silentLogger, env: {} });
    const before = got.length;
    await waitFor('online again', () => got.slice(before).some((m) => m.kind === 'connection' && m.state === 'online'), 15_000);
    const r2 = await apis.alice.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
    await waitFor('an event after the reconnect', () => got.some((m) => m.kind === 'event' && m.event.requestId === r2.id));

    stop();
    assert.equal(await apis.alice.connectionState(), 'offline');
    await waitFor('the stream closed on the server', () => svc.events.size === 0);
  });

  test('parseSseBlock: data lines make the event; comments and retry hints none', () => {
    assert.equal(parseSseBlock(': keep-alive'), null);
    assert.equal(parseSseBlock('retry: 2000\n: connected as alice'), null);
    assert.equal(parseSseBlock('data: not json'), null);
    const e = parseSseBlock('id: x:1:request.created\nevent: request.created\ndata: {"id":"x:1:request.created","type":"request.created","at":"2026-01-01T00:00:00.000Z","requestId":"x","data":{}}');
    assert.equal(e?.type, 'request.created');
    assert.equal(e?.requestId, 'x');
  });
});

describe('createHttpApi with the session cookie of single sign-on', () => {
  let sso: SsoServer;
  let cookies: Record<string, string>;
  interface Sent { method: string; path: string; csrf: string | null; authorization: string | null; credentials: RequestCredentials | undefined }

  before(async () => {
    sso = await startSsoServer('provisionUsers: true');
    sso.provider.accounts.set('frank-sub', { email: 'frank@example.com', email_verified: true, name: 'Frank', groups: ['engineering'] });
    cookies = await signInCookies(sso, 'frank-sub');
    assert.ok(cookies.lapse_csrf, 'the CSRF cookie');
  });
  after(async () => {
    await sso?.stop();
  });

  /**
   * The portal in a browser: `fetch` sends the session cookie along (the page never sees it,
   * HttpOnly) and the page's script reads `documentCookies` (where the CSRF cookie is). Every
   * call is recorded as the API sent it.
   */
  function portal(documentCookies: string, opts: { token?: string; session?: string } = {}): { api: HttpApi; sent: Sent[] } {
    const sent: Sent[] = [];
    const storage = new MemoryStorage();
    if (opts.token) storage.setItem(TOKEN_KEY, opts.token);
    const browserFetch: typeof fetch = async (input, init) => {
      const headers = new Headers(init?.headers);
      const url = new URL(String(input));
      sent.push({ method: init?.method ?? 'GET', path: url.pathname, csrf: headers.get('x-csrf-token'), authorization: headers.get('authorization'), credentials: init?.credentials });
      headers.set('cookie', `lapse_session=${opts.session ?? cookies.lapse_session}; ${documentCookies}`);
      return fetch(input, { ...init, headers });
    };
    return { api: createHttpApi({ baseUrl: sso.url, storage, fetch: browserFetch, cookies: () => documentCookies }), sent };
  }

  test('GET /auth/config: single sign-on here, not on a server without it', async () => {
    assert.deepEqual(await portal('').api.auth.config(), { singleSignOn: true });
    assert.deepEqual(await apis.alice.auth.config(), { singleSignOn: false });
  });

  test('with the session cookie: reads carry no CSRF token, every change carries the one from its cookie', async () => {
    const { api, sent } = portal(`theme=dark; lapse_csrf=${cookies.lapse_csrf}; other=x`);
    assert.equal(api.auth.usesToken(), false);
    assert.equal((await api.me()).id, 'frank@example.com');
    assert.ok((await api.catalog()).flows.some((f) => f.id === 'demo-auto'), 'engineering at the provider');
    const created = await api.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
    assert.equal(created.status, 'active');
    assert.equal(created.requester, 'frank@example.com');
    const fav = await api.createFavorite({ name: 'read app', flowId: 'demo-auto', entitlements: [appRead] });
    await api.deleteFavorite(fav.id);
    const revoked = await api.revoke(created.id);
    assert.ok(['revoking', 'revoked'].includes(revoked.status), revoked.status);
    assert.ok((await api.listMyRequests()).some((r) => r.id === created.id));

    assert.ok(sent.every((s) => s.credentials === 'same-origin' && s.authorization === null), JSON.stringify(sent));
    const reads = sent.filter((s) => s.method === 'GET');
    const changes = sent.filter((s) => s.method !== 'GET');
    assert.deepEqual(reads.map((s) => s.path), ['/api/v1/me', '/api/v1/catalog', '/api/v1/requests']);
    assert.ok(reads.every((s) => s.csrf === null), `no CSRF token on reads: ${JSON.stringify(reads)}`);
    assert.deepEqual(changes.map((s) => [s.method, s.csrf]), [['POST', cookies.lapse_csrf], ['POST', cookies.lapse_csrf], ['DELETE', cookies.lapse_csrf], ['POST', cookies.lapse_csrf]]);
  });

  test('without the CSRF cookie a change is refused by the server (403), and nothing is sent for it', async () => {
    const { api, sent } = portal('theme=dark');
    assert.equal((await api.me()).id, 'frank@example.com', 'reads work with the cookie alone');
    const refused = await rejection(api.createRequest({ flowId: 'demo-auto', entitlements: [appRead] }));
    assert.equal(refused.status, 403);
    assert.match(refused.detail, /CSRF token/);
    assert.ok(sent.every((s) => s.csrf === null));
  });

  test('two-factor set-up with the session cookie: each change carries the CSRF token (without it, refused); with single sign-on the provider is the factor', async () => {
    const own = await signInCookies(sso, 'frank-sub');
    const bare = portal('theme=dark', { session: own.lapse_session });
    assert.equal((await bare.api.mfaStatus()).status, 'provider');
    for (const change of [() => bare.api.startMfaEnrolment(), () => bare.api.confirmMfaEnrolment('123456'), () => bare.api.removeMfa()]) {
      const refused = await rejection(change());
      assert.equal(refused.status, 403);
      assert.match(refused.detail, /CSRF token/);
    }

    const { api, sent } = portal(`lapse_csrf=${own.lapse_csrf}`, { session: own.lapse_session });
    const started = await rejection(api.startMfaEnrolment());
    assert.equal(started.status, 409, 'past the CSRF check: this server\'s second factor is the provider');
    assert.match(started.detail, /a step-up/);
    assert.deepEqual(sent.map((s) => [s.method, s.path, s.csrf]), [['POST', '/api/v1/mfa/enrolment', own.lapse_csrf]]);
  });

  test('with a pasted token: the token, never the CSRF token (even where its cookie is)', async () => {
    const { token } = await createToken(sso.svc.store, 'alice', 'test alice');
    const { api, sent } = portal(`lapse_csrf=${cookies.lapse_csrf}`, { token });
    assert.equal(api.auth.usesToken(), true);
    assert.equal((await api.me()).id, 'alice', 'the token wins over the cookie');
    const created = await api.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
    assert.equal(created.requester, 'alice');
    await api.revoke(created.id);
    assert.ok(sent.length >= 3);
    assert.ok(sent.every((s) => s.csrf === null && s.authorization === `Bearer ${token}`), JSON.stringify(sent));
  });

  test('the events stream on the session cookie; signing out ends the session (logoutUrl at the provider) and the stream', async () => {
    const own = await signInCookies(sso, 'frank-sub');
    const { api, sent } = portal(`lapse_csrf=${own.lapse_csrf}`, { session: own.lapse_session });
    const got: StreamMessage[] = [];
    const stop = api.subscribe((m) => got.push(m));
    try {
      await waitFor('online', () => got.some((m) => m.kind === 'connection' && m.state === 'online'));
      const created = await api.createRequest({ flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
      await waitFor('request.granted', () => got.some((m) => m.kind === 'event' && m.event.type === 'request.granted' && m.event.requestId === created.id));
      await api.revoke(created.id);

      const { logoutUrl } = await api.auth.endSession();
      assert.ok(logoutUrl?.startsWith(`${sso.provider.issuer}/session/end?`), String(logoutUrl));
      assert.deepEqual(sent.filter((s) => s.path === '/auth/logout').map((s) => [s.method, s.csrf]), [['POST', own.lapse_csrf]]);
      assert.equal(await api.connectionState(), 'offline');
      assert.equal((await rejection(api.me())).status, 401, 'the session has ended');
      assert.equal((await rejection(api.auth.endSession())).status, 401, 'nothing left to end');
      assert.equal((await portal(`lapse_csrf=${cookies.lapse_csrf}`).api.me()).id, 'frank@example.com', 'another session of the same person goes on');
    } finally {
      stop();
    }
  });

  test('loginUrl: the server\'s /auth/login, back to a path of the portal', async () => {
    const { api } = portal('');
    const url = api.auth.loginUrl('/#/request?flow=demo-auto');
    assert.equal(url, `${sso.url}/auth/login?returnTo=%2F%23%2Frequest%3Fflow%3Ddemo-auto`);
    const res = await fetch(url, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.ok(res.headers.get('location')?.startsWith(`${sso.provider.issuer}/`), String(res.headers.get('location')));
  });

  test('csrfTokenFrom: the __Host- cookie first, then the plain one; decoded; null without one', () => {
    assert.equal(csrfTokenFrom(''), null);
    assert.equal(csrfTokenFrom('a=1; lapse_csrf_x=2; xlapse_csrf=3'), null);
    assert.equal(csrfTokenFrom('a=1; lapse_csrf=abc-_1'), 'abc-_1');
    assert.equal(csrfTokenFrom('lapse_csrf=plain; __Host-lapse_csrf=host'), 'host');
    assert.equal(csrfTokenFrom('lapse_csrf=a%2Bb%3D'), 'a+b=');
    assert.equal(csrfTokenFrom('lapse_csrf=%E0%A4%A'), '%E0%A4%A', 'a value that does not decode is taken as is');
    assert.equal(csrfTokenFrom('lapse_csrf='), null);
  });
});
