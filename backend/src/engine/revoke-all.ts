// Revoke-all: an admin's panic button, which revokes everything scheduled, granting or
// active that matches a filter (user, flow, integration, label) at once; and the revoke of
// everything held on an integration a reload removes from the configuration.

import type { GrantRecord, GrantStatus, JobRecord, RequestRecord } from '../domain/request.ts';
import { forbidden } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import type { RevokeAllFilter } from './engine.ts';
import type { Revokes } from './revokes.ts';

/** A grant in these states is, or may be, on its target. */
const HELD_GRANT_STATUSES: readonly GrantStatus[] = ['pending', 'granting', 'active', 'revoking'];

/** A request that holds a grant on an integration (or is being granted or revoked there). */
export interface IntegrationHolder {
  request: RequestRecord;
  grant: GrantRecord;
}

export class RevokeAll {
  constructor(private readonly ctx: EngineContext, private readonly revokes: Revokes) {}

  /** The panic button: revokes everything scheduled, granting or active that matches. */
  async revokeAll(actor: string, filter: RevokeAllFilter, reasonInput?: string): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can revoke all access');
    const reason = reasonInput?.trim() || null;
    const now = this.ctx.now();
    const candidates = await this.ctx.store.listRequests({ statuses: ['scheduled', 'granting', 'active'], requester: filter.user, flowId: filter.flow });
    const matching = candidates.filter((r) =>
      (filter.integration === undefined || r.entitlements.some((e) => e.integration === filter.integration))
      && (filter.label === undefined || r.labels.includes(filter.label)));
    await this.ctx.store.appendAudit([{ at: now, actor, action: 'admin.revoke_all', requestId: null, data: { filter: { ...filter }, reason, matched: matching.length } }]);
    const revoked: string[] = [];
    const failed: { id: string; error: string }[] = [];
    const claimed: JobRecord[] = [];
    for (const r of matching) {
      try {
        const jobs = await this.revokes.beginRevoke(r, 'revoke-all', actor, reason);
        if (jobs) { claimed.push(...jobs); revoked.push(r.id); }
      } catch (err) {
        failed.push({ id: r.id, error: (err as Error).message });
      }
    }
    await this.ctx.runInline(claimed);
    return { revoked, failed };
  }

  /** The requests granting, active or revoking with a grant on this integration that may be on its target. */
  async holdersOf(integration: string): Promise<IntegrationHolder[]> {
    const requests = await this.ctx.store.listRequests({ statuses: ['granting', 'active', 'revoking'] });
    const candidates = requests.filter((r) => r.entitlements.some((e) => e.integration === integration));
    const grants = await this.ctx.store.getGrantsOf(candidates.map((r) => r.id));
    return candidates.flatMap((request) => {
      const grant = grants.get(request.id)?.find((g) => g.integration === integration && HELD_GRANT_STATUSES.includes(g.status));
      return grant ? [{ request, grant }] : [];
    });
  }

  /**
   * Revokes every granting or active request with a grant on an integration a reload removes
   * (those already revoking go on as they are), through the normal revoke, audited with `note`.
   */
  async revokeOnIntegration(integration: string, note: string): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    const revoked: string[] = [];
    const failed: { id: string; error: string }[] = [];
    const claimed: JobRecord[] = [];
    for (const { request } of await this.holdersOf(integration)) {
      if (request.status === 'revoking') continue;
      try {
        const jobs = await this.revokes.beginRevoke(request, 'integration-removed', 'system', note);
        if (jobs) { claimed.push(...jobs); revoked.push(request.id); }
      } catch (err) {
        failed.push({ id: request.id, error: (err as Error).message });
      }
    }
    await this.ctx.runInline(claimed);
    return { revoked, failed };
  }
}
