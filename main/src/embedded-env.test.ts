// The embedded backend's environment: the variables its configuration names for secrets,
// and PATH and HOME, pass; nothing else of the app's environment does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { parseConfig } from '../../backend/src/config/load.ts';
import { formatConfigErrors } from '../../backend/src/config/yaml-reader.ts';
import { configEnvNames, embeddedEnv } from './embedded-env.ts';

const EXAMPLE = readFileSync(fileURLToPath(new URL('../../backend/examples/lapse.yaml', import.meta.url)), 'utf8');

/** The example configuration with a secret by env of each kind, and one by file. */
function configWithSecrets() {
  const doc = parseDocument(EXAMPLE);
  doc.addIn(['integrations'], doc.createNode({ id: 'pg', type: 'postgresql', name: 'Postgres', connection: { host: 'db.internal', user: 'lapse_admin', passwordEnv: 'LAPSE_PG_PASSWORD', database: 'app' } }));
  doc.addIn(['integrations'], doc.createNode({ id: 'cache', type: 'redis', name: 'Cache', connection: { host: '127.0.0.1', passwordFile: '/etc/lapse/redis.pw' } }));
  doc.addIn(['integrations'], doc.createNode({ id: 'hook', type: 'webhook', name: 'Hook', connection: { url: 'https://hooks.example.com/lapse', secretEnv: 'LAPSE_HOOK_KEY' } }));
  doc.setIn(['identities', 'users', 0, 'mfa'], doc.createNode({ totpSecretEnv: 'ALICE_TOTP' }));
  doc.setIn(['settings', 'publicUrl'], 'https://lapse.example.com');
  doc.setIn(['settings', 'oidc'], doc.createNode({ issuer: 'https://example.okta.com', clientId: '0oa1lapse', clientSecretEnv: 'LAPSE_OIDC_SECRET' }));
  doc.set('notifications', doc.createNode({
    email: { host: 'smtp.example.com', user: 'lapse', passwordEnv: 'SMTP_PASSWORD', from: 'lapse@example.com' },
    chat: [{ id: 'sre', type: 'slack', urlEnv: 'SLACK_SRE' }],
    webhooks: [{ id: 'siem', url: 'https://siem.example.com/lapse', secretEnv: 'SIEM_KEY' }],
  }));
  doc.set('auditStream', doc.createNode({ subscribers: [{ id: 'archive', type: 'webhook', url: 'https://audit.example.com/lapse', secretEnv: 'LAPSE_AUDIT_HOOK_KEY' }] }));
  const parsed = parseConfig(doc.toString(), 'lapse.yaml');
  assert.ok(parsed.ok, parsed.ok ? '' : formatConfigErrors(parsed.errors));
  return parsed.config;
}

test('the names a configuration refers to: connections, single sign-on, TOTP secrets, notifications, the audit stream', () => {
  assert.deepEqual(configEnvNames(configWithSecrets()).sort(), [
    'ALICE_TOTP', 'LAPSE_AUDIT_HOOK_KEY', 'LAPSE_HOOK_KEY', 'LAPSE_OIDC_SECRET', 'LAPSE_PG_PASSWORD', 'SIEM_KEY', 'SLACK_SRE', 'SMTP_PASSWORD',
  ]);
  const example = parseConfig(EXAMPLE, 'lapse.yaml');
  assert.ok(example.ok);
  assert.deepEqual(configEnvNames(example.config), [], 'the example names none');
});

test('only the named variables (and PATH, HOME) pass; a secret the configuration does not name does not', () => {
  const env = {
    PATH: 'bin-directories', HOME: 'jane-home', LAPSE_PG_PASSWORD: 'pg-secret', SLACK_SRE: 'https://hooks.slack.com/x',
    AWS_SECRET_ACCESS_KEY: 'not-named', LAPSE_SECRET_KEY: 'a-team-server-key', LAPSE_ADMIN_TOKEN: 'lapse_x', LAPSE_DATABASE_URL: 'postgres://elsewhere',
  };
  const out = embeddedEnv(configWithSecrets(), env);
  assert.equal(out.AWS_SECRET_ACCESS_KEY, undefined);
  assert.equal(out.LAPSE_DATABASE_URL, undefined, 'the embedded backend keeps its own store');
  assert.deepEqual(out, { PATH: 'bin-directories', HOME: 'jane-home', LAPSE_PG_PASSWORD: 'pg-secret', SLACK_SRE: 'https://hooks.slack.com/x' });
  // A configuration that does not parse: only what the process needs.
  assert.deepEqual(embeddedEnv(null, env), { PATH: 'bin-directories', HOME: 'jane-home' });
});
