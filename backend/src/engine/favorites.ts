// Favorites and suggestions: requests a user saved to make again (checked like a request
// when saved), and their recent distinct requests, offered to request again.

import { randomUUID } from 'node:crypto';
import { entitlementKey, type Entitlement, type Favorite, type RequestRecord, type RequestWithGrants } from '../domain/request.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { ProviderAuthentication } from '../domain/sign-in.ts';
import { forbidden, invalid, notFound } from './errors.ts';
import type { EngineContext } from './engine-context.ts';
import { resolveDuration, resolveEntitlements, type Submission } from './submission.ts';
import { AUTOMATIC_PREFIX } from './automatic-flows.ts';

export class Favorites {
  constructor(private readonly ctx: EngineContext, private readonly submission: Submission) {}

  async saveFavorite(actor: string, input: { name: string; flowId: string; bundleId?: string; entitlements?: Entitlement[]; duration?: string; justification?: string }, existingId?: string): Promise<Favorite> {
    const flow = this.ctx.config.flows.get(input.flowId);
    if (!flow) throw invalid(`unknown flow "${input.flowId}"`, 'flowId');
    if (!this.ctx.config.users.has(actor)) throw forbidden(`user ${actor} is not in the configuration`);
    const entitlements = resolveEntitlements(this.ctx.config, flow, { flowId: flow.id, bundleId: input.bundleId, entitlements: input.entitlements });
    const durationMs = resolveDuration(flow, input.duration, 'duration');
    const name = input.name.trim();
    if (!name) throw invalid('a favorite needs a name', 'name');
    const favorite: Favorite = {
      id: existingId ?? randomUUID(), owner: actor, name, flowId: flow.id, bundleId: input.bundleId ?? null,
      entitlements: input.bundleId && !input.entitlements?.length ? [] : entitlements, durationMs,
      justification: input.justification?.trim() || null, createdAt: this.ctx.now(),
    };
    if (existingId) {
      const old = await this.ctx.store.getFavorite(actor, existingId);
      if (!old) throw notFound(`favorite ${existingId} not found`);
      favorite.createdAt = old.createdAt;
      await this.ctx.store.updateFavorite(favorite);
    } else {
      await this.ctx.store.insertFavorite(favorite);
    }
    return favorite;
  }

  async favoriteFromRequest(actor: string, requestId: string, name?: string): Promise<Favorite> {
    const r = await this.ctx.getVisible(actor, requestId);
    if (r.requester !== actor) throw forbidden('you can only save your own requests as favorites');
    return this.saveFavorite(actor, {
      name: name ?? `${r.flowId} (${r.entitlements.length} entitlement${r.entitlements.length === 1 ? '' : 's'})`,
      flowId: r.flowId, bundleId: r.bundleId ?? undefined, entitlements: r.entitlements,
      duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs), justification: r.justification ?? undefined,
    });
  }

  async requestFromFavorite(actor: string, favoriteId: string, overrides: { justification?: string; mfaCode?: string; startAt?: number; duration?: string; authentication?: ProviderAuthentication | null }): Promise<RequestWithGrants> {
    const f = await this.ctx.store.getFavorite(actor, favoriteId);
    if (!f) throw notFound(`favorite ${favoriteId} not found`);
    return this.submission.submitRequest(actor, {
      flowId: f.flowId,
      bundleId: f.bundleId ?? undefined,
      entitlements: f.entitlements.length ? f.entitlements : undefined,
      duration: overrides.duration ?? (f.durationMs === null ? 'indefinite' : formatDuration(f.durationMs)),
      justification: overrides.justification ?? f.justification ?? undefined,
      mfaCode: overrides.mfaCode,
      startAt: overrides.startAt,
      authentication: overrides.authentication,
    });
  }

  /** The 3 most recent distinct requests of the user, as suggestions to request again. */
  async suggestions(actor: string): Promise<RequestRecord[]> {
    const recent = await this.ctx.store.listRequests({ requester: actor, limit: 50 });
    const seen = new Set<string>();
    const out: RequestRecord[] = [];
    for (const r of recent) {
      if (r.id.startsWith(AUTOMATIC_PREFIX)) continue;
      const key = `${r.flowId}|${r.bundleId}|${r.entitlements.map(entitlementKey).sort().join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
      if (out.length === 3) break;
    }
    return out;
  }
}
