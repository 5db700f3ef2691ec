// Sessions, sign-in attempts and provisioned users (single sign-on) in the PostgreSQL store.
// A sign-in attempt is taken by a single DELETE … RETURNING: of replicas given the same
// callback, one gets it.

import type pg from 'pg';
import { ConflictError, type DueRenewal, type ProvisionedUser, type Renewal, type SessionRecord, type SignInAttempt } from './store.ts';
import { queryCount, queryOne, queryRows } from './postgres-connection.ts';
import { authenticationColumns, provisionedUserFromRow, renewalFromRow, sessionFromRow, signInAttemptFromRow } from './rows.ts';

export async function insertSession(pool: pg.Pool, s: SessionRecord): Promise<void> {
  await pool.query(
    `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, csrf_hash, id_token, revoked_at, revoked_reason, authenticated_at, acr, amr)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [s.id, s.userId, s.createdAt, s.lastSeenAt, s.expiresAt, s.idleTimeoutMs, s.csrfHash, s.idToken, s.revokedAt, s.revokedReason, ...authenticationColumns(s.authentication)],
  );
}

export async function findSession(pool: pg.Pool, id: string): Promise<SessionRecord | null> {
  const row = await queryOne(pool, 'SELECT * FROM sessions WHERE id = $1', [id]);
  return row ? sessionFromRow(row) : null;
}

export async function touchSession(pool: pg.Pool, id: string, at: number): Promise<void> {
  await pool.query('UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1', [at, id]);
}

export async function revokeSession(pool: pg.Pool, id: string, at: number, reason: string): Promise<boolean> {
  return (await queryCount(pool, 'UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL', [at, reason, id])) === 1;
}

/** The user's sessions neither revoked nor past their absolute end at `at`. */
export async function revokeSessionsOf(pool: pg.Pool, userId: string, at: number, reason: string): Promise<number> {
  return queryCount(pool, 'UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL AND expires_at > $1', [at, reason, userId]);
}

export async function listSessionsOf(pool: pg.Pool, userId: string, now: number): Promise<SessionRecord[]> {
  return (await queryRows(
    pool,
    'SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, id COLLATE "C"',
    [userId, now],
  )).map(sessionFromRow);
}

export async function pruneSessions(pool: pg.Pool, before: number): Promise<number> {
  return queryCount(pool, 'DELETE FROM sessions WHERE revoked_at < $1 OR expires_at < $1', [before]);
}

/** Also removes the attempts already expired when this one begins (abandoned sign-ins). */
export async function saveSignInAttempt(pool: pg.Pool, a: SignInAttempt): Promise<void> {
  await pool.query('DELETE FROM sign_in_attempts WHERE expires_at <= $1', [a.createdAt]);
  await pool.query(
    'INSERT INTO sign_in_attempts (state, nonce, code_verifier, return_to, created_at, expires_at, max_age_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    [a.state, a.nonce, a.codeVerifier, a.returnTo, a.createdAt, a.expiresAt, a.maxAgeSeconds ?? null],
  );
}

/**
 * See Store.takeSignInAttempt: one statement. Of two replicas taking the same state at once,
 * the second waits for the first's delete and then finds no row.
 */
export async function takeSignInAttempt(pool: pg.Pool, state: string, now: number): Promise<SignInAttempt | null> {
  const row = await queryOne(pool, 'DELETE FROM sign_in_attempts WHERE state = $1 RETURNING *', [state]);
  if (!row) return null;
  const attempt = signInAttemptFromRow(row);
  return attempt.expiresAt > now ? attempt : null;
}

/** Inserts or replaces by id; another id with the same issuer and subject is a ConflictError. */
export async function saveProvisionedUser(pool: pg.Pool, u: ProvisionedUser): Promise<void> {
  try {
    await pool.query(
      `INSERT INTO provisioned_users (id, issuer, subject, email, name, groups, manager, attributes, created_at, updated_at, last_sign_in_at, disabled_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (id) DO UPDATE SET issuer = excluded.issuer, subject = excluded.subject, email = excluded.email, name = excluded.name,
         groups = excluded.groups, manager = excluded.manager, attributes = excluded.attributes, created_at = excluded.created_at,
         updated_at = excluded.updated_at, last_sign_in_at = excluded.last_sign_in_at, disabled_at = excluded.disabled_at`,
      [u.id, u.issuer, u.subject, u.email, u.name, JSON.stringify(u.groups), u.manager, JSON.stringify(u.attributes), u.createdAt, u.updatedAt, u.lastSignInAt, u.disabledAt],
    );
  } catch (err) {
    // 23505: a unique violation, here of (issuer, subject) (the id's is the upsert's).
    if ((err as { code?: string }).code === '23505') throw new ConflictError(`another provisioned user has issuer ${u.issuer} and subject ${u.subject}`);
    throw err;
  }
}

export async function findProvisionedUser(pool: pg.Pool, id: string): Promise<ProvisionedUser | null> {
  const row = await queryOne(pool, 'SELECT * FROM provisioned_users WHERE id = $1', [id]);
  return row ? provisionedUserFromRow(row) : null;
}

export async function findProvisionedUserBySubject(pool: pg.Pool, issuer: string, subject: string): Promise<ProvisionedUser | null> {
  const row = await queryOne(pool, 'SELECT * FROM provisioned_users WHERE issuer = $1 AND subject = $2', [issuer, subject]);
  return row ? provisionedUserFromRow(row) : null;
}

export async function listProvisionedUsers(pool: pg.Pool): Promise<ProvisionedUser[]> {
  return (await queryRows(pool, 'SELECT * FROM provisioned_users ORDER BY created_at, id COLLATE "C"')).map(provisionedUserFromRow);
}

export async function saveRenewal(pool: pg.Pool, userId: string, r: Renewal): Promise<void> {
  await pool.query('UPDATE provisioned_users SET refresh_token = $1, renew_at = $2, renewal_error = $3 WHERE id = $4', [r.refreshToken, r.renewAt, r.error, userId]);
}

/** See Store.claimDueRenewals: rows another replica is claiming are skipped, not waited for. */
export async function claimDueRenewals(pool: pg.Pool, now: number, leaseMs: number, limit: number): Promise<DueRenewal[]> {
  const rows = await queryRows(
    pool,
    `UPDATE provisioned_users SET renew_at = $1 WHERE id IN (
       SELECT id FROM provisioned_users WHERE renew_at <= $2 AND refresh_token IS NOT NULL AND disabled_at IS NULL
       ORDER BY renew_at, id COLLATE "C" LIMIT $3 FOR UPDATE SKIP LOCKED
     ) RETURNING id, refresh_token`,
    [now + leaseMs, now, limit],
  );
  return rows.map((row) => ({ userId: String(row.id), refreshToken: String(row.refresh_token) }));
}

export async function findRenewal(pool: pg.Pool, userId: string): Promise<Renewal | null> {
  const row = await queryOne(pool, 'SELECT refresh_token, renew_at, renewal_error FROM provisioned_users WHERE id = $1', [userId]);
  return row ? renewalFromRow(row) : null;
}
