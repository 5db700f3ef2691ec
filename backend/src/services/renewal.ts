// Renewal at the identity provider: every settings.oidc.renewEvery, each person single
// sign-on knows is renewed with the refresh token the provider gave at their last sign-in.
// Their groups and attributes follow the provider (so conditions and approver groups do);
// a provider that refuses them (disabled, removed, no longer in an allowed group) locks them
// out: their sessions end at once, and offboarding revokes their tokens and access (or only
// suspends them). A provider that cannot be asked changes nothing and is asked again soon.
// The refresh tokens are sealed in the store, and opened only here.
// Replicas share the work: each due renewal is claimed in the store by one of them.

import type { OidcSettings } from '../domain/config.ts';
import { admissionProblem, identityFromClaims } from '../domain/sign-in.ts';
import type { OidcClient } from '../auth/oidc-client.ts';
import type { DueRenewal, Store } from '../store/store.ts';
import type { SecretSealer } from '../auth/secret-sealer.ts';
import type { Logger } from '../logger.ts';

/** How soon a renewal the provider could not answer is tried again (at most renewEvery). */
const RETRY_AFTER_FAILURE_MS = 60_000;
/** How long a claimed renewal is this replica's before another may take it. */
const CLAIM_LEASE_MS = 2 * 60_000;
/** Renewals claimed at once. */
const BATCH = 50;
/** The reason sessions carry when the provider refused their person at renewal. */
export const REFUSED_AT_RENEWAL = 'refused at renewal';

export interface RenewalReport {
  renewed: string[];
  /** Locked out: the provider refused them, or no longer lets them in. */
  refused: string[];
  /** Not renewed this time (the provider could not be asked); tried again soon. */
  failed: string[];
}

export class ProviderRenewal {
  constructor(private readonly d: {
    settings: () => OidcSettings;
    client: OidcClient;
    store: Store;
    now: () => number;
    /** Called after identities changed, so the running configuration (and offboarding) follows. */
    identitiesChanged: () => Promise<void>;
    /** The refresh tokens are sealed in the store (auth/secret-sealer.ts). */
    refreshTokens: Pick<SecretSealer, 'seal' | 'open'>;
    logger: Logger;
  }) {}

  /** Renews everyone whose renewal is due, batch after batch. */
  async runDue(): Promise<RenewalReport> {
    const report: RenewalReport = { renewed: [], refused: [], failed: [] };
    let changed = false;
    for (;;) {
      const due = await this.d.store.claimDueRenewals(this.d.now(), CLAIM_LEASE_MS, BATCH);
      for (const renewal of due) {
        const result = await this.renew(renewal);
        report[result.outcome].push(renewal.userId);
        changed ||= result.changed;
      }
      if (due.length < BATCH) break;
    }
    if (changed) await this.d.identitiesChanged();
    return report;
  }

  private async renew({ userId, refreshToken: sealed }: DueRenewal): Promise<{ outcome: keyof RenewalReport; changed: boolean }> {
    const settings = this.d.settings();
    const user = await this.d.store.findProvisionedUser(userId);
    if (!user || user.disabledAt !== null) {
      await this.d.store.saveRenewal(userId, { refreshToken: null, renewAt: null, error: null });
      return { outcome: 'failed', changed: false };
    }
    let refreshToken: string;
    try {
      refreshToken = this.d.refreshTokens.open(userId, sealed);
    } catch (err) {
      // Sealed under another secret key: this person is renewed again once they sign in again.
      const error = `the refresh token cannot be opened (${(err as Error).message}); renewed again at the next sign-in`;
      await this.d.store.saveRenewal(userId, { refreshToken: null, renewAt: null, error });
      this.d.logger.error({ user: userId, error }, 'renewal at the identity provider impossible');
      return { outcome: 'failed', changed: false };
    }
    const answer = await this.d.client.renew(refreshToken, user.subject);
    const now = this.d.now();
    const keep = (token: string) => this.d.refreshTokens.seal(userId, token);
    if (answer.outcome === 'failed') {
      await this.d.store.saveRenewal(userId, { refreshToken: sealed, renewAt: now + Math.min(RETRY_AFTER_FAILURE_MS, settings.renewEveryMs), error: answer.reason });
      this.d.logger.warn({ user: userId, error: answer.reason }, 'renewal at the identity provider failed; it is tried again soon');
      return { outcome: 'failed', changed: false };
    }
    if (answer.outcome === 'refused') return this.lockOut(userId, `the identity provider refused the renewal: ${answer.reason}`);
    const identity = identityFromClaims(settings, user.issuer, user.subject, answer.claims);
    if ('refused' in identity) {
      // Claims Lapse cannot use say nothing about whether the person may stay: keep them as they were.
      await this.d.store.saveRenewal(userId, { refreshToken: keep(answer.refreshToken), renewAt: now + settings.renewEveryMs, error: identity.refused });
      return { outcome: 'failed', changed: false };
    }
    const notAllowed = admissionProblem(settings, identity);
    if (notAllowed) return this.lockOut(userId, notAllowed);
    const groupsChanged = JSON.stringify([...identity.groups].sort()) !== JSON.stringify([...user.groups].sort());
    const changed = groupsChanged || identity.name !== user.name || identity.manager !== user.manager || JSON.stringify(identity.attributes) !== JSON.stringify(user.attributes) || identity.email !== user.email;
    if (changed) {
      await this.d.store.saveProvisionedUser({ ...user, email: identity.email, name: identity.name, groups: identity.groups, manager: identity.manager, attributes: identity.attributes, updatedAt: now });
      await this.d.store.appendAudit([{
        at: now, actor: 'system', action: 'user.identity_renewed', requestId: null,
        data: { user: userId, ...(groupsChanged ? { groupsBefore: user.groups, groups: identity.groups } : {}) },
      }]);
    }
    await this.d.store.saveRenewal(userId, { refreshToken: keep(answer.refreshToken), renewAt: now + settings.renewEveryMs, error: null });
    return { outcome: 'renewed', changed };
  }

  /** The provider no longer lets the person in: disabled, sessions ended at once, audited; offboarding follows. */
  private async lockOut(userId: string, reason: string): Promise<{ outcome: 'refused'; changed: true }> {
    const now = this.d.now();
    const user = await this.d.store.findProvisionedUser(userId);
    if (user) await this.d.store.saveProvisionedUser({ ...user, disabledAt: now, updatedAt: now });
    await this.d.store.saveRenewal(userId, { refreshToken: null, renewAt: null, error: reason });
    const sessions = await this.d.store.revokeSessionsOf(userId, now, REFUSED_AT_RENEWAL);
    await this.d.store.appendAudit([{ at: now, actor: 'system', action: 'auth.renewal_refused', requestId: null, data: { user: userId, reason, sessions } }]);
    this.d.logger.warn({ user: userId, reason, sessions }, 'the identity provider no longer lets a person in: locked out');
    return { outcome: 'refused', changed: true };
  }
}
