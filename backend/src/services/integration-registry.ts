// The integrations in force, and how a reload changes them. The map it keeps is the one the
// engine, the health checks and reconciliation read, so new work always takes what is in it
// now. A reload is prepared first (new objects made, a changed one's health checked, what a
// removed one still holds looked up), and applied only if nothing refused it:
//
// - added: made from the configuration and put in the map;
// - changed (connection, resource types, permissions, resources, type): the new object
//   replaces the old one in the map; the old one is closed once the calls running on it
//   have finished (at most `closeAfterMs`; a call failing on it is retried by its job,
//   which then takes the new one);
// - removed, holding nothing: dropped from the map and closed likewise;
// - removed while requests hold grants on it: refused, unless the reload asks to revoke
//   them; then they are revoked and the integration stays (for those revokes only: the
//   configuration no longer offers it) until none of its grants is on the target, and is
//   dropped then.

import type { IntegrationConfig } from '../domain/config.ts';
import { needsNewObject, type ConfigChanges } from '../domain/config-changes.ts';
import type { HealthReport, Integration } from '../integrations/integration.ts';
import { trackCalls, type TrackedIntegration } from '../integrations/in-flight.ts';
import type { IntegrationHolder } from '../engine/revoke-all.ts';

/** How long a replaced or removed integration is kept open for the calls running on it. */
export const DEFAULT_CLOSE_AFTER_MS = 60_000;
/** How long a changed integration's new object may take to answer its health check. */
export const RELOAD_HEALTH_TIMEOUT_MS = 10_000;
/** The reason recorded on the requests revoked because their integration was removed. */
export const INTEGRATION_REMOVED_REASON = 'integration removed from the configuration';

/** A request that holds a grant on an integration a reload removes. */
export interface HoldingRequest {
  id: string;
  integration: string;
  requester: string;
  flowId: string;
  status: string;
}

export type PreparedReload =
  | { ok: true; apply(): Promise<AppliedIntegrations> }
  | { ok: false; errors: string; holding?: HoldingRequest[] };

/** What applying a reload did beyond the configuration's changes. */
export interface AppliedIntegrations {
  /** Requests revoked because their integration was removed. */
  revoked: string[];
  /** Integrations removed that stay until the revokes of what they hold have finished. */
  leaving: string[];
}

/** What a reload changed: the configuration's changes, and what removing integrations did. */
export type ReloadChanges = ConfigChanges & AppliedIntegrations;

/** A reload's answer: what it changed, or why it was refused (nothing changed then). */
export type ReloadResult =
  | { ok: true; changes: ReloadChanges }
  | { ok: false; errors: string; holding?: HoldingRequest[] };

export interface IntegrationRegistryDeps {
  /** Makes the integration a configuration entry describes (instrumented for the metrics). */
  create(cfg: IntegrationConfig): Promise<Integration>;
  holdersOf(integration: string): Promise<IntegrationHolder[]>;
  revokeOnIntegration(integration: string, note: string): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }>;
  /** A new or replaced integration's health is to be checked again (the last report is the old one's). */
  checked?(id: string): void;
  log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void;
  closeAfterMs?: number;
  healthTimeoutMs?: number;
}

export class IntegrationRegistry {
  /** The integrations in force, by id: the map every part of the service reads. */
  readonly integrations = new Map<string, Integration>();
  private readonly tracked = new Map<string, TrackedIntegration>();
  /** Removed from the configuration; kept until none of their grants is on a target any more. */
  private readonly leaving = new Set<string>();
  /** Replaced or removed integrations waiting for their calls to end before they are closed. */
  private readonly retiring = new Map<TrackedIntegration, Promise<void>>();

  constructor(private readonly deps: IntegrationRegistryDeps) {}

  /** The integrations of the configuration at start. */
  async start(configs: IntegrationConfig[]): Promise<void> {
    for (const cfg of configs) this.put(cfg.id, await this.deps.create(cfg), false);
  }

  /** Integrations removed from the configuration that stay until the revokes of what they held finish. */
  leavingIds(): string[] {
    return [...this.leaving];
  }

