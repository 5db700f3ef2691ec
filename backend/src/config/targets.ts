// Target selectors (integration, resource type, resources, permissions), as written in
// flows and bundles, and the `bundles` section: named lists of selectors.

import type { BundleConfig, ResourceScope, TargetSelector } from '../domain/config.ts';
import { resourceType, type ResourceTypesByIntegration } from './integrations.ts';
import { declareId, describe, idRef, type Reader } from './yaml-reader.ts';

function readScope(r: Reader, node: unknown, path: string): ResourceScope | undefined {
  const expected = 'expected any, { except: [names] }, { names: [names] }, { tags: { key: value } } or { parents: [paths] }';
  if (r.scalar(node) === 'any') return { kind: 'any' };
  if (r.scalar(node) !== undefined || r.isSeq(node)) return r.error(node, path, `${expected}; got ${describe(node)}`);
  const f = r.map(node, path, ['except?', 'names?', 'tags?', 'parents?']);
  if (f === undefined) return undefined;
  const given = ['except', 'names', 'tags', 'parents'].filter((k) => f.has(k));
  if (given.length !== 1) return r.error(node, path, `${expected}: exactly one of them; got ${given.length === 0 ? 'none' : given.join(' and ')}`);
  const names = (key: string) => r.list(f.get(key), f.at(key), (n, p) => r.name(n, p), { nonEmpty: true });
  switch (given[0]) {
    case 'except': {
      const list = names('except');
      return list && { kind: 'anyExcept', names: list };
    }
    case 'names': {
      const list = names('names');
      return list && { kind: 'names', names: list };
    }
    case 'parents': {
      const list = names('parents');
      return list && { kind: 'parents', parents: list };
    }
    default: {
      const tags = r.dict(f.get('tags'), f.at('tags'), (n, p) => r.text(n, p));
      if (tags !== undefined && Object.keys(tags).length === 0) return r.error(f.get('tags'), f.at('tags'), 'expected at least one tag; got an empty map');
      return tags && { kind: 'tags', tags };
    }
  }
}

export function readSelector(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration, what = 'a target selector map'): TargetSelector | undefined {
  const f = r.map(node, path, ['integration', 'resourceType', 'resources', 'permissions'], what);
  if (f === undefined) return undefined;
  const integration = f.has('integration') ? idRef(r, 'integration', f.get('integration'), f.at('integration')) : undefined;
  const types = integration === undefined ? undefined : known.get(integration);

  const type = f.has('resourceType') ? resourceType(r, f.get('resourceType'), f.at('resourceType'), integration ?? '?', types) : undefined;
  const allowed = type === undefined ? undefined : types?.[type]?.permissions;
  const permissions = f.has('permissions')
    ? r.list(f.get('permissions'), f.at('permissions'), (n, p) => {
        const permission = r.name(n, p, 'a permission');
        if (permission === undefined || allowed === undefined || allowed.includes(permission)) return permission;
        return r.error(n, p, `unknown permission "${permission}" for ${type} in integration "${integration}"; expected one of ${allowed.join(', ')}`);
      }, { nonEmpty: true })
    : undefined;
  const resources = f.has('resources') ? readScope(r, f.get('resources'), f.at('resources')) : undefined;
  if (integration === undefined || type === undefined || permissions === undefined || resources === undefined) return undefined;
  return { integration, resourceType: type, permissions: [...new Set(permissions)], resources };
}

export function readBundle(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): BundleConfig | undefined {
  const f = r.map(node, path, ['id', 'name?', 'targets'], 'a bundle map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'bundle');
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  const targets = f.has('targets') ? r.list(f.get('targets'), f.at('targets'), (n, p) => readSelector(r, n, p, known), { nonEmpty: true }) : undefined;
  if (id === undefined || name === undefined || targets === undefined) return undefined;
  return { id, name, targets };
}
