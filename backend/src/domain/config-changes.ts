// What a configuration reload changes: the integrations added, changed (and in which parts)
// and removed, and how many flows and users come and go. Pure: compares two parsed
// configurations, each integration by a canonical JSON of its parts.

import type { IntegrationConfig, LapseConfig } from './config.ts';

/** The parts of an integration's configuration a change is reported by. */
export type IntegrationPart = 'type' | 'name' | 'owner' | 'connection' | 'resourceTypes' | 'permissions' | 'resources' | 'tagRules';

export interface IntegrationChange {
  id: string;
  /** Which parts differ, in this order: type, name, owner, connection, resourceTypes, permissions, resources, tagRules. */
  parts: IntegrationPart[];
}

export interface ConfigChanges {
  integrations: { added: string[]; changed: IntegrationChange[]; removed: string[] };
  flows: { added: number; removed: number };
  users: { added: number; removed: number };
}

/**
 * The parts whose change needs a new integration object (the others, name, owner and tag
 * rules, are only read from the configuration).
 */
export const RECREATING_PARTS: readonly IntegrationPart[] = ['type', 'connection', 'resourceTypes', 'permissions', 'resources'];

/** Whether a change needs the integration object to be made again from the new configuration. */
export function needsNewObject(change: IntegrationChange): boolean {
  return change.parts.some((p) => RECREATING_PARTS.includes(p));
}

/** JSON with every object's keys sorted, so that two equal values give one text whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }) ?? 'null';
}

/** Which parts of one integration's configuration differ. */
export function integrationParts(before: IntegrationConfig, after: IntegrationConfig): IntegrationPart[] {
  const same = (a: unknown, b: unknown) => canonicalJson(a ?? null) === canonicalJson(b ?? null);
  const parts: IntegrationPart[] = [];
  if (before.type !== after.type) parts.push('type');
  if (before.name !== after.name) parts.push('name');
  if (!same(before.owner, after.owner)) parts.push('owner');
  if (!same(before.connection, after.connection)) parts.push('connection');
  const typesBefore = Object.keys(before.resourceTypes).sort();
  const typesAfter = Object.keys(after.resourceTypes).sort();
  if (!same(typesBefore, typesAfter)) parts.push('resourceTypes');
  // Permissions of the resource types both have.
  if (typesBefore.some((t) => t in after.resourceTypes && !same([...before.resourceTypes[t]!.permissions].sort(), [...after.resourceTypes[t]!.permissions].sort()))) parts.push('permissions');
  if (!same(before.resources, after.resources)) parts.push('resources');
  if (!same(before.tagRules ?? [], after.tagRules ?? [])) parts.push('tagRules');
  return parts;
}

/** What going from `before` to `after` changes. */
export function configChanges(before: LapseConfig, after: LapseConfig): ConfigChanges {
  const old = new Map(before.integrations.map((i) => [i.id, i]));
  const next = new Map(after.integrations.map((i) => [i.id, i]));
  const added = after.integrations.filter((i) => !old.has(i.id)).map((i) => i.id);
  const removed = before.integrations.filter((i) => !next.has(i.id)).map((i) => i.id);
  const changed: IntegrationChange[] = [];
  for (const i of after.integrations) {
    const was = old.get(i.id);
    if (!was) continue;
    const parts = integrationParts(was, i);
    if (parts.length > 0) changed.push({ id: i.id, parts });
  }
  return {
    integrations: { added, changed, removed },
    flows: counts(before.flows.map((f) => f.id), after.flows.map((f) => f.id)),
    users: counts(before.users.map((u) => u.id), after.users.map((u) => u.id)),
  };
}

function counts(before: string[], after: string[]): { added: number; removed: number } {
  const b = new Set(before);
  const a = new Set(after);
  return { added: [...a].filter((id) => !b.has(id)).length, removed: [...b].filter((id) => !a.has(id)).length };
}
