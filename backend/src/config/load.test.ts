import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { LapseConfig } from '../domain/config.ts';
import { ConfigInvalidError, loadConfigFile, parseConfig } from './load.ts';
import { formatConfigErrors, type ConfigError } from './yaml-reader.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url));
const HOUR = 3_600_000;

function expectValid(text: string): LapseConfig {
  const result = parseConfig(text, 'test.yaml');
  if (!result.ok) assert.fail(`expected no errors, got:\n${formatConfigErrors(result.errors)}`);
  return result.config;
}

function errorsOf(text: string): ConfigError[] {
  const result = parseConfig(text, 'test.yaml');
  assert.equal(result.ok, false, 'expected errors');
  return result.ok ? [] : result.errors;
}

/** `path: message` of every error, for tests that care what and where in the tree, not line numbers. */
function problems(text: string): string[] {
  return errorsOf(text).map((e) => `${e.path}: ${e.message}`);
}

function assertHasProblem(found: string[], path: string, message: RegExp | string): void {
  const hit = found.some((p) => p.startsWith(`${path}: `) && (typeof message === 'string' ? p.includes(message) : message.test(p)));
  assert.ok(hit, `expected an error at ${path} matching ${String(message)}; got:\n${found.join('\n')}`);
}

/**
 * A small valid configuration as a plain object; tests change a part and serialise it.
 * Deliberately untyped: the point of most tests is to write shapes the types forbid.
 */
function baseConfig(): Record<string, any> {
  return {
    settings: { admins: ['carol'] },
    identities: {
      users: [
        { id: 'alice', email: 'alice@example.com', groups: ['engineering'], manager: 'bob' },
        { id: 'bob', email: 'bob@example.com', groups: ['sre-leads'] },
        { id: 'carol', email: 'carol@example.com' },
      ],
      groups: [{ id: 'sre-leads', name: 'SRE leads' }],
      shifts: [{ id: 'oncall', timezone: 'UTC', rotation: 'weekly', handoff: '09:00', members: ['alice', 'bob'], anchor: '2026-01-05' }],
    },
    integrations: [
      {
        id: 'demo',
        type: 'demo',
        owner: { group: 'sre-leads' },
        resources: [
          { type: 'database', name: 'app', tags: { env: 'prod' } },
          { type: 'table', name: 'users', parent: 'app' },
        ],
      },
    ],
    bundles: [{ id: 'b', targets: [{ integration: 'demo', resourceType: 'database', resources: 'any', permissions: ['read'] }] }],
    flows: [
      {
        id: 'f',
        requesters: { conditions: [{ attribute: 'group', value: 'engineering' }] },
        targets: [{ integration: 'demo', resourceType: 'database', resources: 'any', permissions: ['read'] }, { bundle: 'b' }],
        approval: { mode: 'anyOf', groups: [{ conditions: [{ attribute: 'manager' }] }] },
      },
    ],
  };
}

function yamlOf(config: Record<string, any>): string {
  return stringify(config);
}

// --- the bundled example ---

test('the bundled example loads without errors', async () => {
  const config = await loadConfigFile(EXAMPLE);
  assert.deepEqual(config.users.map((u) => u.id), ['alice', 'bob', 'carol', 'dave', 'erin']);
  assert.deepEqual(config.users[0], {
    id: 'alice',
    email: 'alice@example.com',
    name: 'Alice',
    groups: ['engineering'],
    manager: 'bob',
    attributes: { team: 'payments' },
  });
  assert.deepEqual(config.groups, [
    { id: 'sre-leads', name: 'SRE leads' },
    { id: 'engineering', name: 'engineering' },
    { id: 'security', name: 'security' },
  ]);
  assert.deepEqual(config.settings, { admins: ['carol'], expiryWarnings: [10 * 60_000, 60_000] });
  assert.deepEqual(config.shifts, [
    { id: 'sre-oncall', timezone: 'UTC', rotation: 'daily', handoff: '09:00', members: ['alice', 'dave'], anchor: '2026-01-05' },
  ]);
});

test('the example declares the demo integration with its default resource types and four resources', async () => {
  const config = await loadConfigFile(EXAMPLE);
  assert.equal(config.integrations.length, 1);
  const demo = config.integrations[0];
  assert.equal(demo.id, 'demo');
  assert.equal(demo.type, 'demo');
  assert.deepEqual(demo.owner, { group: 'sre-leads' });
  assert.deepEqual(demo.connection, {});
  assert.deepEqual(demo.resourceTypes.database, { permissions: ['read', 'write', 'admin'] });
  assert.deepEqual(demo.resources, [
    { type: 'database', name: 'app', tags: { env: 'prod' } },
    { type: 'database', name: 'analytics', tags: { env: 'staging' } },
    { type: 'table', name: 'users', parent: 'app', tags: {} },
    { type: 'table', name: 'orders', parent: 'app', tags: {} },
  ]);
  assert.deepEqual(config.bundles, [
    {
      id: 'demo-bundle',
      name: 'Demo bundle',
      targets: [{ integration: 'demo', resourceType: 'database', permissions: ['read'], resources: { kind: 'names', names: ['app', 'analytics'] } }],
    },
  ]);
});

