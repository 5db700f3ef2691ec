// Every write of the SQLite store (sqlite-store.ts), on its connection: change sets with
// their preconditions, claims and leases of jobs, the audit chain, tokens, favorites, meta,
// (sqlite-sign-in.ts) sessions, sign-in attempts and provisioned users, and (sqlite-mfa.ts)
// TOTP self-enrolments.

import type Database from 'libsql';
import { applyRequestUpdate, awaitsDecision, coversEntitlements, entitlementKey, jobIdRange, type Favorite, type GrantRecord, type JobRecord, type RequestRecord } from '../domain/request.ts';
import { canonicalJson, GENESIS_HASH, hashAuditEvent } from '../audit/chain.ts';
import { ConflictError, type AuditHasher, type AuditInput, type ChangeSet, type TokenRecord } from './store.ts';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.ts';
import { StatementCache, type Row } from './sqlite-connection.ts';
import { auditFromRow, authenticationColumns, jobFromRow, warningOffsetsColumn } from './rows.ts';
import { SqliteSignInWrites } from './sqlite-sign-in.ts';
import { SqliteMfaWrites } from './sqlite-mfa.ts';
import { insertOutbox, SqliteOutboxWrites } from './sqlite-outbox.ts';
import type { SharedWriteLock } from './sqlite-write-lock.ts';

/** How one change set of a batch ended: null when committed, else why nothing of it was written. */
export type CommitOutcome = unknown;

/**
 * One stored request a checked change set changes: the request as it becomes (when it is
 * updated) and its grants, which live in its row (as the JSON array `grantsText` was read).
 */
interface RowPlan {
  id: string;
  current?: RequestRecord;
  next?: RequestRecord;
  grantsText: string;
  grants?: GrantRecord[];
}

/** What a checked change set will write. */
interface WritePlan {
  /** Requests inserted by the change set, each with the grants inserted beside it. */
  inserted: Map<string, { request: RequestRecord; grants: GrantRecord[] }>;
  /** Stored requests it updates, or whose grants it inserts or updates. */
  rows: Map<string, RowPlan>;
}

const byIntegration = (a: GrantRecord, b: GrantRecord) => (a.integration < b.integration ? -1 : a.integration > b.integration ? 1 : 0);

export class SqliteWriter {
  /** The audit chain's head as the open transaction sees it (read once, written once at the end). */
  private txHead: { seq: number; hash: string; dirty: boolean } | null = null;
  /** The writes of sessions, sign-in attempts and provisioned users. */
  readonly signIn: SqliteSignInWrites;
  /** The writes of TOTP self-enrolments. */
  readonly mfa: SqliteMfaWrites;
  readonly outbox: SqliteOutboxWrites;

  /**
   * `sql`: the statements of the store's connection `db`, shared with its reads. `auditKey`:
   * the audit chain's key (null: this store cannot append audit events). `lock`: the file's
   * write lock shared with the delivery thread's connection (sqlite-write-lock.ts), taken
   * around each transaction.
   */
  constructor(private readonly db: Database.Database, private readonly sql: StatementCache, private readonly auditKey: Buffer | null, private readonly lock: SharedWriteLock | null = null) {
    this.signIn = new SqliteSignInWrites(sql);
    this.mfa = new SqliteMfaWrites(sql);
    this.outbox = new SqliteOutboxWrites(sql);
  }

  private run(sql: string, ...params: unknown[]): number {
    return this.sql.run(sql, ...params);
  }

  private get(sql: string, ...params: unknown[]): Row | undefined {
    return this.sql.get(sql, ...params);
  }

  private headInTx(): { seq: number; hash: string; dirty: boolean } | null {
    return this.txHead;
  }

  /** Runs `fn`'s statements in one transaction (writes kept in modules of their own, e.g. sqlite-inventory.ts). */
  inTransaction<T>(fn: () => T): T {
    return this.transaction(fn);
  }

  private lockDepth = 0;

