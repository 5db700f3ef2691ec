// Sessions, sign-in attempts and provisioned users on both stores: the same checks on SQLite
// and PostgreSQL, and on PostgreSQL an attempt taken by two replicas at once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.ts';
import { PostgresStore } from './postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import { ConflictError, type ProvisionedUser, type SessionRecord, type SignInAttempt, type Store } from './store.ts';

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const session = (id: string, userId: string, fields: Partial<SessionRecord> = {}): SessionRecord => ({
  id, userId, createdAt: T0, lastSeenAt: T0, expiresAt: T0 + 8 * HOUR, idleTimeoutMs: 30 * MINUTE,
  csrfHash: `csrf-${id}`, idToken: null, revokedAt: null, revokedReason: null, authentication: null, ...fields,
});

const attempt = (state: string, fields: Partial<SignInAttempt> = {}): SignInAttempt => ({
  state, nonce: `nonce-${state}`, codeVerifier: `verifier-${state}`, returnTo: '/requests?tab=mine', createdAt: T0, expiresAt: T0 + 10 * MINUTE, maxAgeSeconds: null, ...fields,
});

const user = (id: string, fields: Partial<ProvisionedUser> = {}): ProvisionedUser => ({
  id, issuer: 'https://idp.example.com', subject: `sub-${id}`, email: `${id}@example.com`, name: null, groups: [], manager: null,
  attributes: {}, createdAt: T0, updatedAt: T0, lastSignInAt: T0, disabledAt: null, ...fields,
});

async function sessions(s: Store): Promise<void> {
  const full = session('s1', 'alice', { idToken: 'eyJhbGciOiJSUzI1NiJ9.e30.sig', lastSeenAt: T0 + MINUTE, authentication: { at: T0 - MINUTE, acr: 'urn:"phr"', amr: ['pwd', 'mfa'] } });
  await s.insertSession(full);
  await s.insertSession(session('s2', 'alice', { createdAt: T0 + 1 }));
  assert.deepEqual(await s.findSession('s1'), full);
  assert.equal(await s.findSession('nope'), null);
  await assert.rejects(s.insertSession(session('s1', 'bob')), 'a session id is unique');

  // A use moves lastSeenAt forward, never back.
  await s.touchSession('s1', T0 + 5 * MINUTE);
  assert.equal((await s.findSession('s1'))!.lastSeenAt, T0 + 5 * MINUTE);
  await s.touchSession('s1', T0 + 2 * MINUTE);
  assert.equal((await s.findSession('s1'))!.lastSeenAt, T0 + 5 * MINUTE);
  await s.touchSession('nope', T0);

  // Revoked once: a second revoke (or one of an unknown session) is false and changes nothing.
  assert.equal(await s.revokeSession('s2', T0 + HOUR, 'sign-out'), true);
  assert.equal(await s.revokeSession('s2', T0 + 2 * HOUR, 'user removed'), false);
  assert.equal(await s.revokeSession('nope', T0, 'sign-out'), false);
  assert.deepEqual(await s.findSession('s2'), session('s2', 'alice', { createdAt: T0 + 1, revokedAt: T0 + HOUR, revokedReason: 'sign-out' }));

  // Live: neither revoked nor past expiresAt (which itself is the end).
  await s.insertSession(session('s3', 'alice', { createdAt: T0 + 2, expiresAt: T0 + 2 * HOUR }));
  await s.insertSession(session('s4', 'alice', { createdAt: T0 + 3 }));
  await s.insertSession(session('b1', 'bob'));
  assert.deepEqual((await s.listSessionsOf('alice', T0 + HOUR)).map((x) => x.id), ['s1', 's3', 's4']);
  assert.deepEqual((await s.listSessionsOf('alice', T0 + 2 * HOUR)).map((x) => x.id), ['s1', 's4']);
  assert.deepEqual(await s.listSessionsOf('carol', T0), []);

  // Only that user's live sessions are revoked: not the expired s3, not s2 again, not bob's.
  assert.equal(await s.revokeSessionsOf('alice', T0 + 3 * HOUR, 'user removed'), 2);
  assert.deepEqual(await s.listSessionsOf('alice', T0 + 3 * HOUR), []);
  assert.deepEqual(await s.findSession('s4'), session('s4', 'alice', { createdAt: T0 + 3, revokedAt: T0 + 3 * HOUR, revokedReason: 'user removed' }));
  assert.equal((await s.findSession('s2'))!.revokedReason, 'sign-out');
  assert.equal((await s.findSession('s3'))!.revokedAt, null);
  assert.deepEqual((await s.listSessionsOf('bob', T0 + 3 * HOUR)).map((x) => x.id), ['b1']);
  assert.equal(await s.revokeSessionsOf('alice', T0 + 4 * HOUR, 'user removed'), 0);

  // Pruned: the sessions that ended (revoked or expired) before the given time.
  await s.insertSession(session('b2', 'bob', { expiresAt: T0 + 10 * HOUR }));
  assert.equal(await s.revokeSession('b2', T0 + 9 * HOUR, 'sign-out'), true);
  assert.equal(await s.pruneSessions(T0 + 2 * HOUR), 1); // s2 (revoked at T0 + 1h); s3 ends at T0 + 2h exactly
  assert.equal(await s.findSession('s2'), null);
  assert.equal(await s.pruneSessions(T0 + 8 * HOUR + 1), 4); // s1 and s4 (revoked at T0 + 3h), s3 and b1 (expired)
  assert.equal(await s.findSession('b1'), null);
  assert.notEqual(await s.findSession('b2'), null, 'revoked at T0 + 9h: not yet');
  assert.equal(await s.pruneSessions(T0 + 9 * HOUR + 1), 1);
  assert.equal(await s.findSession('b2'), null);
}

