// Each integration type's connection keys are checked where they are written (file, line,
// column, path), credentials only by reference; and what the loader accepts, the JSON
// Schema accepts too.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { parseConfig } from './load.ts';
import { formatConfigErrors } from './yaml-reader.ts';
import { configJsonSchema } from './json-schema.ts';

const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(configJsonSchema);

function errorsOf(text: string): string[] {
  const parsed = parseConfig(text, 'lapse.yaml');
  return parsed.ok ? [] : formatConfigErrors(parsed.errors).split('\n');
}

const VALID = `integrations:
  - id: pg
    type: postgresql
    connection: { host: db.internal, port: 5432, user: lapse_admin, passwordEnv: LAPSE_PG_PASSWORD, database: app, rolePrefix: lapse_, ssl: true,
                  permissions: { read: { table: [select] } }, connectTimeoutMs: 3000 }
  - id: my
    type: mysql
    connection: { host: 127.0.0.1, user: root, passwordFile: /etc/lapse/my.pw, userHost: "%", permissions: { read: [SELECT, SHOW VIEW] } }
  - id: cache
    type: redis
    connection:
      host: 127.0.0.1
      passwordEnv: LAPSE_REDIS_PASSWORD
      rolePrefix: lapse_
      permissions:
        read: { keys: read, commands: ["+@read", "-@dangerous"] }
        write: { keys: readwrite, commands: ["+@read", "+@write", "-@dangerous"] }
    resources: [ { type: key-prefix, name: "app:" } ]
  - id: hook
    type: webhook
    connection: { url: "https://hooks.example.com/lapse", secretEnv: LAPSE_HOOK_SECRET, timeoutMs: 10000 }
    resourceTypes: { service: { permissions: [use] } }
  - id: cmd
    type: command
    connection: { path: /usr/local/bin/grant, args: [--system, billing], env: { REGION: eu }, secretFile: /etc/lapse/cmd.secret, timeoutMs: 30000, list: true }
    resourceTypes: { service: { permissions: [use] } }
`;

test('a valid connection of every type loads, and the schema accepts it', () => {
  assert.deepEqual(errorsOf(VALID), []);
  assert.equal(validate(parse(VALID)), true, JSON.stringify(validate.errors));
});

test('inline credentials are refused with file:line:col, and the hint names the reference keys', () => {
  const errors = errorsOf(`integrations:
  - { id: pg, type: postgresql, connection: { host: db, user: u, password: hunter2 } }
  - id: hook
    type: webhook
    connection:
      url: "https://hooks.example.com/x"
      secret: s3cr3t
  - { id: cache, type: redis, connection: { host: "redis://u:pw@h" } }
`);
  assert.deepEqual(errors, [
    'lapse.yaml:2:66: integrations[0].connection.password: "password" would hold a secret inline; give it by reference instead: passwordEnv (an environment variable) or passwordFile (a file path)',
    'lapse.yaml:7:7: integrations[1].connection.secret: "secret" would hold a secret inline; give it by reference instead: secretEnv (an environment variable) or secretFile (a file path)',
    'lapse.yaml:8:51: integrations[2].connection.host: the URL holds a password inline; leave it out of the URL and give it by reference (passwordEnv or passwordFile)',
  ]);
  for (const e of errors) assert.ok(!e.includes('hunter2') && !e.includes('s3cr3t'));
});

