// People who stop being Lapse users (removed from the configuration, or no longer provisioned)
// are offboarded: their sessions end, their tokens are revoked, their own MFA factor is
// removed, what they hold is revoked and what they asked for is canceled, audited with the
// reason "user removed". With settings.offboarding: suspend, they are only locked out
// (sessions and tokens refused while they are not users; access ends on its own). The users
// known last time are kept in the store, so a person removed while the server was down is
// offboarded at the next start.

import type { Engine } from '../engine/engine.ts';
import type { Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';

/** The store's meta key holding the users known at the last start or reload (a JSON list of ids). */
export const KNOWN_USERS_KEY = 'known-users';
export const OFFBOARDING_REASON = 'user removed';

export class Offboarder {
  constructor(private readonly d: { engine: Engine; store: Store; now: () => number; mode: () => 'revoke' | 'suspend'; logger: Logger }) {}

  /** Offboards whoever was a user at the last look and is not one now; remembers who is. */
  async sweep(): Promise<string[]> {
    const known = [...this.d.engine.config.users.keys()].sort();
    const stored = await this.d.store.getMeta(KNOWN_USERS_KEY);
    await this.d.store.setMeta(KNOWN_USERS_KEY, JSON.stringify(known));
    if (stored === null) return [];
    const now = new Set(known);
    const removed = (JSON.parse(stored) as string[]).filter((id) => !now.has(id));
    for (const id of removed) await this.offboard(id);
    return removed;
  }

  private async offboard(userId: string): Promise<void> {
    const at = this.d.now();
    const sessions = await this.d.store.revokeSessionsOf(userId, at, OFFBOARDING_REASON);
    if (this.d.mode() === 'suspend') {
      await this.d.store.appendAudit([{ at, actor: 'system', action: 'user.suspended', requestId: null, data: { user: userId, reason: OFFBOARDING_REASON, sessions } }]);
      this.d.logger.warn({ user: userId, sessions }, 'a user was removed: suspended (settings.offboarding: suspend)');
      return;
    }
    let tokens = 0;
    for (const t of await this.d.store.listTokens(userId)) if (t.revokedAt === null && (await this.d.store.revokeToken(t.id, at))) tokens++;
    if (tokens > 0 || sessions > 0) {
      await this.d.store.appendAudit([{ at, actor: 'system', action: 'user.credentials_revoked', requestId: null, data: { user: userId, reason: OFFBOARDING_REASON, tokens, sessions } }]);
    }
    // Whoever is given the id later sets up a factor of their own.
    const factor = await this.d.store.deleteMfaEnrolment(userId);
    if (factor) await this.d.store.appendAudit([{ at, actor: 'system', action: 'mfa.reset', requestId: null, data: { user: userId, state: factor.state, reason: OFFBOARDING_REASON } }]);
    const report = await this.d.engine.offboard(userId, OFFBOARDING_REASON);
    this.d.logger.warn({ user: userId, tokens, sessions, revoked: report.revoked.length, canceled: report.canceled.length, failed: report.failed.length }, 'a user was removed: offboarded');
  }
}
