// The `integrations` section: id, type, owner, the connection (secrets only by reference;
// each type's keys are checked by connection.ts), resource types, declared resources and the
// tag rules of discovered ones.

import { DEFAULT_RESOURCE_TYPES, INTEGRATION_TYPES, type IntegrationConfig, type OwnerRef, type ResourceConfig, type ResourceTypeConfig, type TagRule } from '../domain/config.ts';
import { pathPatternProblem, TAG_KEY } from '../domain/inventory.ts';
import { checkConnection, requiredConnectionKeys, resourceNameProblem } from './connection.ts';
import { declareId, idRef, listForMessage, suggestion, userRef, type Reader } from './yaml-reader.ts';

/** What target selectors need to know about each integration whose resource types were read. */
export type ResourceTypesByIntegration = Map<string, Record<string, ResourceTypeConfig>>;

function readOwner(r: Reader, node: unknown, path: string): OwnerRef | undefined {
  const expected = 'expected { user: <user id> } or { group: <group id> }';
  const f = r.map(node, path, ['user?', 'group?'], `an owner, { user: <id> } or { group: <id> }`);
  if (f === undefined) return undefined;
  if (f.has('user') === f.has('group')) return r.error(node, path, `${expected}, exactly one of them`);
  if (f.has('user')) {
    const user = userRef(r, f.get('user'), f.at('user'));
    return user === undefined ? undefined : { user };
  }
  const group = idRef(r, 'group', f.get('group'), f.at('group'));
  return group === undefined ? undefined : { group };
}

/** Last words of a connection key that name a secret: `password`, `adminPassword`, `api_key`, `apiKey`, `APIKey`. */
export const SECRET_WORDS = ['password', 'passwd', 'secret', 'token', 'key', 'apikey', 'authorization'];
/** A URL with a password in it: scheme://user:password@host. */
const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:[^/@\s]+@/i;

function secretWord(key: string): string | undefined {
  const words = key.split(/[_\-\s]+|(?<=[a-z0-9])(?=[A-Z])/).filter((w) => w !== '');
  const last = words.at(-1)?.toLowerCase();
  return last !== undefined && SECRET_WORDS.includes(last) ? last : undefined;
}

/** Refuses secrets written inline anywhere inside `connection`. */
function checkNoInlineSecrets(r: Reader, node: unknown, path: string): boolean {
  let ok = true;
  r.pairs(node, path, (key, keyNode, value, keyPath) => {
    if (secretWord(key) !== undefined) {
      ok = false;
      r.error(keyNode, keyPath, `"${key}" would hold a secret inline; give it by reference instead: ${key}Env (an environment variable) or ${key}File (a file path)`);
      return;
    }
    const text = r.scalar(value);
    if (typeof text === 'string' && URL_WITH_PASSWORD.test(text)) {
      ok = false;
      r.error(value, keyPath, 'the URL holds a password inline; leave it out of the URL and give it by reference (passwordEnv or passwordFile)');
    }
  });
  return ok;
}

function readResourceTypes(r: Reader, node: unknown, path: string): Record<string, ResourceTypeConfig> | undefined {
  let ok = true;
  const types = r.dict(node, path, (n, p) => {
    const f = r.map(n, p, ['permissions'], 'a resource type, { permissions: [...] }');
    const permissions = f?.has('permissions') ? r.list(f.get('permissions'), f.at('permissions'), (item, itemPath) => r.name(item, itemPath), { nonEmpty: true }) : undefined;
    if (permissions === undefined) ok = false;
    return permissions === undefined ? undefined : { permissions: [...new Set(permissions)] };
  });
  return ok ? types : undefined;
}

/** A resource type name; when the integration's types are known, one of them. */
export function resourceType(
  r: Reader,
  node: unknown,
  path: string,
  integration: string,
  types: Record<string, ResourceTypeConfig> | undefined,
): string | undefined {
  const type = r.name(node, path, 'a resource type');
  if (type === undefined || types === undefined || Object.hasOwn(types, type)) return type;
  const names = Object.keys(types);
  const expected = names.length === 0 ? 'it declares no resource types' : `expected one of ${names.join(', ')}`;
  return r.error(node, path, `unknown resource type "${type}" for integration "${integration}"; ${expected}`);
}

