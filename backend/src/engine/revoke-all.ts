// Revoke-all: an admin's panic button, which revokes everything scheduled, granting or
// active that matches a filter (user, flow, integration, label) at once.

import type { JobRecord } from '../domain/request.ts';
import { forbidden } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import type { RevokeAllFilter } from './engine.ts';
import type { Revokes } from './revokes.ts';

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
}
