// Names of the temporary accounts (logins, ACL users) integrations create per request:
// `<prefix><user>_<short id>`. The user part keeps only lowercase letters and digits of the
// Lapse user id (so a hostile id cannot reach the target as anything but plain text); the
// short id is derived from the request id, so the same request always names the same
// account (a repeated grant after a crash finds it) and reconciliation can tell which
// accounts an active request covers.

import { createHash, randomBytes } from 'node:crypto';

export const DEFAULT_ACCOUNT_PREFIX = 'lapse_';
/** What a configured account prefix may look like. */
export const ACCOUNT_PREFIX_PATTERN = /^[a-z_][a-z0-9_]{0,15}$/;

export function shortId(requestId: string): string {
  return createHash('sha256').update(requestId).digest('hex').slice(0, 10);
}

export function accountName(prefix: string, userId: string, requestId: string): string {
  const user = userId.normalize('NFKD').toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 20) || 'user';
  return `${prefix}${user}_${shortId(requestId)}`;
}

/** A strong random password (192 bits) of URL-safe characters. */
export function randomPassword(): string {
  return randomBytes(24).toString('base64url');
}
