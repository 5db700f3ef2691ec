// The notification outbox on both stores: rows written with a change set once per key,
// claimed when due and not leased (one claimer each, on PostgreSQL across replicas), finished
// only by their claimer, retried when failed, pruned once delivered long ago, channels left
// out of a claim on request; and each person's choice of email.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.ts';
import { PostgresStore } from './postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import type { Store } from './store.ts';
import { outboxKey, type OutboxInput } from '../domain/notifications.ts';

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;

const row = (n: number, over: Partial<OutboxInput> = {}): OutboxInput => {
  const eventId = `r${n}:1:request.active:request.granted`;
  return {
    key: outboxKey(eventId, 'alice', 'email'), eventId, channel: 'email', recipient: 'alice', address: 'alice@example.com', requestId: `r${n}`, createdAt: T0 + n,
    message: { event: 'request.granted', eventId, at: T0 + n, role: 'requester', request: null, detail: { note: `"quoted" ü ${n}` }, link: null }, ...over,
  };
};

async function outbox(s: Store): Promise<void> {
  await s.commit({ outbox: [row(1), row(2), row(3)] });
  await s.commit({ outbox: [row(1)] }); // the same key again: kept once
  assert.deepEqual(await s.outboxCounts(), { pending: 3, delivered: 0, failed: 0 });
  const claimed = await s.claimOutbox('a', T0 + 10, MINUTE, 2);
  assert.deepEqual(claimed.map((o) => [o.requestId, o.attempts, o.leaseOwner]), [['r1', 1, 'a'], ['r2', 1, 'a']]);
  assert.deepEqual(claimed[0]!.message.detail, { note: '"quoted" ü 1' });
  assert.deepEqual((await s.claimOutbox('b', T0 + 10, MINUTE, 10)).map((o) => o.requestId), ['r3'], 'leased rows are not taken again');
  assert.equal(await s.finishOutbox(claimed[0]!.key, 'b', { delivered: true, at: T0 + 20 }), false, 'only its claimer finishes it');
  assert.equal(await s.finishOutbox(claimed[0]!.key, 'a', { delivered: true, at: T0 + 20 }), true);
  assert.equal(await s.finishOutbox(claimed[1]!.key, 'a', { delivered: false, at: T0 + 20, error: 'HTTP 503', retryAt: T0 + 5 * MINUTE }), true);
  assert.deepEqual(await s.claimOutbox('a', T0 + MINUTE, MINUTE, 10), [], 'r2 waits for its retry; r3 is leased');
  const again = await s.claimOutbox('a', T0 + 6 * MINUTE, MINUTE, 10);
  // Oldest due first: r3 (its lease lapsed) was due at T0 + 3, r2 at its retry.
  assert.deepEqual(again.map((o) => [o.requestId, o.attempts, o.lastError]), [['r3', 2, null], ['r2', 2, 'HTTP 503']], 'r3\'s lease lapsed: taken again');
  assert.equal(await s.finishOutbox(again[1]!.key, 'a', { delivered: false, at: T0 + 6 * MINUTE, error: 'HTTP 503 again', retryAt: null }), true);
  assert.deepEqual(await s.outboxCounts(), { pending: 1, delivered: 1, failed: 1 });
  const failed = await s.listOutbox({ status: 'failed', limit: 10 });
  assert.deepEqual(failed.map((o) => [o.requestId, o.lastError]), [['r2', 'HTTP 503 again']]);
  assert.equal(await s.retryOutbox(again[0]!.key, T0), false, 'only a failed one is retried');
  assert.equal(await s.retryOutbox(failed[0]!.key, T0 + 7 * MINUTE), true);
  assert.deepEqual((await s.claimOutbox('c', T0 + 7 * MINUTE, MINUTE, 10)).map((o) => [o.requestId, o.attempts]), [['r2', 1]], 'attempts counted afresh');
  assert.equal(await s.pruneOutbox(T0 + 20), 0, 'delivered at T0 + 20: not before it');
  assert.equal(await s.pruneOutbox(T0 + 21), 1);
  assert.equal((await s.listOutbox({ limit: 10 })).length, 2);

  assert.deepEqual(await s.listNotificationOptOuts(), { email: [], chat: [] });
  await s.setNotificationPreference('alice', { email: false }, T0);
  await s.setNotificationPreference('bob "b"', { email: false, chat: false }, T0);
  await s.setNotificationPreference('carol', { chat: false }, T0);
  await s.setNotificationPreference('alice', { email: true }, T0 + 1);
  assert.deepEqual(await s.listNotificationOptOuts(), { email: ['bob "b"'], chat: ['bob "b"', 'carol'] }, 'a channel not named keeps its choice (on by default)');
  await s.setNotificationPreference('bob "b"', { chat: true }, T0 + 2);
  assert.deepEqual(await s.listNotificationOptOuts(), { email: ['bob "b"'], chat: ['carol'] }, 'turning chat on leaves email off');

  // Channels the deliverer has enough of in hand are left out of a claim (names with quotes included).
  const odd = `webhook:it's "odd"`;
  await s.commit({ outbox: [row(10, { channel: odd, key: 'k-odd-10' }), row(11, { key: 'k-email-11' }), row(12, { channel: 'chat:prod', key: 'k-chat-12' })] });
  const mine = (rows: { key: string }[]) => rows.map((o) => o.key).filter((k) => k.startsWith('k-'));
  assert.deepEqual(mine(await s.claimOutbox('d', T0 + 8 * MINUTE, MINUTE, 10, [odd, 'chat:prod'])), ['k-email-11']);
  assert.deepEqual(mine(await s.claimOutbox('d', T0 + 8 * MINUTE, MINUTE, 10, [])), ['k-odd-10', 'k-chat-12'], 'then the others');
}

test('SQLite: the outbox and email choices', async () => {
  const s = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  await s.migrate();
  try {
    await outbox(s);
  } finally {
    await s.close();
  }
});

test('PostgreSQL: the outbox and email choices', async () => {
  const s = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  try {
    await s.migrate();
    await outbox(s);
  } finally {
    await s.close();
  }
});

test('PostgreSQL: two replicas claiming at once take each notification once', async () => {
  const url = await freshTestStoreUrl();
  const a = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  const b = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  await a.migrate();
  await b.migrate();
  try {
    await a.commit({ outbox: Array.from({ length: 60 }, (_, i) => row(i)) });
    const batches = await Promise.all([a, b, a, b].map((s, i) => s.claimOutbox(`owner-${i}`, T0 + 100, MINUTE, 20)));
    const keys = batches.flat().map((o) => o.key);
    assert.equal(keys.length, 60);
    assert.equal(new Set(keys).size, 60, 'nobody twice');
  } finally {
    await a.close();
    await b.close();
  }
});
