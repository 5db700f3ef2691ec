// The packaging settings (electron-builder.yml), checked against the schema of the
// electron-builder that is installed, so that a misspelt key fails here rather than being
// ignored or failing only at `npm run dist`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { parse } from 'yaml';

const require = createRequire(import.meta.url);
const config = parse(readFileSync(new URL('../../electron-builder.yml', import.meta.url), 'utf8')) as Record<string, unknown>;
const schema = JSON.parse(readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8')) as {
  definitions: { FuseOptionsV1: { properties: Record<string, unknown> } };
};

/** The Electron fuses the packaged app is built with, and the safe value of each. */
const SAFE_FUSES = {
  // ELECTRON_RUN_AS_NODE would turn the signed app into a plain Node.js runtime.
  runAsNode: false,
  // NODE_OPTIONS and NODE_EXTRA_CA_CERTS would let the environment inject code or trust.
  enableNodeOptionsEnvironmentVariable: false,
  // --inspect and SIGUSR1 would attach a debugger to the main process, which holds the token.
  enableNodeCliInspectArguments: false,
  // The app's code is only ever loaded from its app.asar, and app.asar is checked against
  // the hash recorded in the signed executable (macOS and Windows).
  enableEmbeddedAsarIntegrityValidation: true,
  onlyLoadAppFromAsar: true,
  // The cookie store is encrypted with the OS keychain, like Chrome's.
  enableCookieEncryption: true,
  // The app serves its pages from lapse://, never file://.
  grantFileProtocolExtraPrivileges: false,
} as const;

test('electron-builder.yml is valid for the installed electron-builder', () => {
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
});

test('the packaged app is built with the safe Electron fuses, by names electron-builder knows', () => {
  const known = Object.keys(schema.definitions.FuseOptionsV1.properties);
  for (const name of Object.keys(SAFE_FUSES)) assert.ok(known.includes(name), `electron-builder does not know the fuse ${name} (it knows ${known.join(', ')})`);
  const fuses = config.electronFuses as Record<string, unknown> | undefined;
  assert.ok(fuses && typeof fuses === 'object', 'electron-builder.yml sets electronFuses');
  for (const name of Object.keys(fuses)) assert.ok(known.includes(name), `electronFuses.${name} is not a fuse electron-builder knows (${known.join(', ')})`);
  for (const [name, value] of Object.entries(SAFE_FUSES)) assert.equal(fuses[name], value, `electronFuses.${name}`);
});

test('the app is packed in an asar archive, which the fuses rely on', () => {
  assert.notEqual(config.asar, false, 'asar must not be turned off: onlyLoadAppFromAsar would find no app');
  assert.notEqual(config.asar, null);
});
