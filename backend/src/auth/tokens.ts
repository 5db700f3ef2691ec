// Bearer tokens: `lapse_<id>_<secret>`. Only a SHA-256 hash of the whole token is stored,
// so a copy of the database does not hand out working tokens.

import { createHash, randomBytes } from 'node:crypto';
import type { Store, TokenRecord } from '../store/store.ts';
import { DEFAULT_TOKEN_LIFETIMES, type TokenLifetimes } from '../domain/config.ts';
import { formatDuration, parseDuration } from '../../../common/duration.ts';

const TOKEN_PATTERN = /^lapse_([a-z0-9]{12})_([A-Za-z0-9_-]{32,})$/;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * When a new token stops working: `expiresIn` is a duration (within the lifetimes' maximum),
 * "never" (service tokens only), or absent (the default lifetime). Throws an Error saying
 * what is wrong with `expiresIn`.
 */
export function tokenExpiry(expiresIn: string | undefined, kind: TokenRecord['kind'], lifetimes: TokenLifetimes, now: number): number | null {
  if (expiresIn === undefined) return now + lifetimes.defaultLifetimeMs;
  if (expiresIn === 'never') {
    if (kind !== 'service') throw new Error('only a service token may never expire; give a duration, e.g. "90d"');
    return null;
  }
  const ms = parseDuration(expiresIn);
  if (!Number.isFinite(ms) || ms <= 0) throw new Error(`expected a duration longer than 0, got "${expiresIn}"`);
  if (ms > lifetimes.maxLifetimeMs) throw new Error(`at most ${formatDuration(lifetimes.maxLifetimeMs)} (settings.tokens.maxLifetime)`);
  return now + ms;
}

export interface NewTokenOptions {
  /** When it stops working; default the built-in default lifetime (90 days) from now; null: never (service tokens only). */
  expiresAt?: number | null;
  kind?: TokenRecord['kind'];
  /** Who made it, for the audit (default: the command line on the server's host). */
  by?: string;
  /** How the identity provider authenticated the person, when single sign-on made it. */
  authentication?: TokenRecord['authentication'];
}

/** A new token for `userId`, shown once: only its hash is kept. Audited as token.created. */
export async function createToken(store: Store, userId: string, name: string, now = Date.now(), opts: NewTokenOptions = {}): Promise<{ token: string; record: TokenRecord }> {
  const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '').padEnd(12, '0').slice(0, 12);
  const token = `lapse_${id}_${randomBytes(32).toString('base64url')}`;
  const record: TokenRecord = {
    id, userId, name, createdAt: now, revokedAt: null, lastUsedAt: null,
    expiresAt: opts.expiresAt === undefined ? now + DEFAULT_TOKEN_LIFETIMES.defaultLifetimeMs : opts.expiresAt, kind: opts.kind ?? 'personal',
    authentication: opts.authentication ?? null,
  };
  await store.insertToken(record, hashToken(token));
  await store.appendAudit([{ at: now, actor: opts.by ?? 'cli', action: 'token.created', requestId: null, data: { tokenId: id, user: userId, name, kind: record.kind, expiresAt: record.expiresAt } }]);
  return { token, record };
}

/** The record of a well-formed token that is known and not revoked (expired or not), or null. */
async function liveRecord(store: Store, token: string): Promise<TokenRecord | null> {
  if (!TOKEN_PATTERN.test(token)) return null;
  const record = await store.findTokenByHash(hashToken(token));
  return record && record.revokedAt === null ? record : null;
}

const expiredAt = (record: TokenRecord, now: number) => record.expiresAt !== null && now >= record.expiresAt;

/** The user a presented token belongs to, or null if it is malformed, unknown, revoked or expired. */
export async function authenticate(store: Store, token: string, now = Date.now()): Promise<TokenRecord | null> {
  const record = await liveRecord(store, token);
  return record && !expiredAt(record, now) ? record : null;
}

/** Bearer tokens as the API checks them: looked up by hash, and "last used" kept at minute precision. */
export class BearerTokens {
  constructor(private readonly store: Store, private readonly now: () => number) {}

  /**
   * The token's record, or null for a token that is unknown, malformed, revoked or expired.
   * The first time an expired token is presented, it is revoked and that is audited
   * (token.expired); afterwards it is refused as revoked.
   */
  async authenticate(token: string): Promise<TokenRecord | null> {
    const record = await liveRecord(this.store, token);
    if (!record) return null;
    const now = this.now();
    if (expiredAt(record, now)) {
      if (await this.store.revokeToken(record.id, now)) {
        await this.store.appendAudit([{ at: now, actor: 'system', action: 'token.expired', requestId: null, data: { tokenId: record.id, user: record.userId, expiredAt: record.expiresAt } }]);
      }
      return null;
    }
    return record;
  }

  /** Notes that the token was used: one write per token per minute, not per call; its first use is audited. */
  async touch(record: TokenRecord): Promise<void> {
    const now = this.now();
    if (record.lastUsedAt === null) {
      // Observed by the server (the person's own actions stay theirs in the audit).
      await this.store.appendAudit([{ at: now, actor: 'system', action: 'token.first_used', requestId: null, data: { tokenId: record.id, user: record.userId } }]);
    }
    if (record.lastUsedAt === null || now - record.lastUsedAt >= 60_000) await this.store.touchToken(record.id, now);
  }
}