test('the example flows are normalised with their defaults', async () => {
  const config = await loadConfigFile(EXAMPLE);
  const flow = (id: string) => config.flows.find((f) => f.id === id) ?? assert.fail(`no flow ${id}`);
  assert.deepEqual(config.flows.map((f) => f.id), ['demo-auto', 'demo-approval', 'demo-bundle-flow', 'demo-maintenance', 'demo-oncall']);

  const auto = flow('demo-auto');
  assert.equal(auto.kind, 'self-serve');
  assert.deepEqual(auto.requesters, { match: 'all', conditions: [{ attribute: 'group', op: 'is', value: ['engineering'] }] });
  assert.deepEqual(auto.targets, [{ selector: { integration: 'demo', resourceType: 'database', permissions: ['read'], resources: { kind: 'any' } } }]);
  assert.equal(auto.grantFor, HOUR);
  assert.equal(auto.maxDuration, 8 * HOUR);
  assert.deepEqual(auto.approval, { mode: 'automatic' });
  assert.deepEqual(auto.settings, {
    requireJustification: false,
    requireApproverReason: false,
    requesterCannotApproveOwn: true,
    requireMfa: false,
    labels: ['demo'],
    maxExtensions: 2,
    breakGlass: false,
  });
  assert.equal(auto.when, undefined);

  const approval = flow('demo-approval');
  assert.deepEqual(approval.approval, {
    mode: 'anyOf',
    groups: [
      { match: 'all', conditions: [{ attribute: 'group', op: 'is', value: ['sre-leads'] }] },
      { match: 'all', conditions: [{ attribute: 'manager', op: 'is', value: [] }] },
    ],
  });
  assert.deepEqual(approval.targets, [{ selector: { integration: 'demo', resourceType: 'table', permissions: ['write'], resources: { kind: 'parents', parents: ['app'] } } }]);
  assert.equal(approval.settings.requireJustification, true);
  assert.equal(approval.settings.requireApproverReason, true);
  assert.equal(approval.settings.breakGlass, true);
  assert.deepEqual(approval.settings.labels, ['prod']);

  assert.deepEqual(flow('demo-bundle-flow').targets, [{ bundle: 'demo-bundle' }]);
  assert.deepEqual(flow('demo-maintenance').when, { days: ['sun'], from: '00:00', to: '00:01', timezone: 'Pacific/Kiritimati' });

  const oncall = flow('demo-oncall');
  assert.equal(oncall.kind, 'automatic');
  assert.equal(oncall.grantFor, null);
  assert.equal(oncall.maxDuration, null);
  assert.deepEqual(oncall.approval, { mode: 'automatic' });
  assert.deepEqual(oncall.requesters.conditions, [{ attribute: 'shift', op: 'is', value: ['sre-oncall'] }]);
});

// --- positions ---

const BROKEN = `settings:
  admins: [carol, zed]
identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering], manager: bobb }
    - { id: bob, email: bob@example.com, groups: [sre-leads] }
    - { id: alice, email: alice2@example.com }
  shifts:
    - { id: oncall, timezone: Mars/Olympus, rotation: weekly, handoff: "25:00", members: [alice], anchor: 2026-02-30 }
integrations:
  - id: demo
    type: demo
    connection: { host: localhost, password: hunter2 }
    resources:
      - { type: database, name: app }
      - { type: tabel, name: users, parent: app }
      - { type: table, name: orders, parent: ap }
flows:
  - id: read
    grnatFor: 1h
    targets:
      - { integration: demo, resourceType: database, resources: any, permissions: [read, delete] }
      - { bundle: nope }
    approval:
      mode: anyOf
      groups:
        - { conditions: [ { attribute: group, op: equals, value: sre-leads }, { attribute: group, value: sre-lead } ] }
  - id: slow
    grantFor: 10h
    maxDuration: 8h
    when: { days: [], from: "08:00", to: "20:00", timezone: UTC }
    targets: [ { integration: dmeo, resourceType: database, resources: any, permissions: [read] } ]
    approval: automatic
  - id: weekend
    when: { days: [sat, sunday], from: "8am", to: "20:00", timezone: UTC }
    grantFor: 1 hour
    targets: [ { integration: demo, resourceType: database, resources: { names: [app], tags: { env: prod } }, permissions: [read] } ]
`;

