// A SQLite connection as the store uses it (reads in sqlite-store.ts, writes in
// sqlite-writer.ts), and the prepared statements it keeps.

import Database from 'libsql';
import { preparePrivateDatabase } from '../data-dir.ts';

export type Row = Record<string, unknown>;

/**
 * Opens the store's file: WAL, and a wait rather than an error while another connection
 * writes. The file and its log are this user's only (mode 0600, see data-dir.ts).
 */
export function openSqlite(path: string): Database.Database {
  if (path !== ':memory:') preparePrivateDatabase(path, { tighten: true });
  const db = new Database(path);
  // The busy timeout first: another process (a `lapse token` command, the checkpointer's
  // connection) may hold the file at this moment; switching to WAL must wait, not fail.
  db.exec('PRAGMA busy_timeout = 5000');
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = NORMAL');
  db.exec('PRAGMA foreign_keys = ON');
  // Checkpoints run in a worker thread (WalCheckpointer); the automatic one, every ~200 MiB
  // of log, is a safety net should that thread ever stop.
  db.exec(`PRAGMA wal_autocheckpoint = ${path === ':memory:' ? 1000 : 50_000}`);
  // Keep the hot part of a large store in memory: 64 MiB of page cache.
  db.exec('PRAGMA cache_size = -65536');
  return db;
}

type Statement = Database.Statement<unknown[]>;

export class StatementCache {
  private readonly statements = new Map<string, Statement>();
  constructor(private readonly db: Database.Database) {}

  stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  all(sql: string, ...params: unknown[]): Row[] {
    return this.stmt(sql).all(...params) as Row[];
  }

  get(sql: string, ...params: unknown[]): Row | undefined {
    return this.stmt(sql).get(...params) as Row | undefined;
  }

  run(sql: string, ...params: unknown[]): number {
    return this.stmt(sql).run(...params).changes;
  }

  clear(): void {
    this.statements.clear();
  }
}
