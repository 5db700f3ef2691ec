// The webhook integration against a real local HTTP server: the receiver verifies the
// signature the way the README tells receivers to, access details come back to the
// requester, and a failing receiver (non-2xx, silence) leaves a revoke `revoking`, retried
// with backoff until the receiver accepts it.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebhookIntegration, verifyWebhookSignature, webhookSignature, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './webhook.ts';
import type { GrantInput } from './integration.ts';
import { createHarness, flow, selector, resource } from '../engine/test-support.ts';
import type { Integration } from './integration.ts';

const SECRET = 'whsec-0123456789-abcdef';

interface Received {
  headers: IncomingMessage['headers'];
  raw: string;
  body: Record<string, unknown>;
  verified: boolean;
}

/** A receiver whose answer the test sets per call. */
const received: Received[] = [];
let answer: (req: Received, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    const r: Received = {
      headers: req.headers, raw, body: JSON.parse(raw) as Record<string, unknown>,
      verified: verifyWebhookSignature(SECRET, String(req.headers[TIMESTAMP_HEADER]), raw, String(req.headers[SIGNATURE_HEADER])),
    };
    received.push(r);
    answer(r, res);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as { port: number }).port;
const url = `http://127.0.0.1:${port}/hooks/lapse?token=query-secret`;
after(() => {
  server.closeAllConnections();
  server.close();
});

const hook = new WebhookIntegration('hook', { url, secret: SECRET, timeoutMs: 10_000 });
/** The same receiver with a short timeout, for the test of silence. */
const impatient = new WebhookIntegration('hook', { url, secret: SECRET, timeoutMs: 300 });
const input: GrantInput = {
  requestId: 'req-1', user: { id: 'alice', email: 'alice@example.com' },
  entitlements: [{ integration: 'hook', resourceType: 'service', resource: 'billing', permission: 'use' }], expiresAt: Date.UTC(2026, 0, 1, 10),
};

test('a grant is a signed POST; the answer carries access details (string values only)', async () => {
  received.length = 0;
  answer = (_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accessDetails: { user: 'alice-tmp', token: 't-123', ttl: 3600 } }));
  const result = await hook.grant(input);
  assert.deepEqual(result.accessDetails, { user: 'alice-tmp', token: 't-123' });
  const r = received[0]!;
  assert.equal(r.verified, true);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers['idempotency-key'], 'grant:req-1');
  assert.deepEqual(r.body, {
    action: 'grant', integration: 'hook', requestId: 'req-1', user: { id: 'alice', email: 'alice@example.com' },
    entitlements: input.entitlements, expiresAt: '2026-01-01T10:00:00.000Z',
  });
  assert.ok(!r.raw.includes(SECRET));
  // The scheme, recomputed by hand: HMAC-SHA256 over "<timestamp>.<body>".
  assert.equal(r.headers[SIGNATURE_HEADER], webhookSignature(SECRET, String(r.headers[TIMESTAMP_HEADER]), r.raw));
  // A receiver refuses a tampered body, another key, or a stale timestamp.
  const ts = String(r.headers[TIMESTAMP_HEADER]);
  const sig = String(r.headers[SIGNATURE_HEADER]);
  assert.equal(verifyWebhookSignature(SECRET, ts, r.raw.replace('alice', 'mallory'), sig), false);
  assert.equal(verifyWebhookSignature('another-key', ts, r.raw, sig), false);
  assert.equal(verifyWebhookSignature(SECRET, ts, r.raw, sig, Number(ts) * 1000 + 10 * 60_000), false);

  answer = (_r, res) => res.writeHead(204).end();
  await hook.revoke({ requestId: 'req-1', user: input.user, entitlements: input.entitlements, stillCovered: [] });
  assert.equal(received[1]!.body.action, 'revoke');
  assert.deepEqual(received[1]!.body.stillCovered, []);
  assert.equal(received[1]!.verified, true);
});

test('non-2xx and timeouts are failures with a clear error that shows neither the key nor the query string', async () => {
  answer = (_r, res) => res.writeHead(503).end(`busy, key was ${SECRET}`);
  await assert.rejects(hook.grant(input), (err: Error) => {
    assert.match(err.message, new RegExp(`^webhook grant POST http://127\\.0\\.0\\.1:${port}/hooks/lapse failed: HTTP 503: busy, key was \\[redacted\\]$`));
    return true;
  });
  answer = () => undefined; // never answers
  await assert.rejects(impatient.revoke({ ...input, stillCovered: [] }), /webhook revoke POST .* failed: no answer within 300 ms/);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise((resolve) => closed.close(resolve));
  const down = new WebhookIntegration('down', { url: `http://127.0.0.1:${closedPort}/x`, secret: SECRET });
  await assert.rejects(down.grant(input), /failed: ECONNREFUSED/);
  const health = await down.health();
  assert.deepEqual(health, { ok: false, checkedAt: health.checkedAt, error: `webhook http://127.0.0.1:${closedPort}/x: cannot connect (ECONNREFUSED)` });
  assert.equal((await hook.health()).ok, true);
});

