// The outbox as its deliverer sees it: claiming due rows and recording how each delivery
// went, over a connection of its own. The delivery thread (services/delivery-thread.ts)
// opens one beside the store the API uses: on SQLite a second connection to the same file
// (WAL, with a busy timeout: it waits for the API's writer rather than failing), on
// PostgreSQL a small pool of its own. The same operations over the API's own store are for
// a deliverer that runs on the API's event loop (the desktop app's embedded server).

import type { OutboxOutcome, OutboxRecord, Store } from './store.ts';
import { SharedWriteLock } from './sqlite-write-lock.ts';

/**
 * Where the deliverer's connection goes: structured-clonable, so that it can be handed to a
 * worker thread. On SQLite, `writeLock` is the store's write lock (sqlite-write-lock.ts).
 */
export type OutboxConnectionSpec = { kind: 'sqlite'; path: string; writeLock?: SharedArrayBuffer } | { kind: 'postgres'; url: string };

export interface OutboxFinish {
  key: string;
  outcome: OutboxOutcome;
}

export interface OutboxConnection {
  /** See Store.claimOutbox. */
  claim(owner: string, now: number, leaseMs: number, limit: number, exceptChannels?: readonly string[]): Promise<OutboxRecord[]>;
  /**
   * Records several deliveries' outcomes at once (on SQLite in one transaction, so that the
   * API's writer waits for the file's write lock once rather than once per row). For each,
   * whether the row was still `owner`'s to finish (see Store.finishOutbox).
   */
  finish(owner: string, done: readonly OutboxFinish[]): Promise<boolean[]>;
  /** Frees the outbox leases `owner` holds (a deliverer of this replica that died left them). */
  releaseLeases(owner: string): Promise<void>;
  close(): Promise<void>;
}

/** The same operations over the API's own store. */
export function storeOutbox(store: Store): OutboxConnection {
  return {
    claim: (owner, now, leaseMs, limit, exceptChannels) => store.claimOutbox(owner, now, leaseMs, limit, exceptChannels),
    finish: (owner, done) => Promise.all(done.map((d) => store.finishOutbox(d.key, owner, d.outcome))),
    releaseLeases: async () => undefined,
    close: async () => undefined,
  };
}

/** Opens a connection of its own to the store `spec` names. */
export async function openOutboxConnection(spec: OutboxConnectionSpec, onPoolError: (err: Error) => void = () => undefined): Promise<OutboxConnection> {
  if (spec.kind === 'sqlite') {
    const [{ openSqlite, StatementCache }, { SqliteOutboxWrites }] = await Promise.all([import('./sqlite-connection.ts'), import('./sqlite-outbox.ts')]);
    const db = openSqlite(spec.path);
    const sql = new StatementCache(db);
    const writes = new SqliteOutboxWrites(sql);
    // Each write holds the store's write lock (sqlite-write-lock.ts): this thread waits for the
    // API's writes here, and the API's writes wait for this one in turns of their event loop.
    const lock = spec.writeLock ? new SharedWriteLock(spec.writeLock) : null;
    const locked = <T>(fn: () => T): T => {
      const held = lock?.acquire('delivery') ?? false;
      try {
        return fn();
      } finally {
        if (held) lock!.release('delivery');
      }
    };
    return {
      claim: async (owner, now, leaseMs, limit, exceptChannels) => locked(() => writes.claim(owner, now, leaseMs, limit, exceptChannels)),
      finish: async (owner, done) => {
        if (done.length === 0) return [];
        return locked(() => {
          db.exec('BEGIN IMMEDIATE');
          try {
            const out = done.map((d) => writes.finish(d.key, owner, d.outcome));
            db.exec('COMMIT');
            return out;
          } catch (err) {
            db.exec('ROLLBACK');
            throw err;
          }
        });
      },
      releaseLeases: async (owner) => {
        locked(() => sql.run('UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?', owner));
      },
      close: async () => {
        sql.clear();
        db.close();
      },
    };
  }
  const [{ default: pg }, { parseStoreUrl }, outbox] = await Promise.all([import('pg'), import('./postgres-connection.ts'), import('./postgres-outbox.ts')]);
  const { connectionString, pool: settings } = parseStoreUrl(spec.url);
  // A few connections: claims and outcomes are short statements, one batch at a time.
  const pool = new pg.Pool({
    connectionString, max: Math.min(4, settings.max), idleTimeoutMillis: settings.idleTimeoutMs, connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs, application_name: 'lapse-delivery',
  });
  pool.on('error', onPoolError);
  return {
    claim: (owner, now, leaseMs, limit, exceptChannels) => outbox.claimOutbox(pool, owner, now, leaseMs, limit, exceptChannels),
    finish: (owner, done) => Promise.all(done.map((d) => outbox.finishOutbox(pool, d.key, owner, d.outcome))),
    releaseLeases: (owner) => outbox.releaseLeases(pool, owner),
    close: () => pool.end(),
  };
}
