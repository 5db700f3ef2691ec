// Discovery: each integration that can list its target's resources (postgresql, mysql) is
// synced into the inventory in the store, at start, every settings.discoverEvery and on
// demand. Of several replicas, the one that takes an integration's lease in the store syncs
// it (one sync per interval); every replica reads the inventory back when its generation
// moves and offers declared ∪ discovered resources. A sync writes in batches, letting the
// event loop turn between them, so that a target with tens of thousands of tables does not
// hold up the API. A sync that fails keeps the last inventory and records its error; the next
// interval tries again.

import { DEFAULT_DISCOVER_EVERY_MS, type LapseConfig, type ResourceConfig } from '../domain/config.ts';
import { inventoryChanges, inventoryEntries, mergeResources, type InventoryResource } from '../domain/inventory.ts';
import { resourcePath } from '../domain/catalog.ts';
import { resourceNameProblem } from '../config/connection.ts';
import type { Integration } from '../integrations/integration.ts';
import type { DiscoveryState, InventoryRow, Store } from '../store/store.ts';

/** Rows written per statement (PostgreSQL) or transaction (SQLite). */
const BATCH = 500;
/** A sync's lease; every batch written extends it. */
const LEASE_MS = 120_000;
/** A target that does not answer a listing within this time fails the sync. */
const LIST_TIMEOUT_MS = 60_000;
const MAX_ERROR = 500;

export interface SyncResult {
  integration: string;
  /** synced; failed (the inventory stays as it was); skipped (not due, or another replica is syncing it). */
  status: 'synced' | 'failed' | 'skipped';
  resourceCount: number;
  added: number;
  removed: number;
  error: string | null;
  /** Comments whose `lapse:` line was ignored. */
  warnings: string[];
}

/** What GET /api/v1/integrations shows of an integration's discovery. */
export interface DiscoveryStatus {
  resourceCount: number;
  lastSyncAt: number | null;
  lastError: string | null;
  running: boolean;
}

/** A resource of the inventory as listed (GET /api/v1/resources, `lapse resources`). */
export interface ListedResource extends InventoryResource {
  integration: string;
  path: string;
  firstSeen: number | null;
  lastSeen: number | null;
}

export interface ResourceFilter {
  integration?: string;
  type?: string;
  tag?: { key: string; value: string };
  pathPrefix?: string;
  /** After this resource (integration, type, path), in that order. */
  after?: [string, string, string];
  limit: number;
}

export interface DiscoveryDeps {
  store: Store;
  integrations: ReadonlyMap<string, Integration>;
  config: () => LapseConfig;
  now: () => number;
  /** This replica's lease owner. */
  owner: string;
  /** The inventory changed (here or on another replica): the catalog is compiled again. */
  onChange: () => void;
  log: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  /** Tests and benchmarks: rows per batch. */
  batchSize?: number;
}

export class Discovery {
  private readonly rows = new Map<string, { generation: number; rows: InventoryRow[] }>();
  private states = new Map<string, DiscoveryState>();
  private readonly syncing = new Map<string, Promise<SyncResult>>();
  private discoveredCache: Map<string, ResourceConfig[]> | null = null;
  private listed: { config: LapseConfig; rows: Map<string, ResourceConfig[]>; list: ListedResource[] } | null = null;

  constructor(private readonly d: DiscoveryDeps) {}

  /** Whether an integration discovers its resources (and so has an inventory). */
  discovers(id: string): boolean {
    return this.d.integrations.get(id)?.discovers === true;
  }

  /** The discovered resources of every integration, for the compiled configuration (declared ones win there). */
  discovered(): Map<string, ResourceConfig[]> {
    if (!this.discoveredCache) {
      this.discoveredCache = new Map();
      for (const [id, { rows }] of this.rows) {
        this.discoveredCache.set(id, rows.map((r) => ({ type: r.type, name: r.name, ...(r.parent !== null ? { parent: r.parent } : {}), tags: r.tags })));
      }
    }
    return this.discoveredCache;
  }

