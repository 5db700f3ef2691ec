// The team store: PostgreSQL through `pg`, shared by several replicas of the backend.
// Every change set is one transaction. Conditional updates lock the rows they check
// (SELECT … FOR UPDATE), so two replicas deciding the same request serialise on its row and
// the second sees the new version (a ConflictError). Audit appends lock the single head row,
// taken last in the transaction, which makes the chain one chain whatever the number of
// writers. Due work is claimed with FOR UPDATE SKIP LOCKED and a lease.
//
// The URL, pool settings and query helpers are in postgres-connection.ts; a change set's
// checks and writes in postgres-changes.ts; jobs and their leases in postgres-jobs.ts; the
// audit chain in postgres-audit.ts; lock rows in postgres-locks.ts; sessions, sign-in
// attempts and provisioned users in postgres-sign-in.ts; TOTP self-enrolments in postgres-mfa.ts.

import pg from 'pg';
import { HOLDING_STATUSES, type Favorite, type GrantRecord, type JobRecord, type RequestRecord, type RequestWithGrants } from '../domain/request.ts';
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
import { MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS } from './postgres-migrations.ts';
import { authenticationColumns, tokenFromRow } from './rows.ts';
import { parseStoreUrl, queryCount, queryOne, queryRows, RETRYABLE, runTransaction, type PoolSettings, type Queryable, type Row } from './postgres-connection.ts';
import { applyChangeSet, storedKey } from './postgres-changes.ts';
import * as auditChain from './postgres-audit.ts';
import * as jobs from './postgres-jobs.ts';
import * as signIn from './postgres-sign-in.ts';
import * as mfa from './postgres-mfa.ts';
import * as events from './postgres-events.ts';
import type { LapseEvent } from '../engine/events.ts';
import * as outbox from './postgres-outbox.ts';
import * as auditStream from './postgres-audit-stream.ts';
import * as inventory from './postgres-inventory.ts';
import { PostgresLocks } from './postgres-locks.ts';

// The CLI's store tools load this with the store.