/** 8 consecutive characters of the secret in any shape a receiver may echo it in. */
function fragmentsOf(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const shapes = [secret, bytes.toString('base64'), bytes.toString('base64url'), bytes.toString('hex'), bytes.toString('hex').toUpperCase(), encodeURIComponent(secret)];
  return shapes.flatMap((shape) => Array.from({ length: shape.length - 7 }, (_, i) => shape.slice(i, i + 8)));
}

/** A receiver's error page echoing the signing key in every shape, split across lines too. */
function leakyBody(secret: string): string {
  const b = Buffer.from(secret);
  return [
    '<html><body><h1>500 Internal Server Error</h1><pre>',
    `key=${secret}`, `base64=${b.toString('base64')}`, `base64url=${b.toString('base64url')}`,
    `hex=${b.toString('hex')} HEX=${b.toString('hex').toUpperCase()}`, `query=?k=${encodeURIComponent(secret)}`,
    `wrapped=${secret.slice(0, 10)}`, `${secret.slice(10)}`,
    `json={"key":${JSON.stringify(secret)}}`,
    '</pre>upstream said: signature check crashed</body></html>',
  ].join('\n');
}

/** An engine whose `hook` integration is the webhook under test, requested through the `hooked` flow. */
function hookHarness() {
  return createHarness({
    overrides: {
      extraIntegrations: [{ id: 'hook', type: 'webhook', name: 'Hook', connection: {}, resourceTypes: { service: { permissions: ['use'] } }, resources: [resource('service', 'billing')] }],
      extraFlows: [flow('hooked', { targets: [{ selector: selector('hook', 'service', ['use']) }] })],
    },
    engine: { integrations: new Map<string, Integration>([['hook', hook]]) },
  });
}

test('a receiver answering 500 with the key in other shapes (encoded, split across lines): the error, and the grant\'s lastError, hold none of it', async () => {
  answer = (_r, res) => res.writeHead(500, { 'content-type': 'text/html' }).end(leakyBody(SECRET));
  const check = (message: string) => {
    for (const piece of fragmentsOf(SECRET)) assert.ok(!message.includes(piece), `"${piece}" of the key reached the error: ${message}`);
    assert.ok(!message.includes('\n'), 'one line');
    const body = message.slice(message.indexOf('HTTP 500: ') + 'HTTP 500: '.length);
    assert.ok(body.length <= 300, `bounded: ${body.length}`);
  };
  await assert.rejects(hook.grant(input), (err: Error) => {
    check(err.message);
    assert.match(err.message, /^webhook grant POST http:\/\/127\.0\.0\.1:\d+\/hooks\/lapse failed: HTTP 500: .*\[redacted\].*upstream said: signature check crashed<\/body><\/html>$/);
    return true;
  });
  // A body of megabytes: its end, redacted and bounded.
  answer = (_r, res) => res.writeHead(502).end('z'.repeat(4_000_000) + leakyBody(SECRET));
  await assert.rejects(hook.revoke({ ...input, stillCovered: [] }), (err: Error) => {
    assert.match(err.message, /HTTP 502: …/);
    for (const piece of fragmentsOf(SECRET)) assert.ok(!err.message.includes(piece));
    assert.ok(err.message.length < 400);
    return true;
  });

  // Through the engine: what the grant records as its lastError.
  const h = await hookHarness();
  try {
    answer = (_r, res) => res.writeHead(500).end(leakyBody(SECRET));
    const r = await h.engine.createRequest('alice', { flowId: 'hooked', entitlements: [input.entitlements[0]!] });
    await h.advance(0);
    await h.advance(5000);
    const [grant] = await h.store.getGrants(r.id);
    assert.match(grant!.lastError!, /HTTP 500: .*\[redacted\]/);
    check(grant!.lastError!);
  } finally {
    await h.close();
  }
});

test('engine: a revoke the receiver refuses stays revoking with its error, is retried with backoff, and completes once accepted', async () => {
  const h = await hookHarness();
  try {
    answer = (_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"accessDetails":{"login":"alice-billing"}}');
    const r = await h.engine.createRequest('alice', { flowId: 'hooked', entitlements: [input.entitlements[0]!] });
    await h.advance(0);
    let [grant] = await h.store.getGrants(r.id);
    assert.equal(grant!.status, 'active');

    received.length = 0;
    answer = (_r, res) => res.writeHead(500).end('down for maintenance');
    await h.engine.revoke('alice', r.id, 'done');
    await h.advance(0);
    [grant] = await h.store.getGrants(r.id);
    assert.equal((await h.store.getRequest(r.id))!.status, 'revoking');
    assert.equal(grant!.status, 'revoking');
    assert.match(grant!.lastError!, /HTTP 500: down for maintenance/);
    await h.advance(1300);
    [grant] = await h.store.getGrants(r.id);
    assert.equal(grant!.attempts, 2);
    assert.equal(received.length, 2, 'retried once after the first backoff');

    answer = (_r, res) => res.writeHead(200).end();
    await h.advance(3000);
    assert.equal((await h.store.getRequest(r.id))!.status, 'revoked');
    assert.ok(received.every((x) => x.verified && x.body.action === 'revoke' && x.headers['idempotency-key'] === `revoke:${r.id}`));
  } finally {
    await h.close();
  }
});

