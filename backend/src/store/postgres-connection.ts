// The PostgreSQL store's connection: its URL (pool settings in the query, the password
// redacted for logs), the query helpers its modules share, and transactions retried on a
// deadlock or serialisation failure.

import pg from 'pg';

export type Row = Record<string, unknown>;
export type Queryable = pg.Pool | pg.PoolClient;

/** Pool settings; each can be given in the store URL's query (e.g. `?pool_max=20`). */
export interface PoolSettings {
  /** Connections per replica (`pool_max`, default 10). */
  max: number;
  /** An idle connection is closed after this long (`pool_idle_timeout_ms`, default 30 s). */
  idleTimeoutMs: number;
  /** Waiting for a connection (new or from the pool) fails after this long (`connect_timeout_ms`, default 5 s). */
  connectTimeoutMs: number;
  /** Statements running longer are cancelled by the server (`statement_timeout_ms`, default 30 s). */
  statementTimeoutMs: number;
}

export const DEFAULT_POOL: PoolSettings = { max: 10, idleTimeoutMs: 30_000, connectTimeoutMs: 5_000, statementTimeoutMs: 30_000 };

const POOL_PARAMS: Record<string, keyof PoolSettings> = {
  pool_max: 'max',
  pool_idle_timeout_ms: 'idleTimeoutMs',
  connect_timeout_ms: 'connectTimeoutMs',
  statement_timeout_ms: 'statementTimeoutMs',
};

/** Splits a store URL into the connection string `pg` reads and the pool settings. */
export function parseStoreUrl(url: string): { connectionString: string; pool: PoolSettings } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('the PostgreSQL store URL is not a URL (expected postgres://user@host:port/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new Error(`the PostgreSQL store URL must start with postgres:// (got ${parsed.protocol}//)`);
  }
  const pool = { ...DEFAULT_POOL };
  for (const [param, key] of Object.entries(POOL_PARAMS)) {
    const raw = parsed.searchParams.get(param);
    if (raw === null) continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < (key === 'max' ? 1 : 0)) throw new Error(`the store URL's ${param} must be a whole number${key === 'max' ? ' ≥ 1' : ' ≥ 0'} (got "${raw}")`);
    pool[key] = n;
    parsed.searchParams.delete(param);
  }
  return { connectionString: parsed.toString(), pool };
}

/** The URL without its password, for logs and messages. */
export function redactStoreUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/** Errors worth retrying the whole transaction for: a deadlock or a serialisation failure. */
export const RETRYABLE = new Set(['40P01', '40001']);

export async function queryRows(q: Queryable, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await q.query(sql, params)).rows as Row[];
}

export async function queryOne(q: Queryable, sql: string, params: unknown[] = []): Promise<Row | undefined> {
  return (await q.query(sql, params)).rows[0] as Row | undefined;
}

export async function queryCount(q: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  return (await q.query(sql, params)).rowCount ?? 0;
}

/** Runs `fn` in one transaction; retried from the start on a deadlock or serialisation failure. */
export async function runTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      const code = (err as { code?: string }).code;
      if (code && RETRYABLE.has(code) && attempt < 5) continue;
      throw err;
    } finally {
      client.release(broken || undefined);
    }
  }
}