  /**
   * Reads the discovery states, and the inventory of every integration whose generation moved
   * since it was last read; calls onChange when one did. True when something changed.
   */
  async refresh(): Promise<boolean> {
    const states = await this.d.store.discoveryStates();
    this.states = new Map(states.map((s) => [s.integration, s]));
    let changed = false;
    for (const s of states) {
      if (!this.discovers(s.integration)) continue;
      if (this.rows.get(s.integration)?.generation === s.generation) continue;
      this.rows.set(s.integration, { generation: s.generation, rows: await this.d.store.inventoryOf(s.integration) });
      changed = true;
    }
    for (const id of [...this.rows.keys()]) {
      if (!this.discovers(id)) {
        this.rows.delete(id);
        changed = true;
      }
    }
    if (changed) {
      this.discoveredCache = null;
      this.d.onChange();
    }
    return changed;
  }

  /** Syncs every discovering integration whose sync is due (and no other replica is running). */
  async runDue(): Promise<SyncResult[]> {
    const results = await Promise.all([...this.d.integrations.keys()].filter((id) => this.discovers(id)).map((id) => this.sync(id, false)));
    await this.refresh();
    return results;
  }

  /** Syncs now (one integration, or all that discover), unless one is running already somewhere. */
  async syncNow(integration?: string): Promise<SyncResult[]> {
    const ids = integration === undefined ? [...this.d.integrations.keys()].filter((id) => this.discovers(id)) : [integration];
    const results = await Promise.all(ids.map((id) => this.sync(id, true)));
    await this.refresh();
    return results;
  }

  /** Resolves once no sync runs in this process (a service stopping waits for it before it closes the store). */
  async idle(): Promise<void> {
    while (this.syncing.size > 0) await Promise.allSettled([...this.syncing.values()]);
  }

  /** An integration's discovery as GET /api/v1/integrations shows it (null: it does not discover). */
  async status(id: string): Promise<DiscoveryStatus | null> {
    if (!this.discovers(id)) return null;
    const s = this.states.get(id);
    const now = this.d.now();
    return {
      resourceCount: s?.resourceCount ?? 0,
      lastSyncAt: s?.succeededAt ?? null,
      lastError: s?.lastError ?? null,
      running: this.syncing.has(id) || (s?.leaseOwner != null && s.leaseUntil !== null && s.leaseUntil >= now),
    };
  }

  /** Reads the states again (the integrations' health view asks for the latest). */
  async readStates(): Promise<void> {
    this.states = new Map((await this.d.store.discoveryStates()).map((s) => [s.integration, s]));
  }

  /** The inventory: declared ∪ discovered resources, filtered, in (integration, type, path) order, a page at a time. */
  list(filter: ResourceFilter): ListedResource[] {
    // Built once per configuration and inventory, then paged through.
    const config = this.d.config();
    if (this.listed?.config !== config || this.listed.rows !== this.discovered()) {
      this.listed = { config, rows: this.discovered(), list: inventoryList(config, new Map([...this.rows].map(([id, r]) => [id, r.rows]))) };
    }
    return filterInventory(this.listed.list, filter);
  }

  private sync(id: string, force: boolean): Promise<SyncResult> {
    const running = this.syncing.get(id);
    if (running) return running.then((r) => ({ ...r, status: 'skipped' as const, error: 'a sync of this integration was running already; this is its result' }));
    const run = this.syncOnce(id, force).finally(() => this.syncing.delete(id));
    this.syncing.set(id, run);
    return run;
  }

