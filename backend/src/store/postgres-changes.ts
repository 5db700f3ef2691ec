// One change set of the PostgreSQL store written in an open transaction: its checks (each
// locks what it checks), then its writes, with the approvers and holdings its requests imply.

import type pg from 'pg';
import { applyRequestUpdate, awaitsDecision, coversEntitlements, entitlementKey, type GrantRecord, type RequestRecord } from '../domain/request.ts';
import { ConflictError, type ChangeSet } from './store.ts';
import { queryCount, queryOne } from './postgres-connection.ts';
import { warningOffsetsColumn } from './rows.ts';
import { insertOutbox } from './postgres-outbox.ts';

/** Entitlement keys separate their parts with NUL, which PostgreSQL text cannot hold: stored as JSON strings. */
export const storedKey = (key: string) => JSON.stringify(key);

/** One change set's checks (each locks what it checks), then its writes, as the SQLite store does; its audit is appended by the caller. */
export async function applyChangeSet(cs: ChangeSet, c: pg.PoolClient): Promise<void> {
  // Checks first (each locks what it checks), then the writes, as the SQLite store does.
  const requests: { current: RequestRecord; next: RequestRecord }[] = [];
  for (const u of cs.updateRequests ?? []) {
    const row = await queryOne(c, 'SELECT version, status, doc FROM requests WHERE id = $1 FOR UPDATE', [u.id]);
    if (!row) throw new ConflictError(`request ${u.id} does not exist`);
    if (Number(row.version) !== u.expectVersion) throw new ConflictError(`request ${u.id} was changed by someone else (now ${String(row.status)})`);
    const current = u.base && u.base.version === u.expectVersion ? u.base : (JSON.parse(String(row.doc)) as RequestRecord);
    requests.push({ current, next: applyRequestUpdate(current, u.set) });
  }
  const grants: GrantRecord[] = [];
  for (const u of cs.updateGrants ?? []) {
    const row = await queryOne(c, 'SELECT doc FROM grants WHERE request_id = $1 AND integration = $2 FOR UPDATE', [u.requestId, u.integration]);
    if (!row) throw new ConflictError(`grant ${u.requestId}/${u.integration} does not exist`);
    const current = JSON.parse(String(row.doc)) as GrantRecord;
    if (u.expectStatus && !u.expectStatus.includes(current.status)) {
      throw new ConflictError(`grant ${u.requestId}/${u.integration} is ${current.status}, expected ${u.expectStatus.join(' or ')}`);
    }
    grants.push({ ...current, ...u.set });
  }
  for (const d of cs.deleteJobs ?? []) {
    if (d.owner === undefined) continue;
    const row = await queryOne(c, 'SELECT lease_owner FROM jobs WHERE id = $1 FOR UPDATE', [d.id]);
    if (!row || row.lease_owner !== d.owner) throw new ConflictError(`job ${d.id} is no longer held by ${d.owner}`);
  }

  for (const r of cs.insertRequests ?? []) {
    const inserted = await queryCount(
      c,
      `INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING`,
      [r.id, r.requester, r.flowId, r.status, r.createdAt, r.updatedAt, r.version, JSON.stringify(r)],
    );
    // A duplicate id (an automatic flow's request made twice, maybe by two replicas) is a conflict, not a fault.
    if (inserted === 0) throw new ConflictError(`request ${r.id} already exists`);
    if (awaitsDecision(r)) await syncApprovers(r, c);
    if (coversEntitlements(r.status)) await addHoldings(r, c);
  }
  for (const { current, next } of requests) {
    await c.query('UPDATE requests SET status = $1, updated_at = $2, version = $3, doc = $4 WHERE id = $5', [next.status, next.updatedAt, next.version, JSON.stringify(next), next.id]);
    if (awaitsDecision(current) || awaitsDecision(next)) await syncApprovers(next, c);
    if (coversEntitlements(current.status) !== coversEntitlements(next.status)) {
      if (coversEntitlements(next.status)) await addHoldings(next, c);
      else await c.query('DELETE FROM holdings WHERE request_id = $1', [next.id]);
    }
  }
  for (const g of cs.insertGrants ?? []) {
    await c.query('INSERT INTO grants (request_id, integration, status, doc) VALUES ($1, $2, $3, $4)', [g.requestId, g.integration, g.status, JSON.stringify(g)]);
  }
  for (const g of grants) {
    await c.query('UPDATE grants SET status = $1, doc = $2 WHERE request_id = $3 AND integration = $4', [g.status, JSON.stringify(g), g.requestId, g.integration]);
  }
  for (const d of cs.deleteJobs ?? []) await c.query('DELETE FROM jobs WHERE id = $1', [d.id]);
  for (const d of cs.deleteJobsOfRequest ?? []) {
    if (d.kinds.length === 0) continue;
    await c.query('DELETE FROM jobs WHERE request_id = $1 AND kind = ANY($2::text[])', [d.requestId, d.kinds]);
  }
  for (const j of cs.insertJobs ?? []) {
    await c.query(
      `INSERT INTO jobs (id, kind, request_id, integration, warning_offsets_ms, due_at, attempts, last_error, lease_owner, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET integration = excluded.integration, warning_offsets_ms = excluded.warning_offsets_ms, due_at = excluded.due_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until`,
      [j.id, j.kind, j.requestId, j.integration, warningOffsetsColumn(j), j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil],
    );
  }
  if (cs.outbox?.length) await insertOutbox(c, cs.outbox);
}

async function syncApprovers(r: RequestRecord, c: pg.PoolClient): Promise<void> {
  await c.query('DELETE FROM request_approvers WHERE request_id = $1', [r.id]);
  if (!awaitsDecision(r)) return;
  const users = [...new Set(r.approverGroups.flatMap((g) => g.users))];
  if (users.length === 0) return;
  await c.query('INSERT INTO request_approvers (user_id, request_id) SELECT u, $2 FROM unnest($1::text[]) AS u', [users, r.id]);
}

async function addHoldings(r: RequestRecord, c: pg.PoolClient): Promise<void> {
  const keys = [...new Set(r.entitlements.map((e) => storedKey(entitlementKey(e))))];
  if (keys.length === 0) return;
  await c.query(
    'INSERT INTO holdings (requester, ent_key, request_id) SELECT $1, k, $3 FROM unnest($2::text[]) AS k ON CONFLICT DO NOTHING',
    [r.requester, keys, r.id],
  );
}
