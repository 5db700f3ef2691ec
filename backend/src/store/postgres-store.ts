// The team store: PostgreSQL through `pg`, shared by several replicas of the backend.
// Every change set is one transaction. Conditional updates lock the rows they check
// (SELECT … FOR UPDATE), so two replicas deciding the same request serialise on its row and
// the second sees the new version (a ConflictError). Audit appends lock the single head row,
// taken last in the transaction, which makes the chain one chain whatever the number of
// writers. Due work is claimed with FOR UPDATE SKIP LOCKED and a lease.

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { applyRequestUpdate, awaitsDecision, coversEntitlements, entitlementKey, HOLDING_STATUSES, type Favorite, type GrantRecord, type JobRecord, type RequestRecord, type RequestWithGrants } from '../domain/request.ts';
import { canonicalJson, GENESIS_HASH, hashAuditEvent } from '../audit/chain.ts';
import {
  ConflictError,
  type AuditEvent,
  type AuditFilter,
  type AuditHasher,
  type AuditInput,
  type ChangeSet,
  type HeldGrant,
  type RequestFilter,
  type Store,
  type StoreOptions,
  type TokenRecord,
} from './store.ts';
import { MIGRATION_LOCK_KEY, POSTGRES_MIGRATIONS } from './postgres-migrations.ts';
import { auditFromRow, jobFromRow, tokenFromRow, warningOffsetsColumn } from './rows.ts';
import { KeyedMutex } from './keyed-mutex.ts';

type Row = Record<string, unknown>;
type Queryable = pg.Pool | pg.PoolClient;

/** Entitlement keys separate their parts with NUL, which PostgreSQL text cannot hold: stored as JSON strings. */
export const storedKey = (key: string) => JSON.stringify(key);

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

/** Transactions of change sets one process runs at once (each takes a connection). */
const MAX_COMMIT_TRANSACTIONS = 2;
/** Change sets at most in one transaction. */
const MAX_BATCH = 100;