test('bad connection fields name the field and what was expected', () => {
  const errors = errorsOf(`integrations:
  - { id: pg, type: postgresql, connection: { host: "db; rm", port: 70000, user: "", rolePrefix: "Lapse-", passwordEnv: "1BAD", database: app, statementTimeoutMs: 0 } }
  - { id: my, type: mysql, connection: { host: db, user: root, passwordEnv: A, passwordFile: /x, permissions: { read: ["SELECT; DROP"] } } }
  - id: cache
    type: redis
    connection: { permissions: { read: { keys: all, commands: ["allkeys", "+@read"] } } }
  - { id: hook, type: webhook, connection: { url: "ftp://example.com/x" } }
  - { id: cmd, type: command, connection: { path: grant.sh, env: { LAPSE_DEBUG: x, "bad name": y }, shell: true } }
  - { id: cmd2, type: command }
`);
  assert.deepEqual(errors, [
    'lapse.yaml:2:53: integrations[0].connection.host: expected a host name or IP address; got "db; rm"',
    'lapse.yaml:2:69: integrations[0].connection.port: expected a port number from 1 to 65535; got 70000',
    'lapse.yaml:2:82: integrations[0].connection.user: expected a non-empty string; got an empty string',
    'lapse.yaml:2:98: integrations[0].connection.rolePrefix: expected 1-16 lower-case letters, digits or underscores, not starting with a digit; got "Lapse-"',
    'lapse.yaml:2:121: integrations[0].connection.passwordEnv: expected the name of an environment variable (letters, digits, "_"); got "1BAD"',
    'lapse.yaml:2:164: integrations[0].connection.statementTimeoutMs: expected a whole number of at least 1; got the number 0',
    'lapse.yaml:3:94: integrations[1].connection.passwordFile: give the password either by passwordEnv or by passwordFile, not both',
    'lapse.yaml:3:120: integrations[1].connection.permissions.read[0]: expected a privilege name such as SELECT; got "SELECT; DROP"',
    'lapse.yaml:6:17: integrations[2].connection: the redis integration offers permission "write" on key-prefix but connection.permissions has no ACL rules for it; configured: read',
    'lapse.yaml:6:48: integrations[2].connection.permissions.read.keys: expected one of read, write, readwrite; got "all"',
    'lapse.yaml:6:64: integrations[2].connection.permissions.read.commands[0]: expected an ACL command rule such as "+@read", "-@dangerous", "+get" or "-client|kill"; got "allkeys"',
    'lapse.yaml:7:44: integrations[3].connection: missing secretEnv (an environment variable) or secretFile (a file path) holding the HMAC signing key',
    'lapse.yaml:7:51: integrations[3].connection.url: expected an http or https URL; got the scheme "ftp"',
    'lapse.yaml:8:51: integrations[4].connection.path: expected an absolute path to an executable (no search in PATH, no shell); got "grant.sh"',
    'lapse.yaml:8:68: integrations[4].connection.env.LAPSE_DEBUG: names starting with LAPSE_ are reserved; got "LAPSE_DEBUG"',
    'lapse.yaml:8:84: integrations[4].connection.env["bad name"]: expected the name of an environment variable (letters, digits, "_"); got "bad name"',
    'lapse.yaml:8:101: integrations[4].connection.shell: unknown key "shell"; expected one of path, args, env, timeoutMs, list, listResources, secretEnv, secretFile',
    'lapse.yaml:9:5: integrations[5]: missing required key "connection": a command integration needs path',
  ]);
});


test('a redis key prefix with white space is refused where it is declared', () => {
  assert.deepEqual(errorsOf(`integrations:
  - id: cache
    type: redis
    resources: [ { type: key-prefix, name: "app: x" }, { type: key-prefix, name: "ok:*" } ]
`), ['lapse.yaml:4:44: integrations[0].resources[0].name: expected a key prefix without white space or control characters (an ACL rule cannot hold them); got "app: x"']);
});

test('settings: reconcileEvery (a duration of at least 10s, or "off") and healthCheckEvery', () => {
  const settingsOf = (text: string) => {
    const parsed = parseConfig(text, 'lapse.yaml');
    assert.ok(parsed.ok, parsed.ok ? '' : formatConfigErrors(parsed.errors));
    return parsed.config.settings;
  };
  assert.deepEqual(settingsOf('settings: { reconcileEvery: 5m, healthCheckEvery: 30s }\n'), { admins: [], expiryWarnings: [600_000, 60_000], reconcileEvery: 300_000, healthCheckEvery: 30_000 });
  assert.equal(settingsOf('settings: { reconcileEvery: "off" }\n').reconcileEvery, null);
  assert.equal('reconcileEvery' in settingsOf('settings: {}\n'), false, 'absent: the default applies');
  assert.deepEqual(errorsOf('settings: { reconcileEvery: 5s, healthCheckEvery: never }\n'), [
    'lapse.yaml:1:29: settings.reconcileEvery: expected a duration of at least 10s, or "off"; got "5s"',
    'lapse.yaml:1:51: settings.healthCheckEvery: expected a duration such as "90m", "1h" or "1h30m", got "never"',
  ]);
  assert.equal(validate(parse('settings: { reconcileEvery: "off", healthCheckEvery: 1m }\n')), true);
});

