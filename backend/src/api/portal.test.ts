// The web portal's file serving over real HTTP: exact names from one directory only (no
// traversal, no symbolic links out of it, no dot files), content types, cache headers and
// the Content-Security-Policy on every answer.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerPortal } from './portal.ts';
import { startTestServer, type TestServer } from './api-test-support.ts';

let root: string;
let dir: string;
let app: FastifyInstance;
let url: string;
let server: TestServer;

const INDEX = '<!doctype html><html><head><title>t</title><script type="module" src="app-ABCDEFGH.js"></script></head><body></body></html>';

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'lapse-portal-'));
  dir = join(root, 'dist');
  mkdirSync(dir);
  writeFileSync(join(dir, 'index.html'), INDEX);
  writeFileSync(join(dir, 'app-ABCDEFGH.js'), 'console.log(1)');
  writeFileSync(join(dir, 'app-ABCDEFGH.css'), 'body{}');
  writeFileSync(join(dir, 'notes.txt'), 'plain');
  writeFileSync(join(dir, '.env'), 'SECRET=1');
  writeFileSync(join(dir, 'server.key'), 'KEY');
  writeFileSync(join(root, 'secret.txt'), 'outside');
  symlinkSync(join(root, 'secret.txt'), join(dir, 'link.txt'));
  mkdirSync(join(dir, 'sub.txt'));
  app = Fastify();
  registerPortal(app, { dir });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  server = await startTestServer();
});
after(async () => {
  await app.close();
  await server.svc.stop();
  for (const d of [root, server.dir]) rmSync(d, { recursive: true, force: true });
});

/** A GET with the path sent exactly as written (fetch would normalise `..`). */
function rawGet(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function assertCsp(headers: Record<string, string | string[] | undefined>): void {
  const csp = String(headers['content-security-policy']);
  for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) {
    assert.ok(csp.includes(d), `CSP has ${d}: ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(headers['x-content-type-options'], 'nosniff');
  assert.equal(headers['x-frame-options'], 'DENY');
}

describe('portal files', () => {
  test('/ is index.html: HTML, never cached, a fresh style nonce per answer named in the CSP and the page', async () => {
    const a = await rawGet(url, '/');
    const b = await rawGet(url, '/');
    assert.equal(a.status, 200);
    assert.equal(a.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(a.headers['cache-control'], 'no-store');
    assertCsp(a.headers);
    const nonce = /<meta property="csp-nonce" content="([A-Za-z0-9+/=]+)">/.exec(a.body)?.[1];
    assert.ok(nonce, a.body);
    assert.ok(String(a.headers['content-security-policy']).includes(`style-src 'self' 'nonce-${nonce}'`));
    assert.notEqual(nonce, /content="([^"]+)"/.exec(b.body)?.[1], 'a new nonce each time');
    assert.ok(a.body.includes('src="app-ABCDEFGH.js"'));
  });

  test('hashed assets: their content type, cached for good, revalidated by ETag', async () => {
    const js = await rawGet(url, '/app-ABCDEFGH.js');
    assert.equal(js.status, 200);
    assert.equal(js.body, 'console.log(1)');
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
    assertCsp(js.headers);
    assert.match(String(js.headers['content-security-policy']), /style-src 'self'(;|$)/, 'no nonce outside index.html');
    const css = await rawGet(url, '/app-ABCDEFGH.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const again = await rawGet(url, '/app-ABCDEFGH.js', { 'if-none-match': String(js.headers.etag) });
    assert.equal(again.status, 304);
    assert.equal(again.body, '');
    const plain = await rawGet(url, '/notes.txt');
    assert.equal(plain.headers['cache-control'], 'no-cache', 'a name without a content hash is revalidated');
  });

  test('nothing else from the file system: traversal, encoded separators, dot files, unknown types, links, directories', async () => {
    for (const path of [
      '/../secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/..%5csecret.txt', '/%2e%2e/secret.txt',
      '/dist/index.html', '//etc/passwd', '/.env', '/%2eenv', '/server.key', '/link.txt', '/sub.txt', '/app-ABCDEFGH.js%00.css',
      '/index.html/', '/missing.js',
    ]) {
      const res = await rawGet(url, path);
      assert.ok(res.status === 404 || res.status === 400, `${path} → ${res.status}`);
      assert.ok(!res.body.includes('outside') && !res.body.includes('SECRET') && !res.body.includes('KEY'), `${path} leaked: ${res.body}`);
    }
    const ok = await rawGet(url, '/notes.txt');
    assert.equal(ok.status, 200, 'a listed file of a known type is served');
  });
});

describe('portal not built', () => {
  test('/ says how to build it (503), other names are 404, both with the CSP', async () => {
    const bare = Fastify();
    registerPortal(bare, { dir: join(root, 'no-such-dir') });
    const base = await bare.listen({ port: 0, host: '127.0.0.1' });
    try {
      const home = await rawGet(base, '/');
      assert.equal(home.status, 503);
      assert.match(home.body, /not built.*npm run build:renderer/s);
      assertCsp(home.headers);
      assert.equal((await rawGet(base, '/app-ABCDEFGH.js')).status, 404);
    } finally {
      await bare.close();
    }
  });
});

describe('portal in the API server', () => {
  test('the real server serves the built renderer at / beside the API, health and metrics', async () => {
    // The default directory is renderer/dist; whether it is built here or not, `/` answers
    // with the CSP, and the API keeps its own answers.
    const home = await rawGet(server.svc.url, '/');
    assert.ok(home.status === 200 || home.status === 503, String(home.status));
    assertCsp(home.headers);
    if (home.status === 503) assert.match(home.body, /npm run build:renderer/);
    assert.equal((await rawGet(server.svc.url, '/healthz')).status, 200);
    const api = await rawGet(server.svc.url, '/api/v1/me');
    assert.equal(api.status, 401, 'the API is not shadowed by the portal');
    // Authentication belongs to the route that runs: a path that reaches no route is a plain
    // 404 (the routes are public in the OpenAPI document anyway), and runs nothing.
    const unknown = await rawGet(server.svc.url, '/api/v1/nope');
    assert.equal(unknown.status, 404);
    const other = await rawGet(server.svc.url, '/no-such-file.js');
    assert.equal(other.status, 404);
    assertCsp(other.headers);
  });
});