/** Errors worth retrying the whole transaction for: a deadlock or a serialisation failure. */
const RETRYABLE = new Set(['40P01', '40001']);

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly pool: pg.Pool;
  readonly settings: PoolSettings;
  private readonly connectionString: string;
  private readonly locks = new KeyedMutex();
  /** This store's name as a holder of lock rows (unique per process and store). */
  private readonly lockOwner = `${process.pid}:${randomUUID()}`;
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
  }

  /** A dedicated client outside the pool (for LISTEN), with the same connection settings. */
  newClient(): pg.Client {
    return new pg.Client({ connectionString: this.connectionString, connectionTimeoutMillis: this.settings.connectTimeoutMs, application_name: 'lapse-listen' });
  }

  private async rows(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<Row[]> {
    return (await q.query(sql, params)).rows as Row[];
  }

  private async one(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<Row | undefined> {
    return (await q.query(sql, params)).rows[0] as Row | undefined;
  }

  private async count(sql: string, params: unknown[] = [], q: Queryable = this.pool): Promise<number> {
    return (await q.query(sql, params)).rowCount ?? 0;
  }

  /** Runs `fn` in one transaction; retried from the start on a deadlock or serialisation failure. */
  async transaction<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
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
            await this.apply(item.cs, c);
            audit.push(...(item.cs.audit ?? []));
            outcomes.push(null);
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (batch.length === 1 || (code && RETRYABLE.has(code))) throw err;
            await c.query(`ROLLBACK TO SAVEPOINT cs${i}`);
            outcomes.push(err);
          }
        }
        if (audit.length) await this.appendAuditInTx(audit, c);
      });
    } catch (err) {
      for (const item of batch) item.reject(err);
      return;
    }
    batch.forEach((item, i) => (outcomes[i] === null ? item.resolve() : item.reject(outcomes[i])));
  }

  /** One change set's checks (each locks what it checks), then its writes, as the SQLite store does; its audit is appended by the caller. */
  private async apply(cs: ChangeSet, c: pg.PoolClient): Promise<void> {
    // Checks first (each locks what it checks), then the writes, as the SQLite store does.
    const requests: { current: RequestRecord; next: RequestRecord }[] = [];
    for (const u of cs.updateRequests ?? []) {
      const row = await this.one('SELECT version, status, doc FROM requests WHERE id = $1 FOR UPDATE', [u.id], c);
      if (!row) throw new ConflictError(`request ${u.id} does not exist`);
      if (Number(row.version) !== u.expectVersion) throw new ConflictError(`request ${u.id} was changed by someone else (now ${String(row.status)})`);
      const current = u.base && u.base.version === u.expectVersion ? u.base : (JSON.parse(String(row.doc)) as RequestRecord);
      requests.push({ current, next: applyRequestUpdate(current, u.set) });
    }
    const grants: GrantRecord[] = [];
    for (const u of cs.updateGrants ?? []) {
      const row = await this.one('SELECT doc FROM grants WHERE request_id = $1 AND integration = $2 FOR UPDATE', [u.requestId, u.integration], c);
      if (!row) throw new ConflictError(`grant ${u.requestId}/${u.integration} does not exist`);
      const current = JSON.parse(String(row.doc)) as GrantRecord;
      if (u.expectStatus && !u.expectStatus.includes(current.status)) {
        throw new ConflictError(`grant ${u.requestId}/${u.integration} is ${current.status}, expected ${u.expectStatus.join(' or ')}`);
      }
      grants.push({ ...current, ...u.set });
    }
    for (const d of cs.deleteJobs ?? []) {
      if (d.owner === undefined) continue;
      const row = await this.one('SELECT lease_owner FROM jobs WHERE id = $1 FOR UPDATE', [d.id], c);
      if (!row || row.lease_owner !== d.owner) throw new ConflictError(`job ${d.id} is no longer held by ${d.owner}`);
    }

    for (const r of cs.insertRequests ?? []) {
      const inserted = await this.count(
        `INSERT INTO requests (id, requester, flow_id, status, created_at, updated_at, version, doc) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO NOTHING`,
        [r.id, r.requester, r.flowId, r.status, r.createdAt, r.updatedAt, r.version, JSON.stringify(r)], c,
      );
      // A duplicate id (an automatic flow's request made twice, maybe by two replicas) is a conflict, not a fault.
      if (inserted === 0) throw new ConflictError(`request ${r.id} already exists`);
      if (awaitsDecision(r)) await this.syncApprovers(r, c);
      if (coversEntitlements(r.status)) await this.addHoldings(r, c);
    }
    for (const { current, next } of requests) {
      await c.query('UPDATE requests SET status = $1, updated_at = $2, version = $3, doc = $4 WHERE id = $5', [next.status, next.updatedAt, next.version, JSON.stringify(next), next.id]);
      if (awaitsDecision(current) || awaitsDecision(next)) await this.syncApprovers(next, c);
      if (coversEntitlements(current.status) !== coversEntitlements(next.status)) {
        if (coversEntitlements(next.status)) await this.addHoldings(next, c);
        else await c.query('DELETE FROM holdings WHERE request_id = $1', [next.id]);
      }
    }
    for (const g of cs.insertGrants ?? []) {
      await c.query('INSERT INTO grants (request_id, integration, status, doc) VALUES ($1, $2, $3, $4)', [g.requestId, g.integration, g.status, JSON.stringify(g)]);
    }
    for (const g of grants) {
      await c.query('UPDATE grants SET status = $1, doc = $2 WHERE request_id = $3 AND integration = $4', [g.status, JSON.stringify(g), g.requestId, g.integration]);
    }
    for (const d of cs.deleteJobs ?? []) await c.query('DELETE FROM jobs WHERE id = $1', [d.id]);
    for (const d of cs.deleteJobsOfRequest ?? []) {
      if (d.kinds.length === 0) continue;
      await c.query('DELETE FROM jobs WHERE request_id = $1 AND kind = ANY($2::text[])', [d.requestId, d.kinds]);
    }
    for (const j of cs.insertJobs ?? []) {
      await c.query(
        `INSERT INTO jobs (id, kind, request_id, integration, warning_offsets_ms, due_at, attempts, last_error, lease_owner, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET integration = excluded.integration, warning_offsets_ms = excluded.warning_offsets_ms, due_at = excluded.due_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until`,
        [j.id, j.kind, j.requestId, j.integration, warningOffsetsColumn(j), j.dueAt, j.attempts, j.lastError, j.leaseOwner, j.leaseUntil],
      );
    }
  }

  private async syncApprovers(r: RequestRecord, c: pg.PoolClient): Promise<void> {
    await c.query('DELETE FROM request_approvers WHERE request_id = $1', [r.id]);
    if (!awaitsDecision(r)) return;
    const users = [...new Set(r.approverGroups.flatMap((g) => g.users))];
    if (users.length === 0) return;
    await c.query('INSERT INTO request_approvers (user_id, request_id) SELECT u, $2 FROM unnest($1::text[]) AS u', [users, r.id]);
  }

  private async addHoldings(r: RequestRecord, c: pg.PoolClient): Promise<void> {
    const keys = [...new Set(r.entitlements.map((e) => storedKey(entitlementKey(e))))];
    if (keys.length === 0) return;
    await c.query(
      'INSERT INTO holdings (requester, ent_key, request_id) SELECT $1, k, $3 FROM unnest($2::text[]) AS k ON CONFLICT DO NOTHING',
      [r.requester, keys, r.id],
    );
  }

  /**
   * A lock across replicas: first among this process's holders of `key` (in memory), then a
   * row in `locks`, taken when free or when its lease has lapsed, renewed while `fn` runs,
   * deleted after. A holder that died holds it at most `leaseMs` (wall-clock time).
   */
  async withLock<T>(key: string, leaseMs: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, async () => {
      for (let wait = 2; ; wait = Math.min(wait * 2, 100)) {
        const now = Date.now();
        const taken = await this.count(
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
    // One statement: the rows another replica is claiming at this moment are skipped, not waited for.
    const rows = await this.rows(
      `UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
       WHERE id IN (
         SELECT id FROM jobs WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
         ORDER BY due_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [owner, leaseUntil, now, limit],
    );
    return rows.map(jobFromRow).sort((a, b) => a.dueAt - b.dueAt);
  }

  async renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<number> {
    if (ids.length === 0) return 0;
    return this.count('UPDATE jobs SET lease_until = $1 WHERE id = ANY($2::text[]) AND lease_owner = $3', [leaseUntil, ids, owner]);
  }

  async rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean> {
    return (await this.count(
      'UPDATE jobs SET due_at = $1, last_error = $2, lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4',
      [dueAt, lastError, id, owner],
    )) === 1;
  }

  async jobBacklog(now: number, overdueAfterMs: number): Promise<{ due: number; overdue: number; oldestDueAt: number | null }> {
    const row = await this.one('SELECT coalesce(sum(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0) AS due, coalesce(sum(CASE WHEN due_at <= $2 THEN 1 ELSE 0 END), 0) AS overdue, min(CASE WHEN lease_until IS NULL THEN due_at END) AS oldest FROM jobs', [now, now - overdueAfterMs]);
    return { due: Number(row?.due ?? 0), overdue: Number(row?.overdue ?? 0), oldestDueAt: row?.oldest === null || row?.oldest === undefined ? null : Number(row.oldest) };
  }

  async countFailingRevokes(): Promise<number> {
    const row = await this.one("SELECT count(*) AS n FROM jobs WHERE kind = 'revoke' AND attempts > 0");
    return Number(row?.n ?? 0);
  }

  async nextDueAt(): Promise<number | null> {
    const row = await this.one('SELECT min(due_at) AS t FROM jobs WHERE lease_until IS NULL');
    return row && row.t !== null && row.t !== undefined ? Number(row.t) : null;
  }

  /**
   * Several replicas share this store: only the leases of `owner` (this replica) are freed,
   * e.g. on a clean stop so that another replica takes its work over at once. Another
   * replica's leases run out by themselves if it died.
   */
  async releaseAllLeases(owner?: string): Promise<number> {
    if (owner === undefined) throw new Error('the PostgreSQL store is shared by replicas: release the leases of one owner only');
    return this.count('UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1', [owner]);
  }

  async retryBackedOffRevokesNow(now: number): Promise<number> {
    return this.count("UPDATE jobs SET due_at = $1 WHERE kind = 'revoke' AND due_at > $1 AND lease_owner IS NULL", [now]);
  }

  async jobsOfRequest(requestId: string): Promise<JobRecord[]> {
    return (await this.rows('SELECT * FROM jobs WHERE request_id = $1 ORDER BY due_at', [requestId])).map(jobFromRow);
  }

  async appendAudit(events: AuditInput[]): Promise<void> {
    if (events.length === 0) return;
    await this.transaction((c) => this.appendAuditInTx(events, c));
  }

  /** Appends under the head row's lock: the last lock a transaction takes, so no lock-order cycle. */
  private async appendAuditInTx(events: AuditInput[], c: pg.PoolClient): Promise<void> {
    const key = this.auditKey;
    if (!key) throw new Error('this store was opened without the audit key: it cannot append audit events');
    const head = await this.one('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE', [], c);
    if (!head) throw new Error('the audit head row is missing (the schema was not migrated, or it was tampered with)');
    let seq = Number(head.seq);
    let prev = String(head.hash);
    const cols: unknown[][] = [[], [], [], [], [], [], [], []];
    for (const e of events) {
      seq++;
      const dataText = canonicalJson(e.data);
      const hash = hashAuditEvent(key, prev, { seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText });
      [seq, e.at, e.actor, e.action, e.requestId, dataText, prev, hash].forEach((v, i) => cols[i]!.push(v));
      prev = hash;
    }
    // One statement (one round trip while the head is locked): the events, then the head.
    await c.query(
      `WITH appended AS (
         INSERT INTO audit (seq, at, actor, action, request_id, data, prev_hash, hash)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]))
       UPDATE audit_head SET seq = $9, hash = $10 WHERE id = 1`,
      [...cols, seq, prev],
    );
  }

  /** See Store.rehashAudit: one transaction under the head row's lock, a page of events at a time. */
  async rehashAudit(checkOld: AuditHasher, hashOf: AuditHasher): Promise<number> {
    return this.transaction(async (c) => {
      const head = await this.one('SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE', [], c);
      let oldPrev = GENESIS_HASH;
      let newPrev = GENESIS_HASH;
      let seq = 0;
      for (;;) {
        const page = (await this.rows('SELECT * FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT 1000', [seq], c)).map(auditFromRow);
        if (page.length === 0) break;
        const seqs: number[] = [];
        const prevs: string[] = [];
        const hashes: string[] = [];
        for (const e of page) {
          const fields = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, requestId: e.requestId, dataText: canonicalJson(e.data) };
          if (e.seq !== seq + 1 || e.prevHash !== oldPrev || checkOld(oldPrev, fields) !== e.hash) {
            throw new Error(`audit event ${e.seq} does not verify as written: the chain is left as it is`);
          }
          const hash = hashOf(newPrev, fields);
          seqs.push(e.seq);
          prevs.push(newPrev);
          hashes.push(hash);
          oldPrev = e.hash;
          newPrev = hash;
          seq = e.seq;
        }
        await c.query(
          'UPDATE audit SET prev_hash = u.prev, hash = u.hash FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(seq, prev, hash) WHERE audit.seq = u.seq',
          [seqs, prevs, hashes],
        );
      }
      if (seq > 0) {
        if (!head || Number(head.seq) !== seq || String(head.hash) !== oldPrev) {
          throw new Error(`the audit head does not match the chain's last event ${seq}: the chain is left as it is`);
        }
        await c.query('UPDATE audit_head SET hash = $1 WHERE id = 1', [newPrev]);
      }
      return seq;
    });
  }

  async listAudit(f: AuditFilter): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (f.requestId !== undefined) where.push(`request_id = ${p(f.requestId)}`);
    if (f.actor !== undefined) where.push(`actor = ${p(f.actor)}`);
    if (f.action !== undefined) where.push(`action = ${p(f.action)}`);
    if (f.since !== undefined) where.push(`at >= ${p(f.since)}`);
    if (f.until !== undefined) where.push(`at < ${p(f.until)}`);
    if (f.afterSeq !== undefined) where.push(`seq > ${p(f.afterSeq)}`);
    const limit = Math.min(Math.max(1, Math.floor(f.limit ?? 100)), 10_000);
    const sql = `SELECT * FROM audit ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY seq ASC LIMIT ${limit}`;
    return (await this.rows(sql, params)).map(auditFromRow);
  }

  async *iterateAudit(pageSize = 5000): AsyncIterable<AuditEvent[]> {
    let after = -1;
    for (;;) {
      const page = (await this.rows('SELECT * FROM audit WHERE seq > $1 ORDER BY seq ASC LIMIT $2', [after, pageSize])).map(auditFromRow);
      if (page.length === 0) return;
      yield page;
      after = page[page.length - 1]!.seq;
    }
  }

  async auditHead(): Promise<{ seq: number; hash: string } | null> {
    const row = await this.one('SELECT seq, hash FROM audit_head WHERE id = 1');
    // seq 0 is the empty chain (the row exists from the start so that appends can lock it).
    return row && Number(row.seq) > 0 ? { seq: Number(row.seq), hash: String(row.hash) } : null;
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
      'INSERT INTO tokens (id, user_id, name, hash, created_at, revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [t.id, t.userId, t.name, secretHash, t.createdAt, t.revokedAt, t.lastUsedAt],
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

  /** Test and tooling hook: raw SQL (`?` placeholders, as for SQLite) against the database (e.g. to tamper with the audit log in a test). */
  async execRaw(sql: string, ...params: unknown[]): Promise<number> {
    let n = 0;
    return this.count(sql.replace(/\?/g, () => `$${++n}`), params);
  }
}