async function signInAttempts(s: Store): Promise<void> {
  const a = attempt('st-1', { returnTo: '/requests/r1?x="ü"', maxAgeSeconds: 240 });
  await s.saveSignInAttempt(a);
  await assert.rejects(s.saveSignInAttempt(attempt('st-1')), 'a state is unique');
  // Taken once: the second take (a replayed callback) finds nothing.
  assert.deepEqual(await s.takeSignInAttempt('st-1', T0 + MINUTE), a);
  assert.equal(await s.takeSignInAttempt('st-1', T0 + MINUTE), null);
  assert.equal(await s.takeSignInAttempt('unknown', T0), null);

  // An expired one is refused, and gone: not even a take with an earlier clock finds it.
  await s.saveSignInAttempt(attempt('st-2'));
  assert.equal(await s.takeSignInAttempt('st-2', T0 + 10 * MINUTE), null);
  assert.equal(await s.takeSignInAttempt('st-2', T0), null);

  // Attempts abandoned long ago are removed when a new one is saved; live ones stay.
  await s.saveSignInAttempt(attempt('old', { expiresAt: T0 + MINUTE }));
  await s.saveSignInAttempt(attempt('live', { expiresAt: T0 + HOUR }));
  await s.saveSignInAttempt(attempt('new', { createdAt: T0 + 2 * MINUTE, expiresAt: T0 + 12 * MINUTE }));
  assert.equal(await s.takeSignInAttempt('old', T0), null);
  assert.equal((await s.takeSignInAttempt('live', T0 + 3 * MINUTE))?.state, 'live');
  assert.equal((await s.takeSignInAttempt('new', T0 + 3 * MINUTE))?.state, 'new');
}

async function provisionedUsers(s: Store): Promise<void> {
  const dana = user('u-dana', {
    subject: '00u1abcd', email: 'dana@example.com', name: 'Dana "DJ" Ó\'Brien 🚀', groups: ['eng', 'on-call', 'groupe "ß"'],
    manager: 'u-erin', attributes: { department: 'R&D "core"', 'cost-center': '4711', city: 'Zürich — 東京', quote: '\'"\\' },
    createdAt: T0 + 1, updatedAt: T0 + 1, lastSignInAt: T0 + 1,
  });
  const erin = user('u-erin', { subject: '00u9', createdAt: T0 });
  await s.saveProvisionedUser(dana);
  await s.saveProvisionedUser(erin);
  assert.deepEqual(await s.findProvisionedUser('u-dana'), dana);
  assert.equal(await s.findProvisionedUser('nope'), null);
  assert.deepEqual(await s.findProvisionedUserBySubject('https://idp.example.com', '00u1abcd'), dana);
  assert.equal(await s.findProvisionedUserBySubject('https://other.example.com', '00u1abcd'), null);
  assert.deepEqual(await s.listProvisionedUsers(), [erin, dana]);

  // Saved again under its id: replaced whole.
  const changed: ProvisionedUser = { ...dana, email: 'dana.j@example.com', name: null, groups: [], manager: null, attributes: { level: '5' }, updatedAt: T0 + HOUR, lastSignInAt: T0 + HOUR, disabledAt: T0 + 2 * HOUR };
  await s.saveProvisionedUser(changed);
  assert.deepEqual(await s.findProvisionedUser('u-dana'), changed);
  assert.deepEqual(await s.listProvisionedUsers(), [erin, changed]);

  // Another id for the same person at the same provider is refused, and writes nothing.
  await assert.rejects(s.saveProvisionedUser(user('u-dana-2', { subject: '00u1abcd' })), ConflictError);
  assert.equal(await s.findProvisionedUser('u-dana-2'), null);
  assert.deepEqual(await s.findProvisionedUserBySubject('https://idp.example.com', '00u1abcd'), changed);
  // The same subject at another provider is another person.
  const other = user('u-other', { issuer: 'https://other.example.com', subject: '00u1abcd', createdAt: T0 + 2 });
  await s.saveProvisionedUser(other);
  assert.deepEqual(await s.findProvisionedUserBySubject('https://other.example.com', '00u1abcd'), other);
  assert.equal((await s.listProvisionedUsers()).length, 3);
}