test('a broken file reports every mistake at its line, column and path, in file order', () => {
  const errors = errorsOf(BROKEN);
  assert.ok(errors.every((e) => e.file === 'test.yaml'));
  assert.deepEqual(
    errors.map((e) => `${e.line}:${e.column} ${e.path}`),
    [
      '2:12 settings.admins[0]',
      '2:19 settings.admins[1]',
      '5:78 identities.users[0].manager',
      '7:13 identities.users[2].id',
      '9:31 identities.shifts[0].timezone',
      '9:72 identities.shifts[0].handoff',
      '9:107 identities.shifts[0].anchor',
      '13:36 integrations[0].connection.password',
      '16:17 integrations[0].resources[1].type',
      '17:46 integrations[0].resources[2].parent',
      '20:5 flows[0].grnatFor',
      '22:90 flows[0].targets[0].permissions[1]',
      '23:19 flows[0].targets[1].bundle',
      '27:51 flows[0].approval.groups[0].conditions[0].op',
      '27:106 flows[0].approval.groups[0].conditions[1].value',
      '29:15 flows[1].grantFor',
      '31:19 flows[1].when.days',
      '32:31 flows[1].targets[0].integration',
      '34:5 flows[2]',
      '35:25 flows[2].when.days[1]',
      '35:40 flows[2].when.from',
      '36:15 flows[2].grantFor',
      '37:72 flows[2].targets[0].resources',
    ],
  );
  const messageAt = (path: string) => errors.find((e) => e.path === path)?.message;
  assert.equal(messageAt('settings.admins[0]'), 'unknown user "carol"; expected one of alice, bob');
  assert.equal(messageAt('identities.users[0].manager'), 'unknown user "bobb" (did you mean "bob"?)');
  assert.equal(messageAt('identities.users[2].id'), 'duplicate user id "alice" (first declared on line 5)');
  assert.equal(messageAt('identities.shifts[0].handoff'), 'expected a time of day "HH:MM" between 00:00 and 23:59, got "25:00"');
  assert.equal(messageAt('identities.shifts[0].anchor'), 'expected a date "YYYY-MM-DD", got "2026-02-30"');
  assert.equal(messageAt('integrations[0].resources[1].type'), 'unknown resource type "tabel" for integration "demo"; expected one of database, schema, table');
  assert.equal(messageAt('integrations[0].resources[2].parent'), 'parent "ap" is not a declared resource of integration "demo" (did you mean "app"?)');
  assert.equal(
    messageAt('flows[0].grnatFor'),
    'unknown key "grnatFor"; expected one of id, name, description, kind, requesters, when, targets, grantFor, maxDuration, approval, settings (did you mean "grantFor"?)',
  );
  assert.equal(messageAt('flows[0].targets[0].permissions[1]'), 'unknown permission "delete" for database in integration "demo"; expected one of read, write, admin');
  assert.equal(messageAt('flows[0].approval.groups[0].conditions[0].op'), 'expected one of is, is not, contains, does not contain, starts with; got "equals"');
  assert.equal(messageAt('flows[0].approval.groups[0].conditions[1].value'), 'unknown group "sre-lead" (did you mean "sre-leads"?)');
  assert.equal(messageAt('flows[1].grantFor'), 'grantFor (10h) is longer than maxDuration (8h)');
  assert.equal(messageAt('flows[1].when.days'), 'expected at least one item; got an empty list');
  assert.equal(messageAt('flows[2]'), 'missing required key "approval" (automatic, or { mode: anyOf | allOf, groups: [...] })');
  assert.equal(messageAt('flows[2].when.days[1]'), 'expected one of mon, tue, wed, thu, fri, sat, sun; got "sunday"');
  assert.equal(messageAt('flows[2].grantFor'), 'expected a duration such as "90m", "1h" or "1h30m", got "1 hour"; "indefinite" is also accepted');
  assert.match(messageAt('identities.shifts[0].timezone') ?? '', /got "Mars\/Olympus"/);
  assert.match(messageAt('flows[2].targets[0].resources') ?? '', /exactly one of them; got names and tags$/);
});

test('formatConfigErrors prints one error a line as file:line:column: path: message', () => {
  const text = formatConfigErrors(errorsOf(BROKEN));
  const lines = text.split('\n');
  assert.equal(lines.length, 23);
  assert.equal(lines[13], 'test.yaml:27:51: flows[0].approval.groups[0].conditions[0].op: expected one of is, is not, contains, does not contain, starts with; got "equals"');
  assert.equal(formatConfigErrors([{ file: 'a.yaml', line: 3, column: 1, path: '', message: 'YAML syntax: oops' }]), 'a.yaml:3:1: YAML syntax: oops');
});

test('a missing required key is reported at the map that lacks it', () => {
  const errors = errorsOf('identities:\n  users:\n    - email: a@example.com\n      name: A\n');
  assert.deepEqual(
    errors.map((e) => [e.line, e.column, e.path, e.message]),
    [[3, 7, 'identities.users[0]', 'missing required key "id"']],
  );
});

