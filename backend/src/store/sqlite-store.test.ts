import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteStore } from './sqlite-store.ts';
import { ConflictError } from './store.ts';
import type { JobRecord, RequestRecord } from '../domain/request.ts';

function request(id: string, fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id, requester: 'alice', flowId: 'f', bundleId: null, status: 'pending', entitlements: [], durationMs: 3_600_000, justification: null,
    labels: [], breakGlass: false, createdAt: 1, updatedAt: 1, startAt: null, grantedAt: null, expiresAt: null, endedAt: null, endReason: null,
    endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic', decisions: [], extensions: 0, pendingExtension: null, error: null,
    version: 1, ...fields,
  };
}

function job(id: string, dueAt: number, fields: Partial<JobRecord> = {}): JobRecord {
  return { id, kind: 'expire', requestId: 'r1', target: '', dueAt, attempts: 0, lastError: null, leaseOwner: null, leaseUntil: null, ...fields };
}

async function store(): Promise<SqliteStore> {
  const s = new SqliteStore(':memory:');
  await s.migrate();
  return s;
}

test('change sets committed together stay independent: a conflicting one is skipped whole, the others land', async () => {
  const s = await store();
  await s.commit({ insertRequests: [request('r1')] });
  const results = await Promise.allSettled([
    s.commit({ insertRequests: [request('r1')], audit: [{ at: 2, actor: 'x', action: 'dup', requestId: 'r1', data: {} }] }),
    s.commit({ updateRequests: [{ id: 'r1', expectVersion: 7, set: { status: 'canceled' } }], insertJobs: [job('j-stale', 5)] }),
    s.commit({ insertRequests: [request('r2')], audit: [{ at: 3, actor: 'x', action: 'ok', requestId: 'r2', data: {} }] }),
  ]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'fulfilled']);
  assert.ok(results.slice(0, 2).every((r) => r.status === 'rejected' && r.reason instanceof ConflictError), 'conflicts are ConflictErrors');
  assert.equal((await s.getRequest('r1'))!.status, 'pending');
  assert.deepEqual(await s.jobsOfRequest('r1'), []);
  assert.deepEqual((await s.listAudit({})).map((e) => e.action), ['ok']);
  await s.close();
});

test('an update applies only at the expected version, with or without the caller\'s copy of the record', async () => {
  const s = await store();
  const r = request('r1');
  await s.commit({ insertRequests: [r] });
  await s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, base: r, set: { status: 'granting' } }] });
  assert.deepEqual([(await s.getRequest('r1'))!.status, (await s.getRequest('r1'))!.version], ['granting', 2]);
  await assert.rejects(s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, base: r, set: { status: 'active' } }] }), ConflictError);
  await assert.rejects(s.commit({ updateRequests: [{ id: 'r1', expectVersion: 1, set: { status: 'active' } }] }), ConflictError);
  assert.equal((await s.getRequest('r1'))!.status, 'granting');
  await s.close();
});

test('due jobs are claimed once, with a lease and an attempt, and completed only by their holder', async () => {
  const s = await store();
  await s.commit({ insertRequests: [request('r1')], insertJobs: [job('a', 10), job('b', 20), job('later', 1000)] });
  const first = await s.claimDueJobs(100, 'p1', 200, 10);
  assert.deepEqual(first.map((j) => [j.id, j.leaseOwner, j.leaseUntil, j.attempts]), [['a', 'p1', 200, 1], ['b', 'p1', 200, 1]]);
  assert.deepEqual(await s.claimDueJobs(150, 'p2', 250, 10), [], 'leased jobs are not claimed again while the lease holds');
  await assert.rejects(s.commit({ deleteJobs: [{ id: 'a', owner: 'p2' }] }), ConflictError);
  const lapsed = await s.claimDueJobs(300, 'p2', 400, 10);
  assert.deepEqual(lapsed.map((j) => [j.id, j.leaseOwner, j.attempts]), [['a', 'p2', 2], ['b', 'p2', 2]], 'a lapsed lease is claimed by another holder');
  await assert.rejects(s.commit({ deleteJobs: [{ id: 'a', owner: 'p1' }] }), ConflictError, 'the old holder can no longer complete it');
  await s.commit({ deleteJobs: [{ id: 'a', owner: 'p2' }] });
  assert.equal(await s.rescheduleJob('b', 'p2', 900, 'target down'), true);
  assert.deepEqual((await s.jobsOfRequest('r1')).map((j) => [j.id, j.dueAt, j.leaseOwner, j.lastError]), [['b', 900, null, 'target down'], ['later', 1000, null, null]]);
  assert.equal(await s.nextDueAt(), 900);
  await s.close();
});
