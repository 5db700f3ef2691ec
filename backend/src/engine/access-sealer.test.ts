// Sealing access details at rest: AES-256-GCM bound to the request and integration, and the
// key from LAPSE_SECRET_KEY or a 0600 file in the data directory.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessSealer, loadSecretKey, SECRET_KEY_FILE } from './access-sealer.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-sealer-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const details = { user: 'lapse_alice_0123456789', password: 'pa55-word-xyz' };

test('sealed details open for the same request and integration only, and not when altered', () => {
  const sealer = new AccessSealer(randomBytes(32));
  const sealed = sealer.seal('r1', 'pg', details);
  assert.deepEqual(Object.keys(sealed), ['sealed']);
  assert.ok(!JSON.stringify(sealed).includes('pa55-word-xyz'));
  assert.notEqual(sealer.seal('r1', 'pg', details).sealed, sealed.sealed, 'a fresh nonce each time');
  assert.deepEqual(sealer.open('r1', 'pg', sealed), details);
  assert.throws(() => sealer.open('r2', 'pg', sealed));
  assert.throws(() => sealer.open('r1', 'mysql', sealed));
  const raw = Buffer.from(sealed.sealed!.slice(3), 'base64');
  raw[raw.length - 1]! ^= 1;
  assert.throws(() => sealer.open('r1', 'pg', { sealed: 'v1:' + raw.toString('base64') }));
  assert.throws(() => new AccessSealer(randomBytes(32)).open('r1', 'pg', sealed), 'another key');
  assert.deepEqual(sealer.open('r1', 'pg', { user: 'u' }), { user: 'u' }, 'details stored before sealing existed');
});

test('the key: LAPSE_SECRET_KEY, or a 0600 file created once in the data directory', () => {
  const key = randomBytes(32);
  assert.deepEqual(loadSecretKey(dir, { LAPSE_SECRET_KEY: key.toString('base64') }), { key, source: 'LAPSE_SECRET_KEY' });
  assert.throws(() => loadSecretKey(dir, { LAPSE_SECRET_KEY: randomBytes(16).toString('base64') }), /32 random bytes/);
  const first = loadSecretKey(dir, {});
  assert.equal(first.source, join(dir, SECRET_KEY_FILE));
  assert.equal(statSync(join(dir, SECRET_KEY_FILE)).mode & 0o777, 0o600);
  assert.equal(Buffer.from(readFileSync(join(dir, SECRET_KEY_FILE), 'utf8').trim(), 'base64').length, 32);
  assert.deepEqual(loadSecretKey(dir, {}).key, first.key, 'the same key on the next start');
});
