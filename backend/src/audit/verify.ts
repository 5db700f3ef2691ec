// Verifying the audit chain (`lapse audit verify`, GET /api/v1/audit/verify), and resealing a
// chain written before the chain was keyed.
//
// What a verification that passes proves, against whom: every event from the first to the
// last was written by a holder of the server's secret key, in this order, unchanged, and
// none is missing up to the checkpoint kept outside the database. Someone who can write the
// database but holds neither the key nor the data directory cannot edit, insert, reorder or
// delete events without it failing; the most they can do unseen is remove the events written
// after the last checkpoint (about the last second). Someone who holds the key (the server's
// host, LAPSE_SECRET_KEY) can rewrite the chain and its checkpoint: against them, only a copy
// kept elsewhere helps.

import { canonicalJson, ChainVerifier, GENESIS_HASH, hashAuditEvent, legacyHashAuditEvent, type ChainProblem } from './chain.ts';
import type { AuditCheckpoint } from './checkpoint.ts';
import type { Store } from '../store/store.ts';

export interface AuditVerifyResult {
  ok: boolean;
  checked: number;
  problems: ChainProblem[];
  /** The checkpoint the chain was compared with (null: none). */
  checkpoint: AuditCheckpoint | null;
}

/**
 * Checks every event's keyed hash and link, the head row, and (when `checkpoint` is given,
 * as readCheckpoint answers) that the chain reaches the checkpoint and holds the same event
 * there.
 */
export async function verifyAuditChain(
  store: Store,
  key: Buffer,
  checkpoint?: { checkpoint: AuditCheckpoint | null; problem: string | null },
): Promise<AuditVerifyResult> {
  const verifier = new ChainVerifier((prev, e) => hashAuditEvent(key, prev, e));
  const cp = checkpoint?.checkpoint ?? null;
  const problems: ChainProblem[] = [];
  let seenAtCheckpoint: string | null = cp && cp.seq === 0 ? GENESIS_HASH : null;
  for await (const page of store.iterateAudit()) {
    for (const e of page) {
      verifier.add({ ...e, dataText: canonicalJson(e.data) });
      if (cp && e.seq === cp.seq) seenAtCheckpoint = e.hash;
    }
  }
  const result = verifier.finish(await store.auditHead());
  if (checkpoint) {
    if (checkpoint.problem) problems.push({ seq: 0, problem: checkpoint.problem });
    else if (!cp) problems.push({ seq: 0, problem: 'there is no checkpoint of the head outside the database: events removed from the end could not be told' });
    else if (verifier.end.seq < cp.seq) {
      problems.push({ seq: cp.seq, problem: `the chain ends at event ${verifier.end.seq}, but the checkpoint outside the database recorded event ${cp.seq} at ${new Date(cp.at).toISOString()}: events were removed from the end (or an older backup restored)` });
    } else if (seenAtCheckpoint !== cp.hash) {
      problems.push({ seq: cp.seq, problem: `event ${cp.seq} is not the one the checkpoint outside the database recorded at ${new Date(cp.at).toISOString()}: the chain was rewritten` });
    }
  }
  const all = [...result.problems, ...problems];
  return { ok: all.length === 0, checked: result.checked, problems: all, checkpoint: cp };
}

/**
 * A chain written before the chain was keyed (its events carry unkeyed hashes) is checked
 * with those hashes and, if whole, hashed again with the key, in one transaction. Called at
 * start only while no checkpoint exists (a checkpoint means the chain has been keyed): once
 * keyed, an unkeyed chain is never taken for a legacy one. Returns how many events were
 * resealed (0: already keyed, or empty); throws when the old chain does not verify.
 */
export async function resealLegacyChain(store: Store, key: Buffer): Promise<number> {
  const [first] = await store.listAudit({ limit: 1 });
  if (!first) return 0;
  const fields = { ...first, dataText: canonicalJson(first.data) };
  if (hashAuditEvent(key, first.prevHash, fields) === first.hash) return 0;
  if (legacyHashAuditEvent(first.prevHash, fields) !== first.hash) {
    throw new Error('the first audit event matches neither this server\'s key nor the unkeyed hash of older versions (another key, or tampered with): the chain is left as it is; lapse audit verify says where it breaks');
  }
  return store.rehashAudit(legacyHashAuditEvent, (prev, e) => hashAuditEvent(key, prev, e));
}
