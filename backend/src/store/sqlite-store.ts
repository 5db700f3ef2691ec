// The embedded default store: SQLite (WAL) through libsql, whose N-API binaries are
// prebuilt in its npm packages, so the same install runs under Node and inside Electron.
// libsql is synchronous: each method runs its statements to completion before it returns.
// Reads are here; every write goes through the SqliteWriter (sqlite-writer.ts) on the same
// connection, one `BEGIN IMMEDIATE` transaction at a time, so concurrent callers in this
// process never interleave inside a transaction.

import Database from 'libsql';
import { HOLDING_STATUSES, jobIdRange, type Favorite, type GrantRecord, type JobRecord, type RequestRecord, type RequestWithGrants } from '../domain/request.ts';
import {
  type AuditEvent,
  type AuditFilter,
  type AuditHasher,
  type AuditInput,
  type ChangeSet,
  type HeldGrant,
  type KeptEvent,
  type MfaEnrolment,
  type ProvisionedUser,
  type OutboxFilter,
  type OutboxOutcome,
  type OutboxRecord,
  type Renewal,
  type DueRenewal,
  type RequestFilter,
  type SessionRecord,
  type SignInAttempt,
  type Store,
  type StoreOptions,
  type TokenRecord,
} from './store.ts';
import type { AuditStreamCursor, DiscoveryOutcome, DiscoveryState, InventoryRow, NewInventoryRow, NotificationChoice, NotificationOptOuts } from './store.ts';
import { SqliteWriter } from './sqlite-writer.ts';
import { openSqlite, StatementCache, type Row } from './sqlite-connection.ts';
import { auditFromRow, jobFromRow, tokenFromRow } from './rows.ts';
import { KeyedMutex } from './keyed-mutex.ts';
import * as signIn from './sqlite-sign-in.ts';
import * as mfa from './sqlite-mfa.ts';
import * as events from './sqlite-events.ts';
import * as outbox from './sqlite-outbox.ts';
import * as auditStream from './sqlite-audit-stream.ts';
import * as inventory from './sqlite-inventory.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';
import { SharedWriteLock } from './sqlite-write-lock.ts';
import type { LapseEvent } from '../engine/events.ts';

/**
 * Change sets written in one transaction at most (MAX_FLUSH_MS usually ends one sooner). A
 * larger backlog (a revocation storm) is written a slice at a time, with the event loop
 * turning in between, so that the API answers while it is worked off.
 */
const MAX_BATCH = 128;

/**
 * How long a token once looked up is answered from memory (every API call looks one up). A
 * revocation through this store takes effect at once; one made by another process (`lapse
 * token revoke` on the data directory while the server runs) within this time.
 */
export const TOKEN_CACHE_MS = 1000;

/**
 * How long one group commit writes change sets at most (one at least) before it commits: the
 * rest go first in the next one, after a turn of the event loop, so that calls waiting on it
 * (a read, another request's next step) are not held for the whole backlog.
 */
const MAX_FLUSH_MS = 2;

/** Turns of the event loop a commit waits at most for more change sets to join it. */
const MAX_GATHER_TURNS = 8;

/**
 * How long a write waits at most, a turn of the event loop at a time, while the delivery
 * thread holds the write lock; then it waits on the lock itself, blocking.
 */
