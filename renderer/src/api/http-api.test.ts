// The portal's LapseApi over HTTP against a real server: typed errors with the field at
// fault, the calls the views make, and the events stream with its connection state through
// a server restart.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { startService, type Service } from '../../../backend/src/service.ts';
import { silentLogger } from '../../../backend/src/logger.ts';
import { EXAMPLE, startTestServer, usersWrite, appRead, type TestServer } from '../../../backend/src/api/api-test-support.ts';
import { createHttpApi, parseSseBlock, TOKEN_KEY, type TokenStorage } from './http-api.ts';
import { ApiError, type LapseApi, type StreamMessage } from '../../../common/lapse-api.ts';

class MemoryStorage implements TokenStorage {
  readonly map = new Map<string, string>();
  getItem(k: string) { return this.map.get(k) ?? null; }
  setItem(k: string, v: string) { this.map.set(k, v); }
  removeItem(k: string) { this.map.delete(k); }
}

let server: TestServer;
let svc: Service;
const apis = {} as Record<'alice' | 'bob', LapseApi>;
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