function defaultResourceTypes(type: IntegrationConfig['type']): Record<string, ResourceTypeConfig> {
  return Object.fromEntries(Object.entries(DEFAULT_RESOURCE_TYPES[type]).map(([name, t]) => [name, { permissions: [...t.permissions] }]));
}

export function readIntegration(r: Reader, node: unknown, path: string, known: ResourceTypesByIntegration): IntegrationConfig | undefined {
  const f = r.map(node, path, ['id', 'type', 'name?', 'owner?', 'connection?', 'resourceTypes?', 'resources?', 'tagRules?'], 'an integration map');
  if (f === undefined) return undefined;
  const id = declareId(r, f, 'integration');
  const type = f.has('type') ? r.oneOf(f.get('type'), f.at('type'), INTEGRATION_TYPES) : undefined;
  const name = f.has('name') ? r.name(f.get('name'), f.at('name')) : id;
  const owner = f.has('owner') ? readOwner(r, f.get('owner'), f.at('owner')) : undefined;

  let resourceTypes: Record<string, ResourceTypeConfig> | undefined;
  if (f.has('resourceTypes')) resourceTypes = readResourceTypes(r, f.get('resourceTypes'), f.at('resourceTypes'));
  else if (type !== undefined) resourceTypes = defaultResourceTypes(type);

  let connection: Record<string, unknown> | undefined = {};
  if (f.has('connection')) {
    const c = f.get('connection');
    if (!r.isMap(c, f.at('connection'))) connection = undefined;
    else if (!checkNoInlineSecrets(r, c, f.at('connection'))) connection = undefined;
    else {
      const before = r.errorCount();
      connection = r.plain(c, f.at('connection')) as Record<string, unknown>;
      if (r.errorCount() > before) connection = undefined;
      else if (type !== undefined && !checkConnection(r, type, c, f.at('connection'), resourceTypes)) connection = undefined;
    }
  } else if (type !== undefined && requiredConnectionKeys(type).length > 0) {
    connection = r.error(node, path, `missing required key "connection": a ${type} integration needs ${requiredConnectionKeys(type).join(', ')}`);
  }
  if (id !== undefined && resourceTypes !== undefined) known.set(id, resourceTypes);

  const resources = f.has('resources')
    ? readResources(r, f.get('resources'), f.at('resources'), id ?? '?', resourceTypes, type === undefined ? undefined : resourceNameProblem(type))
    : [];

  const tagRules = f.has('tagRules') ? readTagRules(r, f.get('tagRules'), f.at('tagRules'), id ?? '?', resourceTypes) : undefined;

  if (id === undefined || type === undefined || name === undefined || connection === undefined || resourceTypes === undefined || resources === undefined) return undefined;
  if (f.has('owner') && owner === undefined) return undefined;
  if (f.has('tagRules') && tagRules === undefined) return undefined;
  const integration: IntegrationConfig = { id, type, name, connection, resourceTypes, resources };
  if (owner !== undefined) integration.owner = owner;
  if (tagRules !== undefined && tagRules.length > 0) integration.tagRules = tagRules;
  return integration;
}

/**
 * `tagRules`: tags for discovered resources, each rule `{ path: <pattern> | parent: <path>,
 * type?: <resource type>, tags: { k: v } }` (domain/inventory.ts).
 */
