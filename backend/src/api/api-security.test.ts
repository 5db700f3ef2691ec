// API tests over real HTTP, as an attacker would try them: authentication decided on the
// route that runs (plain and disguised paths), event streams that end with their token or
// the rights behind them, durations and instants bounded before anything is written, and
// the failed-authentication limiter (valid tokens pass; trustProxy; preflights).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { STORE_FILE } from '../service.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { createToken } from '../auth/tokens.ts';
import { base32Decode, totpAt } from '../auth/totp.ts';
import { enforceRouteAccess } from './route-access.ts';
import { EXAMPLE, appRead, assertProblem, call, openEventStream, startTestServer, waitFor, type SseStream, type TestServer } from './api-test-support.ts';

/** One HTTP call with the path sent exactly as written (no normalisation by a URL parser). */
function rawCall(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const body = method === 'POST' || method === 'PUT' ? '{}' : undefined;
    const req = httpRequest({ host: hostname, port, method, path, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      res.on('error', reject);
    });
    // A route that streams (or hangs) would never end: give up after 5 s, as a failure.
    req.setTimeout(5000, () => req.destroy(new Error(`${method} ${path}: no answer within 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The disguises of a path a router might decode or normalise to the same route. */
function disguises(path: string): string[] {
  const encodeFirst = (p: string) => p.replace(/\/([a-z])/g, (_m, c: string) => `/%${c.charCodeAt(0).toString(16)}`);
  const encodeAll = (p: string) => p.replace(/[a-z]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const segments = path.split('/');
  const last = segments.pop()!;
  return [
    encodeFirst(path),
    encodeAll(path),
    `${segments.join('/')}/./${last}`,
    `${segments.join('/')}/x/../${last}`,
    `/${path}`,
    `${path}/`,
    `/${path.slice(1).replace(/\//g, '%2F')}`,
    `${path};x=1`,
    path.toUpperCase(),
    `${path}%00`,
  ];
}

describe('authentication is decided on the route that runs', () => {
  let s: TestServer;
  before(async () => { s = await startTestServer(); });
  after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

  test('every registered route, unauthenticated, by plain and disguised paths: 401 everywhere but the declared public routes', async () => {
    const routes = s.svc.http.routeAccess;
    assert.ok(routes.length >= 25, `the route table lists the API (${routes.length} routes)`);
    const publicRoutes = routes.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`).sort();
    assert.deepEqual(publicRoutes, [
      'GET /', 'GET /:file', 'GET /api/v1/openapi.json', 'GET /auth/config', 'GET /healthz', 'GET /metrics', 'GET /readyz',
      'HEAD /', 'HEAD /:file', 'HEAD /api/v1/openapi.json', 'HEAD /auth/config', 'HEAD /healthz', 'HEAD /metrics', 'HEAD /readyz',
    ]);
    const someId = '0190a4f4-7e1c-7000-8000-00000000abcd';
    let tried = 0;
    for (const r of routes) {
      if (r.access === 'public') continue;
      const path = r.url.replace(/:[A-Za-z]+/g, someId);
      const plain = await rawCall(s.svc.url, r.method, path);
      assert.equal(plain.status, 401, `${r.method} ${path} without a token: ${plain.status} ${plain.body}`);
      for (const p of [...disguises(path), `${path}?check=true`]) {
        const res = await rawCall(s.svc.url, r.method, p).catch((err: Error) => { throw new Error(`${r.method} ${p}: ${err.message}`); });
        tried++;
        // A disguise either reaches the same route (and is refused) or reaches none (404);
        // never a handler without authentication.
        assert.ok(res.status === 401 || res.status === 404 || res.status === 400, `${r.method} ${p} without a token: ${res.status} ${res.body.slice(0, 200)}`);
        if (res.status === 404 && r.method !== 'HEAD') assert.match(res.body, /no route|Not found/, `${r.method} ${p}: a plain not-found answer`);
      }
      // The disguise of the report: the percent-encoded first letter reaches the route.
      assert.equal((await rawCall(s.svc.url, r.method, path.replace('/api/', '/%61pi/'))).status, 401, `${r.method} ${path} as /%61pi/…`);
    }
    assert.ok(tried > 200, `tried ${tried} disguised paths`);
  });

  test('the reported reproductions: /%61pi/v1/integrations?check=true, /%61pi/v1/me, /%61pi/v1/events all answer 401 at once', async () => {
    for (const p of ['/%61pi/v1/integrations?check=true', '/%61pi/v1/me', '/%61pi/v1/events', '/%61%70%69/%76%31/requests']) {
      const res = await rawCall(s.svc.url, 'GET', p);
      assert.equal(res.status, 401, `${p}: ${res.status} ${res.body}`);
      assert.doesNotMatch(res.body, /"integrations"|"health"/);
    }
  });

  test('a route that does not declare its access is refused when it is registered', async () => {
    const app = Fastify();
    enforceRouteAccess(app);
    app.get('/declared', { config: { access: 'public' } }, async () => 'ok');
    assert.throws(() => app.get('/forgotten', async () => 'oops'), /GET \/forgotten.*declare/);
    assert.throws(() => app.route({ method: 'POST', url: '/typo', config: { access: 'publik' as 'public' }, handler: async () => 'oops' }), /POST \/typo/);
    await app.close();
  });

  test('checking integrations now is shared: many callers at once cause one check per integration', async () => {
    const demo = s.svc.integrations.get('demo')!;
    const original = demo.health.bind(demo);
    let checks = 0;
    demo.health = async () => { checks++; await new Promise((r) => setTimeout(r, 50)); return original(); };
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => s.as('carol', 'GET', '/api/v1/integrations?check=true')));
      for (const a of answers) assert.equal(a.status, 200);
      // One check at most (none when the start's check is recent enough), and one report for all.
      assert.ok(checks <= 1, `twenty simultaneous check=true calls ran ${checks} health checks`);
      const reports = new Set(answers.map((a) => JSON.stringify(a.body.integrations)));
      assert.equal(reports.size, 1, 'every caller got the same report');
      // Right after, another one answers from that check instead of calling the target again.
      assert.equal((await s.as('carol', 'GET', '/api/v1/integrations?check=true')).status, 200);
      // Only admins: their errors name hosts and accounts, and a check calls every target.
      for (const who of ['alice', 'bob'] as const) assert.equal((await s.as(who, 'GET', '/api/v1/integrations?check=true')).status, 403);
      assert.ok(checks <= 1, 'a check a moment old is answered as it is');
    } finally {
      demo.health = original;
    }
  });
});

describe('event streams end with the authorization behind them', () => {
  let s: TestServer;
  let configPath: string;
  const open: SseStream[] = [];
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
    configPath = join(dir, 'lapse.yaml');
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8'));
    s = await startTestServer({ configPath, dir });
  });
  after(async () => {
    await s.svc.stop();
    await Promise.all(open.map((st) => st.ended));
    rmSync(s.dir, { recursive: true, force: true });
  });

  const stream = async (token: string) => {
    const st = await openEventStream(s.svc.url, token);
    assert.equal(st.status, 200);
    open.push(st);
    await st.connected;
    return st;
  };

  test('a token revoked by another process (lapse token revoke on the data directory) ends its open stream within about a second', async () => {
    const { token, record } = await createToken(s.svc.store, 'alice', 'stream to revoke');
    const st = await stream(token);
    const ok = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.equal(ok.status, 201);
    assert.ok(await waitFor(() => st.events.some((e) => e.data?.requestId === ok.body.id), 2000), 'the stream works before the revoke');
    if (s.svc.store.kind === 'sqlite') {
      // What `lapse token revoke` does: its own connection to the store, beside the server's.
      const other = new SqliteStore(join(s.dir, STORE_FILE));
      try {
        assert.equal(await other.revokeToken(record.id, Date.now()), true);
      } finally {
        await other.close();
      }
    } else {
      assert.equal(await s.svc.store.revokeToken(record.id, Date.now()), true);
    }
    const revokedAt = Date.now();
    assert.ok(await waitFor(() => st.isEnded(), 3000), 'the stream ended');
    const tookMs = Date.now() - revokedAt;
    assert.ok(tookMs < 3000, `ended ${tookMs} ms after the revoke`);
    const seen = st.events.length;
    assert.equal((await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' })).status, 201);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(st.events.length, seen, 'nothing more reached it');
  });

  test('a reload that removes an admin stops their stream from receiving other users\' events', async () => {
    const carol = await stream(s.tokens.carol);
    const first = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.ok(await waitFor(() => carol.events.some((e) => e.data?.requestId === first.body.id), 2000), 'carol, an admin, sees alice\'s request');
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8').replace('admins: [carol]', 'admins: [erin]'));
    assert.equal((await s.as('carol', 'POST', '/api/v1/admin/config/reload')).status, 200);
    const second = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.equal(second.status, 201);
    // Whatever reaches alice's stream would have reached carol's: wait for it there first.
    const alice = await stream(s.tokens.alice);
    const third = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '30m' });
    assert.ok(await waitFor(() => alice.events.some((e) => e.data?.requestId === third.body.id), 2000));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(!carol.events.some((e) => e.data?.requestId === second.body.id || e.data?.requestId === third.body.id), 'carol no longer sees alice\'s requests');
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8'));
    assert.equal((await s.as('erin', 'POST', '/api/v1/admin/config/reload')).status, 200);
  });
});

describe('durations and instants are bounded before anything is written', () => {
  let s: TestServer;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
    const configPath = join(dir, 'lapse.yaml');
    // demo-auto with no upper bound: the flow lets any finite duration through.
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8').replace('maxDuration: 8h', 'maxDuration: indefinite'));
    s = await startTestServer({ configPath, dir });
  });
  after(async () => { await s.svc.stop(); rmSync(s.dir, { recursive: true, force: true }); });

  test('extend by 14290000w: 422 at the field, nothing committed, and every list still answers', async () => {
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '1h' });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, 'active');
    const id = created.body.id as string;
    const auditBefore = (await s.as('carol', 'GET', `/api/v1/audit?requestId=${id}`)).body.events.length;
    for (const duration of ['14290000w', '99999999999999999999w', '3651d', '600000h']) {
      const res = await s.as('alice', 'POST', `/api/v1/requests/${id}/extend`, { duration });
      assertProblem(res, 422, 'duration', /at most|too long/);
    }
    const after = await s.as('alice', 'GET', `/api/v1/requests/${id}`);
    assert.equal(after.status, 200);
    assert.equal(after.body.expiresAt, created.body.expiresAt, 'the expiry did not move');
    assert.equal(after.body.extensions ?? 0, 0);
    assert.equal((await s.as('carol', 'GET', `/api/v1/audit?requestId=${id}`)).body.events.length, auditBefore, 'no audit event of a refused call');
    for (const [user, path] of [['alice', '/api/v1/requests'], ['carol', '/api/v1/requests'], ['carol', '/api/v1/reports/activity.csv']] as const) {
      assert.equal((await s.as(user, 'GET', path)).status, 200, path);
    }
    // A long but representable extension still works.
    assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${id}/extend`, { duration: '52w' })).status, 200);
  });

  test('a new request for longer than the bound, or starting at the end of time, is refused at its field', async () => {
    assertProblem(await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '14290000w' }), 422, 'duration');
    assertProblem(await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], startAt: '+275760-09-13T00:00:00.000Z' }), 400, 'startAt');
    assertProblem(await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], startAt: '9999-12-31T23:59:59.999Z' }), 422, 'startAt', /90 days/);
    assertProblem(await s.as('carol', 'GET', '/api/v1/audit?since=%2B275760-09-13T00:00:01.000Z'), 400, 'querystring since');
    assertProblem(await s.as('carol', 'GET', '/api/v1/audit?afterSeq=99999999999999999999999'), 400, 'querystring afterSeq');
    assertProblem(await s.as('alice', 'GET', '/api/v1/requests?limit=99999999999'), 400, 'querystring limit');
  });

  test('one unrepresentable row does not break a list: the others and that row are shown', async () => {
    const a = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '1h' });
    const b = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], duration: '1h' });
    const r = (await s.svc.store.getRequest(b.body.id))!;
    // A row as an older version could have written it: an instant past what a date can hold.
    await s.svc.store.commit({ updateRequests: [{ id: r.id, expectVersion: r.version, set: { expiresAt: 9e15 } }] });
    const mine = await s.as('alice', 'GET', '/api/v1/requests');
    assert.equal(mine.status, 200, mine.text);
    const bad = mine.body.requests.find((x: { id: string }) => x.id === b.body.id);
    assert.ok(bad, 'the row is listed');
    assert.equal(bad.expiresAt, null, 'an instant a date cannot hold is shown as unknown');
    assert.ok(mine.body.requests.some((x: { id: string }) => x.id === a.body.id));
    assert.equal((await s.as('alice', 'GET', `/api/v1/requests/${b.body.id}`)).status, 200);
    assert.equal((await s.as('carol', 'GET', '/api/v1/reports/activity.csv')).status, 200);
    assert.equal((await s.as('carol', 'GET', '/api/v1/requests')).status, 200);
  });
});