test('YAML syntax errors are reported with their position and nothing else', () => {
  const errors = errorsOf('identities:\n  users:\n    - { id: alice, email: a@b\n  shifts: []\n');
  assert.equal(errors.length, 1);
  assert.deepEqual([errors[0].line, errors[0].column, errors[0].path], [4, 3, '']);
  assert.match(errors[0].message, /^YAML syntax: Flow map/);

  const duplicateKey = errorsOf('flows: []\nflows: []\n');
  assert.deepEqual(
    duplicateKey.map((e) => [e.line, e.column, e.message]),
    [[2, 1, 'YAML syntax: this key appears twice in the same map; keys must be unique']],
  );
  assert.match(problems('a: 1\n---\nb: 2\n')[0], /more than one YAML document/);
});

test('an empty file or a file that is not a map is refused', () => {
  assert.deepEqual(problems(''), [': the configuration is empty; expected a map with identities, integrations, bundles and flows']);
  assert.deepEqual(problems('- a\n'), [': expected a map with identities, integrations, bundles and flows; got a list']);
});

// --- references ---

test('a reference to an unknown user is refused wherever a user is named', () => {
  const config = baseConfig();
  config.settings.admins = ['root'];
  config.identities.users[0].manager = 'bobby';
  config.identities.shifts[0].members = ['alice', 'mallory'];
  config.integrations[0].resources[0].owner = { user: 'trent' };
  config.flows[0].requesters.conditions.push({ attribute: 'user', op: 'is not', value: ['eve'] });
  config.flows[0].approval.groups.push({ conditions: [{ attribute: 'manager', value: 'oscar' }] });
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'settings.admins[0]', 'unknown user "root"');
  assertHasProblem(found, 'identities.users[0].manager', 'unknown user "bobby"; expected one of alice, bob, carol');
  assertHasProblem(found, 'identities.shifts[0].members[1]', 'unknown user "mallory"');
  assertHasProblem(found, 'integrations[0].resources[0].owner.user', 'unknown user "trent"');
  assertHasProblem(found, 'flows[0].requesters.conditions[1].value[0]', 'unknown user "eve"');
  assertHasProblem(found, 'flows[0].approval.groups[1].conditions[0].value', 'unknown user "oscar"');
  assert.equal(found.length, 6);
});

test('unknown groups, shifts, integrations and bundles are refused', () => {
  const config = baseConfig();
  config.integrations[0].owner = { group: 'dba' };
  config.flows[0].requesters.conditions = [
    { attribute: 'group', value: ['engineering', 'marketing'] },
    { attribute: 'shift', op: 'is', value: 'on-call' },
  ];
  config.flows[0].targets = [{ integration: 'pg', resourceType: 'database', resources: 'any', permissions: ['read'] }, { bundle: 'bb' }];
  config.bundles[0].targets[0].integration = 'demo2';
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'integrations[0].owner.group', 'unknown group "dba"; expected one of sre-leads, engineering');
  assertHasProblem(found, 'flows[0].requesters.conditions[0].value[1]', 'unknown group "marketing"');
  assertHasProblem(found, 'flows[0].requesters.conditions[1].value', 'unknown shift "on-call" (did you mean "oncall"?)');
  assertHasProblem(found, 'flows[0].targets[0].integration', 'unknown integration "pg"; expected one of demo');
  assertHasProblem(found, 'flows[0].targets[1].bundle', 'unknown bundle "bb" (did you mean "b"?)');
  assertHasProblem(found, 'bundles[0].targets[0].integration', 'unknown integration "demo2" (did you mean "demo"?)');
  assert.equal(found.length, 6);
});

test('partial matches are not references: contains and starts with take any text', () => {
  const config = baseConfig();
  config.flows[0].requesters.conditions = [
    { attribute: 'group', op: 'starts with', value: 'eng' },
    { attribute: 'user', op: 'contains', value: 'ali' },
    { attribute: 'team', value: ['payments', 42] },
  ];
  const flow = expectValid(yamlOf(config)).flows[0];
  assert.deepEqual(flow.requesters.conditions[2], { attribute: 'team', op: 'is', value: ['payments', '42'] });
});

