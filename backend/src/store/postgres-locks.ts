// Locks of the PostgreSQL store across replicas: a row in `locks` with a lease, taken after
// this process's other holders of the same key (in memory).

import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { queryCount } from './postgres-connection.ts';
import { KeyedMutex } from './keyed-mutex.ts';

export class PostgresLocks {
  private readonly locks = new KeyedMutex();
  /** This store's name as a holder of lock rows (unique per process and store). */
  private readonly lockOwner = `${process.pid}:${randomUUID()}`;

  constructor(private readonly pool: pg.Pool) {}

  /**
   * A lock across replicas: first among this process's holders of `key` (in memory), then a
   * row in `locks`, taken when free or when its lease has lapsed, renewed while `fn` runs,
   * deleted after. A holder that died holds it at most `leaseMs` (wall-clock time).
   */
  async withLock<T>(key: string, leaseMs: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, async () => {
      for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
        const now = Date.now();
        const taken = await queryCount(
          this.pool,
          `INSERT INTO locks (key, owner, lease_until) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until WHERE locks.lease_until < $4`,
          [key, this.lockOwner, now + leaseMs, now],
        );
        if (taken === 1) break;
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      const renew = setInterval(() => {
        this.pool.query('UPDATE locks SET lease_until = $3 WHERE key = $1 AND owner = $2', [key, this.lockOwner, Date.now() + leaseMs]).catch(() => undefined);
      }, Math.max(100, Math.floor(leaseMs / 3)));
      try {
        return await fn();
      } finally {
        clearInterval(renew);
        await this.pool.query('DELETE FROM locks WHERE key = $1 AND owner = $2', [key, this.lockOwner]).catch(() => undefined);
      }
    });
  }
}
