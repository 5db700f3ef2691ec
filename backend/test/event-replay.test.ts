// Replay of the events stream after a reconnect, on both stores (SQLite, and PostgreSQL in a
// fresh schema): a client that comes back with Last-Event-ID is sent, in order, exactly the
// events it missed and may see, then the live ones, none twice (also one that arrives while
// the replay is read); an id that is unknown, not the caller's to know, malformed, huge or
// older than the retention gets a `reload` event instead; an admin who lost the role is
// replayed nothing of others'; the store keeps each id once and prunes what is too old.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLE, openEventStream, startTestServer, usersWrite, waitFor, type SseEvent, type SseStream, type TestServer } from '../src/api/api-test-support.ts';
import { EventBus, type LapseEvent } from '../src/engine/events.ts';
import { EventLog, MAX_EVENT_ID_LENGTH, usableEventId } from '../src/services/event-log.ts';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { freshTestStoreUrl } from '../src/store/postgres-test-support.ts';
import type { Store } from '../src/store/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-replay-'));
const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => console.error(String(err)));
  rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;

function event(id: string, at: number, audience: string[] = ['bob']): LapseEvent {
  return { id, type: 'request.created', at, requestId: id.split(':')[0]!, audience, data: { status: 'pending' } };
}

async function openStore(kind: 'sqlite' | 'postgres'): Promise<Store> {
  const store = kind === 'sqlite' ? new SqliteStore(':memory:') : new PostgresStore(await freshTestStoreUrl());
  await store.migrate();
  cleanup.push(() => store.close());
  return store;
}

async function stream(s: TestServer, user: 'alice' | 'bob' | 'carol' | 'dave', opts: { lastEventId?: string; query?: string } = {}): Promise<SseStream> {
  const st = await openEventStream(s.svc.url, s.tokens[user], { headers: opts.lastEventId === undefined ? {} : { 'last-event-id': opts.lastEventId }, query: opts.query });
  assert.equal(st.status, 200);
  cleanup.push(async () => st.close());
  return st;
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  if (!(await waitFor(cond, ms))) throw new Error(`timed out waiting for ${what}`);
}

const requestEvents = (events: SseEvent[]) => events.filter((e) => e.event !== 'reload');