test('resource types, permissions and parents are checked against the integration', () => {
  const config = baseConfig();
  config.integrations[0].resourceTypes = { database: { permissions: ['read', 'write'] } };
  config.integrations[0].resources.push({ type: 'database', name: 'other', parent: 'ap/users' }, { type: 'database', name: 'fact_sales', parent: 'warehouse' });
  config.flows[0].targets[0] = { integration: 'demo', resourceType: 'table', resources: 'any', permissions: ['read'] };
  config.bundles[0].targets[0].permissions = ['read', 'admin'];
  const found = problems(yamlOf(config));
  // The declared resourceTypes replace the defaults: table is no longer a type of demo.
  assertHasProblem(found, 'integrations[0].resources[1].type', 'unknown resource type "table" for integration "demo"; expected one of database');
  // app/users is declared even though its type is wrong: only the typo is blamed.
  assertHasProblem(found, 'integrations[0].resources[2].parent', 'parent "ap/users" is not a declared resource of integration "demo" (did you mean "app/users"?)');
  assertHasProblem(found, 'integrations[0].resources[3].parent', 'parent "warehouse" is not a declared resource of integration "demo"; declared: app, app/users, ap/users/other, warehouse/fact_sales');
  assertHasProblem(found, 'flows[0].targets[0].resourceType', 'unknown resource type "table" for integration "demo"; expected one of database');
  assertHasProblem(found, 'bundles[0].targets[0].permissions[1]', 'unknown permission "admin" for database in integration "demo"; expected one of read, write');
  assert.equal(found.length, 5);
});

test('references may point forward in the file', () => {
  const text = `flows:
  - id: f
    requesters: { conditions: [ { attribute: group, value: ops } ] }
    targets: [ { bundle: b } ]
    approval: automatic
bundles:
  - { id: b, targets: [ { integration: x, resourceType: key-prefix, resources: any, permissions: [read] } ] }
integrations:
  - { id: x, type: redis, connection: { host: localhost, passwordEnv: REDIS_PASSWORD } }
settings: { admins: [zoe] }
identities:
  users: [ { id: zoe, email: zoe@example.com, groups: [ops] } ]
`;
  const config = expectValid(text);
  assert.deepEqual(config.integrations[0].connection, { host: 'localhost', passwordEnv: 'REDIS_PASSWORD' });
  assert.deepEqual(config.integrations[0].resourceTypes, { 'key-prefix': { permissions: ['read', 'write'] } });
});

// --- duplicates ---

test('duplicate ids of every kind are refused at the second declaration', () => {
  const config = baseConfig();
  config.identities.users.push({ id: 'bob', email: 'bob2@example.com' });
  config.identities.groups.push({ id: 'sre-leads' });
  config.identities.shifts.push({ ...config.identities.shifts[0] });
  config.integrations.push({ id: 'demo', type: 'demo' });
  config.bundles.push({ ...config.bundles[0] });
  config.flows.push({ ...config.flows[0] });
  config.integrations[0].resources.push({ type: 'table', name: 'users', parent: 'app' });
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'identities.users[3].id', /duplicate user id "bob" \(first declared on line \d+\)/);
  assertHasProblem(found, 'identities.groups[1].id', 'duplicate group id "sre-leads"');
  assertHasProblem(found, 'identities.shifts[1].id', 'duplicate shift id "oncall"');
  assertHasProblem(found, 'integrations[1].id', 'duplicate integration id "demo"');
  assertHasProblem(found, 'bundles[1].id', 'duplicate bundle id "b"');
  assertHasProblem(found, 'flows[1].id', 'duplicate flow id "f"');
  assertHasProblem(found, 'integrations[0].resources[2].name', 'duplicate resource: integration "demo" already declares the table "app/users"');
  assert.equal(found.length, 7);
});

test('the same name under different parents or of different types is not a duplicate', () => {
  const config = baseConfig();
  config.integrations[0].resources.push(
    { type: 'database', name: 'reports' },
    { type: 'table', name: 'users', parent: 'reports' },
    { type: 'schema', name: 'users', parent: 'app' },
  );
  assert.equal(expectValid(yamlOf(config)).integrations[0].resources.length, 5);
});

// --- secrets ---

test('a secret written inline in a connection is refused; by reference it is accepted', () => {
  const config = baseConfig();
  config.integrations[0].connection = {
    host: 'db.internal',
    password: 'hunter2',
    adminPassword: 'x',
    api_key: 'x',
    headers: { Authorization: 'Bearer abc' },
    url: 'postgres://admin:hunter2@db.internal/app',
    passwordEnv: 'PG_PASSWORD',
    tokenFile: '/run/secrets/token',
    keyPrefix: 'app:',
  };
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'integrations[0].connection.password', '"password" would hold a secret inline; give it by reference instead: passwordEnv (an environment variable) or passwordFile (a file path)');
  assertHasProblem(found, 'integrations[0].connection.adminPassword', 'adminPasswordEnv');
  assertHasProblem(found, 'integrations[0].connection.api_key', 'secret inline');
  assertHasProblem(found, 'integrations[0].connection.headers.Authorization', 'secret inline');
  assertHasProblem(found, 'integrations[0].connection.url', 'the URL holds a password inline');
  assert.equal(found.length, 5);
  // The error never repeats the secret itself.
  assert.ok(found.every((p) => !p.includes('hunter2')));
});

// --- defaults and normalisation ---

