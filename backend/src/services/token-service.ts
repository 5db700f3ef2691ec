// Self-service API tokens: a person makes, lists and revokes their own (a name, an expiry,
// shown once); admins also make service tokens for automation and see everyone's. Every
// token made or revoked is audited.

import { createToken, tokenExpiry } from '../auth/tokens.ts';
import { LapseError } from '../engine/errors.ts';
import type { Store, TokenRecord } from '../store/store.ts';
import type { TokenLifetimes } from '../domain/config.ts';
import type { CreatedToken, NewToken, TokenView } from '../../../common/api/types.ts';
import { iso } from '../api/views.ts';

/** The store's meta key holding the token lifetimes of the configuration loaded last (for `lapse token create` on the host). */
export const TOKEN_LIFETIMES_KEY = 'token-lifetimes';

export function tokenView(t: TokenRecord): TokenView {
  return { id: t.id, user: t.userId, name: t.name, kind: t.kind, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), lastUsedAt: iso(t.lastUsedAt), revokedAt: iso(t.revokedAt) };
}

export class TokenService {
  constructor(private readonly d: { store: Store; now: () => number; isKnownUser: (id: string) => boolean; lifetimes: () => TokenLifetimes }) {}

  /**
   * A new token for the one the caller presents, which it replaces (revoked): only a token
   * single sign-on made for an app (the tray, `lapse login`), and only while the identity
   * provider renews its person (a refresh token Lapse uses every settings.oidc.renewEvery),
   * so a person the provider drops cannot keep a token alive. The new token keeps the name
   * and the provider authentication of the old one (a step-up does not grow younger).
   */
  async renew(caller: { id: string; tokenId: string | null }): Promise<CreatedToken> {
    if (caller.tokenId === null) throw new LapseError('invalid', 'a session is not renewed here: it lasts until its idle or absolute end, then you sign in again', 'authorization');
    const old = (await this.d.store.listTokens(caller.id)).find((t) => t.id === caller.tokenId);
    if (!old || old.revokedAt !== null) throw new LapseError('forbidden', 'this token is no longer valid');
    if (!old.authentication) throw new LapseError('forbidden', 'only a token single sign-on made for an app renews itself; make a new one before this one expires');
    const renewal = await this.d.store.findRenewal(caller.id);
    if (!renewal?.refreshToken) throw new LapseError('forbidden', 'the identity provider does not renew you (it gave Lapse no refresh token): sign in again before this token expires');
    const now = this.d.now();
    const { token, record } = await createToken(this.d.store, caller.id, old.name, now, {
      expiresAt: now + this.d.lifetimes().defaultLifetimeMs, kind: old.kind, by: caller.id, authentication: old.authentication,
    });
    await this.d.store.revokeToken(old.id, now);
    await this.d.store.appendAudit([{ at: now, actor: caller.id, action: 'token.renewed', requestId: null, data: { tokenId: old.id, newTokenId: record.id, user: caller.id, expiresAt: record.expiresAt } }]);
    return { token, ...tokenView(record) };
  }

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
    let expiresAt: number | null;
    try {
      expiresAt = tokenExpiry(input.expiresIn, kind, this.d.lifetimes(), now);
    } catch (err) {
      throw new LapseError('invalid', (err as Error).message, 'expiresIn');
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
