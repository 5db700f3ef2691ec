// The built-in `demo` integration. It grants nothing real but keeps its own durable record
// of what it holds (a SQLite file of its own, separate from the engine's store), so that
// tests and the walkthrough can check the target side independently of the engine's state.
// It also counts every grant and revoke call, and can be told to fail (fault injection).

import Database from 'libsql';
import { readFileSync } from 'node:fs';
import { preparePrivateDatabase } from '../data-dir.ts';
import { secureRandomBytes } from '../domain/random.ts';
import type { Entitlement } from '../domain/request.ts';
import type { ResourceConfig } from '../domain/config.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';

export interface DemoFaults {
  /** When set, grant calls fail with this message. */
  grant?: string;
  /** When set, revoke calls fail with this message. */
  revoke?: string;
  /** Added latency per call, ms. */
  latencyMs?: number;
  /** When set, health checks report this error. */
  health?: string;
}

export class DemoIntegration implements Integration {
  readonly type = 'demo';
  private readonly db: Database.Database;
  faults: DemoFaults = {};

  constructor(
    readonly id: string,
    dbPath: string,
    private readonly declared: ResourceConfig[],
    private readonly now: () => number = Date.now,
    /** A JSON file of DemoFaults read on every call, so a test can inject faults into a running server. */
    private readonly faultsFile?: string,
  ) {
    // Created 0600 before SQLite opens it, so its log is private too (data-dir.ts).
    if (dbPath !== ':memory:') preparePrivateDatabase(dbPath);
    this.db = new Database(dbPath);
    // The busy timeout first: replicas sharing one record open it at the same moment, and
    // switching to WAL or creating the tables must wait for the others, not fail.
    this.db.exec('PRAGMA busy_timeout = 10000');
    // Switching to WAL needs the file to itself for a moment, and SQLite answers "busy" at
    // once there rather than through the busy timeout: tried again for as long.
    const until = Date.now() + 10_000;
    for (;;) {
      try {
        this.db.exec('PRAGMA journal_mode = WAL');
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > until) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10 + Math.random() * 20);
      }
    }
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA wal_autocheckpoint = 4000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS granted (
        user_id TEXT NOT NULL, resource_type TEXT NOT NULL, resource TEXT NOT NULL, permission TEXT NOT NULL,
        request_id TEXT, granted_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, resource_type, resource, permission));
      CREATE TABLE IF NOT EXISTS calls (
        seq INTEGER PRIMARY KEY, op TEXT NOT NULL, request_id TEXT NOT NULL, user_id TEXT NOT NULL,
        entitlements TEXT NOT NULL, ok INTEGER NOT NULL, at INTEGER NOT NULL);
    `);
    // How many entitlements the call really changed on the target: a repeated revoke (say,
    // after its first caller died before recording it) changes nothing. Older records lack it.
    // Replicas sharing a record open it at the same moment: the look and the change happen in
    // one write transaction, so only the first adds the column.
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const columns = this.db.prepare('PRAGMA table_info(calls)').all() as { name: string }[];
      if (!columns.some((c) => c.name === 'changed')) this.db.exec('ALTER TABLE calls ADD COLUMN changed INTEGER');
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    }
  }

  /** The faults file, when there is one, is read again on every call. */
  private loadFaults(): void {
    if (!this.faultsFile) return;
    try {
      this.faults = JSON.parse(readFileSync(this.faultsFile, 'utf8')) as DemoFaults;
    } catch {
      this.faults = {};
    }
  }

  private async delay(): Promise<void> {
    this.loadFaults();
    if (this.faults.latencyMs) await new Promise((r) => setTimeout(r, this.faults.latencyMs));
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    await this.delay();
    if (this.faults.grant) {
      this.logCall('grant', input.requestId, input.user.id, input.entitlements, false);
      throw new Error(this.faults.grant);
    }
    await this.inTransaction(() => {
      const insert = this.stmt(
        `INSERT INTO granted (user_id, resource_type, resource, permission, request_id, granted_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      );
      for (const e of input.entitlements) insert.run(input.user.id, e.resourceType, e.resource, e.permission, input.requestId, this.now());
      this.logCall('grant', input.requestId, input.user.id, input.entitlements, true);
    });
    return {
      accessDetails: {
        user: `demo_${input.user.id}`,
        token: `demo-${secureRandomBytes(12).toString('hex')}`,
        note: 'demo access: nothing real was granted',
      },
    };
  }

  async revoke(input: RevokeInput): Promise<void> {
    await this.delay();
    if (this.faults.revoke) {
      this.logCall('revoke', input.requestId, input.user.id, input.entitlements, false);
      throw new Error(this.faults.revoke);
    }
    const keep = new Set(input.stillCovered.map(key));
    await this.inTransaction(() => {
      const del = this.stmt('DELETE FROM granted WHERE user_id = ? AND resource_type = ? AND resource = ? AND permission = ?');
      let changed = 0;
      for (const e of input.entitlements) if (!keep.has(key(e))) changed += del.run(input.user.id, e.resourceType, e.resource, e.permission).changes;
      this.logCall('revoke', input.requestId, input.user.id, input.entitlements, true, changed);
    });
  }

  private readonly statements = new Map<string, Database.Statement<unknown[]>>();
  private stmt(sql: string): Database.Statement<unknown[]> {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  private queue: { fn: () => void; resolve: () => void; reject: (err: unknown) => void }[] = [];

  /**
   * The target's change and the call log commit together (the log never claims a call that
   * did not happen); changes made in the same turn of the event loop share one transaction,
   * and a call returns once its change is committed.
   */
  private inTransaction(fn: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ fn, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const failed = new Set<number>();
    try {
      this.db.exec('BEGIN IMMEDIATE');
      batch.forEach((item, i) => {
        try {
          item.fn();
        } catch (err) {
          failed.add(i);
          item.reject(err);
        }
      });
      this.db.exec('COMMIT');
    } catch (err) {
      this.db.exec('ROLLBACK');
      batch.forEach((item, i) => failed.has(i) || item.reject(err));
      return;
    }
    batch.forEach((item, i) => failed.has(i) || item.resolve());
  }

  async listGranted(): Promise<GrantedEntry[]> {
    // A page at a time with the event loop running in between: a record of many thousands
    // of grants must not stall the service that lists it (reconciliation).
    const page = this.db.prepare(`SELECT * FROM granted WHERE (user_id, resource_type, resource, permission) > (?, ?, ?, ?)
      ORDER BY user_id, resource_type, resource, permission LIMIT 2000`);
    const out: GrantedEntry[] = [];
    for (let after = ['', '', '', '']; ;) {
      const rows = page.all(...after) as Record<string, unknown>[];
      for (const r of rows) {
        out.push({
          user: String(r.user_id),
          requestId: r.request_id === null ? null : String(r.request_id),
          entitlement: { integration: this.id, resourceType: String(r.resource_type), resource: String(r.resource), permission: String(r.permission) },
        });
      }
      if (rows.length < 2000) return out;
      const last = rows[rows.length - 1]!;
      after = [String(last.user_id), String(last.resource_type), String(last.resource), String(last.permission)];
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async listResources(): Promise<DiscoveredResource[]> {
    return this.declared.map((r) => ({ type: r.type, name: r.name, parent: r.parent, tags: r.tags }));
  }

  async health(): Promise<HealthReport> {
    this.loadFaults();
    return this.faults.health ? { ok: false, checkedAt: this.now(), error: this.faults.health } : { ok: true, checkedAt: this.now(), error: null };
  }

  /** Number of successful calls of one kind, optionally for one request (for tests and benchmarks). */
  countCalls(op: 'grant' | 'revoke', requestId?: string): number {
    const row = (requestId === undefined
      ? this.db.prepare('SELECT count(*) AS n FROM calls WHERE op = ? AND ok = 1').get(op)
      : this.db.prepare('SELECT count(*) AS n FROM calls WHERE op = ? AND ok = 1 AND request_id = ?').get(op, requestId)) as Record<string, unknown>;
    return Number(row.n);
  }

  private logCall(op: string, requestId: string, userId: string, entitlements: Entitlement[], ok: boolean, changed: number | null = null): void {
    this.stmt('INSERT INTO calls (op, request_id, user_id, entitlements, ok, at, changed) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(op, requestId, userId, JSON.stringify(entitlements.map(key)), ok ? 1 : 0, this.now(), changed);
  }

  async close(): Promise<void> {
    if (this.queue.length) this.flush();
    this.statements.clear();
    this.db.close();
  }
}

function key(e: Entitlement): string {
  return `${e.resourceType}\u0000${e.resource}\u0000${e.permission}`;
}