  /**
   * Prepares a reload's integration changes: nothing in force changes until `apply`. Refused:
   * an integration that cannot be made, a changed one whose new object fails its health
   * check, or (without `revokeRemoved`) a removed one that requests still hold.
   */
  async prepare(changes: ConfigChanges, next: IntegrationConfig[], opts: { revokeRemoved?: boolean } = {}): Promise<PreparedReload> {
    const byId = new Map(next.map((i) => [i.id, i]));
    const changed = changes.integrations.changed.filter(needsNewObject).map((c) => c.id);
    // One removed earlier whose revokes are still running is made anew when it comes back.
    const made = new Map<string, Integration>();
    const discard = async () => {
      for (const i of made.values()) await i.close().catch(() => undefined);
    };
    for (const id of [...changes.integrations.added, ...changed]) {
      const cfg = byId.get(id)!;
      try {
        made.set(id, await this.deps.create(cfg));
      } catch (err) {
        await discard();
        return { ok: false, errors: `integration "${id}" (${cfg.type}) could not be created: ${(err as Error).message}; the running configuration stays` };
      }
    }
    for (const id of changed) {
      const report = await this.checkHealth(made.get(id)!);
      if (!report.ok) {
        await discard();
        return { ok: false, errors: `integration "${id}" changed, but its new settings cannot be used: ${report.error ?? 'its health check failed'}; the running configuration stays, with the integration as it was` };
      }
    }
    const holding: HoldingRequest[] = [];
    const removed = new Map<string, IntegrationHolder[]>();
    for (const id of changes.integrations.removed) {
      const holders = await this.deps.holdersOf(id);
      removed.set(id, holders);
      for (const { request } of holders) holding.push({ id: request.id, integration: id, requester: request.requester, flowId: request.flowId, status: request.status });
    }
    if (holding.length > 0 && !opts.revokeRemoved) {
      await discard();
      const ids = [...new Set(holding.map((h) => h.integration))];
      return {
        ok: false, holding,
        errors: `integration${ids.length === 1 ? '' : 's'} ${ids.map((i) => `"${i}"`).join(', ')} cannot be removed while requests hold grants on ${ids.length === 1 ? 'it' : 'them'}: ${holding.map((h) => `${h.id} (${h.requester}, flow ${h.flowId}, ${h.status})`).join(', ')}; revoke them first, or reload with --revoke-removed (API: revokeRemoved) to revoke them as part of the reload`,
      };
    }
    return {
      ok: true,
      apply: async () => {
        for (const [id, integration] of made) {
          this.leaving.delete(id);
          this.put(id, integration);
        }
        const revoked: string[] = [];
        for (const [id, holders] of removed) {
          if (holders.length === 0) {
            this.drop(id);
            continue;
          }
          this.leaving.add(id);
          const result = await this.deps.revokeOnIntegration(id, INTEGRATION_REMOVED_REASON);
          revoked.push(...result.revoked);
          for (const f of result.failed) this.deps.log('error', 'a request on a removed integration could not be revoked', { integration: id, request: f.id, error: f.error });
        }
        // The revokes run at once (for a moment): those done already let their integration go now.
        if (revoked.length > 0) await this.dropLeft();
        return { revoked, leaving: [...removed.keys()].filter((id) => this.leaving.has(id)) };
      },
    };
  }

  /** Drops every removed integration none of whose grants is on a target any more (the scheduler calls it). */
  async dropLeft(): Promise<string[]> {
    const dropped: string[] = [];
    for (const id of [...this.leaving]) {
      if ((await this.deps.holdersOf(id)).length > 0) continue;
      if (!this.leaving.delete(id)) continue;
      this.drop(id);
      dropped.push(id);
      this.deps.log('info', 'a removed integration\'s revokes have finished: it is dropped', { integration: id });
    }
    return dropped;
  }

  /** Closes every integration, the ones waiting to be closed too (at stop, once no job runs). */
  async close(): Promise<void> {
    for (const i of this.integrations.values()) await i.close().catch(() => undefined);
    for (const old of this.retiring.keys()) await old.integration.close().catch(() => undefined);
    this.integrations.clear();
    this.tracked.clear();
    this.retiring.clear();
  }

  private put(id: string, integration: Integration, reloaded = true): void {
    const old = this.tracked.get(id);
    const tracked = trackCalls(integration);
    this.tracked.set(id, tracked);
    this.integrations.set(id, tracked.integration);
    if (reloaded) this.deps.checked?.(id);
    if (old) this.retire(id, old);
  }

  private drop(id: string): void {
    const old = this.tracked.get(id);
    this.tracked.delete(id);
    this.integrations.delete(id);
    if (old) this.retire(id, old);
  }

  /** Closes an integration taken out of the map once its running calls end (or after closeAfterMs). */
  private retire(id: string, old: TrackedIntegration): void {
    const closeAfterMs = this.deps.closeAfterMs ?? DEFAULT_CLOSE_AFTER_MS;
    const done = old.idle(closeAfterMs)
      .then(async (idle) => {
        // Closed at stop meanwhile.
        if (!this.retiring.has(old)) return;
        if (!idle) this.deps.log('warn', 'a replaced integration still had calls running; it is closed now', { integration: id, waitedMs: closeAfterMs });
        await old.integration.close();
      })
      .catch((err: unknown) => this.deps.log('warn', 'closing a replaced integration failed', { integration: id, error: String(err) }))
      .finally(() => this.retiring.delete(old));
    this.retiring.set(old, done);
  }

  private async checkHealth(integration: Integration): Promise<HealthReport> {
    const timeoutMs = this.deps.healthTimeoutMs ?? RELOAD_HEALTH_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HealthReport>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, checkedAt: Date.now(), error: `no answer to the health check within ${timeoutMs} ms` }), timeoutMs);
    });
    return Promise.race([
      integration.health().catch((err: unknown): HealthReport => ({ ok: false, checkedAt: Date.now(), error: (err as Error).message })),
      timeout,
    ]).finally(() => clearTimeout(timer));
  }
}