async function renewals(s: Store): Promise<void> {
  for (const id of ['r-ann', 'r-ben', 'r-cat', 'r-dan']) await s.saveProvisionedUser(user(id));
  await s.saveRenewal('r-ann', { refreshToken: 'rt-ann "quoted"', renewAt: T0, error: null });
  await s.saveRenewal('r-ben', { refreshToken: 'rt-ben', renewAt: T0 + HOUR, error: null });
  await s.saveRenewal('r-cat', { refreshToken: null, renewAt: null, error: null });
  await s.saveRenewal('r-dan', { refreshToken: 'rt-dan', renewAt: T0, error: null });
  await s.saveProvisionedUser(user('r-dan', { disabledAt: T0 }));
  // Due, with a refresh token, not disabled: only ann; taken once until the lease ends.
  assert.deepEqual(await s.claimDueRenewals(T0 + MINUTE, 2 * MINUTE, 10), [{ userId: 'r-ann', refreshToken: 'rt-ann "quoted"' }]);
  assert.deepEqual(await s.claimDueRenewals(T0 + 2 * MINUTE, 2 * MINUTE, 10), []);
  assert.deepEqual((await s.claimDueRenewals(T0 + 3 * MINUTE + 1, 2 * MINUTE, 10)).map((r) => r.userId), ['r-ann'], 'the lease ended: taken again');
  assert.deepEqual((await s.claimDueRenewals(T0 + 2 * HOUR, MINUTE, 1)).map((r) => r.userId), ['r-ann'], 'at most the limit, the most overdue first');
  assert.deepEqual((await s.claimDueRenewals(T0 + 2 * HOUR, MINUTE, 10)).map((r) => r.userId), ['r-ben']);
  // Saving the provisioned user again keeps what renews them.
  await s.saveProvisionedUser(user('r-ben', { groups: ['new'] }));
  assert.deepEqual((await s.claimDueRenewals(T0 + 3 * HOUR, MINUTE, 10)).map((r) => r.userId).sort(), ['r-ann', 'r-ben']);
}

const checks: [string, (s: Store) => Promise<void>][] = [
  ['renewals are claimed when due, once per lease, only with a refresh token and not disabled', renewals],
  ['sessions round-trip, are touched forward only, revoked once, listed while live and pruned once ended', sessions],
  ['sign-in attempts are taken once, and never once expired', signInAttempts],
  ['provisioned users round-trip, are replaced by id and found by subject; (issuer, subject) is unique', provisionedUsers],
];

for (const [name, check] of checks) {
  test(`SQLite: ${name}`, async () => {
    const s = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
    await s.migrate();
    try {
      await check(s);
    } finally {
      await s.close();
    }
  });

  test(`PostgreSQL: ${name}`, async () => {
    const s = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
    try {
      await s.migrate();
      await check(s);
    } finally {
      await s.close();
    }
  });
}

test('PostgreSQL: two replicas taking the same sign-in attempt at once: exactly one gets it', async () => {
  const url = await freshTestStoreUrl();
  const replicas = [new PostgresStore(url, { auditKey: TEST_AUDIT_KEY }), new PostgresStore(url, { auditKey: TEST_AUDIT_KEY })];
  try {
    await replicas[0]!.migrate();
    const states = Array.from({ length: 50 }, (_, i) => `race-${i}`);
    for (const state of states) await replicas[0]!.saveSignInAttempt(attempt(state));
    for (const state of states) {
      const taken = await Promise.all(replicas.map((r) => r.takeSignInAttempt(state, T0 + MINUTE)));
      assert.equal(taken.filter((t) => t !== null).length, 1, `${state}: ${JSON.stringify(taken)}`);
      assert.deepEqual(taken.find((t) => t !== null), attempt(state));
    }
  } finally {
    for (const r of replicas) await r.close();
  }
});

test('PostgreSQL: two replicas claiming renewals at once: each person is renewed by one of them', async () => {
  const url = await freshTestStoreUrl();
  const a = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  const b = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  await a.migrate();
  await b.migrate();
  try {
    const ids = Array.from({ length: 40 }, (_, i) => `p-${String(i).padStart(2, '0')}`);
    for (const id of ids) {
      await a.saveProvisionedUser(user(id));
      await a.saveRenewal(id, { refreshToken: `rt-${id}`, renewAt: T0, error: null });
    }
    const batches = await Promise.all([a, b, a, b].map((s) => s.claimDueRenewals(T0 + MINUTE, MINUTE, 15)));
    const claimed = batches.flat().map((r) => r.userId);
    assert.equal(new Set(claimed).size, claimed.length, 'nobody twice');
    assert.deepEqual(claimed.sort(), ids, 'everyone once');
  } finally {
    await a.close();
    await b.close();
  }
});