  private async syncOnce(id: string, force: boolean): Promise<SyncResult> {
    const skipped = (error: string | null): SyncResult => ({ integration: id, status: 'skipped', resourceCount: this.states.get(id)?.resourceCount ?? 0, added: 0, removed: 0, error, warnings: [] });
    const integration = this.d.integrations.get(id);
    const cfg = this.d.config().integrations.find((i) => i.id === id);
    if (!integration || !cfg) return skipped(`no integration "${id}"`);
    if (!integration.discovers) return skipped(`integration "${id}" (${integration.type}) does not discover resources; it offers its declared ones`);
    const started = this.d.now();
    const every = this.d.config().settings.discoverEvery ?? DEFAULT_DISCOVER_EVERY_MS;
    if (!(await this.d.store.claimDiscovery(id, this.d.owner, started, started + LEASE_MS, started + every, force))) {
      return skipped(force ? 'another replica is syncing it now' : null);
    }
    const before = await this.d.store.inventoryOf(id);
    let found;
    try {
      found = await withTimeout(integration.listResources(), LIST_TIMEOUT_MS, `listing the resources took longer than ${LIST_TIMEOUT_MS / 1000}s`);
    } catch (err) {
      const error = clip(err instanceof Error ? err.message : String(err));
      await this.d.store.finishDiscovery(id, this.d.owner, { at: this.d.now(), error });
      this.d.log('error', 'discovery failed; the inventory stays as it was and the next interval tries again', { integration: id, error });
      return { integration: id, status: 'failed', resourceCount: before.length, added: 0, removed: 0, error, warnings: [] };
    }
    const { entries: list, warnings } = inventoryEntries(found, cfg.resources, cfg.tagRules ?? [], resourceNameProblem(cfg.type));
    for (const w of warnings.slice(0, 20)) this.d.log('warn', 'discovery: a resource comment or name was not used', { integration: id, warning: w });
    // Seen strictly after every row already kept, so that what this sync did not see is told apart.
    const seenAt = before.reduce((at, r) => Math.max(at, r.lastSeen + 1), started);
    const batch = this.d.batchSize ?? BATCH;
    for (let i = 0; i < list.length; i += batch) {
      if (!(await this.d.store.writeInventory(id, this.d.owner, list.slice(i, i + batch), seenAt, this.d.now() + LEASE_MS))) {
        return { integration: id, status: 'failed', resourceCount: before.length, added: 0, removed: 0, error: 'the sync lost its lease (it took longer than the lease); another replica may run it', warnings };
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const { added, removed, changed } = inventoryChanges(before, list);
    const finished = await this.d.store.finishDiscovery(id, this.d.owner, { at: this.d.now(), error: null, seenAt, count: list.length, changed });
    if (!finished) return { integration: id, status: 'failed', resourceCount: before.length, added: 0, removed: 0, error: 'the sync lost its lease before it ended; another replica may run it', warnings };
    if (added > 0 || removed > 0) this.d.log('info', 'discovery: the inventory changed', { integration: id, resources: list.length, added, removed });
    return { integration: id, status: 'synced', resourceCount: list.length, added, removed, error: null, warnings };
  }
}

/** Every resource of `config` with the `stored` rows of discovery: declared ∪ discovered, in (integration, type, path) order. */
export function inventoryList(config: LapseConfig, stored: ReadonlyMap<string, InventoryRow[]>): ListedResource[] {
  const out: ListedResource[] = [];
  for (const i of [...config.integrations].sort((a, b) => cmp(a.id, b.id))) {
    const rows = stored.get(i.id) ?? [];
    const seen = new Map(rows.map((r) => [`${r.type}\u0000${r.path}`, r]));
    const merged = mergeResources(i.resources, rows.map((r) => ({ type: r.type, name: r.name, ...(r.parent !== null ? { parent: r.parent } : {}), tags: r.tags })))
      .map((r) => {
        const path = resourcePath(r);
        const row = seen.get(`${r.type}\u0000${path}`);
        return { ...r, integration: i.id, path, firstSeen: row?.firstSeen ?? null, lastSeen: row?.lastSeen ?? null };
      })
      .sort((a, b) => cmp(a.type, b.type) || cmp(a.path, b.path));
    out.push(...merged);
  }
  return out;
}

/** A page of `list` (in its order) that passes `filter`. */
export function filterInventory(list: readonly ListedResource[], filter: ResourceFilter): ListedResource[] {
  const out: ListedResource[] = [];
  for (const r of list) {
    if (filter.integration !== undefined && r.integration !== filter.integration) continue;
    if (filter.after && !after([r.integration, r.type, r.path], filter.after)) continue;
    if (filter.type !== undefined && r.type !== filter.type) continue;
    if (filter.pathPrefix !== undefined && !r.path.startsWith(filter.pathPrefix)) continue;
    if (filter.tag && r.tags[filter.tag.key] !== filter.tag.value) continue;
    out.push(r);
    if (out.length >= filter.limit) break;
  }
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function after(key: [string, string, string], cursor: [string, string, string]): boolean {
  return (cmp(key[0], cursor[0]) || cmp(key[1], cursor[1]) || cmp(key[2], cursor[2])) > 0;
}

function clip(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > MAX_ERROR ? `${one.slice(0, MAX_ERROR - 3)}...` : one;
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