function readTagRules(r: Reader, node: unknown, path: string, integration: string, types: Record<string, ResourceTypeConfig> | undefined): TagRule[] | undefined {
  return r.list(node, path, (n, p) => {
    const f = r.map(n, p, ['path?', 'parent?', 'type?', 'tags'], 'a tag rule, { path: <pattern> or parent: <path>, tags: { key: value } }');
    if (f === undefined) return undefined;
    if (f.has('path') === f.has('parent')) return r.error(n, p, 'expected exactly one of path (a pattern such as "app/public/*") and parent (a resource path such as "app/public")');
    const type = f.has('type') ? resourceType(r, f.get('type'), f.at('type'), integration, types) : undefined;
    let pattern = f.has('path') ? r.name(f.get('path'), f.at('path'), 'a resource path pattern') : undefined;
    const problem = pattern === undefined ? null : pathPatternProblem(pattern);
    if (problem !== null) pattern = r.error(f.get('path'), f.at('path'), problem);
    const parent = f.has('parent') ? r.name(f.get('parent'), f.at('parent'), 'a resource path') : undefined;
    const tags = f.has('tags') ? r.dict(f.get('tags'), f.at('tags'), (tn, tp) => r.text(tn, tp)) : undefined;
    if (tags !== undefined) {
      for (const key of Object.keys(tags)) if (!TAG_KEY.test(key)) return r.error(f.get('tags'), f.at('tags'), `"${key}" is not a tag key (letters, digits, "_", "." and "-", at most 64)`);
    }
    if ((f.has('type') && type === undefined) || (f.has('path') && pattern === undefined) || (f.has('parent') && parent === undefined) || tags === undefined) return undefined;
    const rule: TagRule = { tags };
    if (type !== undefined) rule.type = type;
    if (pattern !== undefined) rule.path = pattern;
    if (parent !== undefined) rule.parent = parent;
    return rule;
  });
}

function readResources(
  r: Reader,
  node: unknown,
  path: string,
  integration: string,
  types: Record<string, ResourceTypeConfig> | undefined,
  /** What is wrong with a resource name for this integration type, if anything. */
  nameProblem?: (name: string) => string | undefined,
): ResourceConfig[] | undefined {
  const seen = new Set<string>();
  /** Every path written, even of resources with other mistakes, so that their children are not blamed too. */
  const paths = new Set<string>();
  const parents: Array<{ parent: string; node: unknown; path: string }> = [];
  const resources = r.list(node, path, (n, p) => {
    const f = r.map(n, p, ['type', 'name', 'parent?', 'tags?', 'owner?'], 'a resource map');
    if (f === undefined) return undefined;
    const type = f.has('type') ? resourceType(r, f.get('type'), f.at('type'), integration, types) : undefined;
    let name = f.has('name') ? r.name(f.get('name'), f.at('name'), 'a resource name') : undefined;
    if (name?.includes('/')) name = r.error(f.get('name'), f.at('name'), `expected a resource name without "/" (use parent for the path); got ${JSON.stringify(name)}`);
    const problem = name === undefined ? undefined : nameProblem?.(name);
    if (problem !== undefined) name = r.error(f.get('name'), f.at('name'), problem);
    const parent = f.has('parent') ? r.name(f.get('parent'), f.at('parent'), 'the path of a declared resource') : undefined;
    if (parent !== undefined) parents.push({ parent, node: f.get('parent'), path: f.at('parent') });
    const tags = f.has('tags') ? r.dict(f.get('tags'), f.at('tags'), (tn, tp) => r.text(tn, tp)) : {};
    const owner = f.has('owner') ? readOwner(r, f.get('owner'), f.at('owner')) : undefined;
    if (name !== undefined && !(f.has('parent') && parent === undefined)) paths.add(parent === undefined ? name : `${parent}/${name}`);
    if (type === undefined || name === undefined || tags === undefined) return undefined;
    if ((f.has('parent') && parent === undefined) || (f.has('owner') && owner === undefined)) return undefined;
    const resourcePath = parent === undefined ? name : `${parent}/${name}`;
    const key = `${type}\u0000${resourcePath}`;
    if (seen.has(key)) return r.error(f.get('name'), f.at('name'), `duplicate resource: integration "${integration}" already declares the ${type} "${resourcePath}"`);
    seen.add(key);
    const resource: ResourceConfig = { type, name, tags };
    if (parent !== undefined) resource.parent = parent;
    if (owner !== undefined) resource.owner = owner;
    return resource;
  });
  if (resources === undefined) return undefined;
  let ok = true;
  for (const { parent, node: parentNode, path: parentPath } of parents) {
    if (paths.has(parent)) continue;
    ok = false;
    r.error(parentNode, parentPath, `parent "${parent}" is not a declared resource of integration "${integration}"${suggestion(parent, paths) || `; declared: ${listForMessage([...paths]) || 'none'}`}`);
  }
  return ok ? resources : undefined;
}