test('defaults are filled in', () => {
  const text = `identities:
  users:
    - { id: u1, email: u1@example.com }
integrations:
  - { id: pg, type: postgresql, connection: { host: 127.0.0.1, user: lapse } }
flows:
  - id: minimal
    targets: [ { integration: pg, resourceType: schema, resources: { except: [public] }, permissions: [read, read] } ]
    approval: automatic
`;
  const config = expectValid(text);
  assert.deepEqual(config.settings, { admins: [], expiryWarnings: [600_000, 60_000] });
  assert.deepEqual(config.users, [{ id: 'u1', email: 'u1@example.com', name: 'u1', groups: [], attributes: {} }]);
  assert.deepEqual(config.groups, []);
  assert.deepEqual(config.shifts, []);
  assert.deepEqual(config.bundles, []);
  assert.deepEqual(config.integrations, [
    {
      id: 'pg',
      type: 'postgresql',
      name: 'pg',
      connection: { host: '127.0.0.1', user: 'lapse' },
      resourceTypes: {
        database: { permissions: ['read', 'write', 'admin'] },
        schema: { permissions: ['read', 'write', 'admin'] },
        table: { permissions: ['read', 'write', 'admin'] },
      },
      resources: [],
    },
  ]);
  assert.deepEqual(config.flows, [
    {
      id: 'minimal',
      name: 'minimal',
      description: '',
      kind: 'self-serve',
      requesters: { match: 'all', conditions: [] },
      targets: [{ selector: { integration: 'pg', resourceType: 'schema', permissions: ['read'], resources: { kind: 'anyExcept', names: ['public'] } } }],
      grantFor: HOUR,
      maxDuration: HOUR,
      approval: { mode: 'automatic' },
      settings: {
        requireJustification: false,
        requireApproverReason: false,
        requesterCannotApproveOwn: true,
        requireMfa: false,
        labels: [],
        maxExtensions: 2,
        breakGlass: false,
      },
    },
  ]);
});

test('the default resource types are copies: changing one config does not change the next', () => {
  const first = expectValid('integrations: [ { id: d, type: demo } ]\n');
  first.integrations[0].resourceTypes.database.permissions.push('drop');
  const second = expectValid('integrations: [ { id: d, type: demo } ]\n');
  assert.deepEqual(second.integrations[0].resourceTypes.database.permissions, ['read', 'write', 'admin']);
});

test('scopes, windows, durations and settings are normalised', () => {
  const config = baseConfig();
  config.settings.expiryWarnings = ['1m', '15m', '1m'];
  config.flows[0] = {
    ...config.flows[0],
    when: { days: ['fri', 'mon', 'mon'], from: '8:30', to: '02:00', timezone: 'Europe/Berlin' },
    targets: [
      { integration: 'demo', resourceType: 'table', resources: { tags: { env: 'prod', tier: 1 } }, permissions: ['write'] },
      { integration: 'demo', resourceType: 'table', resources: { parents: ['app'] }, permissions: ['read'] },
    ],
    grantFor: '1h30m',
    maxDuration: 'indefinite',
    approval: { mode: 'allOf', groups: [{ match: 'any', conditions: [{ attribute: 'group', op: 'is', value: 'sre-leads' }, { attribute: 'owner' }] }] },
    settings: { requireMfa: true, labels: ['prod', 'prod'], maxExtensions: 0 },
  };
  const parsed = expectValid(yamlOf(config));
  const flow = parsed.flows[0];
  assert.deepEqual(parsed.settings.expiryWarnings, [15 * 60_000, 60_000]);
  assert.deepEqual(flow.when, { days: ['mon', 'fri'], from: '08:30', to: '02:00', timezone: 'Europe/Berlin' });
  assert.deepEqual(flow.targets.map((t) => ('selector' in t ? t.selector.resources : t)), [
    { kind: 'tags', tags: { env: 'prod', tier: '1' } },
    { kind: 'parents', parents: ['app'] },
  ]);
  assert.equal(flow.grantFor, 90 * 60_000);
  assert.equal(flow.maxDuration, null);
  assert.deepEqual(flow.approval, {
    mode: 'allOf',
    groups: [{ match: 'any', conditions: [{ attribute: 'group', op: 'is', value: ['sre-leads'] }, { attribute: 'owner', op: 'is', value: [] }] }],
  });
  assert.equal(flow.settings.requireMfa, true);
  assert.deepEqual(flow.settings.labels, ['prod']);
  assert.equal(flow.settings.maxExtensions, 0);
});

test('grantFor may not exceed maxDuration, nor be indefinite below a finite maximum', () => {
  const config = baseConfig();
  config.flows[0].maxDuration = '30m'; // grantFor defaults to 1h
  config.flows.push({ ...config.flows[0], id: 'g', grantFor: 'indefinite', maxDuration: '8h' });
  const found = problems(yamlOf(config));
  assert.deepEqual(found, [
    'flows[0].maxDuration: grantFor (1h, the default) is longer than maxDuration (30m)',
    'flows[1].grantFor: grantFor (indefinite) is longer than maxDuration (8h)',
  ]);
});

