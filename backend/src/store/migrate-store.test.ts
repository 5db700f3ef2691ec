// Moving an embedded SQLite store to PostgreSQL loses nothing: requests in every state,
// grants, jobs, the audit chain and its head, favorites, tokens (as hashes), meta, sessions,
// sign-in attempts, provisioned users and the inventory read back the same through the Store interface,
// and the copy refuses a target in use.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authenticate, createToken, hashToken } from '../auth/tokens.ts';
import { main } from '../cli/main.ts';
import { createHarness, ent, HOUR, MINUTE, T0, type Harness } from '../engine/test-support.ts';
import { PostgresStore } from './postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY, TEST_SECRET_KEY } from './postgres-test-support.ts';
import { migrateStore } from './migrate-store.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { ProvisionedUser, SignInAttempt, Store } from './store.ts';
import { verifyAuditChain } from '../audit/verify.ts';

const appRead = ent('database', 'app', 'read');
const usersWrite = ent('table', 'app/users', 'write');

/** Everything a store holds, read through the Store interface. */
async function snapshot(store: Store, tokens: string[]) {
  const requests = await store.listRequests({});
  const ids = requests.map((r) => r.id);
  const audit = [];
  for await (const page of store.iterateAudit(3)) audit.push(...page);
  return {
    requests,
    grants: [...(await store.getGrantsOf(ids)).entries()],
    jobs: await Promise.all(ids.map((id) => store.jobsOfRequest(id))),
    awaiting: await Promise.all(['bob', 'erin'].map((u) => store.listAwaitingDecisionBy(u))),
    covered: [...(await store.coveredByOthers('alice', 'none', ['demo\u0000database\u0000app\u0000read']))],
    counts: await store.countByStatus(),
    audit,
    head: await store.auditHead(),
    favorites: await store.listFavorites('alice'),
    // Tokens made in the same millisecond have no defined order: compared by id.
    tokens: (await store.listTokens()).sort((a, b) => a.id.localeCompare(b.id)),
    authenticated: await Promise.all(tokens.map(async (t) => (await authenticate(store, t))?.id ?? null)),
    meta: await store.getMeta('admin-token-created'),
    nextDue: await store.nextDueAt(),
    sessions: await Promise.all(['session-live', 'session-revoked'].map((id) => store.findSession(id))),
    liveSessions: await store.listSessionsOf('alice', T0),
    provisioned: await store.listProvisionedUsers(),
    bySubject: await store.findProvisionedUserBySubject('https://idp.example.com', '00u-dana'),
    renewals: await Promise.all(['u-dana', 'u-gone'].map((id) => store.findRenewal(id))),
    inventory: await store.inventoryOf('pg'),
    discovery: await store.discoveryStates(),
  };
}

/** A sign-in attempt under way when the store is copied (taken once, so checked after the copy). */
const ATTEMPT: SignInAttempt = { state: 'st-copied', nonce: 'n', codeVerifier: 'v', returnTo: '/requests', createdAt: T0, expiresAt: T0 + 10 * MINUTE, maxAgeSeconds: 240 };

/** When the copied service token stops working: a month from the real now (tokens are checked against the real clock here). */
const SERVICE_EXPIRES_AT = Date.now() + 30 * 24 * HOUR;