  /**
   * Runs `fn` holding the file's write lock shared with the delivery thread (taken once:
   * a transaction inside a locked write does not take it again).
   */
  locked<T>(fn: () => T): T {
    if (this.lockDepth > 0 || !this.lock) return fn();
    const held = this.lock.acquire('api');
    this.lockDepth++;
    try {
      return fn();
    } finally {
      this.lockDepth--;
      if (held) this.lock.release('api');
    }
  }

  private transaction<T>(fn: () => T): T {
    return this.locked(() => this.transactionLocked(fn));
  }

  private transactionLocked<T>(fn: () => T): T {
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

  migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    const applied = new Set(this.sql.all('SELECT version FROM schema_migrations').map((r) => Number(r.version)));
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      this.transaction(() => {
        this.db.exec(m.sql);
        this.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', m.version, m.name, Date.now());
      });
    }
  }

  /**
   * Commits a batch of change sets in one transaction (a commit's cost is mostly writing its
   * pages to the log, not the rows). Each change set's preconditions are checked before it
   * writes anything, so a conflict skips only that one. `alongside` are other writes in the
   * same transaction (the events kept for replay), each failing on its own (`alongsideOutcomes`)
   * and failing no change set. With `until` (a performance.now() time), change sets are taken
   * until then only (one at least): `outcomes` is shorter than the batch by those left.
   */
  applyChangeSets(batch: ChangeSet[], alongside: (() => void)[] = [], until = Infinity): { outcomes: CommitOutcome[]; alongsideOutcomes: CommitOutcome[] } {
    const outcomes: CommitOutcome[] = [];
    let alongsideOutcomes: CommitOutcome[] = [];
    try {
      this.transaction(() => {
        for (const cs of batch) {
          if (outcomes.length > 0 && performance.now() >= until) break;
          const plan = this.check(cs);
          if (plan instanceof ConflictError) {
            outcomes.push(plan);
            continue;
          }
          this.write(cs, plan);
          outcomes.push(null);
        }
        // Each in a savepoint: one that fails leaves nothing of itself.
        alongsideOutcomes = alongside.map((fn) => {
          this.db.exec('SAVEPOINT alongside');
          try {
            fn();
            this.db.exec('RELEASE alongside');
            return null;
          } catch (err) {
            this.db.exec('ROLLBACK TO alongside');
            this.db.exec('RELEASE alongside');
            return err;
          }
        });
      });
      return { outcomes, alongsideOutcomes };
    } catch (err) {
      // A write failed after its checks passed (a bug or a full disk): the batch was rolled
      // back; commit each change set on its own so only the faulty one fails.
      alongsideOutcomes = alongside.map((fn) => this.attempt(fn));
      if (batch.length <= 1) return { outcomes: batch.map(() => err), alongsideOutcomes };
      const each = batch.map((cs) => this.attempt(() => {
        const plan = this.check(cs);
        if (plan instanceof ConflictError) throw plan;
        this.write(cs, plan);
      }));
      return { outcomes: each, alongsideOutcomes };
    }
  }

  /** Runs `fn` in a transaction of its own: null, or what it threw. */
  private attempt(fn: () => void): unknown {
    try {
      this.transaction(fn);
      return null;
    } catch (err) {
      return err;
    }
  }

  /** Reads what the change set depends on and checks its preconditions; writes nothing. */
  private check(cs: ChangeSet): WritePlan | ConflictError {
    const inserted: WritePlan['inserted'] = new Map((cs.insertRequests ?? []).map((r) => [r.id, { request: r, grants: [] }]));
    const rows: WritePlan['rows'] = new Map();
    for (const u of cs.updateRequests ?? []) {
      if (rows.has(u.id)) return new ConflictError(`request ${u.id} is updated twice in one change set`);
      let current: RequestRecord;
      let grantsText: string;
      if (u.base && u.base.version === u.expectVersion) {
        const row = this.get('SELECT version, status, grants FROM requests WHERE id = ?', u.id);
        if (!row) return new ConflictError(`request ${u.id} does not exist`);
        if (Number(row.version) !== u.expectVersion) return new ConflictError(`request ${u.id} was changed by someone else (now ${String(row.status)})`);
        current = u.base;
        grantsText = String(row.grants);
      } else {
        const row = this.get('SELECT doc, grants FROM requests WHERE id = ?', u.id);
        if (!row) return new ConflictError(`request ${u.id} does not exist`);
        current = JSON.parse(String(row.doc)) as RequestRecord;
        if (current.version !== u.expectVersion) return new ConflictError(`request ${u.id} was changed by someone else (now ${current.status})`);
        grantsText = String(row.grants);
      }
      rows.set(u.id, { id: u.id, current, next: applyRequestUpdate(current, u.set), grantsText });
    }
    // The grants of a stored request, read with it (or for the first time here).
    const grantsOf = (requestId: string): GrantRecord[] | null => {
      const added = inserted.get(requestId);
      if (added) return added.grants;
      let plan = rows.get(requestId);
      if (!plan) {
        const row = this.get('SELECT grants FROM requests WHERE id = ?', requestId);
        if (!row) return null;
        rows.set(requestId, (plan = { id: requestId, grantsText: String(row.grants) }));
      }
      return (plan.grants ??= JSON.parse(plan.grantsText) as GrantRecord[]);
    };
    for (const g of cs.insertGrants ?? []) {
      const grants = grantsOf(g.requestId);
      if (!grants) return new ConflictError(`request ${g.requestId} does not exist`);
      if (grants.some((x) => x.integration === g.integration)) return new ConflictError(`grant ${g.requestId}/${g.integration} already exists`);
      grants.push(g);
    }
    for (const u of cs.updateGrants ?? []) {
      const grants = grantsOf(u.requestId);
      const i = grants ? grants.findIndex((x) => x.integration === u.integration) : -1;
      if (!grants || i < 0) return new ConflictError(`grant ${u.requestId}/${u.integration} does not exist`);
      const current = grants[i]!;
      if (u.expectStatus && !u.expectStatus.includes(current.status)) {
        return new ConflictError(`grant ${u.requestId}/${u.integration} is ${current.status}, expected ${u.expectStatus.join(' or ')}`);
      }
      grants[i] = { ...current, ...u.set };
    }
    for (const d of cs.deleteJobs ?? []) {
      if (d.owner === undefined) continue;
      const row = this.get('SELECT lease_owner FROM jobs WHERE id = ?', d.id);
      if (!row || row.lease_owner !== d.owner) return new ConflictError(`job ${d.id} is no longer held by ${d.owner}`);
    }
    return { inserted, rows };
  }

  private write(cs: ChangeSet, plan: WritePlan): void {
    for (const { request: r, grants } of plan.inserted.values()) {
      try {
        this.run(
          'INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc, grants) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
          r.id, r.requester, r.flowId, r.status, r.createdAt, r.updatedAt, r.version, JSON.stringify(r), JSON.stringify(grants.sort(byIntegration)),
        );
      } catch (err) {
        // A duplicate id (an automatic flow's request made twice) is a conflict, not a fault.
        if (String((err as { code?: string }).code ?? '').startsWith('SQLITE_CONSTRAINT')) throw new ConflictError(`request ${r.id} already exists`);
        throw err;
      }
      if (awaitsDecision(r)) this.syncApprovers(r);
      if (coversEntitlements(r.status)) this.addHoldings(r);
    }
    for (const { id, current, next, grantsText, grants } of plan.rows.values()) {
      const nextGrants = grants ? JSON.stringify(grants.sort(byIntegration)) : grantsText;
      if (!current || !next) {
        this.run('UPDATE requests SET grants = ? WHERE id = ?', nextGrants, id);
        continue;
      }
      this.run('UPDATE requests SET status = ?, updated_at = ?, version = ?, doc = ?, grants = ? WHERE id = ?', next.status, next.updatedAt, next.version, JSON.stringify(next), nextGrants, id);
      if (awaitsDecision(current) || awaitsDecision(next)) this.syncApprovers(next);
      if (coversEntitlements(current.status) !== coversEntitlements(next.status)) {
        if (coversEntitlements(next.status)) this.addHoldings(next);
        else this.removeHoldings(next);
      }
    }
    for (const d of cs.deleteJobs ?? []) this.run('DELETE FROM jobs WHERE id = ?', d.id);
    for (const d of cs.deleteJobsOfRequest ?? []) {
      if (d.kinds.length === 0) continue;
      const { from, to } = jobIdRange(d.requestId);
      this.run(`DELETE FROM jobs WHERE id >= ? AND id < ? AND request_id = ? AND kind IN (${d.kinds.map(() => '?').join(', ')})`, from, to, d.requestId, ...d.kinds);
    }
    for (const j of cs.insertJobs ?? []) {
      this.run(
        `INSERT INTO jobs (id, kind, request_id, integration, warning_offsets_ms, due_at, attempts, last_error, lease_owner, lease_until)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET integration = excluded.integration, warning_offsets_ms = excluded.warning_offsets_ms, due_at = excluded.due_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until`,
        j.id, j.kind, j.requestId, j.integration, warningOffsetsColumn(j), j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil,
      );
    }
    if (cs.outbox?.length) insertOutbox(this.sql, cs.outbox);
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

  /** The rows addHoldings wrote (a request's entitlements do not change). */
  private removeHoldings(r: RequestRecord): void {
    for (const e of r.entitlements) {
      this.run('DELETE FROM holdings WHERE requester = ? AND ent_key = ? AND request_id = ?', r.requester, entitlementKey(e), r.id);
    }
  }

  claimDueJobs(now: number, owner: string, leaseUntil: number, limit: number): JobRecord[] {
    return this.transaction(() =>
      this.sql.all(
        `UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
         WHERE id IN (SELECT id FROM jobs WHERE due_at <= ? AND (lease_until IS NULL OR lease_until <= ?) ORDER BY due_at LIMIT ?)
         RETURNING *`,
        owner, leaseUntil, now, now, limit,
      ).map(jobFromRow).sort((a, b) => a.dueAt - b.dueAt),
    );
  }

  renewLeases(ids: string[], owner: string, leaseUntil: number): number {
    return this.transaction(() => {
      let n = 0;
      for (const id of ids) n += this.run('UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?', leaseUntil, id, owner);
      return n;
    });
  }

  rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): boolean {
    return this.run(
      'UPDATE jobs SET due_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?',
      dueAt, lastError, id, owner,
    ) === 1;
  }

  releaseAllLeases(owner?: string): number {
    // The notifications being delivered too: a delivery that died with its process is taken again at once.
    if (owner !== undefined) {
      this.run('UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?', owner);
      return this.run('UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?', owner);
    }
    this.run('UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL');
    return this.run('UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL');
  }

  /**
   * Makes every revoke that is waiting out a backoff due at `now` (used on start, see
   * service.ts). Its attempts count is kept, so a revoke that fails again backs off from
   * where it was. Returns how many were brought forward.
   */
  retryBackedOffRevokesNow(now: number): number {
    return this.run("UPDATE jobs SET due_at = ? WHERE kind = 'revoke' AND due_at > ? AND lease_owner IS NULL", now, now);
  }

  retryRevokesOfRequestNow(requestId: string, now: number): number {
    const { from, to } = jobIdRange(requestId);
    return this.run("UPDATE jobs SET due_at = ? WHERE id >= ? AND id < ? AND request_id = ? AND kind = 'revoke' AND lease_owner IS NULL", now, from, to, requestId);
  }

  appendAudit(events: AuditInput[]): void {
    this.transaction(() => this.appendAuditInTx(events));
  }

  private appendAuditInTx(events: AuditInput[]): void {
    const key = this.auditKey;
    if (!key) throw new Error('this store was opened without the audit key: it cannot append audit events');
    if (!this.txHead) {
      const head = this.get('SELECT seq, hash FROM audit_head WHERE id = 1');
      this.txHead = { seq: head ? Number(head.seq) : 0, hash: head ? String(head.hash) : GENESIS_HASH, dirty: false };
    }
    let seq = this.txHead.seq;
    let prev = this.txHead.hash;
    for (const e of events) {
      seq++;
      const dataText = canonicalJson(e.data);
      const hash = hashAuditEvent(key, prev, { seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText });
      this.run(
        'INSERT INTO audit (seq, at, actor, action, request_id, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        seq, e.at, e.actor, e.action, e.requestId, dataText, prev, hash,
      );
      prev = hash;
    }
    this.txHead = { seq, hash: prev, dirty: true };
  }

  /** See Store.rehashAudit: one transaction, a page of events at a time. */
  rehashAudit(checkOld: AuditHasher, hashOf: AuditHasher): number {
    return this.transaction(() => {
      let oldPrev = GENESIS_HASH;
      let newPrev = GENESIS_HASH;
      let seq = 0;
      for (;;) {
        const page = this.sql.all('SELECT * FROM audit WHERE seq > ? ORDER BY seq ASC LIMIT 1000', seq).map(auditFromRow);
        if (page.length === 0) break;
        for (const e of page) {
          const fields = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText: canonicalJson(e.data) };
          if (e.seq !== seq + 1 || e.prevHash !== oldPrev || checkOld(oldPrev, fields) !== e.hash) {
            throw new Error(`audit event ${e.seq} does not verify as written: the chain is left as it is`);
          }
          const hash = hashOf(newPrev, fields);
          this.run('UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?', newPrev, hash, e.seq);
          oldPrev = e.hash;
          newPrev = hash;
          seq = e.seq;
        }
      }
      const head = this.get('SELECT seq, hash FROM audit_head WHERE id = 1');
      if (seq > 0 && (!head || Number(head.seq) !== seq || String(head.hash) !== oldPrev)) {
        throw new Error(`the audit head does not match the chain's last event ${seq}: the chain is left as it is`);
      }
      this.txHead = { seq, hash: newPrev, dirty: seq > 0 };
      return seq;
    });
  }

  insertFavorite(f: Favorite): void {
    this.run('INSERT INTO favorites (id, owner, created_at, doc) VALUES (?, ?, ?, ?)', f.id, f.owner, f.createdAt, JSON.stringify(f));
  }

  updateFavorite(f: Favorite): boolean {
    return this.run('UPDATE favorites SET doc = ? WHERE id = ? AND owner = ?', JSON.stringify(f), f.id, f.owner) === 1;
  }

  deleteFavorite(owner: string, id: string): boolean {
    return this.run('DELETE FROM favorites WHERE id = ? AND owner = ?', id, owner) === 1;
  }

  insertToken(t: TokenRecord, secretHash: string): void {
    this.run(
      'INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at, expires_at, kind, authenticated_at, acr, amr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      t.id, t.userId, t.name, secretHash, t.createdAt, t.revokedAt, t.lastUsedAt, t.expiresAt, t.kind, ...authenticationColumns(t.authentication),
    );
  }

  revokeToken(id: string, at: number): boolean {
    return this.run('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', at, id) === 1;
  }

  touchToken(id: string, at: number): void {
    this.run('UPDATE tokens SET last_used_at = ? WHERE id = ?', at, id);
  }

  setMetaIfAbsent(key: string, value: string): boolean {
    return this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', key, value) === 1;
  }

  /** See Store.useMfaStep: one statement, so one caller wins. */
  useMfaStep(userId: string, step: number): boolean {
    return this.run(
      `INSERT INTO meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)`,
      `mfa-last-step:${userId}`, String(step),
    ) === 1;
  }

  /** See Store.countMfaAttempts: one statement (the value is `{"since": ms, "count": n}`). */
  countMfaAttempts(userId: string, delta: 1 | -1, now: number, windowMs: number): { count: number; since: number } {
    const fresh = JSON.stringify({ since: now, count: Math.max(0, delta) });
    const row = this.get(
      `INSERT INTO meta (key, value) VALUES (?, ?)
       ON CONFLICT (key) DO UPDATE SET value = CASE
         WHEN json_extract(meta.value, '$.since') <= ? THEN excluded.value
         ELSE json_object('since', json_extract(meta.value, '$.since'), 'count', max(0, json_extract(meta.value, '$.count') + ?))
       END
       RETURNING value`,
      `mfa-attempts:${userId}`, fresh, now - windowMs, delta,
    );
    return JSON.parse(String(row!.value)) as { count: number; since: number };
  }

  setMeta(key: string, value: string): void {
    this.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value', key, value);
  }
}