/** Transactions of change sets one process runs at once (each takes a connection). */
const MAX_COMMIT_TRANSACTIONS = 2;
/** Change sets at most in one transaction. */
const MAX_BATCH = 100;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly settings: PoolSettings;
  private readonly connectionString: string;
  private readonly locks: PostgresLocks;
  /** Called when an idle connection of the pool fails (the database went away). */
  onPoolError: (err: Error) => void = () => undefined;

  /** The audit chain's key (null: this store cannot append audit events). */
  private readonly auditKey: Buffer | null;

  constructor(url: string, opts: StoreOptions = {}) {
    this.auditKey = opts.auditKey ?? null;
    const { connectionString, pool } = parseStoreUrl(url);
    this.connectionString = connectionString;
    this.settings = pool;
    this.pool = new pg.Pool({
      connectionString,
      max: pool.max,
      idleTimeoutMillis: pool.idleTimeoutMs,
      connectionTimeoutMillis: pool.connectTimeoutMs,
      statement_timeout: pool.statementTimeoutMs,
      application_name: 'lapse',
    });
    // An idle client whose connection dies emits 'error' on the pool; without a listener
    // that would crash the process. The client is discarded; the next query reconnects.
    this.pool.on('error', (err) => this.onPoolError(err));
    this.locks = new PostgresLocks(this.pool);
  }

  /** A dedicated client outside the pool (for LISTEN), with the same connection settings. */
  newClient(): pg.Client {
    return new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: this.settings.connectTimeoutMs, application_name: 'lapse-listen' });
  }

  private async rows(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<Row[]> {
    return queryRows(q, sql, params);
  }

  private async one(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<Row | undefined> {
    return queryOne(q, sql, params);
  }

  private async count(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<number> {
    return queryCount(q, sql, params);
  }

  /** Runs `fn` in one transaction; retried from the start on a deadlock or serialisation failure. */
  async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return runTransaction(this.pool, fn);
  }

  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      // A session lock: replicas starting together wait here, and each migration is applied once.
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
        const applied = new Set((await this.rows('SELECT version FROM schema_migrations', [], client)).map((r) => Number(r.version)));
        for (const m of POSTGRES_MIGRATIONS) {
          if (applied.has(m.version)) continue;
          await client.query('BEGIN');
          try {
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
            await client.query('COMMIT');
          } catch (err) {
            await client.query('ROLLBACK');
            throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /**
   * Group commit, as in the SQLite store: change sets that arrive while this process's
   * transactions are busy share the next one (each in a savepoint, so a conflicting one is
   * skipped whole and the others land), and their audit events are appended under one
   * lock of the chain's head. At most a few transactions per process run at once.
   */
  commit(cs: ChangeSet): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ cs, resolve, reject });
      this.kick();
    });
  }

  private pending: { cs: ChangeSet; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private flushing = 0;

  private kick(): void {
    while (this.flushing < MAX_COMMIT_TRANSACTIONS && this.pending.length > 0) {
      const batch = this.pending.splice(0, MAX_BATCH);
      this.flushing++;
      void this.flush(batch).finally(() => {
        this.flushing--;
        this.kick();
      });
    }
  }

  private async flush(batch: { cs: ChangeSet; resolve: () => void; reject: (err: unknown) => void }[]): Promise<void> {
    let outcomes: unknown[] = [];
    try {
      await this.transaction(async (c) => {
        outcomes = [];
        const audit: AuditInput[] = [];
        for (const [i, item] of batch.entries()) {
          if (batch.length > 1) await c.query(`SAVEPOINT cs${i}`);
          try {
            await applyChangeSet(item.cs, c);
            audit.push(...(item.cs.audit ?? []));
            outcomes.push(null);
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (batch.length === 1 || (code && RETRYABLE.has(code))) throw err;
            await c.query(`ROLLBACK TO SAVEPOINT cs${i}`);
            outcomes.push(err);
          }
        }
        if (audit.length) await auditChain.appendAuditInTx(this.auditKey, audit, c);
      });
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => (outcomes[i] === null ? item.resolve() : item.reject(outcomes[i])));
  }

  /** A lock across replicas, a row in `locks` with a lease (see postgres-locks.ts). */
  async withLock<T>(key: string, leaseMs: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.withLock(key, leaseMs, fn);
  }

  async coveredByOthers(requester: string, excludeRequestId: string, keys: string[]): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const rows = await this.rows(
      'SELECT DISTINCT ent_key FROM holdings WHERE requester = $1 AND ent_key = ANY($2::text[]) AND request_id <> $3',
      [requester, keys.map(storedKey), excludeRequestId],
    );
    return new Set(rows.map((r) => JSON.parse(String(r.ent_key)) as string));
  }

  async getRequest(id: string): Promise<RequestRecord | null> {
    const row = await this.one('SELECT doc FROM requests WHERE id = $1', [id]);
    return row ? (JSON.parse(String(row.doc)) as RequestRecord) : null;
  }

  async getRequestsWithGrants(ids: string[]): Promise<Map<string, RequestWithGrants>> {
    const out = new Map<string, RequestWithGrants>();
    if (ids.length === 0) return out;
    const [rows, grants] = await Promise.all([this.rows('SELECT doc FROM requests WHERE id = ANY($1::text[])', [ids]), this.getGrantsOf(ids)]);
    for (const row of rows) {
      const request = JSON.parse(String(row.doc)) as RequestRecord;
      out.set(request.id, { request, grants: grants.get(request.id) ?? [] });
    }
    return out;
  }

  async getGrants(requestId: string): Promise<GrantRecord[]> {
    return (await this.rows('SELECT doc FROM grants WHERE request_id = $1 ORDER BY integration', [requestId])).map((r) => JSON.parse(String(r.doc)) as GrantRecord);
  }

  async holdingGrantsPage(after: { requestId: string; integration: string } | null, limit: number): Promise<HeldGrant[]> {
    const rows = await this.rows(
      `SELECT g.request_id, g.integration, r.requester, g.doc FROM grants g JOIN requests r ON r.id = g.request_id
       WHERE g.status IN ('granting', 'active', 'revoking') AND r.status = ANY($3::text[])
         AND (g.request_id, g.integration) > ($1, $2)
       ORDER BY g.request_id, g.integration LIMIT $4`,
      [after?.requestId ?? '', after?.integration ?? '', [...HOLDING_STATUSES], Math.floor(limit)],
    );
    return rows.map((row) => ({
      requestId: String(row.request_id), integration: String(row.integration), requester: String(row.requester),
      entitlements: (JSON.parse(String(row.doc)) as GrantRecord).entitlements,
    }));
  }

  async getGrantsOf(requestIds: string[]): Promise<Map<string, GrantRecord[]>> {
    const out = new Map<string, GrantRecord[]>();
    for (const id of requestIds) out.set(id, []);
    if (requestIds.length === 0) return out;
    const rows = await this.rows('SELECT request_id, doc FROM grants WHERE request_id = ANY($1::text[]) ORDER BY request_id, integration', [requestIds]);
    for (const r of rows) out.get(String(r.request_id))?.push(JSON.parse(String(r.doc)) as GrantRecord);
    return out;
  }

  async listRequests(f: RequestFilter): Promise<RequestRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.requester !== undefined) where.push(`requester = ${p(f.requester)}`);
    if (f.flowId !== undefined) where.push(`flow_id = ${p(f.flowId)}`);
    if (f.idPrefix !== undefined) where.push(`starts_with(id, ${p(f.idPrefix)})`);
    if (f.statuses?.length) where.push(`status = ANY(${p(f.statuses)}::text[])`);
    if (f.createdBefore !== undefined) where.push(`created_at < ${p(f.createdBefore)}`);
    if (f.after !== undefined) {
      const at = p(f.after.createdAt);
      where.push(`(created_at < ${at} OR (created_at = ${at} AND id COLLATE "C" < ${p(f.after.id)}))`);
    }
    // The document is JSON text: containment on its jsonb form (a parameter never reaches the SQL text).
    if (f.integration !== undefined) where.push(`(doc::jsonb -> 'entitlements') @> jsonb_build_array(jsonb_build_object('integration', ${p(f.integration)}::text))`);
    if (f.resource !== undefined) where.push(`(doc::jsonb -> 'entitlements') @> jsonb_build_array(jsonb_build_object('resource', ${p(f.resource)}::text))`);
    if (f.label !== undefined) where.push(`(doc::jsonb -> 'labels') @> jsonb_build_array(${p(f.label)}::text)`);
    if (f.approvedBy !== undefined) where.push(`(doc::jsonb -> 'decisions') @> jsonb_build_array(jsonb_build_object('approver', ${p(f.approvedBy)}::text, 'decision', 'approve'))`);
    // Ids compared byte by byte, as SQLite does, whatever the database's collation.
    const sql = `SELECT doc FROM requests ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY created_at DESC, id COLLATE "C" DESC${f.limit ? ' LIMIT ' + Math.floor(f.limit) : ''}`;
    return (await this.rows(sql, params)).map((r) => JSON.parse(String(r.doc)) as RequestRecord);
  }

  async listAwaitingDecisionBy(userId: string): Promise<RequestRecord[]> {
    return (await this.rows(
      `SELECT r.doc FROM request_approvers a JOIN requests r ON r.id = a.request_id
       WHERE a.user_id = $1 ORDER BY r.created_at ASC, r.id COLLATE "C" ASC`,
      [userId],
    )).map((r) => JSON.parse(String(r.doc)) as RequestRecord);
  }

  async countByStatus(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const r of await this.rows('SELECT status, count(*) AS n FROM requests GROUP BY status')) out[String(r.status)] = Number(r.n);
    return out;
  }

  async claimDueJobs(now: number, owner: string, leaseUntil: number, limit: number): Promise<JobRecord[]> {
    return jobs.claimDueJobs(this.pool, now, owner, leaseUntil, limit);
  }

  async renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<number> {
    return jobs.renewLeases(this.pool, ids, owner, leaseUntil);
  }

  async rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean> {
    return jobs.rescheduleJob(this.pool, id, owner, dueAt, lastError);
  }

  async jobBacklog(now: number, overdueAfterMs: number): Promise<{ due: number; overdue: number; oldestDueAt: number | null }> {
    return jobs.jobBacklog(this.pool, now, overdueAfterMs);
  }

  async countFailingRevokes(): Promise<number> {
    return jobs.countFailingRevokes(this.pool);
  }

  async nextDueAt(): Promise<number | null> {
    return jobs.nextDueAt(this.pool);
  }

  /** Frees the leases of `owner` only (see postgres-jobs.ts): replicas share this store. */
  async releaseAllLeases(owner?: string): Promise<number> {
    const released = await jobs.releaseAllLeases(this.pool, owner);
    await outbox.releaseLeases(this.pool, owner!);
    return released;
  }

  async retryBackedOffRevokesNow(now: number): Promise<number> {
    return jobs.retryBackedOffRevokesNow(this.pool, now);
  }

  async retryRevokesOfRequestNow(requestId: string, now: number): Promise<number> {
    return jobs.retryRevokesOfRequestNow(this.pool, requestId, now);
  }

  async jobsOfRequest(requestId: string): Promise<JobRecord[]> {
    return jobs.jobsOfRequest(this.pool, requestId);
  }

  async appendAudit(events: AuditInput[]): Promise<void> {
    if (events.length === 0) return;
    await this.transaction((c) => auditChain.appendAuditInTx(this.auditKey, events, c));
  }

  /** See Store.rehashAudit: one transaction under the head row's lock, a page of events at a time. */
  async rehashAudit(checkOld: AuditHasher, hashOf: AuditHasher): Promise<number> {
    return auditChain.rehashAudit(this.pool, checkOld, hashOf);
  }

  async listAudit(f: AuditFilter): Promise<AuditEvent[]> {
    return auditChain.listAudit(this.pool, f);
  }

  iterateAudit(pageSize = 5000): AsyncIterable<AuditEvent[]> {
    return auditChain.iterateAudit(this.pool, pageSize);
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    return auditChain.auditHead(this.pool);
  }

  async insertFavorite(f: Favorite): Promise<void> {
    await this.pool.query('INSERT INTO favorites (id, owner, created_at, doc) VALUES ($1, $2, $3, $4)', [f.id, f.owner, f.createdAt, JSON.stringify(f)]);
  }

  async updateFavorite(f: Favorite): Promise<boolean> {
    return (await this.count('UPDATE favorites SET doc = $1 WHERE id = $2 AND owner = $3', [JSON.stringify(f), f.id, f.owner])) === 1;
  }

  async deleteFavorite(owner: string, id: string): Promise<boolean> {
    return (await this.count('DELETE FROM favorites WHERE id = $1 AND owner = $2', [id, owner])) === 1;
  }

  async listFavorites(owner: string): Promise<Favorite[]> {
    return (await this.rows('SELECT doc FROM favorites WHERE owner = $1 ORDER BY created_at ASC, id COLLATE "C" ASC', [owner])).map((r) => JSON.parse(String(r.doc)) as Favorite);
  }

  async getFavorite(owner: string, id: string): Promise<Favorite | null> {
    const row = await this.one('SELECT doc FROM favorites WHERE id = $1 AND owner = $2', [id, owner]);
    return row ? (JSON.parse(String(row.doc)) as Favorite) : null;
  }

  async insertToken(t: TokenRecord, secretHash: string): Promise<void> {
    await this.pool.query(
      'INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at, expires_at, kind, authenticated_at, acr, amr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
      [t.id, t.userId, t.name, secretHash, t.createdAt, t.revokedAt, t.lastUsedAt, t.expiresAt, t.kind, ...authenticationColumns(t.authentication)],
    );
  }

  async findTokenByHash(secretHash: string): Promise<TokenRecord | null> {
    const row = await this.one('SELECT * FROM tokens WHERE hash = $1', [secretHash]);
    return row ? tokenFromRow(row) : null;
  }

  async listTokens(userId?: string): Promise<TokenRecord[]> {
    const rows = userId === undefined
      ? await this.rows('SELECT * FROM tokens ORDER BY created_at, id COLLATE "C"')
      : await this.rows('SELECT * FROM tokens WHERE user_id = $1 ORDER BY created_at, id COLLATE "C"', [userId]);
    return rows.map(tokenFromRow);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return (await this.count('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])) === 1;
  }

  async touchToken(id: string, at: number): Promise<void> {
    await this.pool.query('UPDATE tokens SET last_used_at = $1 WHERE id = $2', [at, id]);
  }

  // Sessions, sign-in attempts and provisioned users: in postgres-sign-in.ts.
  async insertSession(s: SessionRecord): Promise<void> { return signIn.insertSession(this.pool, s); }
  async findSession(id: string): Promise<SessionRecord | null> { return signIn.findSession(this.pool, id); }
  async touchSession(id: string, at: number): Promise<void> { return signIn.touchSession(this.pool, id, at); }
  async revokeSession(id: string, at: number, reason: string): Promise<boolean> { return signIn.revokeSession(this.pool, id, at, reason); }
  async revokeSessionsOf(userId: string, at: number, reason: string): Promise<number> { return signIn.revokeSessionsOf(this.pool, userId, at, reason); }
  async listSessionsOf(userId: string, now: number): Promise<SessionRecord[]> { return signIn.listSessionsOf(this.pool, userId, now); }
  async pruneSessions(before: number): Promise<number> { return signIn.pruneSessions(this.pool, before); }
  async saveSignInAttempt(a: SignInAttempt): Promise<void> { return signIn.saveSignInAttempt(this.pool, a); }
  async takeSignInAttempt(state: string, now: number): Promise<SignInAttempt | null> { return signIn.takeSignInAttempt(this.pool, state, now); }
  async saveProvisionedUser(u: ProvisionedUser): Promise<void> { return signIn.saveProvisionedUser(this.pool, u); }
  async findProvisionedUser(id: string): Promise<ProvisionedUser | null> { return signIn.findProvisionedUser(this.pool, id); }
  async findProvisionedUserBySubject(issuer: string, subject: string): Promise<ProvisionedUser | null> { return signIn.findProvisionedUserBySubject(this.pool, issuer, subject); }
  async listProvisionedUsers(): Promise<ProvisionedUser[]> { return signIn.listProvisionedUsers(this.pool); }
  async saveRenewal(userId: string, r: Renewal): Promise<void> { return signIn.saveRenewal(this.pool, userId, r); }
  async claimOutbox(owner: string, now: number, leaseMs: number, limit: number, exceptChannels: readonly string[] = []): Promise<OutboxRecord[]> { return outbox.claimOutbox(this.pool, owner, now, leaseMs, limit, exceptChannels); }
  async finishOutbox(key: string, owner: string, outcome: OutboxOutcome): Promise<boolean> { return outbox.finishOutbox(this.pool, key, owner, outcome); }
  async retryOutbox(key: string, now: number): Promise<boolean> { return outbox.retryOutbox(this.pool, key, now); }
  async listOutbox(f: OutboxFilter): Promise<OutboxRecord[]> { return outbox.listOutbox(this.pool, f); }
  async outboxCounts(): Promise<Record<OutboxRecord['status'], number>> { return outbox.outboxCounts(this.pool); }
  async setNotificationPreference(userId: string, choice: NotificationChoice, at: number): Promise<void> { return outbox.setNotificationPreference(this.pool, userId, choice, at); }
  async listNotificationOptOuts(): Promise<NotificationOptOuts> { return outbox.listNotificationOptOuts(this.pool); }
  async pruneOutbox(before: number): Promise<number> { return outbox.pruneOutbox(this.pool, before); }
  async findRenewal(userId: string): Promise<Renewal | null> { return signIn.findRenewal(this.pool, userId); }
  async claimDueRenewals(now: number, leaseMs: number, limit: number): Promise<DueRenewal[]> { return signIn.claimDueRenewals(this.pool, now, leaseMs, limit); }

  async useMfaStep(userId: string, step: number): Promise<boolean> {
    return (await this.count(
      `INSERT INTO meta (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value::bigint < excluded.value::bigint`,
      [`mfa-last-step:${userId}`, String(step)],
    )) === 1;
  }

  async countMfaAttempts(userId: string, delta: 1 | -1, now: number, windowMs: number): Promise<{ count: number; since: number }> {
    const fresh = JSON.stringify({ since: now, count: Math.max(0, delta) });
    const row = await this.one(
      `INSERT INTO meta (key, value) VALUES ($1, $2)
       ON CONFLICT (key) DO UPDATE SET value = CASE
         WHEN (meta.value::json->>'since')::bigint <= $3 THEN excluded.value
         ELSE json_build_object('since', (meta.value::json->>'since')::bigint, 'count', GREATEST(0, (meta.value::json->>'count')::int + $4))::text
       END
       RETURNING value`,
      [`mfa-attempts:${userId}`, fresh, now - windowMs, delta],
    );
    return JSON.parse(String(row!.value)) as { count: number; since: number };
  }

  // The events stream's recent past (replay), shared by the replicas: in postgres-events.ts.
  async appendEvents(list: LapseEvent[]): Promise<void> { return events.appendEvents(this.pool, list); }
  async findEvent(id: string): Promise<KeptEvent | null> { return events.findEvent(this.pool, id); }
  async eventsAfter(seq: number, limit: number): Promise<KeptEvent[]> { return events.eventsAfter(this.pool, seq, limit); }
  async pruneEvents(before: number): Promise<number> { return events.pruneEvents(this.pool, before); }

  // TOTP self-enrolments: in postgres-mfa.ts.
  async getMfaEnrolment(userId: string): Promise<MfaEnrolment | null> { return mfa.getMfaEnrolment(this.pool, userId); }
  async startMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean> { return mfa.startMfaEnrolment(this.pool, userId, secret, at); }
  async confirmMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean> { return mfa.confirmMfaEnrolment(this.pool, userId, secret, at); }
  async deleteMfaEnrolment(userId: string, state?: MfaEnrolment['state']): Promise<MfaEnrolment | null> { return mfa.deleteMfaEnrolment(this.pool, userId, state); }

  async getMeta(key: string): Promise<string | null> {
    const row = await this.one('SELECT value FROM meta WHERE key = $1', [key]);
    return row ? String(row.value) : null;
  }

  async setMetaIfAbsent(key: string, value: string): Promise<boolean> {
    return (await this.count('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value])) === 1;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  // The audit stream's cursors: in postgres-audit-stream.ts.
  async claimAuditStream(subscriber: string, owner: string, now: number, leaseUntil: number): Promise<AuditStreamCursor | null> { return auditStream.claimAuditStream(this.pool, subscriber, owner, now, leaseUntil); }
  async advanceAuditStream(subscriber: string, owner: string, seq: number, at: number): Promise<boolean> { return auditStream.advanceAuditStream(this.pool, subscriber, owner, seq, at); }
  async failAuditStream(subscriber: string, owner: string, error: string, at: number, retryAt: number): Promise<boolean> { return auditStream.failAuditStream(this.pool, subscriber, owner, error, at, retryAt); }
  async releaseAuditStream(subscriber: string, owner: string): Promise<void> { return auditStream.releaseAuditStream(this.pool, subscriber, owner); }
  async listAuditStreams(): Promise<AuditStreamCursor[]> { return auditStream.listAuditStreams(this.pool); }
  async claimDiscovery(integration: string, owner: string, now: number, leaseUntil: number, nextAt: number, force: boolean): Promise<boolean> { return inventory.claimDiscovery(this.pool, integration, owner, now, leaseUntil, nextAt, force); }
  async writeInventory(integration: string, owner: string, rows: NewInventoryRow[], seenAt: number, leaseUntil: number): Promise<boolean> { return inventory.writeInventory(this.pool, integration, owner, rows, seenAt, leaseUntil); }
  async finishDiscovery(integration: string, owner: string, outcome: DiscoveryOutcome): Promise<boolean> { return inventory.finishDiscovery(this.pool, integration, owner, outcome); }
  async inventoryOf(integration: string): Promise<InventoryRow[]> { return inventory.inventoryOf(this.pool, integration); }
  async discoveryStates(): Promise<DiscoveryState[]> { return inventory.discoveryStates(this.pool); }

  /** Test and tooling hook: raw SQL (`?` placeholders, as for SQLite) against the database (e.g. to tamper with the audit log in a test). */
  async execRaw(sql: string, ...params: unknown[]): Promise<number> {
    let n = 0;
    return this.count(sql.replace(/\?/g, () => `$${++n}`), params);
  }
}