/** A harness on SQLite with requests in several states, a favorite, tokens, meta, sessions, a sign-in attempt and provisioned users. */
async function populated(): Promise<{ h: Harness; tokens: string[] }> {
  const h = await createHarness({ store: 'sqlite' });
  await h.engine.createRequest('alice', { flowId: 'auto', entitlements: [appRead] }); // active
  const pending = await h.engine.createRequest('dave', { flowId: 'approval', entitlements: [usersWrite], justification: 'look at the users table' });
  const denied = await h.engine.createRequest('alice', { flowId: 'approval', entitlements: [usersWrite], justification: 'rotate the keys' });
  await h.engine.deny('erin', denied.id, 'not now');
  await h.engine.createRequest('dave', { flowId: 'auto', entitlements: [appRead], startAt: T0 + 2 * HOUR }); // scheduled
  const expiring = await h.engine.createRequest('dave', { flowId: 'auto', entitlements: [appRead], duration: '30m' });
  await h.advance(31 * MINUTE); // expired
  assert.equal((await h.store.getRequest(expiring.id))!.status, 'expired');
  assert.equal((await h.store.getRequest(pending.id))!.status, 'pending');
  await h.engine.saveFavorite('alice', { name: 'app read', flowId: 'auto', entitlements: [appRead] });
  const a = await createToken(h.store, 'alice', 'laptop');
  const b = await createToken(h.store, 'carol', 'revoked one');
  await h.store.revokeToken(b.record.id, T0);
  // A service token with an expiry: its kind and expiry are copied with it.
  const service = `lapse_svc000000001_${'s'.repeat(43)}`;
  await h.store.insertToken({ id: 'svc000000001', userId: 'ci', name: 'deploys', createdAt: T0, revokedAt: null, lastUsedAt: null, expiresAt: SERVICE_EXPIRES_AT, kind: 'service' }, hashToken(service));
  await h.store.setMeta('admin-token-created', '2026-11-23T10:00:00.000Z');
  const session = {
    userId: 'alice', createdAt: T0, lastSeenAt: T0 + MINUTE, expiresAt: T0 + 8 * HOUR, idleTimeoutMs: 30 * MINUTE, csrfHash: 'c', idToken: 'eyJ.e30.sig', revokedAt: null, revokedReason: null,
    authentication: { at: T0 - MINUTE, acr: 'phr', amr: ['pwd', 'otp'] },
  };
  await h.store.insertSession({ id: 'session-live', ...session });
  await h.store.insertSession({ id: 'session-revoked', ...session, userId: 'carol', idToken: null });
  await h.store.revokeSession('session-revoked', T0 + MINUTE, 'sign-out');
  await h.store.saveSignInAttempt(ATTEMPT);
  const provisioned: ProvisionedUser = {
    id: 'u-dana', issuer: 'https://idp.example.com', subject: '00u-dana', email: 'dana@example.com', name: 'Dana "DJ" Ó\'Brien', groups: ['eng', 'ß'],
    manager: 'erin', attributes: { city: 'Zürich — 東京', quote: '"\'' }, createdAt: T0, updatedAt: T0, lastSignInAt: T0, disabledAt: null,
  };
  await h.store.saveProvisionedUser(provisioned);
  await h.store.saveProvisionedUser({ ...provisioned, id: 'u-gone', subject: '00u-gone', name: null, groups: [], manager: null, attributes: {}, disabledAt: T0 + HOUR });
  await h.store.saveRenewal('u-dana', { refreshToken: 'rt "dana"', renewAt: T0 + 15 * MINUTE, error: null });
  await h.store.saveRenewal('u-gone', { refreshToken: null, renewAt: null, error: 'the identity provider refused the renewal: invalid_grant' });
  // An inventory a discovery wrote, with the state of that discovery.
  assert.equal(await h.store.claimDiscovery('pg', 'r1', T0, T0 + MINUTE, T0 + 5 * MINUTE, false), true);
  assert.equal(await h.store.writeInventory('pg', 'r1', [
    { type: 'database', path: 'app', name: 'app', parent: null, tags: {}, origin: 'discovered' },
    { type: 'table', path: 'app/public/it\'s "x"', name: 'it\'s "x"', parent: 'app/public', tags: { owner: 'pay ments', pii: 'true' }, origin: 'declared' },
  ], T0, T0 + MINUTE), true);
  assert.equal(await h.store.finishDiscovery('pg', 'r1', { at: T0 + 1, error: null, seenAt: T0, count: 2, changed: true }), true);
  return { h, tokens: [a.token, b.token, service] };
}