test('an automatic flow takes no approval and no duration, and needs requester conditions', () => {
  const config = baseConfig();
  const automatic = {
    id: 'auto',
    kind: 'automatic',
    requesters: { conditions: [{ attribute: 'shift', value: 'oncall' }] },
    targets: [{ integration: 'demo', resourceType: 'database', resources: { names: ['app'] }, permissions: ['admin'] }],
  };
  config.flows = [automatic, { ...automatic, id: 'explicit', approval: 'automatic', grantFor: 'indefinite', maxDuration: 'indefinite' }];
  const flows = expectValid(yamlOf(config)).flows;
  for (const flow of flows) {
    assert.equal(flow.grantFor, null);
    assert.equal(flow.maxDuration, null);
    assert.deepEqual(flow.approval, { mode: 'automatic' });
  }

  config.flows = [{ ...automatic, approval: { mode: 'anyOf', groups: [{ conditions: [{ attribute: 'manager' }] }] }, grantFor: '1h' }, { ...automatic, id: 'everyone', requesters: undefined }];
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'flows[0].approval', 'approval must be automatic or omitted');
  assertHasProblem(found, 'flows[0].grantFor', 'grantFor must be indefinite or omitted');
  assertHasProblem(found, 'flows[1]', 'an automatic flow needs at least one requester condition');
  assert.equal(found.length, 3);
});

test('conditions: value is required except for approvers\' manager and owner', () => {
  const config = baseConfig();
  config.flows[0].requesters.conditions = [{ attribute: 'manager' }, { attribute: 'team' }, { attribute: 'email', value: [] }];
  config.flows[0].approval.groups = [{ conditions: [] }, { match: 'some', conditions: [{ attribute: 'owner' }] }];
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'flows[0].requesters.conditions[0]', 'only approvers can be');
  assertHasProblem(found, 'flows[0].requesters.conditions[1]', 'missing required key "value" (only manager and owner conditions of approvers may omit it)');
  assertHasProblem(found, 'flows[0].requesters.conditions[2].value', 'expected at least one value; got an empty list');
  assertHasProblem(found, 'flows[0].approval.groups[0].conditions', 'expected at least one item; got an empty list');
  assertHasProblem(found, 'flows[0].approval.groups[1].match', 'expected one of all, any; got "some"');
  assert.equal(found.length, 5);
});

test('type mistakes say what was expected and what was found', () => {
  const config = baseConfig();
  config.identities.users[1].groups = 'sre-leads';
  config.identities.users[1].email = 'bob-at-example';
  config.identities.users[2].attributes = { group: 'x', level: { nested: true } };
  config.identities.shifts[0].rotation = 'monthly';
  config.integrations[0].type = 'oracle';
  config.flows[0].settings = { requireJustification: 'yes', maxExtensions: -1 };
  config.flows[0].targets[0].resources = 'all';
  config.flows[0].approval = 'manual';
  config.flows[0].id = 'has space';
  const found = problems(yamlOf(config));
  assertHasProblem(found, 'identities.users[1].groups', 'expected a list; got "sre-leads"');
  assertHasProblem(found, 'identities.users[1].email', 'expected an email address; got "bob-at-example"');
  assertHasProblem(found, 'identities.users[2].attributes.group', '"group" is a built-in attribute');
  assertHasProblem(found, 'identities.users[2].attributes.level', 'expected a string; got a map');
  assertHasProblem(found, 'identities.shifts[0].rotation', 'expected one of daily, weekly; got "monthly"');
  assertHasProblem(found, 'integrations[0].type', 'expected one of demo, postgresql, mysql, redis, webhook, command; got "oracle"');
  assertHasProblem(found, 'flows[0].settings.requireJustification', 'expected true or false; got "yes"');
  assertHasProblem(found, 'flows[0].settings.maxExtensions', 'expected a whole number of at least 0; got the number -1');
  assertHasProblem(found, 'flows[0].targets[0].resources', /^.*expected any, \{ except: \[names\] \}.*; got "all"$/);
  assertHasProblem(found, 'flows[0].approval', 'expected automatic or { mode: anyOf | allOf, groups: [...] }; got "manual"');
  assertHasProblem(found, 'flows[0].id', 'expected an id (letters, digits, ".", "_", "-", "@", starting with a letter or digit); got "has space"');
  assert.equal(found.length, 11, found.join('\n'));
});

test('a key a path cannot spell plainly is quoted in the path', () => {
  const found = problems('identities:\n  users:\n    - { id: a, email: a@x, "the team": 1, attributes: { "x.y": [1, {}] } }\n');
  assert.deepEqual(found, [
    'identities.users[0]["the team"]: unknown key "the team"; expected one of id, email, name, groups, manager, attributes, mfa',
    'identities.users[0].attributes["x.y"][1]: expected a string; got a map',
  ]);
});