describe('MFA codes over the API', () => {
  test('after 5 wrong codes the next try is 429 with retry-after, even with the right code; each refusal is in the audit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
    const configPath = join(dir, 'lapse.yaml');
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8')
      .replace('attributes: { team: payments } }', 'attributes: { team: payments }, mfa: { totpSecretEnv: ALICE_TOTP } }')
      .replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true }'));
    const secret = 'JBSWY3DPEHPK3PXP';
    const s = await startTestServer({ configPath, dir, env: { ALICE_TOTP: secret } });
    try {
      const right = totpAt(base32Decode(secret), Math.floor(Date.now() / 30_000));
      const wrong = right === '000000' ? '111111' : '000000';
      for (let i = 0; i < 5; i++) {
        assertProblem(await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: wrong }), 422, 'mfaCode', /not valid/);
      }
      const locked = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [appRead], mfaCode: right });
      assertProblem(locked, 429, 'mfaCode', /too many wrong MFA codes/);
      const retry = Number(locked.headers.get('retry-after'));
      assert.ok(retry > 14 * 60 && retry <= 15 * 60, `retry-after ${retry}`);
      const audit = await s.as('carol', 'GET', '/api/v1/audit?actor=alice');
      assert.deepEqual(audit.body.events.map((e: { action: string }) => e.action), ['mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.failed', 'mfa.refused']);
    } finally {
      await s.svc.stop();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});

