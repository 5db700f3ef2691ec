// The figures /metrics reads from the store, on both stores: jobs due, overdue and the
// oldest unclaimed, and revokes that keep failing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobId, type JobRecord } from '../domain/request.ts';
import { SqliteStore } from './sqlite-store.ts';
import { PostgresStore } from './postgres-store.ts';
import { createTestDatabase, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import type { Store } from './store.ts';

const job = (requestId: string, kind: JobRecord['kind'], dueAt: number, fields: Partial<JobRecord> = {}): JobRecord => ({
  id: jobId(kind, requestId, kind === 'grant' || kind === 'revoke' ? 'db' : ''), kind, requestId,
  integration: kind === 'grant' || kind === 'revoke' ? 'db' : null, warningOffsetsMs: kind === 'expire' ? [] : null,
  dueAt, attempts: 0, lastError: null, leaseOwner: null, leaseUntil: null, ...fields,
});

async function backlogFigures(s: Store): Promise<void> {
  assert.deepEqual(await s.jobBacklog(10_000, 1_000), { due: 0, overdue: 0, oldestDueAt: null });
  assert.equal(await s.countFailingRevokes(), 0);
  await s.commit({
    insertJobs: [
      job('r1', 'expire', 5_000), // overdue (due 5 s before now, grace 1 s)
      job('r2', 'revoke', 9_500, { attempts: 3, lastError: 'target down' }), // due, within the grace; failing
      job('r3', 'revoke', 20_000, { attempts: 1, lastError: 'timeout' }), // failing, backing off: not due
      job('r4', 'grant', 30_000), // not due
    ],
  });
  assert.deepEqual(await s.jobBacklog(10_000, 1_000), { due: 2, overdue: 1, oldestDueAt: 5_000 });
  assert.equal(await s.countFailingRevokes(), 2);
  // A claimed job still counts as due, but the oldest unclaimed is the next one.
  const claimed = await s.claimDueJobs(10_000, 'me', 60_000, 1);
  assert.deepEqual(claimed.map((j) => j.requestId), ['r1']);
  assert.deepEqual(await s.jobBacklog(10_000, 1_000), { due: 2, overdue: 1, oldestDueAt: 9_500 });
}

test('SQLite: jobs due, overdue and the oldest unclaimed; failing revokes', async () => {
  const s = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  await s.migrate();
  try {
    await backlogFigures(s);
  } finally {
    await s.close();
  }
});

test('PostgreSQL: the same figures', async () => {
  const db = await createTestDatabase();
  const s = new PostgresStore(db.url, { auditKey: TEST_AUDIT_KEY });
  try {
    await s.migrate();
    await backlogFigures(s);
  } finally {
    await s.close();
    await db.drop();
  }
});