test('settings.discoverEvery: a duration of at least 10s', () => {
  const parsed = parseConfig('settings: { discoverEvery: 2m }\n', 'lapse.yaml');
  assert.ok(parsed.ok, parsed.ok ? '' : formatConfigErrors(parsed.errors));
  assert.equal(parsed.config.settings.discoverEvery, 120_000);
  assert.deepEqual(errorsOf('settings:\n  admins: []\n  discoverEvery: 9s\n'), ['lapse.yaml:3:18: settings.discoverEvery: expected a duration of at least 10s; got "9s"']);
  assert.deepEqual(errorsOf('settings: { discoverEvery: soon }\n'), ['lapse.yaml:1:28: settings.discoverEvery: expected a duration such as "90m", "1h" or "1h30m", got "soon"']);
  assert.equal(validate(parse('settings: { discoverEvery: 10s }\n')), true);
});

test('tag rules: by path pattern or parent, optionally of a type; each mistake where it is written', () => {
  const integration = (rules: string, extra = '') => `integrations:
  - id: pg
    type: postgresql
    connection: { host: db, user: lapse${extra} }
    tagRules:
${rules}`;
  const parsed = parseConfig(integration('      - { parent: app/public, tags: { pii: true } }\n      - { path: "app/*/audit_*", type: table, tags: { audit: "yes" } }\n', ', discoverDatabases: [app]'), 'lapse.yaml');
  assert.ok(parsed.ok, parsed.ok ? '' : formatConfigErrors(parsed.errors));
  assert.deepEqual(parsed.config.integrations[0]!.tagRules, [{ parent: 'app/public', tags: { pii: 'true' } }, { type: 'table', path: 'app/*/audit_*', tags: { audit: 'yes' } }]);
  assert.deepEqual(parsed.config.integrations[0]!.connection.discoverDatabases, ['app']);
  assert.deepEqual(errorsOf(integration([
    '      - { tags: { a: b } }',
    '      - { path: x, parent: y, tags: { a: b } }',
    '      - { path: "/abs", tags: { a: b } }',
    '      - { parent: app, type: view, tags: { a: b } }',
    '      - { parent: app, tags: { "bad key": b } }',
    '      - { parent: app }',
  ].join('\n') + '\n')), [
    'lapse.yaml:6:9: integrations[0].tagRules[0]: expected exactly one of path (a pattern such as "app/public/*") and parent (a resource path such as "app/public")',
    'lapse.yaml:7:9: integrations[0].tagRules[1]: expected exactly one of path (a pattern such as "app/public/*") and parent (a resource path such as "app/public")',
    'lapse.yaml:8:17: integrations[0].tagRules[2].path: expected a resource path pattern such as "app/public/*"; got "/abs"',
    'lapse.yaml:9:30: integrations[0].tagRules[3].type: unknown resource type "view" for integration "pg"; expected one of database, schema, table',
    'lapse.yaml:10:30: integrations[0].tagRules[4].tags: "bad key" is not a tag key (letters, digits, "_", "." and "-", at most 64)',
    'lapse.yaml:11:9: integrations[0].tagRules[5]: missing required key "tags"',
  ]);
  assert.deepEqual(errorsOf('integrations:\n  - { id: pg, type: postgresql, connection: { host: db, user: lapse, discoverDatabases: [] } }\n'), [
    'lapse.yaml:2:89: integrations[0].connection.discoverDatabases: expected at least one item; got an empty list',
  ]);
});
