// Bearer tokens: `lapse_<id>_<secret>`. Only a SHA-256 hash of the whole token is stored,
// so a copy of the database does not hand out working tokens.

import { createHash, randomBytes } from 'node:crypto';
import type { Store, TokenRecord } from '../store/store.ts';

const TOKEN_PATTERN = /^lapse_([a-z0-9]{12})_([A-Za-z0-9_-]{32,})$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function createToken(store: Store, userId: string, name: string, now = Date.now()): Promise<{ token: string; record: TokenRecord }> {
  const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').padEnd(12, '0').slice(0, 12);
  const token = `lapse_${id}_${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = { id, userId, name, createdAt: now, revokedAt: null, lastUsedAt: null };
  await store.insertToken(record, hashToken(token));
  return { token, record };
}

/** The user a presented token belongs to, or null if it is malformed, unknown or revoked. */
export async function authenticate(store: Store, token: string): Promise<TokenRecord | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const record = await store.findTokenByHash(hashToken(token));
  if (!record || record.revokedAt !== null) return null;
  return record;
}

/** Bearer tokens as the API checks them: looked up by hash, and "last used" kept at minute precision. */
export class BearerTokens {
  constructor(private readonly store: Store, private readonly now: () => number) {}

  /** The token's record, or null for a token that is unknown, malformed or revoked. */
  authenticate(token: string): Promise<TokenRecord | null> {
    return authenticate(this.store, token);
  }

  /** Notes that the token was used: one write per token per minute, not per call. */
  async touch(record: TokenRecord): Promise<void> {
    const now = this.now();
    if (record.lastUsedAt === null || now - record.lastUsedAt >= 60_000) await this.store.touchToken(record.id, now);
  }
}