const MAX_LOCKED_WAIT_MS = 50;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly sql: StatementCache;
  private readonly writer: SqliteWriter;
  private readonly checkpointer: WalCheckpointer | null;
  /** The file's write lock, shared with the delivery thread's connection (null in memory, where there is no other). */
  readonly writeLock: SharedWriteLock | null;

  private readonly tokenCacheMs: number;
  private readonly locks = new KeyedMutex();
  private readonly tokens = new Map<string, { record: TokenRecord; until: number }>();

  constructor(readonly path: string, opts: StoreOptions & { tokenCacheMs?: number } = {}) {
    this.tokenCacheMs = opts.tokenCacheMs ?? TOKEN_CACHE_MS;
    this.db = openSqlite(path);
    this.sql = new StatementCache(this.db);
    this.writeLock = path === ':memory:' ? null : new SharedWriteLock();
    this.writer = new SqliteWriter(this.db, this.sql, opts.auditKey ?? null, this.writeLock);
    this.checkpointer = path === ':memory:' ? null : new WalCheckpointer(path);
  }

  private all(sql: string, ...params: unknown[]): Row[] {
    return this.sql.all(sql, ...params);
  }

  private get(sql: string, ...params: unknown[]): Row | undefined {
    return this.sql.get(sql, ...params);
  }

  async migrate(): Promise<void> {
    this.writer.migrate();
  }

  async close(): Promise<void> {
    while (this.pending.length || this.pendingEvents.length) this.flush();
    await this.checkpointer?.stop();
    this.sql.clear();
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
      this.scheduleFlush();
    });
  }

  /**
   * Waits, a turn of the event loop at a time, while the delivery thread holds the write
   * lock (for one short transaction; MAX_LOCKED_WAIT_MS at most), so that the write that
   * follows does not block the event loop.
   */
  private async writable(): Promise<void> {
    const since = performance.now();
    while (this.writeLock?.heldBy('delivery') && performance.now() - since < MAX_LOCKED_WAIT_MS) await new Promise(setImmediate);
  }

  /** Runs a write outside a group commit: after the delivery thread's write under way, if any, and under the write lock. */
  private async write<T>(fn: () => T): Promise<T> {
    await this.writable();
    return this.writer.locked(fn);
  }

  private pending: { cs: ChangeSet; resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** Events to keep for replay, written in the next group commit's transaction (no commit of their own). */
  private pendingEvents: { list: LapseEvent[]; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushScheduled = false;

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // A commit costs mostly the pages it writes, and change sets committed together share
    // pages. So while more keep arriving (other requests under way), the commit waits
    // another turn of the event loop — a few turns at most, and never past a full batch.
    // While the delivery thread writes, it waits turns too, rather than block the event loop
    // on the lock.
    let seen = 0;
    let turns = 0;
    let lockedSince = 0;
    const tick = () => {
      const waiting = this.pending.length + this.pendingEvents.length;
      if (waiting > seen && this.pending.length < MAX_BATCH && turns < MAX_GATHER_TURNS) {
        seen = waiting;
        turns++;
        setImmediate(tick);
        return;
      }
      if (this.writeLock?.heldBy('delivery')) {
        lockedSince ||= performance.now();
        if (performance.now() - lockedSince < MAX_LOCKED_WAIT_MS) {
          setImmediate(tick);
          return;
        }
      }
      this.flushScheduled = false;
      this.flush();
      if (this.pending.length || this.pendingEvents.length) this.scheduleFlush();
    };
    setImmediate(tick);
  }

  private flush(): void {
    const batch = this.pending.splice(0, MAX_BATCH);
    const kept = this.pendingEvents.splice(0);
    if (batch.length === 0 && kept.length === 0) return;
    const { outcomes, alongsideOutcomes } = this.writer.applyChangeSets(
      batch.map((item) => item.cs),
      kept.map((k) => () => events.appendEvents(this.sql, k.list)),
      performance.now() + MAX_FLUSH_MS,
    );
    // What did not fit in the time is first in the next commit, a turn of the event loop later.
    this.pending.unshift(...batch.splice(outcomes.length));
    batch.forEach((item, i) => {
      const refused = outcomes[i];
      if (refused === null) item.resolve();
      else item.reject(refused);
    });
    kept.forEach((k, i) => {
      const failed = alongsideOutcomes[i];
      if (failed === null) k.resolve();
      else k.reject(failed);
    });
  }

  /** One process per data directory (the server lock), so a lock within the process is a lock for all. */
  withLock<T>(key: string, _leaseMs: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn);
  }

  async coveredByOthers(requester: string, excludeRequestId: string, keys: string[]): Promise<Set<string>> {
    const covered = new Set<string>();
    for (const key of keys) {
      if (this.get('SELECT 1 FROM holdings WHERE requester = ? AND ent_key = ? AND request_id <> ? LIMIT 1', requester, key, excludeRequestId)) covered.add(key);
    }
    return covered;
  }

  async holdingGrantsPage(after: { requestId: string; integration: string } | null, limit: number): Promise<HeldGrant[]> {
    // The grants live in their request's row: requests are read in id order from the one
    // `after` names (it may hold more grants past `after`), until the page is full.
    const holding = HOLDING_STATUSES.map((s) => `'${s}'`).join(', ');
    const page = Math.max(1, Math.floor(limit));
    const out: HeldGrant[] = [];
    let rows = this.all(`SELECT id, requester, grants FROM requests WHERE status IN (${holding}) AND id >= ? ORDER BY id LIMIT ?`, after?.requestId ?? '', page);
    for (;;) {
      for (const row of rows) {
        for (const g of JSON.parse(String(row.grants)) as GrantRecord[]) {
          if (g.status !== 'granting' && g.status !== 'active' && g.status !== 'revoking') continue;
          if (after && g.requestId === after.requestId && g.integration <= after.integration) continue;
          out.push({ requestId: g.requestId, integration: g.integration, requester: String(row.requester), entitlements: g.entitlements });
          if (out.length === page) return out;
        }
      }
      if (rows.length < page) return out;
      rows = this.all(`SELECT id, requester, grants FROM requests WHERE status IN (${holding}) AND id > ? ORDER BY id LIMIT ?`, String(rows[rows.length - 1]!.id), page);
    }
  }

  async getRequest(id: string): Promise<RequestRecord | null> {
    const row = this.get('SELECT doc FROM requests WHERE id = ?', id);
    return row ? (JSON.parse(String(row.doc)) as RequestRecord) : null;
  }

  async getGrants(requestId: string): Promise<GrantRecord[]> {
    const row = this.get('SELECT grants FROM requests WHERE id = ?', requestId);
    return row ? (JSON.parse(String(row.grants)) as GrantRecord[]) : [];
  }

  async getRequestsWithGrants(ids: string[]): Promise<Map<string, RequestWithGrants>> {
    const out = new Map<string, RequestWithGrants>();
    if (ids.length === 0) return out;
    for (const row of this.all('SELECT doc, grants FROM requests WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(ids))) {
      const request = JSON.parse(String(row.doc)) as RequestRecord;
      out.set(request.id, { request, grants: JSON.parse(String(row.grants)) as GrantRecord[] });
    }
    return out;
  }

  async getGrantsOf(requestIds: string[]): Promise<Map<string, GrantRecord[]>> {
    const out = new Map<string, GrantRecord[]>();
    for (const id of requestIds) out.set(id, []);
    if (requestIds.length === 0) return out;
    for (const row of this.all('SELECT id, grants FROM requests WHERE id IN (SELECT value FROM json_each(?))', JSON.stringify(requestIds))) {
      out.set(String(row.id), JSON.parse(String(row.grants)) as GrantRecord[]);
    }
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
    if (f.after !== undefined) { where.push('(created_at < ? OR (created_at = ? AND id < ?))'); params.push(f.after.createdAt, f.after.createdAt, f.after.id); }
    if (f.integration !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(requests.doc, '$.entitlements') e WHERE json_extract(e.value, '$.integration') = ?)"); params.push(f.integration); }
    if (f.resource !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(requests.doc, '$.entitlements') e WHERE json_extract(e.value, '$.resource') = ?)"); params.push(f.resource); }
    if (f.label !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(requests.doc, '$.labels') l WHERE l.value = ?)"); params.push(f.label); }
    if (f.approvedBy !== undefined) {
      where.push("EXISTS (SELECT 1 FROM json_each(requests.doc, '$.decisions') d WHERE json_extract(d.value, '$.approver') = ? AND json_extract(d.value, '$.decision') = 'approve')");
      params.push(f.approvedBy);
    }
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
    return this.write(() => this.writer.claimDueJobs(now, owner, leaseUntil, limit));
  }

  async renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<number> {
    return this.write(() => this.writer.renewLeases(ids, owner, leaseUntil));
  }

  async rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean> {
    return this.write(() => this.writer.rescheduleJob(id, owner, dueAt, lastError));
  }

  /** The earliest due time among jobs nobody holds (lapsed leases are found by the scheduler's regular look). */
  async jobBacklog(now: number, overdueAfterMs: number): Promise<{ due: number; overdue: number; oldestDueAt: number | null }> {
    const row = this.get('SELECT coalesce(sum(CASE WHEN due_at <= ? THEN 1 ELSE 0 END), 0) AS due, coalesce(sum(CASE WHEN due_at <= ? THEN 1 ELSE 0 END), 0) AS overdue, min(CASE WHEN lease_until IS NULL THEN due_at END) AS oldest FROM jobs', [now, now - overdueAfterMs]);
    return { due: Number(row?.due ?? 0), overdue: Number(row?.overdue ?? 0), oldestDueAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest) };
  }

  async countFailingRevokes(): Promise<number> {
    const row = this.get("SELECT count(*) AS n FROM jobs WHERE kind = 'revoke' AND attempts > 0");
    return Number(row?.n ?? 0);
  }

  async nextDueAt(): Promise<number | null> {
    const row = this.get('SELECT min(due_at) AS t FROM jobs WHERE lease_until IS NULL');
    return row && row.t !== null && row.t !== undefined ? Number(row.t) : null;
  }

  async releaseAllLeases(owner?: string): Promise<number> {
    return this.write(() => this.writer.releaseAllLeases(owner));
  }

  async retryBackedOffRevokesNow(now: number): Promise<number> {
    return this.write(() => this.writer.retryBackedOffRevokesNow(now));
  }

  async retryRevokesOfRequestNow(requestId: string, now: number): Promise<number> {
    return this.write(() => this.writer.retryRevokesOfRequestNow(requestId, now));
  }

  async jobsOfRequest(requestId: string): Promise<JobRecord[]> {
    const { from, to } = jobIdRange(requestId);
    return this.all('SELECT * FROM jobs WHERE id >= ? AND id < ? AND request_id = ? ORDER BY due_at', from, to, requestId).map(jobFromRow);
  }

  async appendAudit(events: AuditInput[]): Promise<void> {
    return this.write(() => this.writer.appendAudit(events));
  }


  async listAudit(f: AuditFilter): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (f.requestId !== undefined) { where.push('a.request_id = ?'); params.push(f.requestId); }
    if (f.actor !== undefined) { where.push('a.actor = ?'); params.push(f.actor); }
    if (f.action !== undefined) { where.push('a.action = ?'); params.push(f.action); }
    // By the actor's index, or the requester's requests (their index), not by reading every event.
    if (f.user !== undefined) { where.push('(a.actor = ? OR a.request_id IN (SELECT id FROM requests WHERE requester = ?))'); params.push(f.user, f.user); }
    if (f.flowId !== undefined) { where.push('r.flow_id = ?'); params.push(f.flowId); }
    if (f.integration !== undefined) {
      where.push("(json_extract(a.data, '$.integration') = ? OR EXISTS (SELECT 1 FROM json_each(r.doc, '$.entitlements') e WHERE json_extract(e.value, '$.integration') = ?))");
      params.push(f.integration, f.integration);
    }
    if (f.label !== undefined) { where.push("EXISTS (SELECT 1 FROM json_each(r.doc, '$.labels') l WHERE l.value = ?)"); params.push(f.label); }
    if (f.since !== undefined) { where.push('a.at >= ?'); params.push(f.since); }
    if (f.until !== undefined) { where.push('a.at < ?'); params.push(f.until); }
    if (f.afterSeq !== undefined) { where.push('a.seq > ?'); params.push(f.afterSeq); }
    if (f.beforeSeq !== undefined) { where.push('a.seq < ?'); params.push(f.beforeSeq); }
    const limit = Math.min(Math.max(1, Math.floor(f.limit ?? 100)), 10_000);
    // The request's row only where a filter reads it (the audit alone otherwise).
    const join = f.flowId !== undefined || f.integration !== undefined || f.label !== undefined ? 'LEFT JOIN requests r ON r.id = a.request_id' : '';
    const sql = `SELECT a.* FROM audit a ${join} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY a.seq ${f.order === 'desc' ? 'DESC' : 'ASC'} LIMIT ${limit}`;
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

  async rehashAudit(checkOld: AuditHasher, hashOf: AuditHasher): Promise<number> {
    return this.writer.rehashAudit(checkOld, hashOf);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    const row = this.get('SELECT seq, hash FROM audit_head WHERE id = 1');
    return row ? { seq: Number(row.seq), hash: String(row.hash) } : null;
  }

  async insertFavorite(f: Favorite): Promise<void> {
    return this.write(() => this.writer.insertFavorite(f));
  }

  async updateFavorite(f: Favorite): Promise<boolean> {
    return this.write(() => this.writer.updateFavorite(f));
  }

  async deleteFavorite(owner: string, id: string): Promise<boolean> {
    return this.write(() => this.writer.deleteFavorite(owner, id));
  }

  async listFavorites(owner: string): Promise<Favorite[]> {
    return this.all('SELECT doc FROM favorites WHERE owner = ? ORDER BY created_at ASC, id ASC', owner).map((r) => JSON.parse(String(r.doc)) as Favorite);
  }

  async getFavorite(owner: string, id: string): Promise<Favorite | null> {
    const row = this.get('SELECT doc FROM favorites WHERE id = ? AND owner = ?', id, owner);
    return row ? (JSON.parse(String(row.doc)) as Favorite) : null;
  }

  async insertToken(t: TokenRecord, secretHash: string): Promise<void> {
    return this.write(() => this.writer.insertToken(t, secretHash));
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | null> {
    const now = Date.now();
    const cached = this.tokens.get(secretHash);
    if (cached && cached.until > now) return { ...cached.record };
    const row = this.get('SELECT * FROM tokens WHERE hash = ?', secretHash);
    if (!row) {
      this.tokens.delete(secretHash);
      return null;
    }
    const record = tokenFromRow(row);
    // Bounded: a flood of distinct tokens only empties it.
    if (this.tokens.size >= 10_000) this.tokens.clear();
    this.tokens.set(secretHash, { record, until: now + this.tokenCacheMs });
    return { ...record };
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    const rows = userId === undefined
      ? this.all('SELECT * FROM tokens ORDER BY created_at')
      : this.all('SELECT * FROM tokens WHERE user_id = ? ORDER BY created_at', userId);
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    const revoked = await this.write(() => this.writer.revokeToken(id, at));
    for (const [hash, cached] of this.tokens) if (cached.record.id === id) this.tokens.delete(hash);
    return revoked;
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.write(() => this.writer.touchToken(id, at));
    for (const cached of this.tokens.values()) if (cached.record.id === id) cached.record.lastUsedAt = at;
  }

  // Sessions, sign-in attempts and provisioned users: in sqlite-sign-in.ts (writes through the writer).
  async insertSession(s: SessionRecord): Promise<void> { return this.write(() => this.writer.signIn.insertSession(s)); }
  async findSession(id: string): Promise<SessionRecord | null> { return signIn.findSession(this.sql, id); }
  async touchSession(id: string, at: number): Promise<void> { return this.write(() => this.writer.signIn.touchSession(id, at)); }
  async revokeSession(id: string, at: number, reason: string): Promise<boolean> { return this.write(() => this.writer.signIn.revokeSession(id, at, reason)); }
  async revokeSessionsOf(userId: string, at: number, reason: string): Promise<number> { return this.write(() => this.writer.signIn.revokeSessionsOf(userId, at, reason)); }
  async listSessionsOf(userId: string, now: number): Promise<SessionRecord[]> { return signIn.listSessionsOf(this.sql, userId, now); }
  async pruneSessions(before: number): Promise<number> { return this.write(() => this.writer.signIn.pruneSessions(before)); }
  async saveSignInAttempt(a: SignInAttempt): Promise<void> { return this.write(() => this.writer.signIn.saveSignInAttempt(a)); }
  async takeSignInAttempt(state: string, now: number): Promise<SignInAttempt | null> { return this.write(() => this.writer.signIn.takeSignInAttempt(state, now)); }
  async saveProvisionedUser(u: ProvisionedUser): Promise<void> { return this.write(() => this.writer.signIn.saveProvisionedUser(u)); }
  async findProvisionedUser(id: string): Promise<ProvisionedUser | null> { return signIn.findProvisionedUser(this.sql, id); }
  async findProvisionedUserBySubject(issuer: string, subject: string): Promise<ProvisionedUser | null> { return signIn.findProvisionedUserBySubject(this.sql, issuer, subject); }
  async listProvisionedUsers(): Promise<ProvisionedUser[]> { return signIn.listProvisionedUsers(this.sql); }
  async saveRenewal(userId: string, r: Renewal): Promise<void> { return this.write(() => this.writer.signIn.saveRenewal(userId, r)); }
  async claimOutbox(owner: string, now: number, leaseMs: number, limit: number, exceptChannels: readonly string[] = []): Promise<OutboxRecord[]> { return this.write(() => this.writer.outbox.claim(owner, now, leaseMs, limit, exceptChannels)); }
  async finishOutbox(key: string, owner: string, outcome: OutboxOutcome): Promise<boolean> { return this.write(() => this.writer.outbox.finish(key, owner, outcome)); }
  async retryOutbox(key: string, now: number): Promise<boolean> { return this.write(() => this.writer.outbox.retry(key, now)); }
  async listOutbox(f: OutboxFilter): Promise<OutboxRecord[]> { return outbox.listOutbox(this.sql, f); }
  async outboxCounts(): Promise<Record<OutboxRecord['status'], number>> { return outbox.outboxCounts(this.sql); }
  async setNotificationPreference(userId: string, choice: NotificationChoice, at: number): Promise<void> { return this.write(() => this.writer.outbox.setNotificationPreference(userId, choice, at)); }
  async listNotificationOptOuts(): Promise<NotificationOptOuts> { return outbox.listNotificationOptOuts(this.sql); }
  async pruneOutbox(before: number): Promise<number> { return this.write(() => this.writer.outbox.prune(before)); }
  async findRenewal(userId: string): Promise<Renewal | null> { return signIn.findRenewal(this.sql, userId); }
  async claimDueRenewals(now: number, leaseMs: number, limit: number): Promise<DueRenewal[]> { return this.write(() => this.writer.signIn.claimDueRenewals(now, leaseMs, limit)); }

  async useMfaStep(userId: string, step: number): Promise<boolean> {
    return this.write(() => this.writer.useMfaStep(userId, step));
  }

  async countMfaAttempts(userId: string, delta: 1 | -1, now: number, windowMs: number): Promise<{ count: number; since: number }> {
    return this.write(() => this.writer.countMfaAttempts(userId, delta, now, windowMs));
  }

  // TOTP self-enrolments: in sqlite-mfa.ts (writes through the writer).
  async getMfaEnrolment(userId: string): Promise<MfaEnrolment | null> { return mfa.getMfaEnrolment(this.sql, userId); }
  async startMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean> { return this.write(() => this.writer.mfa.startMfaEnrolment(userId, secret, at)); }
  async confirmMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean> { return this.write(() => this.writer.mfa.confirmMfaEnrolment(userId, secret, at)); }
  async deleteMfaEnrolment(userId: string, state?: MfaEnrolment['state']): Promise<MfaEnrolment | null> { return this.write(() => this.writer.mfa.deleteMfaEnrolment(userId, state)); }

  // The events stream's recent past (replay): in sqlite-events.ts.
  /** Written with the next group commit (or in a transaction of their own when none comes): see flush. */
  appendEvents(list: LapseEvent[]): Promise<void> {
    if (list.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.pendingEvents.push({ list, resolve, reject });
      this.scheduleFlush();
    });
  }
  async findEvent(id: string): Promise<KeptEvent | null> { return events.findEvent(this.sql, id); }
  async eventsAfter(seq: number, limit: number): Promise<KeptEvent[]> { return events.eventsAfter(this.sql, seq, limit); }
  async pruneEvents(before: number): Promise<number> { return this.write(() => events.pruneEvents(this.sql, before)); }

  async getMeta(key: string): Promise<string | null> {
    const row = this.get('SELECT value FROM meta WHERE key = ?', key);
    return row ? String(row.value) : null;
  }

  async setMetaIfAbsent(key: string, value: string): Promise<boolean> {
    return this.write(() => this.writer.setMetaIfAbsent(key, value));
  }

  async setMeta(key: string, value: string): Promise<void> {
    return this.write(() => this.writer.setMeta(key, value));
  }

  // The audit stream's cursors: in sqlite-audit-stream.ts (one statement each on this connection).
  async claimAuditStream(subscriber: string, owner: string, now: number, leaseUntil: number): Promise<AuditStreamCursor | null> { return this.write(() => auditStream.claimAuditStream(this.sql, subscriber, owner, now, leaseUntil)); }
  async advanceAuditStream(subscriber: string, owner: string, seq: number, at: number): Promise<boolean> { return this.write(() => auditStream.advanceAuditStream(this.sql, subscriber, owner, seq, at)); }
  async failAuditStream(subscriber: string, owner: string, error: string, at: number, retryAt: number): Promise<boolean> { return this.write(() => auditStream.failAuditStream(this.sql, subscriber, owner, error, at, retryAt)); }
  async releaseAuditStream(subscriber: string, owner: string): Promise<void> { return this.write(() => auditStream.releaseAuditStream(this.sql, subscriber, owner)); }
  async listAuditStreams(): Promise<AuditStreamCursor[]> { return auditStream.listAuditStreams(this.sql); }
  async claimDiscovery(integration: string, owner: string, now: number, leaseUntil: number, nextAt: number, force: boolean): Promise<boolean> { return this.write(() => inventory.claimDiscovery(this.sql, integration, owner, now, leaseUntil, nextAt, force)); }
  async writeInventory(integration: string, owner: string, rows: NewInventoryRow[], seenAt: number, leaseUntil: number): Promise<boolean> {
    return this.write(() => this.writer.inTransaction(() => inventory.writeInventory(this.sql, integration, owner, rows, seenAt, leaseUntil)));
  }
  async finishDiscovery(integration: string, owner: string, outcome: DiscoveryOutcome): Promise<boolean> {
    return this.write(() => this.writer.inTransaction(() => inventory.finishDiscovery(this.sql, integration, owner, outcome)));
  }
  async inventoryOf(integration: string): Promise<InventoryRow[]> { return inventory.inventoryOf(this.sql, integration); }
  async discoveryStates(): Promise<DiscoveryState[]> { return inventory.discoveryStates(this.sql); }

  /** Every row of one of the store's tables, as stored (for `lapse migrate-store`). */
  readTable(table: (typeof STORE_TABLES)[number]): Row[] {
    if (!STORE_TABLES.includes(table)) throw new Error(`not a table of the store: ${table}`);
    // Grants are kept inside their request's row here (see migration 3); they are read out
    // as the rows of the grants table the other stores have.
    if (table === 'requests') return this.db.prepare('SELECT id, requester, flow_id, status, created_at, updated_at, version, doc FROM requests').all() as Row[];
    if (table === 'grants') {
      return this.db.prepare(`SELECT r.id AS request_id, json_extract(g.value, '$.integration') AS integration, json_extract(g.value, '$.status') AS status, g.value AS doc
        FROM requests r, json_each(r.grants) g`).all() as Row[];
    }
    return this.db.prepare(`SELECT * FROM ${table}`).all() as Row[];
  }

  /** Test and tooling hook: raw SQL against the database (e.g. to tamper with the audit log in a test). */
  execRaw(sql: string, ...params: unknown[]): number {
    return this.db.prepare(sql).run(...params).changes;
  }
}

/** The tables of the store's schema, parents first (PostgreSQL's; SQLite keeps grants inside their requests' rows). */
export const STORE_TABLES = ['requests', 'request_approvers', 'holdings', 'grants', 'jobs', 'audit', 'audit_head', 'favorites', 'tokens', 'meta', 'sessions', 'sign_in_attempts', 'provisioned_users', 'mfa_enrolments', 'outbox', 'notification_preferences', 'audit_stream', 'inventory', 'discovery'] as const;
