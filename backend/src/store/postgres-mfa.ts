// TOTP self-enrolments in the PostgreSQL store. Each write is one statement: of replicas
// confirming or replacing the same enrolment at once, the row lock orders them, and a
// conditional one that comes second finds the row changed and writes nothing.

import type pg from 'pg';
import type { MfaEnrolment } from './store.ts';
import { queryCount, queryOne } from './postgres-connection.ts';
import { mfaEnrolmentFromRow } from './rows.ts';

export async function getMfaEnrolment(pool: pg.Pool, userId: string): Promise<MfaEnrolment | null> {
  const row = await queryOne(pool, 'SELECT * FROM mfa_enrolments WHERE user_id = $1', [userId]);
  return row ? mfaEnrolmentFromRow(row) : null;
}

/** See Store.startMfaEnrolment: the upsert leaves a confirmed enrolment as it is. */
export async function startMfaEnrolment(pool: pg.Pool, userId: string, secret: string, at: number): Promise<boolean> {
  return (await queryCount(
    pool,
    `INSERT INTO mfa_enrolments (user_id, secret, state, created_at, confirmed_at) VALUES ($1, $2, 'pending', $3, NULL)
     ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
     WHERE mfa_enrolments.state = 'pending'`,
    [userId, secret, at],
  )) === 1;
}

export async function confirmMfaEnrolment(pool: pg.Pool, userId: string, secret: string, at: number): Promise<boolean> {
  return (await queryCount(
    pool,
    "UPDATE mfa_enrolments SET state = 'confirmed', confirmed_at = $1 WHERE user_id = $2 AND state = 'pending' AND secret = $3",
    [at, userId, secret],
  )) === 1;
}

export async function deleteMfaEnrolment(pool: pg.Pool, userId: string, state?: MfaEnrolment['state']): Promise<MfaEnrolment | null> {
  const row = state === undefined
    ? await queryOne(pool, 'DELETE FROM mfa_enrolments WHERE user_id = $1 RETURNING *', [userId])
    : await queryOne(pool, 'DELETE FROM mfa_enrolments WHERE user_id = $1 AND state = $2 RETURNING *', [userId, state]);
  return row ? mfaEnrolmentFromRow(row) : null;
}
