// Sessions, sign-in attempts and provisioned users (single sign-on) in the SQLite store:
// their writes, which the SqliteWriter makes on its connection, and their reads.

import { ConflictError, type DueRenewal, type ProvisionedUser, type Renewal, type SessionRecord, type SignInAttempt } from './store.ts';
import type { StatementCache } from './sqlite-connection.ts';
import { authenticationColumns, provisionedUserFromRow, renewalFromRow, sessionFromRow, signInAttemptFromRow } from './rows.ts';

/** The writes, one statement each (as the writer's token writes). */
export class SqliteSignInWrites {
  constructor(private readonly sql: StatementCache) {}

  insertSession(s: SessionRecord): void {
    this.sql.run(
      `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, idle_timeout_ms, csrf_hash, id_token, revoked_at, revoked_reason, authenticated_at, acr, amr)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      s.id, s.userId, s.createdAt, s.lastSeenAt, s.expiresAt, s.idleTimeoutMs, s.csrfHash, s.idToken, s.revokedAt, s.revokedReason, ...authenticationColumns(s.authentication),
    );
  }

  touchSession(id: string, at: number): void {
    this.sql.run('UPDATE sessions SET last_seen_at = ? WHERE id = ? AND last_seen_at < ?', at, id, at);
  }

  revokeSession(id: string, at: number, reason: string): boolean {
    return this.sql.run('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL', at, reason, id) === 1;
  }

  /** The user's sessions neither revoked nor past their absolute end at `at`. */
  revokeSessionsOf(userId: string, at: number, reason: string): number {
    return this.sql.run('UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?', at, reason, userId, at);
  }

  pruneSessions(before: number): number {
    return this.sql.run('DELETE FROM sessions WHERE revoked_at < ? OR expires_at < ?', before, before);
  }

  /** Also removes the attempts already expired when this one begins (abandoned sign-ins). */
  saveSignInAttempt(a: SignInAttempt): void {
    this.sql.run('DELETE FROM sign_in_attempts WHERE expires_at <= ?', a.createdAt);
    this.sql.run(
      'INSERT INTO sign_in_attempts (state, nonce, code_verifier, return_to, created_at, expires_at, max_age_seconds) VALUES (?, ?, ?, ?, ?, ?, ?)',
      a.state, a.nonce, a.codeVerifier, a.returnTo, a.createdAt, a.expiresAt, a.maxAgeSeconds ?? null,
    );
  }

  /** See Store.takeSignInAttempt: read and deleted in one statement. */
  takeSignInAttempt(state: string, now: number): SignInAttempt | null {
    const row = this.sql.get('DELETE FROM sign_in_attempts WHERE state = ? RETURNING *', state);
    if (!row) return null;
    const attempt = signInAttemptFromRow(row);
    return attempt.expiresAt > now ? attempt : null;
  }

  saveRenewal(userId: string, r: Renewal): void {
    this.sql.run('UPDATE provisioned_users SET refresh_token = ?, renew_at = ?, renewal_error = ? WHERE id = ?', r.refreshToken, r.renewAt, r.error, userId);
  }

  /** See Store.claimDueRenewals: one statement on the single writer. */
  claimDueRenewals(now: number, leaseMs: number, limit: number): DueRenewal[] {
    return this.sql.all(
      `UPDATE provisioned_users SET renew_at = ? WHERE id IN (
         SELECT id FROM provisioned_users WHERE renew_at <= ? AND refresh_token IS NOT NULL AND disabled_at IS NULL ORDER BY renew_at, id LIMIT ?
       ) RETURNING id, refresh_token`,
      now + leaseMs, now, limit,
    ).map((row) => ({ userId: String(row.id), refreshToken: String(row.refresh_token) }));
  }

  /** Inserts or replaces by id; another id with the same issuer and subject is a ConflictError. */
  saveProvisionedUser(u: ProvisionedUser): void {
    try {
      this.sql.run(
        `INSERT INTO provisioned_users (id, issuer, subject, email, name, groups, manager, attributes, created_at, updated_at, last_sign_in_at, disabled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET issuer = excluded.issuer, subject = excluded.subject, email = excluded.email, name = excluded.name,
           groups = excluded.groups, manager = excluded.manager, attributes = excluded.attributes, created_at = excluded.created_at,
           updated_at = excluded.updated_at, last_sign_in_at = excluded.last_sign_in_at, disabled_at = excluded.disabled_at`,
        u.id, u.issuer, u.subject, u.email, u.name, JSON.stringify(u.groups), u.manager, JSON.stringify(u.attributes),
        u.createdAt, u.updatedAt, u.lastSignInAt, u.disabledAt,
      );
    } catch (err) {
      // The id's uniqueness is the upsert's: a unique violation is (issuer, subject)'s.
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new ConflictError(`another provisioned user has issuer ${u.issuer} and subject ${u.subject}`);
      }
      throw err;
    }
  }
}

export function findSession(sql: StatementCache, id: string): SessionRecord | null {
  const row = sql.get('SELECT * FROM sessions WHERE id = ?', id);
  return row ? sessionFromRow(row) : null;
}

export function listSessionsOf(sql: StatementCache, userId: string, now: number): SessionRecord[] {
  return sql.all('SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id', userId, now).map(sessionFromRow);
}

export function findProvisionedUser(sql: StatementCache, id: string): ProvisionedUser | null {
  const row = sql.get('SELECT * FROM provisioned_users WHERE id = ?', id);
  return row ? provisionedUserFromRow(row) : null;
}

export function findProvisionedUserBySubject(sql: StatementCache, issuer: string, subject: string): ProvisionedUser | null {
  const row = sql.get('SELECT * FROM provisioned_users WHERE issuer = ? AND subject = ?', issuer, subject);
  return row ? provisionedUserFromRow(row) : null;
}

export function listProvisionedUsers(sql: StatementCache): ProvisionedUser[] {
  return sql.all('SELECT * FROM provisioned_users ORDER BY created_at, id').map(provisionedUserFromRow);
}

export function findRenewal(sql: StatementCache, userId: string): Renewal | null {
  const row = sql.get('SELECT refresh_token, renew_at, renewal_error FROM provisioned_users WHERE id = ?', userId);
  return row ? renewalFromRow(row) : null;
}
