// Revoke-all: an admin's panic button, which revokes everything scheduled, granting or
// active that matches a filter (user, flow, integration, label) at once; and the revoke of
// everything held on an integration a reload removes from the configuration.

import type { GrantRecord, GrantStatus, JobRecord, RequestRecord } from '../domain/request.ts';
import { conflict, forbidden, invalid, LapseError, type LapseErrorKind } from './errors.ts';
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

/** What the panic button would end now: the requests and their grants on the targets. */
export interface RevokeAllPreview {
  requests: number;
  /** Grants (one request on one integration) that may be on their target: each is a revoke. */
  grants: number;
  /** How many people hold the access that matches. */
  users: number;
  /** Grants per integration, by name. */
  byIntegration: { integration: string; grants: number }[];
}

/** One id of a bulk action that could not be done, and why (`kind` as the engine's errors say it). */
export interface BulkFailure {
  id: string;
  error: string;
  kind: LapseErrorKind;
}

/** The statuses the panic button ends. */
const REVOCABLE_STATUSES = ['scheduled', 'granting', 'active'] as const;
/** At most this many ids in one bulk action. */
export const BULK_MAX = 500;

export class RevokeAll {
  constructor(private readonly ctx: EngineContext, private readonly revokes: Revokes) {}

  /** What revokeAll would end with this filter now, without ending anything. */
  async preview(actor: string, filter: RevokeAllFilter): Promise<RevokeAllPreview> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can revoke all access');
    const matching = await this.matching(filter);
    const grants = await this.ctx.store.getGrantsOf(matching.map((r) => r.id));
    const byIntegration = new Map<string, number>();
    for (const r of matching) {
      for (const g of grants.get(r.id) ?? []) {
        if (g.status === 'active' || g.status === 'granting' || g.status === 'pending') byIntegration.set(g.integration, (byIntegration.get(g.integration) ?? 0) + 1);
      }
    }
    return {
      requests: matching.length,
      grants: [...byIntegration.values()].reduce((a, b) => a + b, 0),
      users: new Set(matching.map((r) => r.requester)).size,
      byIntegration: [...byIntegration].sort(([a], [b]) => a.localeCompare(b)).map(([integration, n]) => ({ integration, grants: n })),
    };
  }

  /**
   * The panic button: revokes everything scheduled, granting or active that matches. With
   * `expectRequests` (the count a preview showed), refuses when another number matches now.
   */
  async revokeAll(actor: string, filter: RevokeAllFilter, reasonInput?: string, expectRequests?: number): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can revoke all access');
    const reason = reasonInput?.trim() || null;
    const now = this.ctx.now();
    const matching = await this.matching(filter);
    if (expectRequests !== undefined && expectRequests !== matching.length) {
      throw conflict(`the preview counted ${expectRequests} ${expectRequests === 1 ? 'request' : 'requests'} but ${matching.length} match now: look at the preview again`);
    }
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

  /** Retries now the revokes of requests stuck in revoking (each one's jobs that no process holds). */
  async retryRevokesNow(actor: string, ids: string[]): Promise<{ retried: string[]; failed: BulkFailure[] }> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can retry a revoke');
    checkIds(ids);
    const retried: string[] = [];
    const failed: BulkFailure[] = [];
    for (const id of unique(ids)) {
      try {
        await this.revokes.retryRevokeNow(actor, id);
        retried.push(id);
      } catch (err) {
        failed.push(failure(id, err));
      }
    }
    return { retried, failed };
  }

  /** Marks revokes canceled (removed by hand on the target), one reason for all; each id done or said why not. */
  async markRevokeCanceled(actor: string, ids: string[], reasonInput: string | undefined): Promise<{ canceled: string[]; failed: BulkFailure[] }> {
    if (!this.ctx.config.isAdmin(actor)) throw forbidden('only an admin can mark a revoke canceled');
    checkIds(ids);
    if (!reasonInput?.trim()) throw invalid('say why (for example: "access removed by hand on the target")', 'reason');
    const canceled: string[] = [];
    const failed: BulkFailure[] = [];
    for (const id of unique(ids)) {
      try {
        await this.revokes.markRevokeCanceled(actor, id, reasonInput);
        canceled.push(id);
      } catch (err) {
        failed.push(failure(id, err));
      }
    }
    return { canceled, failed };
  }

  /** The requests scheduled, granting or active that match the filter, newest first. */
  private matching(filter: RevokeAllFilter): Promise<RequestRecord[]> {
    return this.ctx.store.listRequests({
      statuses: [...REVOCABLE_STATUSES], requester: filter.user, flowId: filter.flow, integration: filter.integration, label: filter.label, resource: filter.resource,
    });
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

function checkIds(ids: string[]): void {
  if (ids.length === 0) throw invalid('name at least one request', 'ids');
  if (ids.length > BULK_MAX) throw invalid(`at most ${BULK_MAX} requests at a time; got ${ids.length}`, 'ids');
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}

function failure(id: string, err: unknown): BulkFailure {
  if (err instanceof LapseError) return { id, error: err.message, kind: err.kind };
  return { id, error: (err as Error).message ?? String(err), kind: 'conflict' };
}
