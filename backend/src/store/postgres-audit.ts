// The PostgreSQL store's audit chain: appends under the lock of the single head row, the
// chain hashed again with a new key, and its events and head read back.

import type pg from 'pg';
import { canonicalJson, GENESIS_HASH, hashAuditEvent } from '../audit/chain.ts';
import type { AuditEvent, AuditFilter, AuditHasher, AuditInput } from './store.ts';
import { queryOne, queryRows, runTransaction } from './postgres-connection.ts';
import { auditFromRow } from './rows.ts';

/** Appends under the head row's lock: the last lock a transaction takes, so no lock-order cycle. */
export async function appendAuditInTx(key: Buffer | null, events: AuditInput[], c: pg.PoolClient): Promise<void> {
  if (!key) throw new Error('this store was opened without the audit key: it cannot append audit events');
  const head = await queryOne(c, 'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE', []);
  if (!head) throw new Error('the audit head row is missing (the schema was not migrated, or it was tampered with)');
  let seq = Number(head.seq);
  let prev = String(head.hash);
  const cols: unknown[][] = [[], [], [], [], [], [], [], []];
  for (const e of events) {
    seq++;
    const dataText = canonicalJson(e.data);
    const hash = hashAuditEvent(key, prev, { seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText });
    [seq, e.at, e.actor, e.action, e.requestId, dataText, prev, hash].forEach((v, i) => cols[i]!.push(v));
    prev = hash;
  }
  // One statement (one round trip while the head is locked): the events, then the head.
  await c.query(
    `WITH appended AS (
         INSERT INTO audit (seq, at, actor, action, request_id, data, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]))
       UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1`,
    [...cols, seq, prev],
  );
}

/** See Store.rehashAudit: one transaction under the head row's lock, a page of events at a time. */
export async function rehashAudit(pool: pg.Pool, checkOld: AuditHasher, hashOf: AuditHasher): Promise<number> {
  return runTransaction(pool, async (c) => {
    const head = await queryOne(c, 'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE', []);
    let oldPrev = GENESIS_HASH;
    let newPrev = GENESIS_HASH;
    let seq = 0;
    for (;;) {
      const page = (await queryRows(c, 'SELECT * FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT 1000', [seq])).map(auditFromRow);
      if (page.length === 0) break;
      const seqs: number[] = [];
      const prevs: string[] = [];
      const hashes: string[] = [];
      for (const e of page) {
        const fields = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText: canonicalJson(e.data) };
        if (e.seq !== seq + 1 || e.prevHash !== oldPrev || checkOld(oldPrev, fields) !== e.hash) {
          throw new Error(`audit event ${e.seq} does not verify as written: the chain is left as it is`);
        }
        const hash = hashOf(newPrev, fields);
        seqs.push(e.seq);
        prevs.push(newPrev);
        hashes.push(hash);
        oldPrev = e.hash;
        newPrev = hash;
        seq = e.seq;
      }
      await c.query(
        'UPDATE audit SET prev_hash = u.prev, hash = u.hash FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(seq, prev, hash) WHERE audit.seq = u.seq',
        [seqs, prevs, hashes],
      );
    }
    if (seq > 0) {
      if (!head || Number(head.seq) !== seq || String(head.hash) !== oldPrev) {
        throw new Error(`the audit head does not match the chain's last event ${seq}: the chain is left as it is`);
      }
      await c.query('UPDATE audit_head SET hash = $1 WHERE id = 1', [newPrev]);
    }
    return seq;
  });
}

export async function listAudit(pool: pg.Pool, f: AuditFilter): Promise<AuditEvent[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  if (f.requestId !== undefined) where.push(`a.request_id = ${p(f.requestId)}`);
  if (f.actor !== undefined) where.push(`a.actor = ${p(f.actor)}`);
  if (f.action !== undefined) where.push(`a.action = ${p(f.action)}`);
  if (f.user !== undefined) {
    const u = p(f.user);
    // By the actor's index, or the requester's requests (their index), not by reading every event.
    where.push(`(a.actor = ${u} OR a.request_id IN (SELECT id FROM requests WHERE requester = ${u}))`);
  }
  if (f.flowId !== undefined) where.push(`r.flow_id = ${p(f.flowId)}`);
  // json, not jsonb: a stored text with an escaped NUL (which jsonb refuses) is still read.
  if (f.integration !== undefined) {
    const i = p(f.integration);
    where.push(`(a.data::json ->> 'integration' = ${i} OR EXISTS (SELECT 1 FROM json_array_elements(r.doc::json -> 'entitlements') e WHERE e ->> 'integration' = ${i}))`);
  }
  if (f.label !== undefined) where.push(`EXISTS (SELECT 1 FROM json_array_elements_text(r.doc::json -> 'labels') l WHERE l = ${p(f.label)})`);
  if (f.since !== undefined) where.push(`a.at >= ${p(f.since)}`);
  if (f.until !== undefined) where.push(`a.at < ${p(f.until)}`);
  if (f.afterSeq !== undefined) where.push(`a.seq > ${p(f.afterSeq)}`);
  if (f.beforeSeq !== undefined) where.push(`a.seq < ${p(f.beforeSeq)}`);
  const limit = Math.min(Math.max(1, Math.floor(f.limit ?? 100)), 10_000);
  const join = f.flowId !== undefined || f.integration !== undefined || f.label !== undefined ? 'LEFT JOIN requests r ON r.id = a.request_id' : '';
  const sql = `SELECT a.* FROM audit a ${join} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY a.seq ${f.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ${limit}`;
  return (await queryRows(pool, sql, params)).map(auditFromRow);
}

export async function* iterateAudit(pool: pg.Pool, pageSize: number): AsyncIterable<AuditEvent[]> {
  let after = -1;
  for (;;) {
    const page = (await queryRows(pool, 'SELECT * FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2', [after, pageSize])).map(auditFromRow);
    if (page.length === 0) return;
    yield page;
    after = page[page.length - 1]!.seq;
  }
}

export async function auditHead(pool: pg.Pool): Promise<{ seq: number; hash: string } | null> {
  const row = await queryOne(pool, 'SELECT seq, hash FROM audit_head WHERE id = 1');
  // seq 0 is the empty chain (the row exists from the start so that appends can lock it).
  return row && Number(row.seq) > 0 ? { seq: Number(row.seq), hash: String(row.hash) } : null;
}
