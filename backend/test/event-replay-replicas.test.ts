// Replay across replicas: two `lapse server` processes on one PostgreSQL database (a fresh
// one, dropped afterwards). A client of replica B sees an event, goes away; meanwhile a
// request is made and approved on replica A; the client comes back to replica B with its
// Last-Event-ID and is sent exactly what it missed, in order; coming back to replica A with
// the id of an event replica B sent it works the same. Each event is kept once.
// Runs the built backend: `npm run build:backend` first.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToken } from '../src/auth/tokens.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY } from '../src/store/postgres-test-support.ts';
import { openEventStream, type SseStream } from '../src/api/api-test-support.ts';
import { api, killAll, replicaConfig, sleep, startReplica, waitFor } from './replica-support.ts';

const cleanup: (() => Promise<void>)[] = [];
after(async () => {
  await killAll();
  for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => console.error(String(err)));
});

interface RequestView { id: string; status: string }

async function open(base: string, token: string, lastEventId?: string): Promise<SseStream> {
  const stream = await openEventStream(base, token, { headers: lastEventId ? { 'last-event-id': lastEventId } : {} });
  assert.equal(stream.status, 200);
  cleanup.push(async () => stream.close());
  return stream;
}

test('two replicas: an event made on one is replayed by the other to a client that reconnects', { timeout: 120_000 }, async () => {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const workDir = mkdtempSync(join(tmpdir(), 'lapse-replay-replicas-'));
  cleanup.push(async () => rmSync(workDir, { recursive: true, force: true }));
  const configPath = join(workDir, 'lapse.yaml');
  writeFileSync(configPath, replicaConfig({ users: ['u000'], databases: 2, recordFile: join(workDir, 'demo-record.db') }));
  const store = new PostgresStore(db.url, { auditKey: TEST_AUDIT_KEY });
  cleanup.push(() => store.close());
  await store.migrate();
  const token = { u000: (await createToken(store, 'u000', 'replay test')).token, bob: (await createToken(store, 'bob', 'replay test')).token };
  const [a, b] = await Promise.all([0, 1].map((i) => startReplica(configPath, join(workDir, `data-${i}`), db.url)));

  // The client of replica B sees its first request made (on A), then goes away.
  const first = await open(b!.url, token.u000);
  await first.connected;
  await sleep(200);
  const one = await api<RequestView>(a!.url, token.u000, 'POST', '/api/v1/requests', {
    flowId: 'approved-write', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db0', permission: 'write' }], justification: 'replay test',
  });
  assert.equal(one.status, 201, JSON.stringify(one.body));
  const seen = await waitFor('the event on replica B', 5000, 10, async () => first.events.find((e) => e.event === 'request.created' && e.id?.startsWith(one.body.id)));
  first.close();
  await first.ended;

  // While away: a second request made and approved on replica A.
  const two = await api<RequestView>(a!.url, token.u000, 'POST', '/api/v1/requests', {
    flowId: 'approved-write', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'db1', permission: 'write' }], justification: 'replay test',
  });
  assert.equal(two.status, 201, JSON.stringify(two.body));
  const approved = await api<RequestView>(a!.url, token.bob, 'POST', `/api/v1/requests/${two.body.id}/approve`, { reason: 'ok' });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  await waitFor('the grant', 10_000, 50, async () => ((await api<RequestView>(a!.url, token.u000, 'GET', `/api/v1/requests/${two.body.id}`)).body.status === 'active' ? true : undefined));

  // Back on replica B: what was missed, from replica A, in order.
  const back = await open(b!.url, token.u000, seen.id);
  const granted = await waitFor('the replay on replica B', 10_000, 10, async () => back.events.find((e) => e.event === 'request.granted' && e.id?.startsWith(two.body.id)));
  const replayed = back.events.slice(0, back.events.indexOf(granted) + 1);
  assert.ok(!replayed.some((e) => e.event === 'reload'), JSON.stringify(replayed));
  const types = replayed.filter((e) => e.id?.startsWith(two.body.id)).map((e) => e.event);
  assert.deepEqual(types.slice(0, 1), ['request.created']);
  assert.ok(types.indexOf('request.approved') < types.indexOf('request.granted'), types.join(', '));
  const ids = replayed.map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'no event twice');
  assert.ok(!ids.includes(seen.id), 'not the one already seen');

  // And back on replica A with the id of an event replica B sent: the same events after it.
  const created2 = replayed.find((e) => e.event === 'request.created' && e.id?.startsWith(two.body.id))!;
  const onA = await open(a!.url, token.u000, created2.id);
  await waitFor('the replay on replica A', 10_000, 10, async () => (onA.events.some((e) => e.id === granted.id) ? true : undefined));
  assert.deepEqual(onA.events.slice(0, onA.events.findIndex((e) => e.id === granted.id) + 1).map((e) => e.id), ids.slice(ids.indexOf(created2.id) + 1));

  // Each event is kept once, whichever replica wrote it first.
  const counts = (await store.pool.query('SELECT id, count(*) AS n FROM events GROUP BY id HAVING count(*) > 1')).rows;
  assert.deepEqual(counts, []);
  const kept = (await store.pool.query('SELECT id FROM events WHERE id LIKE $1 ORDER BY seq', [`${two.body.id}%`])).rows.map((r: { id: string }) => r.id);
  assert.ok(kept.length >= 3, kept.join(', '));
});
