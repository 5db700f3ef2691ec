// `npm run bench -- activity`: the Activity list's first page (50 events, newest first) over
// the audit of 10 requests and of 10,000 requests (5 events each), with each filter, a page
// deep in the list (followed by cursor) and a request's timeline, on SQLite and PostgreSQL.
// Each figure beside the same query over the small log, in the same run: the ratio is the
// figure to read (the target for lists: within 1.5× of the small one).

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteStore } from '../src/store/sqlite-store.ts';
import { PostgresStore } from '../src/store/postgres-store.ts';
import type { AuditFilter, AuditInput, Store } from '../src/store/store.ts';
import type { RequestRecord } from '../src/domain/request.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY } from '../src/store/postgres-test-support.ts';
import { summarize, tempDir } from './support.ts';

type Report = (name: string, figure: string, target?: string) => void;
const PAGE = 50;
const RUNS = 40;
const USERS = 100;
const FLOWS = 20;
const LABELS = ['prod', 'staging', 'pci', 'eu', 'us'];

function request(i: number, at: number): RequestRecord {
  return {
    id: `r${String(i).padStart(6, '0')}`, requester: `u${i % USERS}`, flowId: `f${i % FLOWS}`, bundleId: null, status: 'expired',
    entitlements: [{ integration: `int${i % 4}`, resourceType: 'database', resource: `db${i % 50}`, permission: 'read' }], durationMs: 3_600_000,
    justification: `ticket ${i}`, labels: [LABELS[i % LABELS.length]!], breakGlass: false, createdAt: at, updatedAt: at, startAt: null, grantedAt: at,
    expiresAt: at + 3_600_000, endedAt: at + 3_600_000, endReason: 'expiry', endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic',
    decisions: [], extensions: 0, pendingExtension: null, error: null, version: 1,
  };
}

async function seed(store: Store, requests: number): Promise<void> {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let from = 0; from < requests; from += 500) {
    const batch: RequestRecord[] = [];
    const audit: AuditInput[] = [];
    for (let i = from; i < Math.min(requests, from + 500); i++) {
      const at = t0 + i * 60_000;
      const r = request(i, at);
      batch.push(r);
      const integration = r.entitlements[0]!.integration;
      audit.push(
        { at, actor: r.requester, action: 'request.created', requestId: r.id, data: { flowId: r.flowId, labels: r.labels } },
        { at: at + 1, actor: 'system', action: 'request.active', requestId: r.id, data: { integration } },
        { at: at + 2, actor: 'system', action: 'request.expiring', requestId: r.id, data: { msLeft: 600_000 } },
        { at: at + 3, actor: 'system', action: 'request.revoking', requestId: r.id, data: { by: 'expiry' } },
        { at: at + 4, actor: 'system', action: 'request.revoked', requestId: r.id, data: { integration, by: 'expiry' } },
      );
    }
    await store.commit({ insertRequests: batch, audit });
  }
}

async function timeOf(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return summarize(samples).p50;
}

/** The cursor position of page `n` (newest first), as a client following nextCursor reaches it. */
async function seqBeforePage(store: Store, n: number): Promise<number> {
  let before: number | undefined;
  for (let i = 1; i < n; i++) {
    const page = await store.listAudit({ order: 'desc', limit: PAGE, ...(before !== undefined ? { beforeSeq: before } : {}) });
    before = page[page.length - 1]!.seq;
  }
  return before!;
}

async function measure(small: Store, big: Store, kind: string, report: Report): Promise<void> {
  const cases: [string, AuditFilter][] = [
    ['no filter', {}],
    ['user', { user: 'u7' }],
    ['flow', { flowId: 'f3' }],
    ['label', { label: 'pci' }],
    ['integration', { integration: 'int2' }],
    ['action', { action: 'request.created' }],
  ];
  for (const [name, f] of cases) {
    const a = await timeOf(() => small.listAudit({ ...f, order: 'desc', limit: PAGE + 1 }));
    const b = await timeOf(() => big.listAudit({ ...f, order: 'desc', limit: PAGE + 1 }));
    report(`activity ${kind}: first page, ${name} (10 → 10,000 requests)`, `${a.toFixed(2)} ms → ${b.toFixed(2)} ms, ${(b / a).toFixed(2)}×`, '≤ 1.5×');
  }
  const deepBefore = await seqBeforePage(big, 100);
  const first = await timeOf(() => big.listAudit({ order: 'desc', limit: PAGE + 1 }));
  const deep = await timeOf(() => big.listAudit({ order: 'desc', limit: PAGE + 1, beforeSeq: deepBefore }));
  report(`activity ${kind}: page 100 by cursor beside page 1 (10,000 requests)`, `${first.toFixed(2)} ms → ${deep.toFixed(2)} ms, ${(deep / first).toFixed(2)}×`, '≤ 1.5×');
  const tSmall = await timeOf(() => small.listAudit({ requestId: 'r000003', limit: 1000 }));
  const tBig = await timeOf(() => big.listAudit({ requestId: 'r004321', limit: 1000 }));
  report(`activity ${kind}: a request's timeline events (10 → 10,000 requests)`, `${tSmall.toFixed(2)} ms → ${tBig.toFixed(2)} ms, ${(tBig / tSmall).toFixed(2)}×`, '≤ 1.5×');
}

export async function activityBench(report: Report): Promise<void> {
  console.log(`activity: the audit list's first page (${PAGE}, newest first) over 10 and 10,000 requests (5 events each)`);
  const dir = tempDir('activity');
  const small = new SqliteStore(join(dir, 'small.db'), { auditKey: TEST_AUDIT_KEY });
  const big = new SqliteStore(join(dir, 'big.db'), { auditKey: TEST_AUDIT_KEY });
  try {
    await small.migrate();
    await big.migrate();
    await seed(small, 10);
    await seed(big, 10_000);
    await measure(small, big, 'SQLite', report);
  } finally {
    await small.close();
    await big.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const pgSmall = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  const pgBig = new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY });
  try {
    await pgSmall.migrate();
    await pgBig.migrate();
    await seed(pgSmall, 10);
    await seed(pgBig, 10_000);
    await pgBig.pool.query('ANALYZE');
    await pgSmall.pool.query('ANALYZE');
    await measure(pgSmall, pgBig, 'PostgreSQL', report);
  } finally {
    await pgSmall.close();
    await pgBig.close();
  }
}