describe('the failed-authentication limiter', () => {
  test('after 10 bad tokens from one address a valid token still works; bad ones get 429; preflights do not count', async () => {
    const s = await startTestServer();
    try {
      for (let i = 0; i < 25; i++) {
        const pre = await call(s.svc.url, 'OPTIONS', '/api/v1/requests', undefined, undefined, { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
        assert.notEqual(pre.status, 429);
      }
      assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess00_${'x'.repeat(40)}`), 401, undefined, /not valid/);
      for (let i = 1; i < 10; i++) assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess${String(i).padStart(2, '0')}_${'x'.repeat(40)}`), 401);
      const limited = await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess10_${'x'.repeat(40)}`);
      assertProblem(limited, 429, undefined, /too many failed/);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);
      const valid = await s.as('alice', 'GET', '/api/v1/me');
      assert.equal(valid.status, 200, 'a valid token is never refused because others failed');
      assert.equal((await s.as('bob', 'GET', '/api/v1/catalog')).status, 200);
      // Without trustProxy, X-Forwarded-For is not believed: a guesser cannot dodge the limit with it.
      assertProblem(await call(s.svc.url, 'GET', '/api/v1/me', `lapse_guessguess11_${'x'.repeat(40)}`, undefined, { headers: { 'x-forwarded-for': '203.0.113.99' } }), 429);
    } finally {
      await s.svc.stop();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });

  test('with settings.trustProxy naming the proxy, clients behind it are counted apart by X-Forwarded-For', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
    const configPath = join(dir, 'lapse.yaml');
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8').replace('admins: [carol]', 'admins: [carol]\n  trustProxy: [127.0.0.1/8, "::1"]'));
    const s = await startTestServer({ configPath, dir });
    try {
      const as = (ip: string, token: string) => call(s.svc.url, 'GET', '/api/v1/me', token, undefined, { headers: { 'x-forwarded-for': ip } });
      for (let i = 0; i < 10; i++) assertProblem(await as('203.0.113.7', `lapse_guessguess${String(i).padStart(2, '0')}_${'x'.repeat(40)}`), 401);
      assertProblem(await as('203.0.113.7', `lapse_guessguess10_${'x'.repeat(40)}`), 429);
      assertProblem(await as('198.51.100.20', `lapse_guessguess10_${'x'.repeat(40)}`), 401, undefined, /not valid/);
      assert.equal((await as('203.0.113.7', s.tokens.alice)).status, 200);
    } finally {
      await s.svc.stop();
      rmSync(s.dir, { recursive: true, force: true });
    }
  });
});
