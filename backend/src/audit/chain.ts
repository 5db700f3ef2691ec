// The audit hash chain. Each event's hash covers its sequence number, content and the
// previous event's hash, so an edited, deleted or reordered event breaks the chain. The hash
// is keyed (HMAC-SHA256 with a key derived from the server's secret key, which is not in the
// database): someone who can write the database but does not hold the key cannot compute
// the hash of an edited or invented event, nor re-chain what follows it. Events removed from
// the end leave a chain that still links: the head checkpointed outside the database
// (audit/checkpoint.ts) catches that.

import { createHash, createHmac, hkdfSync } from 'node:crypto';

export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted, so the same content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

export interface HashedFields {
  seq: number;
  at: number;
  actor: string;
  action: string;
  requestId: string | null;
  /** The stored canonical JSON text of the event's data. */
  dataText: string;
}

/** The key of the audit chain, derived from the server's secret key (LAPSE_SECRET_KEY or <data-dir>/secret.key). */
export function deriveAuditKey(secretKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'lapse audit chain v1', 32));
}

const hashedText = (prevHash: string, e: HashedFields) => `${prevHash}\n${e.seq}\n${e.at}\n${e.actor}\n${e.action}\n${e.requestId ?? ''}\n${e.dataText}`;

/** An event's hash: HMAC-SHA256 with the chain's key over the previous hash and the event. */
export function hashAuditEvent(key: Buffer, prevHash: string, e: HashedFields): string {
  return createHmac('sha256', key).update(hashedText(prevHash, e)).digest('hex');
}

/** The unkeyed hash of chains written before the chain was keyed (resealed at start, see resealLegacyChain). */
export function legacyHashAuditEvent(prevHash: string, e: HashedFields): string {
  return createHash('sha256').update(hashedText(prevHash, e)).digest('hex');
}

export interface ChainProblem {
  seq: number;
  problem: string;
}

/** Incremental verifier: feed events in stored order, then ask for the result. */
export class ChainVerifier {
  private expectedPrev = GENESIS_HASH;
  private expectedSeq = 1;
  checked = 0;
  problems: ChainProblem[] = [];

  /** `hash`: how each event's hash is computed (the keyed hash with the chain's key). */
  constructor(private readonly hash: (prevHash: string, e: HashedFields) => string) {}

  add(e: HashedFields & { prevHash: string; hash: string }): void {
    this.checked++;
    if (e.seq !== this.expectedSeq) {
      this.problems.push({
        seq: e.seq,
        problem: e.seq > this.expectedSeq
          ? `events ${this.expectedSeq}..${e.seq - 1} are missing (deleted)`
          : `event ${e.seq} is out of order (expected ${this.expectedSeq})`,
      });
    }
    if (e.prevHash !== this.expectedPrev) {
      this.problems.push({ seq: e.seq, problem: 'does not link to the event before it (deleted or reordered events)' });
    }
    const recomputed = this.hash(e.prevHash, e);
    if (recomputed !== e.hash) {
      this.problems.push({ seq: e.seq, problem: 'content does not match its hash (edited or inserted event, or a hash not made with this server\'s key)' });
    }
    this.expectedPrev = e.hash;
    this.expectedSeq = e.seq + 1;
  }

  /** The last event's seq and hash as fed so far. */
  get end(): { seq: number; hash: string } {
    return { seq: this.expectedSeq - 1, hash: this.expectedPrev };
  }

  /** Compares the end of the chain with the separately kept head (catches a truncated tail). */
  finish(head: { seq: number; hash: string } | null): { ok: boolean; checked: number; problems: ChainProblem[] } {
    const lastSeq = this.expectedSeq - 1;
    if (head && (head.seq !== lastSeq || head.hash !== this.expectedPrev)) {
      this.problems.push({
        seq: head.seq,
        problem: `the chain ends at event ${lastSeq} but the recorded head is event ${head.seq} (events removed from the end, or head edited)`,
      });
    }
    if (!head && this.checked > 0) this.problems.push({ seq: lastSeq, problem: 'the recorded head of the chain is missing' });
    return { ok: this.problems.length === 0, checked: this.checked, problems: this.problems };
  }
}
