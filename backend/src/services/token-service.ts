// Self-service API tokens: a person makes, lists and revokes their own (a name, an expiry,
// shown once); admins also make service tokens for automation and see everyone's. Every
// token made or revoked is audited.

import { createToken, DEFAULT_TOKEN_LIFETIME_MS, MAX_TOKEN_LIFETIME_MS } from '../auth/tokens.ts';
import { LapseError } from '../engine/errors.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import { formatDuration, parseDuration } from '../../../common/duration.ts';
import type { CreatedToken, NewToken, TokenView } from '../../../common/api/types.ts';
import { iso } from '../api/views.ts';

export function tokenView(t: TokenRecord): TokenView {
  return { id: t.id, user: t.userId, name: t.name, kind: t.kind, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), lastUsedAt: iso(t.lastUsedAt), revokedAt: iso(t.revokedAt) };
}

export class TokenService {
  constructor(private readonly d: { store: Store; now: () => number; isKnownUser: (id: string) => boolean }) {}

  async list(caller: { id: string; admin: boolean }, user: string | undefined): Promise<TokenView[]> {
    if (user !== undefined && user !== caller.id && !caller.admin) throw new LapseError('forbidden', 'only admins see other people\'s tokens', 'query user');
    const tokens = await this.d.store.listTokens(user === '*' ? undefined : (user ?? caller.id));
    return tokens.map(tokenView);
  }

  async create(caller: { id: string; admin: boolean }, input: NewToken): Promise<CreatedToken> {
    const user = input.user ?? caller.id;
    const kind = input.kind ?? 'personal';
    if ((user !== caller.id || kind === 'service') && !caller.admin) throw new LapseError('forbidden', 'only admins make service tokens or tokens for someone else', input.user !== undefined ? 'user' : 'kind');
    if (!this.d.isKnownUser(user)) throw new LapseError('invalid', `unknown user "${user}": not a Lapse user`, 'user');
    const now = this.d.now();
    let expiresAt: number | null = now + DEFAULT_TOKEN_LIFETIME_MS;
    if (input.expiresIn === 'never') {
      if (kind !== 'service') throw new LapseError('invalid', 'only a service token may never expire; give a duration, e.g. "90d"', 'expiresIn');
      expiresAt = null;
    } else if (input.expiresIn !== undefined) {
      let ms: number;
      try {
        ms = parseDuration(input.expiresIn);
      } catch (err) {
        throw new LapseError('invalid', (err as Error).message, 'expiresIn');
      }
      if (!Number.isFinite(ms) || ms <= 0) throw new LapseError('invalid', `expected a duration longer than 0, got "${input.expiresIn}"`, 'expiresIn');
      if (ms > MAX_TOKEN_LIFETIME_MS) throw new LapseError('invalid', `at most ${formatDuration(MAX_TOKEN_LIFETIME_MS)}`, 'expiresIn');
      expiresAt = now + ms;
    }
    const { token, record } = await createToken(this.d.store, user, input.name, now, { expiresAt, kind, by: caller.id });
    return { token, ...tokenView(record) };
  }

  async revoke(caller: { id: string; admin: boolean }, id: string): Promise<void> {
    const all = await this.d.store.listTokens(caller.admin ? undefined : caller.id);
    const t = all.find((x) => x.id === id);
    // Someone else's token is answered as unknown: its existence is not the caller's to learn.
    if (!t || t.revokedAt !== null) throw new LapseError('not-found', `no active token ${id}`);
    const now = this.d.now();
    await this.d.store.revokeToken(id, now);
    await this.d.store.appendAudit([{ at: now, actor: caller.id, action: 'token.revoked', requestId: null, data: { tokenId: id, user: t.userId } }]);
  }
}
