// The compiled configuration (lookups by id) and what follows from it: which entitlements a
// selector, bundle or flow covers, and what one person may request now. Pure.

import type {
  BundleConfig, FlowConfig, IntegrationConfig, LapseConfig, OwnerRef, ResourceConfig, ResourceScope, TargetSelector, UserConfig,
} from './config.ts';
import { entitlementKey, type Entitlement } from './request.ts';
import { userMatches, type ConditionContext } from './conditions.ts';
import { nextWindowChange, windowUnavailableReason } from './time-windows.ts';
import { nextHandoff } from './shifts.ts';

export const MAX_BUNDLE_ENTITLEMENTS = 1000;

export function resourcePath(r: { name: string; parent?: string }): string {
  return r.parent ? `${r.parent}/${r.name}` : r.name;
}

export class CompiledConfig {
  readonly users: ReadonlyMap<string, UserConfig>;
  readonly flows: ReadonlyMap<string, FlowConfig>;
  readonly bundles: ReadonlyMap<string, BundleConfig>;
  readonly integrations: ReadonlyMap<string, IntegrationConfig>;
  readonly admins: ReadonlySet<string>;
  /** Resources per integration id: declared in config plus any discovered. */
  private readonly resources = new Map<string, ResourceConfig[]>();
  private readonly flowEntitlementCache = new Map<string, Entitlement[]>();
  private readonly flowKeyCache = new Map<string, Set<string>>();
  private readonly bundleEntitlementCache = new Map<string, Entitlement[]>();
  private readonly groupMembers = new Map<string, string[]>();

  constructor(readonly config: LapseConfig, discovered: ReadonlyMap<string, ResourceConfig[]> = new Map()) {
    this.users = new Map(config.users.map((u) => [u.id, u]));
    this.flows = new Map(config.flows.map((f) => [f.id, f]));
    this.bundles = new Map(config.bundles.map((b) => [b.id, b]));
    this.integrations = new Map(config.integrations.map((i) => [i.id, i]));
    this.admins = new Set(config.settings.admins);
    for (const i of config.integrations) {
      const seen = new Set<string>();
      const list: ResourceConfig[] = [];
      for (const r of [...i.resources, ...(discovered.get(i.id) ?? [])]) {
        const k = `${r.type}\u0000${resourcePath(r)}`;
        if (seen.has(k)) continue;
        seen.add(k);
        list.push(r);
      }
      this.resources.set(i.id, list);
    }
    for (const u of config.users) {
      for (const g of u.groups) {
        const members = this.groupMembers.get(g) ?? [];
        members.push(u.id);
        this.groupMembers.set(g, members);
      }
    }
  }

  resourcesOf(integration: string): ResourceConfig[] {
    return this.resources.get(integration) ?? [];
  }

  private readonly resourceKeys = new Map<string, Set<string>>();

  /** Whether an integration has (declared or discovered) a resource of this type at this path. */
  hasResource(integration: string, type: string, path: string): boolean {
    let keys = this.resourceKeys.get(integration);
    if (!keys) {
      keys = new Set(this.resourcesOf(integration).map((r) => `${r.type}\u0000${resourcePath(r)}`));
      this.resourceKeys.set(integration, keys);
    }
    return keys.has(`${type}\u0000${path}`);
  }

  membersOf(group: string): string[] {
    return this.groupMembers.get(group) ?? [];
  }

  conditionContext(at: number): ConditionContext {
    return { at, users: this.users, shifts: this.config.shifts };
  }

  isAdmin(userId: string): boolean {
    return this.admins.has(userId);
  }

  bundleEntitlements(bundleId: string): Entitlement[] {
    let cached = this.bundleEntitlementCache.get(bundleId);
    if (!cached) {
      const bundle = this.bundles.get(bundleId);
      cached = bundle ? dedupe(bundle.targets.flatMap((s) => this.expandSelector(s))) : [];
      this.bundleEntitlementCache.set(bundleId, cached);
    }
    return cached;
  }

  /** Every entitlement a flow offers: its selectors and its bundles. */
  flowEntitlements(flow: FlowConfig): Entitlement[] {
    let cached = this.flowEntitlementCache.get(flow.id);
    if (!cached) {
      cached = dedupe(flow.targets.flatMap((t) => ('bundle' in t ? this.bundleEntitlements(t.bundle) : this.expandSelector(t.selector))));
      this.flowEntitlementCache.set(flow.id, cached);
    }
    return cached;
  }

  /** Keys (entitlementKey) of everything a flow offers, for membership checks. */
  flowEntitlementKeys(flow: FlowConfig): ReadonlySet<string> {
    let keys = this.flowKeyCache.get(flow.id);
    if (!keys) {
      keys = new Set(this.flowEntitlements(flow).map(entitlementKey));
      this.flowKeyCache.set(flow.id, keys);
    }
    return keys;
  }

  flowBundles(flow: FlowConfig): BundleConfig[] {
    return flow.targets.flatMap((t) => ('bundle' in t ? [this.bundles.get(t.bundle)].filter((b): b is BundleConfig => !!b) : []));
  }