test('everything is copied and reads back the same; the chain verifies and a token still authenticates', async () => {
  const { h, tokens } = await populated();
  const target = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  try {
    const before = await snapshot(h.store, tokens);
    assert.ok(before.audit.length >= 10 && before.requests.length === 5 && before.jobs.flat().length > 0, `a meaningful source: ${before.audit.length} events, ${before.requests.length} requests, ${before.jobs.flat().length} jobs`);
    const report = await migrateStore(h.store as SqliteStore, target, TEST_AUDIT_KEY);
    assert.equal(report.auditEvents, before.audit.length);
    assert.equal(report.copied.requests, 5);
    assert.deepEqual([report.copied.sessions, report.copied.sign_in_attempts, report.copied.provisioned_users], [2, 1, 2]);
    assert.deepEqual([report.copied.inventory, report.copied.discovery], [2, 1]);
    assert.deepEqual(before.tokens.map((t) => [t.id, t.kind, t.expiresAt]).find(([id]) => id === 'svc000000001'), ['svc000000001', 'service', SERVICE_EXPIRES_AT]);
    const afterCopy = await snapshot(target, tokens);
    assert.deepEqual(afterCopy, before);
    assert.equal(afterCopy.authenticated[0], before.tokens.find((t) => t.userId === 'alice')!.id, 'the token authenticates');
    assert.equal(afterCopy.authenticated[1], null, 'the revoked one stays revoked');
    assert.equal(afterCopy.authenticated[2], 'svc000000001', 'the service token authenticates until its expiry');
    assert.equal(before.sessions.filter(Boolean).length + before.provisioned.length, 4, 'sessions and provisioned users were there to copy');
    assert.deepEqual(await target.takeSignInAttempt(ATTEMPT.state, T0 + MINUTE), ATTEMPT, 'the attempt under way is taken on the target');
    assert.deepEqual(await verifyAuditChain(target, TEST_AUDIT_KEY), { ok: true, checked: before.audit.length, problems: [], checkpoint: null });
    // The chain goes on from the copied head.
    await target.appendAudit([{ at: T0, actor: 'system', action: 'store.migrated', requestId: null, data: {} }]);
    assert.equal((await verifyAuditChain(target, TEST_AUDIT_KEY)).ok, true);

    // A second copy into the same (now non-empty) target is refused, and changes nothing.
    await assert.rejects(migrateStore(h.store as SqliteStore, target, TEST_AUDIT_KEY), /not empty \(requests has 5 rows\)/);
    assert.equal((await target.listRequests({})).length, 5);
  } finally {
    await target.close();
    await h.close();
  }
});

test('lapse migrate-store copies a store file and says what it copied; bad arguments are named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-migrate-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'lapse.db');
  const source = new SqliteStore(path, { auditKey: TEST_AUDIT_KEY });
  await source.migrate();
  const { token } = await createToken(source, 'carol', 'admin');
  await source.appendAudit([{ at: T0, actor: 'cli', action: 'token.created', requestId: null, data: { n: 1 } }]);
  // The events the source's chain holds (creating the token may have audited it too).
  const events = (await source.auditHead())!.seq;
  await source.close();
  // The source server's key, as its data directory holds it (the chain is verified with it).
  writeFileSync(join(dir, 'secret.key'), `${TEST_SECRET_KEY}\n`, { mode: 0o600 });
  const url = await freshTestStoreUrl();
  const out: string[] = [];
  assert.equal(await main(['migrate-store', '--from', `sqlite:${path}`, '--to', url], (s) => out.push(s)), 0);
  assert.match(out.join('\n'), /tokens 1, meta 0/);
  assert.match(out.join('\n'), new RegExp(`audit chain ok on the target: ${events} events verified`));
  const target = new PostgresStore(url, { auditKey: TEST_AUDIT_KEY });
  try {
    assert.equal((await authenticate(target, token))?.userId, 'carol');
  } finally {
    await target.close();
  }
  await assert.rejects(main(['migrate-store', '--from', path, '--to', url], () => undefined), /--from must be sqlite:PATH/);
  await assert.rejects(main(['migrate-store', '--from', `sqlite:${join(dir, 'nope.db')}`, '--to', url], () => undefined), /no such file/);
  await assert.rejects(main(['migrate-store', '--from', `sqlite:${path}`, '--to', url], () => undefined), /not empty/);
});
