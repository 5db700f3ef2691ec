// The postgresql integration's sessions as its admin user: a pool per database and one-off
// clients, each searching pg_catalog only; the ACL changes of a database, one transaction at
// a time; and the quoting of every identifier and literal that reaches their SQL.

import pg from 'pg';
import { withRetry } from './sql/common.ts';

/** Where and as whom the admin sessions connect: the fields of PostgresConnection (postgresql.ts) they use. */
export interface PgAdminServer {
  host: string;
  port?: number;
  user: string;
  password?: string;
  ssl?: boolean;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
}

/**
 * The admin user's sessions resolve unqualified names in pg_catalog only (pg_temp last): a
 * role with CREATE on a schema can plant a function or operator there that matches a
 * built-in's call more closely (`starts_with(name, text)`), which would run as the admin user.
 */
const ADMIN_SESSION_OPTIONS = '-c search_path=pg_catalog,pg_temp';

export const quoteIdent = (name: string): string => pg.escapeIdentifier(name);
export const quoteLiteral = (text: string): string => pg.escapeLiteral(text);

export class PgAdminSessions {
  private readonly pools = new Map<string, pg.Pool>();
  /** ACL changes waiting for their database's next transaction (see runAcl). */
  private readonly aclQueues = new Map<string, { statements: string[]; resolve: () => void; reject: (err: unknown) => void }[]>();
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly conn: PgAdminServer,
    /** The database where roles are managed and discovery starts. */
    readonly adminDb: string,
    private readonly poolSize?: number,
  ) {}

  pool(database: string): pg.Pool {
    if (this.closed) throw new Error(`integration ${this.id} is closed`);
    let p = this.pools.get(database);
    if (!p) {
      p = new pg.Pool({
        host: this.conn.host,
        port: this.conn.port ?? 5432,
        user: this.conn.user,
        password: this.conn.password,
        database,
        ssl: this.conn.ssl ? { rejectUnauthorized: true } : undefined,
        max: this.poolSize ?? 4,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: this.conn.connectTimeoutMs ?? 5000,
        statement_timeout: this.conn.statementTimeoutMs ?? 15_000,
        query_timeout: (this.conn.statementTimeoutMs ?? 15_000) + 2000,
        allowExitOnIdle: true,
        application_name: 'lapse',
        options: ADMIN_SESSION_OPTIONS,
      });
      // A connection dropping (server restart, network cut) must not crash the process: an
      // idle client's error reaches the pool, a busy one's its query, which rejects.
      p.on('error', () => undefined);
      p.on('connect', (client) => client.on('error', () => undefined));
      this.pools.set(database, p);
    }
    return p;
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(database: string, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.pool(database).query<R>(text, values);
  }

  /** Whether `database` has a pool of its own already. */
  hasPool(database: string): boolean {
    return this.pools.has(database);
  }

  /** A client outside the pools for `database`, with their settings; the caller connects and ends it. */
  newClient(database: string): pg.Client {
    return new pg.Client({
      host: this.conn.host, port: this.conn.port ?? 5432, user: this.conn.user, password: this.conn.password, database,
      ssl: this.conn.ssl ? { rejectUnauthorized: true } : undefined, connectionTimeoutMillis: this.conn.connectTimeoutMs ?? 5000,
      statement_timeout: this.conn.statementTimeoutMs ?? 15_000, application_name: 'lapse', options: ADMIN_SESSION_OPTIONS,
    });
  }

  /**
   * Runs ACL-changing statements in `database`. Concurrent GRANTs on one object collide in
   * PostgreSQL ("tuple concurrently updated"), so the changes of one database run one
   * transaction at a time here; whatever queued up meanwhile (other requests' grants and
   * revokes) shares the next transaction. If a shared transaction fails, each part is run
   * alone, so one bad grant fails only its own request.
   */
  runAcl(database: string, statements: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const queued = this.aclQueues.get(database);
      const item = { statements, resolve, reject };
      if (queued) {
        queued.push(item);
        return;
      }
      this.aclQueues.set(database, [item]);
      void this.drainAcl(database);
    });
  }

  private async drainAcl(database: string): Promise<void> {
    for (;;) {
      const batch = this.aclQueues.get(database)!;
      if (!batch.length) {
        this.aclQueues.delete(database);
        return;
      }
      this.aclQueues.set(database, []);
      try {
        await withRetry(() => this.inTransaction(database, batch.flatMap((b) => b.statements)), isRetryable);
        for (const b of batch) b.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0]!.reject(err);
          continue;
        }
        for (const b of batch) {
          try {
            await withRetry(() => this.inTransaction(database, b.statements), isRetryable);
            b.resolve();
          } catch (e) {
            b.reject(e);
          }
        }
      }
    }
  }

  private async inTransaction(database: string, statements: string[]): Promise<void> {
    const client = await this.pool(database).connect();
    try {
      // One round trip: the statements are fully quoted, without parameters.
      await client.query(['BEGIN', ...statements, 'COMMIT'].join(';\n'));
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  }
}

/** Catalog races between concurrent sessions that succeed when tried again. */
export function isRetryable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return e.code === '40001' || e.code === '40P01' || e.code === '23505' || e.code === '42710'
    || (e.code === 'XX000' && /tuple concurrently (updated|deleted)/.test(e.message ?? ''));
}
