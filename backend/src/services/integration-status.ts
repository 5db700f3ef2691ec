// The integrations as the API shows them: type, name, health (the last check, or one
// made now on request) and discovery, and which of them are unhealthy (the catalog warns of those).

import type { HealthReport, Integration } from '../integrations/integration.ts';
import type { IntegrationHealth } from '../engine/integration-health.ts';
import type { Discovery } from './discovery.ts';
import type { CompiledConfig } from '../domain/catalog.ts';
import type { IntegrationList } from '../../../common/api/types.ts';
import { iso } from '../api/views.ts';

export class IntegrationStatus {
  constructor(
    private readonly integrations: ReadonlyMap<string, Integration>,
    private readonly config: () => CompiledConfig,
    /** Last known health (absent: each call checks the integrations). */
    private readonly health?: IntegrationHealth,
    /** Discovery (absent: no integration shows one). */
    private readonly discovery?: Discovery,
  ) {}

  async list(checkNow: boolean): Promise<IntegrationList> {
    const out: IntegrationList['integrations'] = [];
    await this.discovery?.readStates();
    for (const [id, integration] of this.integrations) {
      const h = await this.healthOf(id, integration, checkNow);
      const d = (await this.discovery?.status(id)) ?? null;
      out.push({
        id, type: integration.type, name: this.config().integrations.get(id)?.name ?? id, health: { ok: h.ok, checkedAt: iso(h.checkedAt), error: h.error },
        discovery: d && { resourceCount: d.resourceCount, lastSyncAt: iso(d.lastSyncAt), lastError: d.lastError, running: d.running },
      });
    }
    return { integrations: out };
  }

  /** Integrations whose last health check failed. */
  unhealthy(): Map<string, HealthReport> {
    const out = new Map<string, HealthReport>();
    if (!this.health) return out;
    for (const id of this.integrations.keys()) {
      const h = this.health.get(id);
      if (h && !h.ok) out.set(id, h);
    }
    return out;
  }

  /** The last health report of an integration (checked now when there is none yet, or without a monitor). */
  private async healthOf(id: string, integration: Integration, checkNow: boolean): Promise<HealthReport> {
    if (!this.health) return integration.health();
    const known = checkNow ? undefined : this.health.get(id);
    return known ?? (await (checkNow ? this.health.checkOnDemand(id) : this.health.check(id)))!;
  }
}
