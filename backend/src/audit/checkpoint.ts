// The audit chain's head, checkpointed outside the database: a file beside the store in the
// data directory (`audit-head.json`, mode 0600), rewritten about every second while the head
// moves on, and a log line at most once a minute. Events removed from the end of the chain
// leave a chain that still links and verifies; what the database alone cannot hide is that it
// ends before the checkpoint, or holds another event at the checkpoint's sequence number.
// The file carries an HMAC with the chain's key, so it cannot be edited to match either.
//
// A checkpoint only moves forward along the chain: when the store's chain no longer extends
// the last checkpoint (events removed or rewritten, or a backup restored), the file is kept
// as evidence, not overwritten, and the log says so until someone looks (see the README on
// restoring a backup).

import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync } from 'node:fs';
import { writePrivateFile } from '../data-dir.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';

export const AUDIT_CHECKPOINT_FILE = 'audit-head.json';

export interface AuditCheckpoint {
  /** The last event's sequence number (0: an empty chain). */
  seq: number;
  hash: string;
  /** When it was taken (ms). */
  at: number;
}

const macOf = (key: Buffer, c: AuditCheckpoint) => createHmac('sha256', key).update(`lapse audit checkpoint\n${c.seq}\n${c.hash}\n${c.at}`).digest('hex');

/** The checkpoint in `path`: null when there is none; a problem when it cannot be trusted. */
export function readCheckpoint(path: string, key: Buffer): { checkpoint: AuditCheckpoint | null; problem: string | null } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoint: null, problem: null };
    return { checkpoint: null, problem: `the checkpoint ${path} cannot be read: ${(err as Error).message}` };
  }
  try {
    const doc = JSON.parse(text) as { seq?: unknown; hash?: unknown; at?: unknown; mac?: unknown };
    if (!Number.isSafeInteger(doc.seq) || (doc.seq as number) < 0 || typeof doc.hash !== 'string' || !/^[0-9a-f]{64}$/.test(doc.hash)
      || !Number.isSafeInteger(doc.at) || typeof doc.mac !== 'string') {
      return { checkpoint: null, problem: `the checkpoint ${path} is not one Lapse wrote (fields seq, hash, at, mac)` };
    }
    const checkpoint = { seq: doc.seq as number, hash: doc.hash, at: doc.at as number };
    const expected = Buffer.from(macOf(key, checkpoint), 'hex');
    const given = Buffer.from(doc.mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return { checkpoint: null, problem: `the checkpoint ${path} does not carry this server's signature (edited, or another key)` };
    }
    return { checkpoint, problem: null };
  } catch {
    return { checkpoint: null, problem: `the checkpoint ${path} is not valid JSON` };
  }
}

/** Writes the checkpoint: to a new file (0600), then renamed over the old one, so it is never half-written. */
export function writeCheckpoint(path: string, key: Buffer, c: AuditCheckpoint): void {
  const next = `${path}.next`;
  writePrivateFile(next, JSON.stringify({ ...c, mac: macOf(key, c) }) + '\n');
  renameSync(next, path);
}

export type CheckpointLog = Pick<Logger, 'info' | 'error'>;

/** Keeps the checkpoint file up with the store's head (call `update` every second or so). */
export class AuditCheckpointer {
  private last: AuditCheckpoint | null;
  private lastLogAt = -Infinity;
  private lastBrokenLogAt = -Infinity;

  constructor(
    private readonly store: Store,
    private readonly path: string,
    private readonly key: Buffer,
    private readonly log: CheckpointLog,
    private readonly now: () => number = Date.now,
  ) {
    this.last = readCheckpoint(path, key).checkpoint;
  }

  /** Records the store's head when it moved on from the last checkpoint, and extends it. */
  async update(): Promise<void> {
    const head = (await this.store.auditHead()) ?? { seq: 0, hash: '0'.repeat(64) };
    const last = this.last;
    if (last && head.seq === last.seq && head.hash === last.hash) return;
    if (last && last.seq > 0) {
      const [atLast] = await this.store.listAudit({ afterSeq: last.seq - 1, limit: 1 });
      if (head.seq < last.seq || !atLast || atLast.seq !== last.seq || atLast.hash !== last.hash) {
        const now = this.now();
        if (now - this.lastBrokenLogAt >= 10 * 60_000) {
          this.lastBrokenLogAt = now;
          this.log.error({
            checkpoint: { seq: last.seq, hash: last.hash, at: new Date(last.at).toISOString() }, head, file: this.path,
          }, 'the audit chain in the store does not extend its checkpoint: events were removed or rewritten, or an older backup was restored; the checkpoint is kept as evidence (lapse audit verify says more)');
        }
        return;
      }
    }
    const c: AuditCheckpoint = { seq: head.seq, hash: head.hash, at: this.now() };
    writeCheckpoint(this.path, this.key, c);
    this.last = c;
    if (c.at - this.lastLogAt >= 60_000) {
      this.lastLogAt = c.at;
      this.log.info({ seq: c.seq, hash: c.hash }, 'audit checkpoint');
    }
  }
}
