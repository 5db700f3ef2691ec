// The request lists behind the portal's views, on both stores: filters by integration,
// resource, label and "approved by", pages after a (created_at, id) position (ties on
// created_at included) agreeing with the same list sorted here; "retry now" moving only the
// free revoke jobs of one request; and the status index used by the query (SQLite's plan).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobId, type Entitlement, type JobRecord, type RequestRecord, type RequestStatus } from '../domain/request.ts';
import { SqliteStore } from './sqlite-store.ts';
import { SqliteWriter } from './sqlite-writer.ts';
import { openSqlite, StatementCache } from './sqlite-connection.ts';
import { PostgresStore } from './postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from './postgres-test-support.ts';
import type { RequestFilter, Store } from './store.ts';
import { requestRecord } from './store-test-records.ts';

const request = (id: string, fields: Partial<RequestRecord> = {}): RequestRecord => requestRecord(id, { status: 'active', ...fields });

const ent = (integration: string, resource: string): Entitlement => ({ integration, resourceType: 'database', resource, permission: 'read' });
const STATUSES: RequestStatus[] = ['active', 'granting', 'scheduled', 'expired', 'revoking', 'revoked'];

/** 60 requests, deterministic: ties on created_at, ids out of order, labels, entitlements and decisions varied. */
function corpus(): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (let i = 0; i < 60; i++) {
    out.push(request(`r-${String((i * 37) % 100).padStart(3, '0')}-${i}`, {
      requester: ['alice', 'dave', `o'brien`][i % 3]!,
      flowId: i % 4 === 0 ? 'prod-write' : 'read',
      status: STATUSES[i % STATUSES.length]!,
      createdAt: 1000 + Math.floor(i / 3), // three requests share each instant
      labels: i % 5 === 0 ? ['prod', 'pci'] : i % 2 ? ['demo'] : [],
      entitlements: [ent(i % 2 ? 'pg' : 'demo', i % 3 ? 'app' : 'analytics'), ...(i % 7 === 0 ? [ent('redis', 'cache')] : [])],
      decisions: i % 4 === 0 ? [{ approver: i % 8 === 0 ? 'bob' : 'erin', decision: i % 12 === 0 ? 'deny' : 'approve', reason: null, at: 1, subject: 'request' }] : [],
    }));
  }
  return out;
}

/** What listRequests should answer, computed here. */
function expected(all: RequestRecord[], f: RequestFilter): string[] {
  return all
    .filter((r) => (f.statuses === undefined || f.statuses.includes(r.status))
      && (f.requester === undefined || r.requester === f.requester)
      && (f.flowId === undefined || r.flowId === f.flowId)
      && (f.integration === undefined || r.entitlements.some((e) => e.integration === f.integration))
      && (f.resource === undefined || r.entitlements.some((e) => e.resource === f.resource))
      && (f.label === undefined || r.labels.includes(f.label))
      && (f.approvedBy === undefined || r.decisions.some((d) => d.approver === f.approvedBy && d.decision === 'approve')))
    .sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
    .map((r) => r.id);
}

/** Every page of `size` after the last row of the previous one. */
async function paged(s: Store, f: RequestFilter, size: number): Promise<string[]> {
  const ids: string[] = [];
  let after: RequestFilter['after'];
  for (;;) {
    const page = await s.listRequests({ ...f, after, limit: size });
    ids.push(...page.map((r) => r.id));
    if (page.length < size) return ids;
    const last = page[page.length - 1]!;
    after = { createdAt: last.createdAt, id: last.id };
  }
}

const FILTERS: RequestFilter[] = [
  {},
  { statuses: ['scheduled', 'granting', 'active'] },
  { statuses: ['revoking'] },
  { statuses: ['scheduled', 'granting', 'active'], integration: 'pg' },
  { integration: 'redis' },
  { resource: 'analytics', label: 'demo' },
  { label: 'pci', statuses: ['active', 'expired'] },
  { approvedBy: 'bob' },
  { approvedBy: 'erin', statuses: ['scheduled', 'granting', 'active'] },
  { requester: `o'brien`, flowId: 'read' },
  { label: `'; DROP TABLE requests; --` },
  { integration: `pg"` },
];

function suite(kind: string, open: () => Promise<Store>): void {
  describe(`request pages on ${kind}`, () => {
    let s: Store;
    const all = corpus();
    after(async () => s?.close());

    test('filters and pages agree with the list sorted here, ties on created_at included', async () => {
      s = await open();
      await s.commit({ insertRequests: all });
      for (const f of FILTERS) {
        const want = expected(all, f);
        assert.deepEqual((await s.listRequests(f)).map((r) => r.id), want, JSON.stringify(f));
        for (const size of [1, 4, 7]) assert.deepEqual(await paged(s, f, size), want, `${JSON.stringify(f)} in pages of ${size}`);
      }
      assert.ok(expected(all, { approvedBy: 'bob' }).length > 0 && expected(all, { integration: 'redis' }).length > 0, 'the corpus exercises the filters');
    });

    test('retry now makes due only the free revoke jobs of that request', async () => {
      const rid = all.find((r) => r.status === 'revoking')!.id;
      const other = all.filter((r) => r.status === 'revoking')[1]!.id;
      const jobOf = (requestId: string, integration: string, fields: Partial<JobRecord> = {}): JobRecord => ({
        id: jobId('revoke', requestId, integration), kind: 'revoke', requestId, integration, warningOffsetsMs: null, dueAt: 90_000, attempts: 3, lastError: 'down', leaseOwner: null, leaseUntil: null, ...fields,
      });
      await s.commit({ insertJobs: [jobOf(rid, 'demo'), jobOf(rid, 'pg', { leaseOwner: 'replica-2', leaseUntil: 95_000 }), jobOf(other, 'demo')] });
      assert.equal(await s.retryRevokesOfRequestNow(rid, 5_000), 1);
      const due = new Map((await s.jobsOfRequest(rid)).map((j) => [j.integration, j.dueAt]));
      assert.deepEqual(Object.fromEntries(due), { demo: 5_000, pg: 90_000 });
      assert.equal((await s.jobsOfRequest(other))[0]!.dueAt, 90_000);
      assert.equal(await s.retryRevokesOfRequestNow('no-such-request', 5_000), 0);
    });
  });
}

suite('SQLite', async () => {
  const s = new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  await s.migrate();
  return s;
});
suite('PostgreSQL', async () => {
  const s = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  await s.migrate();
  return s;
});

describe('migration 15', () => {
  test('SQLite: the active-access query reads the status index, not the whole table', () => {
    // The store's own migrations, on a connection of the test's.
    const db = openSqlite(':memory:');
    try {
      new SqliteWriter(db, new StatementCache(db), TEST_AUDIT_KEY).migrate();
      const plan = db.prepare("EXPLAIN QUERY PLAN SELECT doc FROM requests WHERE status IN ('scheduled', 'granting', 'active') ORDER BY created_at DESC, id DESC LIMIT 50").all() as { detail: string }[];
      assert.ok(plan.some((p) => /requests_status_created/.test(p.detail)), JSON.stringify(plan));
      assert.ok(!plan.some((p) => /^SCAN requests$/.test(p.detail)), JSON.stringify(plan));
    } finally {
      db.close();
    }
  });
});