  expandSelector(s: TargetSelector): Entitlement[] {
    const out: Entitlement[] = [];
    for (const r of this.resourcesOf(s.integration)) {
      if (r.type !== s.resourceType || !scopeCovers(s.resources, r)) continue;
      const path = resourcePath(r);
      for (const permission of s.permissions) out.push({ integration: s.integration, resourceType: r.type, resource: path, permission });
    }
    return out;
  }

  /** Owners of what is asked for: the integrations' owners and the resources' own owners. */
  ownersOf(entitlements: Entitlement[]): OwnerRef[] {
    const owners: OwnerRef[] = [];
    const seen = new Set<string>();
    const add = (o: OwnerRef | undefined) => {
      if (!o) return;
      const k = JSON.stringify(o);
      if (!seen.has(k)) { seen.add(k); owners.push(o); }
    };
    for (const e of entitlements) {
      add(this.integrations.get(e.integration)?.owner);
      add(this.resourcesOf(e.integration).find((r) => r.type === e.resourceType && resourcePath(r) === e.resource)?.owner);
    }
    return owners;
  }
}

export function scopeCovers(scope: ResourceScope, r: ResourceConfig): boolean {
  const path = resourcePath(r);
  switch (scope.kind) {
    case 'any': return true;
    case 'anyExcept': return !scope.names.includes(r.name) && !scope.names.includes(path);
    case 'names': return scope.names.includes(r.name) || scope.names.includes(path);
    case 'tags': return Object.entries(scope.tags).every(([k, v]) => r.tags[k] === v);
    case 'parents': return scope.parents.some((p) => r.parent !== undefined && (r.parent === p || r.parent.startsWith(`${p}/`)));
  }
}

export function dedupe(entitlements: Entitlement[]): Entitlement[] {
  const seen = new Set<string>();
  const out: Entitlement[] = [];
  for (const e of entitlements) {
    const k = entitlementKey(e);
    if (!seen.has(k)) { seen.add(k); out.push(e); }
  }
  return out;
}

export interface CatalogBundle {
  id: string;
  name: string;
  entitlements: Entitlement[];
}

export interface CatalogFlow {
  id: string;
  name: string;
  description: string;
  kind: FlowConfig['kind'];
  available: boolean;
  reason: string | null;
  entitlements: Entitlement[];
  bundles: CatalogBundle[];
  defaultDuration: number | null;
  maxDuration: number | null;
  approval: 'automatic' | 'anyOf' | 'allOf';
  requireJustification: boolean;
  requireMfa: boolean;
  /** Where requireMfa is met by a step-up at the identity provider (single sign-on), not a code. */
  stepUp?: true;
  breakGlass: boolean;
  labels: string[];
}

/**
 * What `user` may request at `at`: every self-serve flow whose requester conditions they
 * meet, with `available: false` and a reason where the flow is outside its time window.
 * Automatic flows the user holds access through are listed as not requestable.
 */
/** catalogFor looks at the time of day no less often than this. */
const CATALOG_LOOK_AGAIN_MS = 3600_000;

/**
 * An instant up to which catalogFor answers, for every user, as it does at `at`: what it
 * shows changes with time only when a flow's window opens or closes (its reason names the
 * next opening, which stays the same while it is closed) or a shift hands over (conditions
 * on `shift`).
 */
export function catalogStableUntil(compiled: CompiledConfig, at: number): number {
  let until = at + CATALOG_LOOK_AGAIN_MS;
  for (const flow of compiled.config.flows) if (flow.when) until = Math.min(until, nextWindowChange(flow.when, at));
  for (const shift of compiled.config.shifts) until = Math.min(until, nextHandoff(shift, at));
  return until;
}

export function catalogFor(compiled: CompiledConfig, user: UserConfig, at: number): CatalogFlow[] {
  const ctx = compiled.conditionContext(at);
  const out: CatalogFlow[] = [];
  for (const flow of compiled.config.flows) {
    if (!userMatches(flow.requesters, user, ctx)) continue;
    let reason: string | null = null;
    if (flow.kind === 'automatic') reason = 'granted automatically while its condition holds; it cannot be requested';
    else if (flow.when) reason = windowUnavailableReason(flow.when, at);
    out.push({
      id: flow.id,
      name: flow.name,
      description: flow.description,
      kind: flow.kind,
      available: reason === null,
      reason,
      entitlements: compiled.flowEntitlements(flow),
      bundles: compiled.flowBundles(flow).map((b) => ({ id: b.id, name: b.name, entitlements: compiled.bundleEntitlements(b.id) })),
      defaultDuration: flow.grantFor,
      maxDuration: flow.maxDuration,
      approval: flow.approval.mode,
      requireJustification: flow.settings.requireJustification,
      requireMfa: flow.settings.requireMfa,
      ...(flow.settings.requireMfa && compiled.config.settings.oidc ? { stepUp: true as const } : {}),
      breakGlass: flow.settings.breakGlass,
      labels: flow.settings.labels,
    });
  }
  return out;
}
