// The embedded default store: SQLite (WAL) through libsql, whose N-API binaries are
// prebuilt in its npm packages, so the same install runs under Node and inside Electron.
// libsql is synchronous: each method runs its statements to completion before it
// returns, and every write is one `BEGIN IMMEDIATE` transaction, so concurrent callers in
// this process never interleave inside a transaction.

import Database from 'libsql';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { applyRequestUpdate, awaitsDecision, coversEntitlements, entitlementKey, HOLDING_STATUSES, type Favorite, type GrantRecord, type JobRecord, type RequestRecord } from '../domain/request.ts';
import { canonicalJson, GENESIS_HASH, hashAuditEvent } from '../audit/chain.ts';
import {
  ConflictError,
  type AuditEvent,
  type AuditFilter,
  type AuditInput,
  type ChangeSet,
  type HeldGrant,
  type RequestFilter,
  type Store,
  type TokenRecord,
} from './store.ts';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

type Row = Record<string, unknown>;
type Statement = Database.Statement<unknown[]>;


export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Statement>();

  private readonly checkpointer: WalCheckpointer | null;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.exec('PRAGMA journal_mode = WAL');
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA busy_timeout = 5000');
    this.db.exec('PRAGMA foreign_keys = ON');
    // Checkpoint (and fsync) every ~16 MiB of WAL rather than every 4 MiB.
    // Checkpoints run in a worker thread (WalCheckpointer); the automatic one is a safety net.
    this.db.exec(`PRAGMA wal_autocheckpoint = ${path === ':memory:' ? 1000 : 50_000}`);
    // Keep the hot part of a large store in memory: 64 MiB of page cache.
    this.db.exec('PRAGMA cache_size = -65536');
    this.checkpointer = path === ':memory:' ? null : new WalCheckpointer(path);
  }

  private stmt(sql: string): Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private all(sql: string, ...params: unknown[]): Row[] {
    return this.stmt(sql).all(...params) as Row[];
  }

  private get(sql: string, ...params: unknown[]): Row | undefined {
    return this.stmt(sql).get(...params) as Row | undefined;
  }

  private run(sql: string, ...params: unknown[]): number {
    return this.stmt(sql).run(...params).changes;
  }

  /** The audit chain's head as this transaction sees it (read once, written once at the end). */
  private txHead: { seq: number; hash: string; dirty: boolean } | null = null;

  private headInTx(): { seq: number; hash: string; dirty: boolean } | null {
    return this.txHead;
  }

  private transaction<T>(fn: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    this.txHead = null;
    try {
      const result = fn();
      const head = this.headInTx();
      if (head?.dirty) {
        this.run('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash', head.seq, head.hash);
      }
      this.db.exec('COMMIT');
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK');
      throw err;
    } finally {
      this.txHead = null;
    }
  }

  async migrate(): Promise<void> {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const applied = new Set(this.all('SELECT version FROM schema_migrations').map((r) => Number(r.version)));
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      this.transaction(() => {
        this.db.exec(m.sql);
        this.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', m.version, m.name, Date.now());
      });
    }
  }

  async close(): Promise<void> {
    if (this.pending.length) this.flush();
    await this.checkpointer?.stop();
    this.statements.clear();
    this.db.close();
  }

  async ping(): Promise<void> {
    this.get('SELECT 1');
  }

  /**
   * Group commit: change sets committed in the same turn of the event loop share one
   * transaction (a commit's cost is mostly writing its pages to the WAL, not the rows).
   * Each change set's preconditions are checked before it writes anything, so a conflict
   * skips only that one; each caller's promise settles after the shared COMMIT.
   */
  commit(cs: ChangeSet): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ cs, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private pending: { cs: ChangeSet; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushScheduled = false;

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    this.flushScheduled = false;
    const outcomes: unknown[] = [];
    try {
      this.transaction(() => {
        for (const { cs } of batch) {
          // Every precondition is checked before anything is written, so a change set that
          // conflicts is skipped whole and the others of the batch still commit.
          const plan = this.check(cs);
          if (plan instanceof ConflictError) {
            outcomes.push(plan);
            continue;
          }
          this.write(cs, plan);
          outcomes.push(null);
        }
      });
    } catch (err) {
      // A write failed after its checks passed (a bug or a full disk): the batch was rolled
      // back; commit each change set on its own so only the faulty one fails.
      if (batch.length === 1) {
        batch[0]!.reject(err);
        return;
      }
      for (const item of batch) {
        try {
          this.transaction(() => {
            const plan = this.check(item.cs);
            if (plan instanceof ConflictError) throw plan;
            this.write(item.cs, plan);
          });
          item.resolve();
        } catch (e) {
          item.reject(e);
        }
      }
      return;
    }
    batch.forEach((item, i) => (outcomes[i] === null ? item.resolve() : item.reject(outcomes[i])));
  }

  /** Reads what the change set depends on and checks its preconditions; writes nothing. */
  private check(cs: ChangeSet): WritePlan | ConflictError {
    const requests: WritePlan['requests'] = [];
    const grants: WritePlan['grants'] = [];
    for (const u of cs.updateRequests ?? []) {
      let current: RequestRecord;
      if (u.base && u.base.version === u.expectVersion) {
        const row = this.get('SELECT version, status FROM requests WHERE id = ?', u.id);
        if (!row) return new ConflictError(`request ${u.id} does not exist`);
        if (Number(row.version) !== u.expectVersion) return new ConflictError(`request ${u.id} was changed by someone else (now ${String(row.status)})`);
        current = u.base;
      } else {
        const row = this.get('SELECT doc FROM requests WHERE id = ?', u.id);
        if (!row) return new ConflictError(`request ${u.id} does not exist`);
        current = JSON.parse(String(row.doc)) as RequestRecord;
        if (current.version !== u.expectVersion) return new ConflictError(`request ${u.id} was changed by someone else (now ${current.status})`);
      }
      requests.push({ current, next: applyRequestUpdate(current, u.set) });
    }
    for (const u of cs.updateGrants ?? []) {
      const row = this.get('SELECT doc FROM grants WHERE request_id = ? AND integration = ?', u.requestId, u.integration);
      if (!row) return new ConflictError(`grant ${u.requestId}/${u.integration} does not exist`);
      const current = JSON.parse(String(row.doc)) as GrantRecord;
      if (u.expectStatus && !u.expectStatus.includes(current.status)) {
        return new ConflictError(`grant ${u.requestId}/${u.integration} is ${current.status}, expected ${u.expectStatus.join(' or ')}`);
      }
      grants.push({ ...current, ...u.set });
    }
    for (const d of cs.deleteJobs ?? []) {
      if (d.owner === undefined) continue;
      const row = this.get('SELECT lease_owner FROM jobs WHERE id = ?', d.id);
      if (!row || row.lease_owner !== d.owner) return new ConflictError(`job ${d.id} is no longer held by ${d.owner}`);
    }
    return { requests, grants };
  }

  private write(cs: ChangeSet, plan: WritePlan): void {
    for (const r of cs.insertRequests ?? []) {
      try {
        this.run(
          'INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
          r.id, r.requester, r.flowId, r.status, r.createdAt, r.updatedAt, r.version, JSON.stringify(r),
        );
      } catch (err) {
        // A duplicate id (an automatic flow's request made twice) is a conflict, not a fault.
        if (String((err as { code?: string }).code ?? '').startsWith('SQLITE_CONSTRAINT')) throw new ConflictError(`request ${r.id} already exists`);
        throw err;
      }
      if (awaitsDecision(r)) this.syncApprovers(r);
      if (coversEntitlements(r.status)) this.addHoldings(r);
    }
    for (const { current, next } of plan.requests) {
      this.run('UPDATE requests SET status = ?, updated_at = ?, version = ?, doc = ? WHERE id = ?', next.status, next.updatedAt, next.version, JSON.stringify(next), next.id);
      if (awaitsDecision(current) || awaitsDecision(next)) this.syncApprovers(next);
      if (coversEntitlements(current.status) !== coversEntitlements(next.status)) {
        if (coversEntitlements(next.status)) this.addHoldings(next);
        else this.run('DELETE FROM holdings WHERE request_id = ?', next.id);
      }
    }
    for (const g of cs.insertGrants ?? []) {
      this.run('INSERT INTO grants (request_id, integration, status, doc) VALUES (?, ?, ?, ?)', g.requestId, g.integration, g.status, JSON.stringify(g));
    }
    for (const g of plan.grants) {
      this.run('UPDATE grants SET status = ?, doc = ? WHERE request_id = ? AND integration = ?', g.status, JSON.stringify(g), g.requestId, g.integration);
    }
    for (const d of cs.deleteJobs ?? []) this.run('DELETE FROM jobs WHERE id = ?', d.id);
    for (const d of cs.deleteJobsOfRequest ?? []) {
      if (d.kinds.length === 0) continue;
      this.run(`DELETE FROM jobs WHERE request_id = ? AND kind IN (${d.kinds.map(() => '?').join(', ')})`, d.requestId, ...d.kinds);
    }
    for (const j of cs.insertJobs ?? []) {
      this.run(
        `INSERT INTO jobs (id, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET due_at = excluded.due_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until`,
        j.id, j.kind, j.requestId, j.target, j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil,
      );
    }
    if (cs.audit?.length) this.appendAuditInTx(cs.audit);
  }

  private syncApprovers(r: RequestRecord): void {
    this.run('DELETE FROM request_approvers WHERE request_id = ?', r.id);
    if (!awaitsDecision(r)) return;
    const users = new Set(r.approverGroups.flatMap((g) => g.users));
    for (const user of users) this.run('INSERT INTO request_approvers (user_id, request_id) VALUES (?, ?)', user, r.id);
  }

  private addHoldings(r: RequestRecord): void {
    for (const e of r.entitlements) {
      this.run('INSERT INTO holdings (requester, ent_key, request_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', r.requester, entitlementKey(e), r.id);
    }
  }

  async coveredByOthers(requester: string, excludeRequestId: string, keys: string[]): Promise<Set<string>> {
    const covered = new Set<string>();
    for (const key of keys) {
      if (this.get('SELECT 1 FROM holdings WHERE requester = ? AND ent_key = ? AND request_id <> ? LIMIT 1', requester, key, excludeRequestId)) covered.add(key);
    }
    return covered;
  }

  async holdingGrantsPage(after: { requestId: string; integration: string } | null, limit: number): Promise<HeldGrant[]> {
    return this.all(
      `SELECT g.request_id, g.integration, r.requester, g.doc FROM grants g JOIN requests r ON r.id = g.request_id
       WHERE g.status IN ('granting', 'active', 'revoking') AND r.status IN (${HOLDING_STATUSES.map((s) => `'${s}'`).join(', ')})
         AND (g.request_id, g.integration) > (?, ?)
       ORDER BY g.request_id, g.integration LIMIT ?`,
      after?.requestId ?? '', after?.integration ?? '', Math.floor(limit),
    ).map((row) => ({
      requestId: String(row.request_id), integration: String(row.integration), requester: String(row.requester),
      entitlements: (JSON.parse(String(row.doc)) as GrantRecord).entitlements,
    }));
  }

  async getRequest(id: string): Promise<RequestRecord | null> {
    const row = this.get('SELECT doc FROM requests WHERE id = ?', id);
    return row ? (JSON.parse(String(row.doc)) as RequestRecord) : null;
  }

  async getGrants(requestId: string): Promise<GrantRecord[]> {
    return this.all('SELECT doc FROM grants WHERE request_id = ? ORDER BY integration', requestId).map((r) => JSON.parse(String(r.doc)) as GrantRecord);
  }

  async getGrantsOf(requestIds: string[]): Promise<Map<string, GrantRecord[]>> {
    const out = new Map<string, GrantRecord[]>();
    for (const id of requestIds) out.set(id, await this.getGrants(id));
    return out;
  }

  async listRequests(f: RequestFilter): Promise<RequestRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.requester !== undefined) { where.push('requester = ?'); params.push(f.requester); }
    if (f.flowId !== undefined) { where.push('flow_id = ?'); params.push(f.flowId); }
    if (f.idPrefix !== undefined) { where.push('id >= ? AND id < ?'); params.push(f.idPrefix, f.idPrefix + '\uffff'); }
    if (f.statuses?.length) { where.push(`status IN (${f.statuses.map(() => '?').join(', ')})`); params.push(...f.statuses); }
    if (f.createdBefore !== undefined) { where.push('created_at < ?'); params.push(f.createdBefore); }
    const sql = `SELECT doc FROM requests ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id DESC${f.limit ? ' LIMIT ' + Math.floor(f.limit) : ''}`;
    return this.db.prepare(sql).all(...params).map((r) => JSON.parse(String((r as Row).doc)) as RequestRecord);
  }

  async listAwaitingDecisionBy(userId: string): Promise<RequestRecord[]> {
    return this.all(
      `SELECT r.doc FROM request_approvers a JOIN requests r ON r.id = a.request_id
       WHERE a.user_id = ? ORDER BY r.created_at ASC`,
      userId,
    ).map((r) => JSON.parse(String(r.doc)) as RequestRecord);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of this.all('SELECT status, count(*) AS n FROM requests GROUP BY status')) out[String(r.status)] = Number(r.n);
    return out;
  }

  async claimDueJobs(now: number, owner: string, leaseUntil: number, limit: number): Promise<JobRecord[]> {
    return this.transaction(() =>
      this.all(
        `UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs WHERE due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?)
         RETURNING *`,
        owner, leaseUntil, now, now, limit,
      ).map(jobFromRow).sort((a, b) => a.dueAt - b.dueAt),
    );
  }

  async renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<number> {
    let n = 0;
    for (const id of ids) n += this.run('UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?', leaseUntil, id, owner);
    return n;
  }

  async rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean> {
    return this.run(
      'UPDATE jobs SET due_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
      dueAt, lastError, id, owner,
    ) === 1;
  }

  /** The earliest due time among jobs nobody holds (lapsed leases are found by the scheduler's regular look). */
  async nextDueAt(): Promise<number | null> {
    const row = this.get('SELECT min(due_at) AS t FROM jobs WHERE lease_until IS NULL');
    return row && row.t !== null && row.t !== undefined ? Number(row.t) : null;
  }

  async releaseAllLeases(owner?: string): Promise<number> {
    if (owner !== undefined) return this.run('UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?', owner);
    return this.run('UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL');
  }

  /**
   * Makes every revoke that is waiting out a backoff due at `now` (used on start, see
   * service.ts). Its attempts count is kept, so a revoke that fails again backs off from
   * where it was. Returns how many were brought forward.
   */
  async retryBackedOffRevokesNow(now: number): Promise<number> {
    return this.run("UPDATE jobs SET due_at = ? WHERE kind = 'revoke' AND due_at > ? AND lease_owner IS NULL", now, now);
  }

  async jobsOfRequest(requestId: string): Promise<JobRecord[]> {
    return this.all('SELECT * FROM jobs WHERE request_id = ? ORDER BY due_at', requestId).map(jobFromRow);
  }

  async appendAudit(events: AuditInput[]): Promise<void> {
    this.transaction(() => this.appendAuditInTx(events));
  }

  private appendAuditInTx(events: AuditInput[]): void {
    if (!this.txHead) {
      const head = this.get('SELECT seq, hash FROM audit_head WHERE id = 1');
      this.txHead = { seq: head ? Number(head.seq) : 0, hash: head ? String(head.hash) : GENESIS_HASH, dirty: false };
    }
    let seq = this.txHead.seq;
    let prev = this.txHead.hash;
    for (const e of events) {
      seq++;
      const dataText = canonicalJson(e.data);
      const hash = hashAuditEvent(prev, { seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText });
      this.run(
        'INSERT INTO audit (seq, at, actor, action, request_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        seq, e.at, e.actor, e.action, e.requestId, dataText, prev, hash,
      );
      prev = hash;
    }
    this.txHead = { seq, hash: prev, dirty: true };
  }

  async listAudit(f: AuditFilter): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.requestId !== undefined) { where.push('request_id = ?'); params.push(f.requestId); }
    if (f.actor !== undefined) { where.push('actor = ?'); params.push(f.actor); }
    if (f.action !== undefined) { where.push('action = ?'); params.push(f.action); }
    if (f.since !== undefined) { where.push('at >= ?'); params.push(f.since); }
    if (f.until !== undefined) { where.push('at < ?'); params.push(f.until); }
    if (f.afterSeq !== undefined) { where.push('seq > ?'); params.push(f.afterSeq); }
    const limit = Math.min(Math.max(1, Math.floor(f.limit ?? 100)), 10_000);
    const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ASC LIMIT ${limit}`;
    return this.db.prepare(sql).all(...params).map((r) => auditFromRow(r as Row));
  }

  async *iterateAudit(pageSize = 5000): AsyncIterable<AuditEvent[]> {
    let after = -1;
    for (;;) {
      const page = this.all('SELECT * FROM audit WHERE seq > ? ORDER BY seq ASC LIMIT ?', after, pageSize).map(auditFromRow);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1]!.seq;
    }
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    const row = this.get('SELECT seq, hash FROM audit_head WHERE id = 1');
    return row ? { seq: Number(row.seq), hash: String(row.hash) } : null;
  }

  async insertFavorite(f: Favorite): Promise<void> {
    this.run('INSERT INTO favorites (id, owner, created_at, doc) VALUES (?, ?, ?, ?)', f.id, f.owner, f.createdAt, JSON.stringify(f));
  }

  async updateFavorite(f: Favorite): Promise<boolean> {
    return this.run('UPDATE favorites SET doc = ? WHERE id = ? AND owner = ?', JSON.stringify(f), f.id, f.owner) === 1;
  }

  async deleteFavorite(owner: string, id: string): Promise<boolean> {
    return this.run('DELETE FROM favorites WHERE id = ? AND owner = ?', id, owner) === 1;
  }

  async listFavorites(owner: string): Promise<Favorite[]> {
    return this.all('SELECT doc FROM favorites WHERE owner = ? ORDER BY created_at ASC, id ASC', owner).map((r) => JSON.parse(String(r.doc)) as Favorite);
  }

  async getFavorite(owner: string, id: string): Promise<Favorite | null> {
    const row = this.get('SELECT doc FROM favorites WHERE id = ? AND owner = ?', id, owner);
    return row ? (JSON.parse(String(row.doc)) as Favorite) : null;
  }

  async insertToken(t: TokenRecord, secretHash: string): Promise<void> {
    this.run(
      'INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      t.id, t.userId, t.name, secretHash, t.createdAt, t.revokedAt, t.lastUsedAt,
    );
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | null> {
    const row = this.get('SELECT * FROM tokens WHERE hash = ?', secretHash);
    return row ? tokenFromRow(row) : null;
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    const rows = userId === undefined
      ? this.all('SELECT * FROM tokens ORDER BY created_at')
      : this.all('SELECT * FROM tokens WHERE user_id = ? ORDER BY created_at', userId);
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return this.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', at, id) === 1;
  }

  async touchToken(id: string, at: number): Promise<void> {
    this.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', at, id);
  }

  async getMeta(key: string): Promise<string | null> {
    const row = this.get('SELECT value FROM meta WHERE key = ?', key);
    return row ? String(row.value) : null;
  }

  async setMetaIfAbsent(key: string, value: string): Promise<boolean> {
    return this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value) === 1;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }

  /** Every row of one of the store's tables, as stored (for `lapse migrate-store`). */
  readTable(table: (typeof STORE_TABLES)[number]): Row[] {
    if (!STORE_TABLES.includes(table)) throw new Error(`not a table of the store: ${table}`);
    return this.db.prepare(`SELECT * FROM ${table}`).all() as Row[];
  }

  /** Test and tooling hook: raw SQL against the database (e.g. to tamper with the audit log in a test). */
  execRaw(sql: string, ...params: unknown[]): number {
    return this.db.prepare(sql).run(...params).changes;
  }
}

/** The tables of the store's schema (the same in SQLite and PostgreSQL), parents first. */
export const STORE_TABLES = ['requests', 'request_approvers', 'holdings', 'grants', 'jobs', 'audit', 'audit_head', 'favorites', 'tokens', 'meta'] as const;

/** What a checked change set will write: the requests and grants as they become. */
interface WritePlan {
  requests: { current: RequestRecord; next: RequestRecord }[];
  grants: GrantRecord[];
}

export function jobFromRow(r: Row): JobRecord {
  return {
    id: String(r.id),
    kind: r.kind as JobRecord['kind'],
    requestId: String(r.request_id),
    target: String(r.target),
    dueAt: Number(r.due_at),
    attempts: Number(r.attempts),
    lastError: r.last_error === null ? null : String(r.last_error),
    leaseOwner: r.lease_owner === null ? null : String(r.lease_owner),
    leaseUntil: r.lease_until === null ? null : Number(r.lease_until),
  };
}

export function auditFromRow(r: Row): AuditEvent {
  return {
    seq: Number(r.seq),
    at: Number(r.at),
    actor: String(r.actor),
    action: String(r.action),
    requestId: r.request_id === null ? null : String(r.request_id),
    data: JSON.parse(String(r.data)) as Record<string, unknown>,
    prevHash: String(r.prev_hash),
    hash: String(r.hash),
  };
}

export function tokenFromRow(r: Row): TokenRecord {
  return {
    id: String(r.id),
    userId: String(r.user_id),
    name: String(r.name),
    createdAt: Number(r.created_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}
