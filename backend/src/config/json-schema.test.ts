import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { configJsonSchema } from './json-schema.ts';
import { parseConfig } from './load.ts';
import { CONFIG_SCHEMA_PATH, configJsonSchemaText } from './write-json-schema.ts';

const EXAMPLE_TEXT = readFileSync(fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url)), 'utf8');

// strictRequired is off: it cannot see that `value` in a condition's if/then is a declared property.
const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(configJsonSchema);

function schemaErrors(data: unknown): string[] {
  return validate(data) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

test('backend/config.schema.json is the generated schema (run write-json-schema.ts after changing json-schema.ts)', () => {
  assert.equal(readFileSync(CONFIG_SCHEMA_PATH, 'utf8'), configJsonSchemaText());
});

test('the bundled example is valid against the schema', () => {
  assert.deepEqual(schemaErrors(parse(EXAMPLE_TEXT)), []);
});

test('a configuration relying on every default is valid against the schema', () => {
  const minimal = {
    identities: { users: [{ id: 'u1', email: 'u1@example.com' }] },
    integrations: [{ id: 'pg', type: 'postgresql', connection: { host: 'db', user: 'lapse', passwordEnv: 'PG_PASSWORD' } }],
    flows: [{ id: 'f', targets: [{ integration: 'pg', resourceType: 'schema', resources: { except: ['public'] }, permissions: ['read'] }], approval: 'automatic' }],
  };
  assert.deepEqual(schemaErrors(minimal), []);
});

test('a broken configuration is refused by the schema too', () => {
  const broken = parse(EXAMPLE_TEXT);
  broken.flows[0].grnatFor = '1h';
  broken.flows[1].approval.groups[0].conditions[0].op = 'equals';
  broken.flows[2].grantFor = '1 hour';
  broken.integrations[0].connection = { password: 'hunter2' };
  broken.identities.shifts[0].rotation = 'monthly';
  broken.bundles[0].targets[0].resources = 'all';
  const errors = schemaErrors(broken);
  const at = (path: string) => errors.some((e) => e.startsWith(`${path} `));
  assert.ok(at('/flows/0'), errors.join('\n'));
  assert.ok(at('/flows/1/approval/groups/0/conditions/0/op'), errors.join('\n'));
  assert.ok(at('/flows/2/grantFor'), errors.join('\n'));
  assert.ok(at('/integrations/0/connection'), errors.join('\n'));
  assert.ok(at('/identities/shifts/0/rotation'), errors.join('\n'));
  assert.ok(at('/bundles/0/targets/0/resources'), errors.join('\n'));
});

test('a condition without a value is refused unless it is about the manager or the owner', () => {
  const config = parse(EXAMPLE_TEXT);
  config.flows[0].requesters.conditions = [{ attribute: 'group' }];
  assert.notDeepEqual(schemaErrors(config), []);
  config.flows[0].requesters.conditions = [{ attribute: 'owner' }];
  assert.deepEqual(schemaErrors(config), []);
});

test('the schema and the loader agree on which connection keys hold secrets', () => {
  const keys = ['password', 'adminPassword', 'db_password', 'DB_PASSWORD', 'api_key', 'apiKey', 'APIKey', 'token', 'secret', 'sshKey', 'authorization', 'passwd'];
  const fine = ['host', 'passwordEnv', 'passwordFile', 'tokenFile', 'keyPrefix', 'monkey', 'user', 'database', 'secretEnv'];
  for (const key of [...keys, ...fine]) {
    // Each type also refuses keys it does not know: only the refusals for holding a secret count here.
    const data = { integrations: [{ id: 'x', type: 'demo', connection: { [key]: 'v' } }] };
    const parsed = parseConfig(JSON.stringify(data), 't.yaml');
    const loaderRefuses = !parsed.ok && parsed.errors.some((e) => /would hold a secret inline/.test(e.message));
    const schemaRefuses = !validate(data) && (validate.errors ?? []).some((e) => e.keyword === 'propertyNames');
    assert.equal(loaderRefuses, keys.includes(key), `loader on ${key}`);
    assert.equal(schemaRefuses, loaderRefuses, `schema on ${key}`);
  }
});
