// The events client against a real server: what arrives, the notifications it plans for
// each person, resume with Last-Event-ID (the missed events replayed, or a reload), and a
// refused token.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, usersWrite, type TestServer } from '../src/api/api-test-support.ts';
import { backoffDelay, EventStream, SseParser, type ConnectionState } from '../../common/event-stream.ts';
import { planEventNotification, type StreamEvent } from '../../common/notifications.ts';

let server: TestServer | undefined;
after(async () => server?.svc.stop());

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('SSE parsing: ids, event names, multi-line data, comments, CRLF and split chunks', () => {
  const p = new SseParser();
  assert.deepEqual(p.push('retry: 2000\n: hello\n\nid: a\nevent: x\ndata: {"a":'), []);
  assert.deepEqual(p.push('1}\r\n\r\ndata: l1\ndata: l2\n\n'), [{ id: 'a', event: 'x', data: '{"a":1}' }, { id: null, event: 'message', data: 'l1\nl2' }]);
});

test('backoff grows, is capped at about 30 s and jittered', () => {
  assert.equal(backoffDelay(0, () => 0.5), 1000);
  assert.equal(backoffDelay(3, () => 0.5), 8000);
  assert.equal(backoffDelay(20, () => 0.5), 30_000);
  assert.equal(backoffDelay(20, () => 1), 37_500);
  assert.equal(backoffDelay(20, () => 0), 22_500);
});

test('a requester and an approver each get their own notifications from the live stream', async () => {
  server = await startTestServer();
  const s = server;
  const got: Record<'alice' | 'bob', StreamEvent[]> = { alice: [], bob: [] };
  const states: ConnectionState[] = [];
  const streams = (['alice', 'bob'] as const).map((u) => new EventStream({ url: s.svc.url, token: s.tokens[u], onEvent: (e) => got[u].push(e), onState: (st) => u === 'alice' && states.push(st) }));
  try {
    await until('both streams', () => s.svc.events.size === 2);
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 42' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    await until('the approver is asked', () => got.bob.some((e) => e.type === 'approval.requested'));
    const asked = got.bob.map((e) => planEventNotification(e, 'bob')).filter((n) => n !== null);
    assert.deepEqual(asked.map((n) => [n.title, n.onClick]), [['Request waiting for your approval', { view: 'inbox', requestId: id }]]);

    const approved = await s.as('bob', 'POST', `/api/v1/requests/${id}/approve`, { reason: 'go ahead' });
    assert.equal(approved.status, 200, approved.text);
    // Only this request's events: the example's on-call flow may grant alice access of its own,
    // depending on the time of day.
    const ofRequest = () => got.alice.filter((e) => e.requestId === id);
    await until('granted', () => ofRequest().some((e) => e.type === 'request.granted'));
    const told = ofRequest().map((e) => planEventNotification(e, 'alice')).filter((n) => n !== null);
    assert.deepEqual(told.map((n) => n.title), ['Request approved', 'Access granted']);
    assert.match(told[0]!.body, /approved by bob: go ahead/);
    assert.ok(states.includes('online'));
    assert.equal(streams[0]!.lastEventId, got.alice.at(-1)!.id, 'the last id is kept for Last-Event-ID');
  } finally {
    for (const st of streams) st.close();
    await Promise.all(streams.map((st) => st.done));
  }
});

test('a refused token stops the stream with a clear reason instead of retrying', async () => {
  server ??= await startTestServer();
  const states: string[] = [];
  const stream = new EventStream({ url: server.svc.url, token: 'lapse_nottherealone_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', onEvent: () => {}, onState: (st, detail) => states.push(`${st}${detail ? `: ${detail}` : ''}`), delay: () => 10 });
  await stream.done;
  assert.deepEqual(states, ['connecting', 'offline: the server refused the token (401); set a valid one']);
});

test('an unreachable server: offline with the cause, then retries until closed', async () => {
  const states: string[] = [];
  const stream = new EventStream({ url: 'http://127.0.0.1:9', token: 't', onEvent: () => {}, onState: (st) => states.push(st), delay: () => 20 });
  await until('two attempts', () => states.filter((x) => x === 'offline').length >= 2);
  stream.close();
  await stream.done;
  assert.deepEqual(states.slice(0, 4), ['connecting', 'offline', 'connecting', 'offline']);
});

