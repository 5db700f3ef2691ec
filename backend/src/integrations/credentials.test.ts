// Credentials by reference: read from the environment variable or the file a connection
// names; errors name the variable or the file, never a value.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redact, resolveSecret } from './credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const opts = (env: NodeJS.ProcessEnv, required = false) => ({ integration: 'pg', env, required });

test('from an environment variable or a file (one trailing newline dropped)', () => {
  assert.equal(resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({ PG_PW: 's3cret value' })), 's3cret value');
  writeFileSync(join(dir, 'pw'), 'from-file\n');
  assert.equal(resolveSecret({ passwordFile: join(dir, 'pw') }, 'password', opts({})), 'from-file');
  writeFileSync(join(dir, 'hook'), 'line1\nline2\r\n');
  assert.equal(resolveSecret({ secretFile: join(dir, 'hook') }, 'secret', opts({})), 'line1\nline2');
  assert.equal(resolveSecret({}, 'password', opts({})), undefined);
});

test('a missing variable, a missing or empty file, or a missing required secret is a clear error without the value', () => {
  assert.throws(() => resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({})), { message: 'integration "pg": connection.passwordEnv names the environment variable PG_PW, which is not set' });
  assert.throws(() => resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({ PG_PW: '' })), /PG_PW, which is not set/);
  assert.throws(() => resolveSecret({ passwordFile: join(dir, 'nope') }, 'password', opts({})), { message: `integration "pg": connection.passwordFile: cannot read ${join(dir, 'nope')} (ENOENT)` });
  writeFileSync(join(dir, 'empty'), '\n');
  assert.throws(() => resolveSecret({ passwordFile: join(dir, 'empty') }, 'password', opts({})), /is empty/);
  assert.throws(() => resolveSecret({}, 'secret', opts({}, true)), { message: 'integration "pg": connection.secretEnv or connection.secretFile is required' });
});

test('redact replaces every occurrence of each known secret', () => {
  assert.equal(redact('auth abcd1234 failed; abcd1234 again', ['abcd1234', undefined]), 'auth [redacted] failed; [redacted] again');
  assert.equal(redact('short a b', ['a']), 'short a b', 'too short to redact safely');
});
