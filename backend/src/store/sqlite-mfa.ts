// TOTP self-enrolments in the SQLite store: their writes, which the SqliteWriter makes on its
// connection, and their read. Each write is one statement, so it holds or fails whole.

import type { MfaEnrolment } from './store.ts';
import type { StatementCache } from './sqlite-connection.ts';
import { mfaEnrolmentFromRow } from './rows.ts';

export class SqliteMfaWrites {
  constructor(private readonly sql: StatementCache) {}

  /** See Store.startMfaEnrolment: the upsert leaves a confirmed enrolment as it is. */
  startMfaEnrolment(userId: string, secret: string, at: number): boolean {
    return this.sql.run(
      `INSERT INTO mfa_enrolments (user_id, secret, state, created_at, confirmed_at) VALUES (?, ?, 'pending', ?, NULL)
       ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
       WHERE mfa_enrolments.state = 'pending'`,
      userId, secret, at,
    ) === 1;
  }

  confirmMfaEnrolment(userId: string, secret: string, at: number): boolean {
    return this.sql.run(
      "UPDATE mfa_enrolments SET state = 'confirmed', confirmed_at = ? WHERE user_id = ? AND state = 'pending' AND secret = ?",
      at, userId, secret,
    ) === 1;
  }

  deleteMfaEnrolment(userId: string, state?: MfaEnrolment['state']): MfaEnrolment | null {
    const row = state === undefined
      ? this.sql.get('DELETE FROM mfa_enrolments WHERE user_id = ? RETURNING *', userId)
      : this.sql.get('DELETE FROM mfa_enrolments WHERE user_id = ? AND state = ? RETURNING *', userId, state);
    return row ? mfaEnrolmentFromRow(row) : null;
  }
}

export function getMfaEnrolment(sql: StatementCache, userId: string): MfaEnrolment | null {
  const row = sql.get('SELECT * FROM mfa_enrolments WHERE user_id = ?', userId);
  return row ? mfaEnrolmentFromRow(row) : null;
}