for (const kind of ['sqlite', 'postgres'] as const) {
  test(`${kind} store: events kept once by id, in the order given, read after a place, pruned by age`, async () => {
    const store = await openStore(kind);
    const now = Date.now();
    await store.appendEvents([event('r1:1:request.created', now - 2 * HOUR), event('r1:2:request.approved', now - HOUR)]);
    // A replica relaying the same event writes it again: it stays one, in its first place.
    await store.appendEvents([event('r1:2:request.approved', now - HOUR, ['someone-else']), event('r2:1:request.created', now)]);
    const first = await store.findEvent('r1:1:request.created');
    assert.ok(first);
    const after = await store.eventsAfter(first.seq, 10);
    assert.deepEqual(after.map((k) => k.event.id), ['r1:2:request.approved', 'r2:1:request.created']);
    assert.deepEqual(after[0]!.event.audience, ['bob'], 'the first write of an id is the one kept');
    assert.ok(after[0]!.seq < after[1]!.seq);
    assert.deepEqual((await store.eventsAfter(first.seq, 1)).map((k) => k.event.id), ['r1:2:request.approved']);
    assert.equal(await store.findEvent('nothing:1:x'), null);

    // The periodic prune, through the event log: what is older than the retention goes.
    const log = new EventLog({ store, bus: new EventBus(), now: () => now, retentionMs: () => 90 * 60_000, log: () => undefined });
    assert.equal(await log.prune(), 1);
    assert.equal(await store.findEvent('r1:1:request.created'), null);
    assert.ok(await store.findEvent('r1:2:request.approved'));
  });

  test(`${kind}: a client that reconnects with Last-Event-ID is sent what it missed, in order, then live`, { timeout: 60_000 }, async () => {
    const configPath = join(dir, `lapse-${kind}.yaml`);
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8'));
    const s = await startTestServer({ store: kind, configPath, dir: mkdtempSync(join(dir, 'data-')) });
    cleanup.push(() => s.svc.stop());

    // alice follows, sees her request made, and goes away.
    const first = await stream(s, 'alice');
    await first.connected;
    const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'incident 9' });
    assert.equal(created.status, 201, created.text);
    const id = created.body.id as string;
    await until('the creation', () => first.events.some((e) => e.event === 'request.created' && e.data.requestId === id));
    const published: LapseEvent[] = [];
    const unsubscribe = s.svc.events.subscribe((e) => published.push(e));
    const lastSeen = first.events.at(-1)!.id!;
    first.close();
    await first.ended;

    // While she is away, bob approves and the access is granted.
    const approved = await s.as('bob', 'POST', `/api/v1/requests/${id}/approve`, { reason: 'go ahead' });
    assert.equal(approved.status, 200, approved.text);
    await until('the grant', () => published.some((e) => e.type === 'request.granted' && e.requestId === id));
    unsubscribe();
    const received = new Set(first.events.map((e) => e.id));
    const missed = published.filter((e) => e.audience.includes('alice') && !received.has(e.id)).map((e) => e.id);
    assert.ok(missed.length >= 2, `approved and granted were missed: ${missed.join(', ')}`);

    const again = await stream(s, 'alice', { lastEventId: lastSeen });
    await until('the replay', () => again.events.length >= missed.length);
    assert.deepEqual(again.events.slice(0, missed.length).map((e) => e.id), missed, 'exactly the missed events, in order');
    assert.ok(!again.events.some((e) => e.event === 'reload'));
    assert.deepEqual(again.events[0]!.data, { ...again.events[0]!.data, id: missed[0], requestId: id }, 'each as the live stream sends it');

    // Then live: a change now arrives after the replay, once.
    const revoked = await s.as('alice', 'POST', `/api/v1/requests/${id}/revoke`, { reason: 'done' });
    assert.equal(revoked.status, 200, revoked.text);
    await until('the live revoke', () => again.events.some((e) => e.event === 'request.revoked' && e.data.requestId === id));
    const ids = again.events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, `no event twice: ${ids.join(', ')}`);
    assert.ok(!ids.includes(lastSeen), 'not the one the client had seen');

    // The query parameter, for clients that cannot set the header.
    const byQuery = await stream(s, 'alice', { query: `?lastEventId=${encodeURIComponent(lastSeen)}` });
    await until('the replay by query', () => byQuery.events.length >= missed.length);
    assert.deepEqual(byQuery.events.slice(0, missed.length).map((e) => e.id), missed);

    // Not the caller's to see: dave is told to reload and is sent none of alice's events.
    const dave = await stream(s, 'dave', { lastEventId: lastSeen });
    await until('dave\'s reload', () => dave.events.length >= 1);
    assert.equal(dave.events[0]!.event, 'reload');
    assert.equal(dave.events[0]!.data.type, 'reload');
    assert.equal(dave.events[0]!.id, undefined, 'a reload names no place to resume from');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(requestEvents(dave.events), []);

    // Unknown, huge and malformed ids: a reload, then live.
    for (const bad of ['nothing:1:request.created', 'x'.repeat(MAX_EVENT_ID_LENGTH + 1), 'x'.repeat(8000)]) {
      const st = await stream(s, 'alice', { lastEventId: bad });
      await until('a reload', () => st.events.length >= 1);
      assert.equal(st.events[0]!.event, 'reload', bad.slice(0, 40));
      st.close();
    }
    const controlChars = await stream(s, 'alice', { query: `?lastEventId=${encodeURIComponent(`${lastSeen}\u0000\n`)}` });
    await until('a reload', () => controlChars.events.length >= 1);
    assert.equal(controlChars.events[0]!.event, 'reload');
    assert.equal(controlChars.events[0]!.data.data.reason, 'malformed');

    // An admin is replayed everyone's events; once the role is taken away, none of others'.
    const carol = await stream(s, 'carol', { lastEventId: lastSeen });
    await until('carol\'s replay', () => carol.events.length >= missed.length);
    assert.deepEqual(carol.events.slice(0, missed.length).map((e) => e.id), missed);
    carol.close();
    writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8').replace('admins: [carol]', 'admins: []'));
    assert.equal((await s.svc.reload()).ok, true);
    const demoted = await stream(s, 'carol', { lastEventId: lastSeen });
    await until('carol\'s reload', () => demoted.events.length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(demoted.events.map((e) => e.event), ['reload']);

    // An event older than the retention (24 h by default) is no place to resume from.
    const aged = Date.now() - 25 * HOUR;
    if (s.svc.store instanceof PostgresStore) await s.svc.store.pool.query("UPDATE events SET at = $1, doc = jsonb_set(doc::jsonb, '{at}', to_jsonb($1::bigint))::text WHERE id = $2", [aged, lastSeen]);
    else (s.svc.store as SqliteStore).execRaw("UPDATE events SET at = ?, doc = json_set(doc, '$.at', ?) WHERE id = ?", aged, aged, lastSeen);
    const late = await stream(s, 'alice', { lastEventId: lastSeen });
    await until('the reload', () => late.events.length >= 1);
    assert.equal(late.events[0]!.event, 'reload');
    assert.equal(late.events[0]!.data.data.reason, 'expired');
  });
}

test('an event that arrives while the replay is read is sent once, whether the replay has it or not', { timeout: 30_000 }, async () => {
  const s = await startTestServer({ store: 'sqlite', dir: mkdtempSync(join(dir, 'data-')) });
  cleanup.push(() => s.svc.stop());
  const at = Date.now();
  s.svc.events.publish(event('seam:1:request.created', at));
  s.svc.events.publish(event('seam:2:request.approved', at));
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(await s.svc.store.findEvent('seam:2:request.approved'), 'kept by the event log');

  // While the replay reads the store, two events arrive: one written before the read (so the
  // replay has it too), one after (only the live side has it).
  const store = s.svc.store;
  const original = store.eventsAfter.bind(store);
  let calls = 0;
  store.eventsAfter = async (seq, limit) => {
    if (calls++ === 0) {
      s.svc.events.publish(event('seam:3:request.granted', at));
      await new Promise((r) => setTimeout(r, 100));
      const page = await original(seq, limit);
      s.svc.events.publish(event('seam:4:request.revoked', at));
      return page;
    }
    return original(seq, limit);
  };
  try {
    const st = await stream(s, 'bob', { lastEventId: 'seam:1:request.created' });
    await until('the replay and the live events', () => st.events.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(st.events.map((e) => e.id), ['seam:2:request.approved', 'seam:3:request.granted', 'seam:4:request.revoked']);
  } finally {
    store.eventsAfter = original;
  }
});

test('a Last-Event-ID is used as given, trimmed, unless empty, too long or with control characters', () => {
  assert.equal(usableEventId(' r1:2:request.approved '), 'r1:2:request.approved');
  assert.equal(usableEventId(undefined), null);
  assert.equal(usableEventId('   '), null);
  assert.equal(usableEventId('a'.repeat(MAX_EVENT_ID_LENGTH)), 'a'.repeat(MAX_EVENT_ID_LENGTH));
  assert.equal(usableEventId('a'.repeat(MAX_EVENT_ID_LENGTH + 1)), null);
  assert.equal(usableEventId('r1:2\u0000'), null);
  assert.equal(usableEventId('r1:2\u007f'), null);
});