test('aliases are followed', () => {
  const text = `identities:
  users:
    - { id: a, email: a@example.com, groups: [eng] }
x-targets: &reads
  - { integration: demo, resourceType: database, resources: any, permissions: [read] }
`;
  // Unknown top-level keys are refused, anchors included ...
  assertHasProblem(problems(text), 'x-targets', 'unknown key "x-targets"');
  // ... but anchors inside known keys work.
  const config = expectValid(`integrations: [ { id: demo, type: demo } ]
bundles:
  - { id: b, targets: &reads [ { integration: demo, resourceType: database, resources: any, permissions: [read] } ] }
flows:
  - { id: f, targets: *reads, approval: automatic }
`);
  assert.deepEqual(config.flows[0].targets, [{ selector: config.bundles[0].targets[0] }]);

  // An alias inside the free-form connection that points back at it is an error, not a hang.
  const cyclic = problems('integrations:\n  - { id: a, type: command, connection: &c { path: /bin/true, args: [ a, *c ] } }\n');
  assert.deepEqual(cyclic, ['integrations[0].connection.args[1]: an alias to a collection that contains it; expected plain data']);
});

// --- files ---

test('loadConfigFile throws ConfigInvalidError listing every error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lapse-config-'));
  const path = join(dir, 'lapse.yaml');
  await writeFile(path, BROKEN);
  await assert.rejects(loadConfigFile(path), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalidError);
    assert.equal(err.errors.length, 23);
    assert.equal(err.errors[0].file, path);
    assert.equal(err.message, formatConfigErrors(err.errors));
    assert.ok(err.message.startsWith(`${path}:2:12: settings.admins[0]: unknown user "carol"`));
    return true;
  });
});

test('a missing file is one error at line 1', async () => {
  const path = join(tmpdir(), 'lapse-does-not-exist', 'lapse.yaml');
  await assert.rejects(loadConfigFile(path), (err: unknown) => {
    assert.ok(err instanceof ConfigInvalidError);
    assert.deepEqual(err.errors, [{ file: path, line: 1, column: 1, path: '', message: 'cannot read the configuration file: no such file' }]);
    assert.equal(err.message, `${path}:1:1: cannot read the configuration file: no such file`);
    return true;
  });
});

// --- settings.eventRetention ---

test('settings.eventRetention: a duration from 1m to 30d, default absent (24h)', () => {
  const withRetention = (value: unknown) => stringify({ ...baseConfig(), settings: { admins: ['carol'], eventRetention: value } });
  assert.equal(expectValid(withRetention('2h')).settings.eventRetention, 2 * 3_600_000);
  assert.equal(expectValid(stringify(baseConfig())).settings.eventRetention, undefined);
  assertHasProblem(problems(withRetention('30s')), 'settings.eventRetention', 'from 1m to 30d');
  assertHasProblem(problems(withRetention('31d')), 'settings.eventRetention', 'from 1m to 30d');
  assertHasProblem(problems(withRetention('soon')), 'settings.eventRetention', /duration/);
});

// --- settings.trustProxy ---

test('settings.trustProxy: false, true, hops, or addresses and CIDR ranges; anything else at its line and path', () => {
  const withTrust = (value: unknown) => stringify({ ...baseConfig(), settings: { admins: ['carol'], trustProxy: value } });
  assert.equal(expectValid(withTrust(false)).settings.trustProxy, false);
  assert.equal(expectValid(withTrust(2)).settings.trustProxy, 2);
  assert.deepEqual(expectValid(withTrust('10.0.0.5')).settings.trustProxy, ['10.0.0.5']);
  assert.deepEqual(expectValid(withTrust(['10.0.0.0/8', '::1', 'fd00::/8'])).settings.trustProxy, ['10.0.0.0/8', '::1', 'fd00::/8']);
  assertHasProblem(problems(withTrust(0)), 'settings.trustProxy', 'hops from 1 to 16');
  assertHasProblem(problems(withTrust(['10.0.0.0/33'])), 'settings.trustProxy[0]', 'prefix length from 0 to 32');
  assertHasProblem(problems(withTrust(['proxy.internal'])), 'settings.trustProxy[0]', 'IP address or CIDR range');
  assertHasProblem(problems(withTrust(['10.0.0.1/8/8'])), 'settings.trustProxy[0]', 'IP address or CIDR range');
  assertHasProblem(problems(withTrust([])), 'settings.trustProxy', 'at least one address');
  const at = errorsOf('settings:\n  trustProxy: [10.0.0.1, "not an address"]\n').find((e) => e.path === 'settings.trustProxy[1]');
  assert.deepEqual([at?.line, at?.column], [2, 26]);
});
