// A user's catalog changes with time only at known instants (catalogStableUntil): it is
// kept, as sent, until the next of them, a new configuration or a change in which
// integrations are unhealthy.

import { catalogFor, catalogStableUntil, type CompiledConfig } from '../domain/catalog.ts';
import type { HealthReport } from '../integrations/integration.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { Catalog } from '../../../common/api/types.ts';
import { iso } from './views.ts';

export class CatalogCache {
  private readonly bodies = new Map<string, { body: string; health: string }>();
  private valid: { config: CompiledConfig; until: number } | null = null;

  /** The user's catalog as JSON text, built or as kept. `unhealthy`: integrations whose last check failed. */
  bodyFor(config: CompiledConfig, userId: string, now: number, unhealthy: ReadonlyMap<string, HealthReport>): string {
    const user = config.users.get(userId);
    if (!user) return JSON.stringify({ flows: [] } satisfies Catalog);
    const health = JSON.stringify([...unhealthy]);
    if (!this.valid || this.valid.config !== config || now >= this.valid.until) {
      this.bodies.clear();
      this.valid = { config, until: catalogStableUntil(config, now) };
    }
    const cached = this.bodies.get(user.id);
    if (cached && cached.health === health) return cached.body;
    const flows = catalogFor(config, user, now).map((f) => ({
      ...f,
      // Integrations of this flow whose last health check failed: a grant there would fail.
      integrationHealth: [...new Set([...f.entitlements, ...f.bundles.flatMap((b) => b.entitlements)].map((e) => e.integration))]
        .flatMap((id) => {
          const h = unhealthy.get(id);
          return h ? [{ integration: id, ok: false, error: h.error, checkedAt: iso(h.checkedAt) }] : [];
        }),
      defaultDuration: f.defaultDuration === null ? 'indefinite' : formatDuration(f.defaultDuration),
      maxDuration: f.maxDuration === null ? 'indefinite' : formatDuration(f.maxDuration),
    }));
    const body = JSON.stringify({ flows } satisfies Catalog);
    this.bodies.set(user.id, { body, health });
    return body;
  }
}