test('a reconnect sends the last event id as Last-Event-ID', async () => {
  // A bare HTTP server that ends each stream after one event, and records what the client sent.
  const { createServer } = await import('node:http');
  const seen: (string | undefined)[] = [];
  const http = createServer((req, res) => {
    seen.push(req.headers['last-event-id'] as string | undefined);
    const n = seen.length;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(`id: r1:${n}:request.granted\nevent: request.granted\ndata: ${JSON.stringify({ id: `r1:${n}:request.granted`, type: 'request.granted', at: new Date().toISOString(), requestId: 'r1', data: {} })}\n\n`);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const got: string[] = [];
  const stream = new EventStream({ url: `http://127.0.0.1:${port}`, token: 't', lastEventId: 'from-the-state-file', onEvent: (e) => got.push(e.id), delay: () => 10 });
  try {
    await until('three connections', () => seen.length >= 3);
  } finally {
    stream.close();
    await stream.done;
    http.close();
  }
  assert.deepEqual(seen.slice(0, 3), ['from-the-state-file', 'r1:1:request.granted', 'r1:2:request.granted']);
  assert.deepEqual(got.slice(0, 2), ['r1:1:request.granted', 'r1:2:request.granted']);
});

test('a client that comes back with its last id is sent what it missed; an id the server cannot replay from tells it to reload', async () => {
  server ??= await startTestServer();
  const s = server;
  const live: StreamEvent[] = [];
  const watching = new EventStream({ url: s.svc.url, token: s.tokens.alice, onEvent: (e) => live.push(e) });
  let resumeFrom: string;
  try {
    await until('the stream', () => s.svc.events.size >= 1);
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 43' });
    assert.equal(created.status, 201, created.text);
    await until('the creation', () => live.some((e) => e.type === 'request.created' && e.requestId === created.body.id));
    resumeFrom = watching.lastEventId!;
  } finally {
    watching.close();
    await watching.done;
  }
  const created = live.find((e) => e.id === resumeFrom)!;
  const approved = await s.as('bob', 'POST', `/api/v1/requests/${created.requestId}/approve`, { reason: 'fine' });
  assert.equal(approved.status, 200, approved.text);

  const replayed: StreamEvent[] = [];
  let reloads = 0;
  const back = new EventStream({ url: s.svc.url, token: s.tokens.alice, lastEventId: resumeFrom, onEvent: (e) => replayed.push(e), onReload: () => reloads++ });
  try {
    await until('the missed grant', () => replayed.some((e) => e.type === 'request.granted' && e.requestId === created.requestId));
    const ofRequest = replayed.filter((e) => e.requestId === created.requestId).map((e) => e.type);
    assert.deepEqual(ofRequest.slice(0, 2), ['request.approved', 'request.granted']);
    assert.equal(reloads, 0);
  } finally {
    back.close();
    await back.done;
  }

  const told: StreamEvent[] = [];
  const unknown = new EventStream({ url: s.svc.url, token: s.tokens.alice, lastEventId: 'gone:1:request.created', onEvent: (e) => told.push(e), onReload: () => reloads++ });
  try {
    await until('the reload', () => reloads === 1);
    assert.deepEqual(told, [], 'the reload is no event of a request');
    assert.equal(unknown.lastEventId, 'gone:1:request.created', 'kept until an event names another');
  } finally {
    unknown.close();
    await unknown.done;
  }
});

test('a reconnect with no event id to resume from tells the user to reload; one with an id does not', async () => {
  const { createServer } = await import('node:http');
  let connections = 0;
  let sendId = false;
  const http = createServer((_req, res) => {
    connections++;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sendId ? `id: r1:1:request.granted\nevent: request.granted\ndata: ${JSON.stringify({ id: 'r1:1:request.granted', type: 'request.granted', at: new Date().toISOString(), requestId: 'r1', data: {} })}\n\n` : ': nothing yet\n\n');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  let reloads = 0;
  const stream = new EventStream({ url: `http://127.0.0.1:${port}`, token: 't', onEvent: () => {}, onReload: () => reloads++, delay: () => 10 });
  try {
    await until('two connections', () => connections >= 2);
    await until('a reload', () => reloads >= 1);
    assert.ok(reloads <= connections - 1, 'a reconnect without an id, never the first connection');
    sendId = true;
    const before = reloads;
    await until('two more connections', () => connections >= before + 4);
    // The first connection after the switch sends the id; the ones after it resume from it.
    assert.ok(reloads <= before + 1, `${reloads} reloads`);
  } finally {
    stream.close();
    await stream.done;
    http.close();
  }
});
