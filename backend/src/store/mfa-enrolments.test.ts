// TOTP self-enrolments on both stores: the same checks on SQLite and PostgreSQL; on
// PostgreSQL, two replicas confirming or replacing the same enrolment at once; and an
// embedded store's enrolments copied to PostgreSQL by migrate-store as they are.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.ts';
import { PostgresStore } from './postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import { migrateStore } from './migrate-store.ts';
import type { MfaEnrolment, Store } from './store.ts';

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;

const pending = (userId: string, secret: string, createdAt = T0): MfaEnrolment => ({ userId, secret, state: 'pending', createdAt, confirmedAt: null });

async function lifecycle(s: Store): Promise<void> {
  assert.equal(await s.getMfaEnrolment('alice'), null);

  // Started: pending. Started again: the pending one is replaced (a new secret, a new time).
  assert.equal(await s.startMfaEnrolment('alice', 'sealed-1', T0), true);
  assert.deepEqual(await s.getMfaEnrolment('alice'), pending('alice', 'sealed-1'));
  assert.equal(await s.startMfaEnrolment('alice', 'sealed-2', T0 + MINUTE), true);
  assert.deepEqual(await s.getMfaEnrolment('alice'), pending('alice', 'sealed-2', T0 + MINUTE));

  // Confirmed only with the secret it now holds: the replaced one's confirmation writes nothing.
  assert.equal(await s.confirmMfaEnrolment('alice', 'sealed-1', T0 + 2 * MINUTE), false);
  assert.equal((await s.getMfaEnrolment('alice'))!.state, 'pending');
  assert.equal(await s.confirmMfaEnrolment('alice', 'sealed-2', T0 + 2 * MINUTE), true);
  const confirmed: MfaEnrolment = { userId: 'alice', secret: 'sealed-2', state: 'confirmed', createdAt: T0 + MINUTE, confirmedAt: T0 + 2 * MINUTE };
  assert.deepEqual(await s.getMfaEnrolment('alice'), confirmed);
  // Once: confirming again changes nothing (its time stays).
  assert.equal(await s.confirmMfaEnrolment('alice', 'sealed-2', T0 + 3 * MINUTE), false);
  assert.deepEqual(await s.getMfaEnrolment('alice'), confirmed);

  // A confirmed enrolment is never replaced by a start.
  assert.equal(await s.startMfaEnrolment('alice', 'sealed-3', T0 + 4 * MINUTE), false);
  assert.deepEqual(await s.getMfaEnrolment('alice'), confirmed);

  // Other users' enrolments are their own.
  assert.equal(await s.startMfaEnrolment('bob', 'sealed-b', T0), true);
  assert.equal(await s.confirmMfaEnrolment('bob', 'sealed-2', T0), false);
  assert.equal((await s.getMfaEnrolment('bob'))!.state, 'pending');

  // Deleted in a given state only when it is in that state; the one removed is returned.
  assert.equal(await s.deleteMfaEnrolment('alice', 'pending'), null);
  assert.deepEqual(await s.getMfaEnrolment('alice'), confirmed);
  assert.deepEqual(await s.deleteMfaEnrolment('alice', 'confirmed'), confirmed);
  assert.equal(await s.getMfaEnrolment('alice'), null);
  assert.equal(await s.deleteMfaEnrolment('alice'), null);
  assert.deepEqual(await s.deleteMfaEnrolment('bob'), pending('bob', 'sealed-b'));

  // After a reset a user may enrol again.
  assert.equal(await s.startMfaEnrolment('alice', 'sealed-4', T0 + 5 * MINUTE), true);
  assert.deepEqual(await s.getMfaEnrolment('alice'), pending('alice', 'sealed-4', T0 + 5 * MINUTE));

  // Ids and secrets are kept exactly, quotes and all.
  const odd = 'o\'brien "x"; DROP TABLE mfa_enrolments;--';
  assert.equal(await s.startMfaEnrolment(odd, 'v1:AAAA+/==', T0), true);
  assert.deepEqual(await s.getMfaEnrolment(odd), pending(odd, 'v1:AAAA+/=='));
}

for (const [kind, open] of [
  ['SQLite', async () => new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY })],
  ['PostgreSQL', async () => new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY })],
] as const) {
  test(`${kind}: an enrolment is started (replacing a pending one), confirmed once with the secret it holds, never replaced once confirmed, and deleted`, async () => {
    const s = await open();
    try {
      await s.migrate();
      await lifecycle(s);
    } finally {
      await s.close();
    }
  });
}

test('PostgreSQL: two replicas confirming, or one confirming while the other starts anew: one outcome, never both', async () => {
  const url = await freshTestStoreUrl();
  const replicas = [new PostgresStore(url, { auditKey: TEST_AUDIT_KEY }), new PostgresStore(url, { auditKey: TEST_AUDIT_KEY })] as const;
  try {
    await replicas[0].migrate();
    for (let i = 0; i < 30; i++) {
      const user = `race-${i}`;
      assert.equal(await replicas[0].startMfaEnrolment(user, `first-${i}`, T0), true);
      const confirms = await Promise.all(replicas.map((r) => r.confirmMfaEnrolment(user, `first-${i}`, T0 + MINUTE)));
      assert.equal(confirms.filter(Boolean).length, 1, `${user}: ${JSON.stringify(confirms)}`);

      const other = `race-start-${i}`;
      assert.equal(await replicas[0].startMfaEnrolment(other, `old-${i}`, T0), true);
      const [confirmed, restarted] = await Promise.all([replicas[0].confirmMfaEnrolment(other, `old-${i}`, T0 + MINUTE), replicas[1].startMfaEnrolment(other, `new-${i}`, T0 + MINUTE)]);
      const stored = (await replicas[1].getMfaEnrolment(other))!;
      // Either the old secret was confirmed first (and the start was refused), or the start
      // replaced it first (and the old secret's confirmation found nothing to confirm).
      if (confirmed) assert.deepEqual([restarted, stored.state, stored.secret], [false, 'confirmed', `old-${i}`]);
      else assert.deepEqual([restarted, stored.state, stored.secret], [true, 'pending', `new-${i}`]);
    }
  } finally {
    for (const r of replicas) await r.close();
  }
});

test('migrate-store copies enrolments, pending and confirmed, with their secrets as stored', async () => {
  const from = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  const to = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  try {
    await from.migrate();
    await from.startMfaEnrolment('alice', 'v1:sealed-alice', T0);
    await from.confirmMfaEnrolment('alice', 'v1:sealed-alice', T0 + MINUTE);
    await from.startMfaEnrolment('bob', 'v1:sealed-bob', T0 + 2 * MINUTE);
    const report = await migrateStore(from, to, TEST_AUDIT_KEY);
    assert.equal(report.copied.mfa_enrolments, 2);
    for (const user of ['alice', 'bob']) assert.deepEqual(await to.getMfaEnrolment(user), await from.getMfaEnrolment(user));
    assert.equal((await to.getMfaEnrolment('alice'))!.state, 'confirmed');
    // Copied as it was: still confirmed, so no start replaces it there either.
    assert.equal(await to.startMfaEnrolment('alice', 'v1:other', T0 + 60 * MINUTE), false);
  } finally {
    await from.close();
    await to.close();
  }
});
