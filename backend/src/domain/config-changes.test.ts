// What a reload changes, found by comparing two parsed configurations (domain/config-changes.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, configChanges, integrationParts, needsNewObject } from './config-changes.ts';
import type { IntegrationConfig, LapseConfig } from './config.ts';

const integration = (over: Partial<IntegrationConfig> = {}): IntegrationConfig => ({
  id: 'pg', type: 'postgresql', name: 'pg', connection: { host: 'db', port: 5432, user: 'lapse' },
  resourceTypes: { database: { permissions: ['read', 'write'] }, table: { permissions: ['read'] } },
  resources: [{ type: 'database', name: 'app', tags: {} }],
  ...over,
});

const config = (integrations: IntegrationConfig[], flows: string[] = [], users: string[] = []): LapseConfig => ({
  users: users.map((id) => ({ id, email: `${id}@example.com` })), groups: [], shifts: [], integrations, bundles: [], flows: flows.map((id) => ({ id })), settings: { admins: [] },
} as unknown as LapseConfig);

test('canonical JSON does not depend on key order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } }), canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
  assert.notEqual(canonicalJson({ a: [1, 2] }), canonicalJson({ a: [2, 1] }));
});

test('the parts of an integration that changed', () => {
  assert.deepEqual(integrationParts(integration(), integration({ connection: { user: 'lapse', port: 5432, host: 'db' } })), [], 'key order is no change');
  assert.deepEqual(integrationParts(integration(), integration({ connection: { host: 'db2', port: 5432, user: 'lapse' } })), ['connection']);
  assert.deepEqual(integrationParts(integration(), integration({ resourceTypes: { database: { permissions: ['write', 'read'] }, table: { permissions: ['read', 'write'] } } })), ['permissions']);
  assert.deepEqual(integrationParts(integration(), integration({ resourceTypes: { database: { permissions: ['read', 'write'] } } })), ['resourceTypes']);
  assert.deepEqual(integrationParts(integration(), integration({ resources: [] })), ['resources']);
  assert.deepEqual(integrationParts(integration(), integration({ name: 'Main database', owner: { group: 'dba' } })), ['name', 'owner']);
  assert.deepEqual(integrationParts(integration(), integration({ type: 'mysql' })), ['type']);
});

test('a name or owner change alone keeps the integration object; anything else makes a new one', () => {
  assert.equal(needsNewObject({ id: 'pg', parts: ['name', 'owner'] }), false);
  assert.equal(needsNewObject({ id: 'pg', parts: ['tagRules'] }), false, 'tag rules are read at each sync');
  assert.deepEqual(integrationParts(integration(), integration({ tagRules: [{ parent: 'app', tags: { pii: 'true' } }] })), ['tagRules']);
  assert.deepEqual(integrationParts(integration({ tagRules: [] }), integration()), [], 'no rules and an empty list are the same');
  for (const part of ['type', 'connection', 'resourceTypes', 'permissions', 'resources'] as const) assert.equal(needsNewObject({ id: 'pg', parts: ['name', part] }), true, part);
});

test('what a reload changes: integrations added, changed and removed; flows and users counted', () => {
  const before = config([integration(), integration({ id: 'old', type: 'demo' })], ['a', 'b'], ['alice', 'bob']);
  const after = config([integration({ connection: { host: 'db2', port: 5432, user: 'lapse' } }), integration({ id: 'new', type: 'webhook' })], ['b', 'c', 'd'], ['alice']);
  assert.deepEqual(configChanges(before, after), {
    integrations: { added: ['new'], changed: [{ id: 'pg', parts: ['connection'] }], removed: ['old'] },
    flows: { added: 2, removed: 1 },
    users: { added: 0, removed: 1 },
  });
  assert.deepEqual(configChanges(before, before).integrations, { added: [], changed: [], removed: [] });
});
