// The real @napi-rs/keyring: once where no Secret Service runs (a clear error), once in a
// D-Bus session with GNOME Keyring unlocked (store, read, delete for real).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { napiKeyring, TokenVault, KeychainUnavailableError } from './keychain.ts';

const REPO = new URL('../..', import.meta.url).pathname;

const NO_SERVICE_SCRIPT = `
  import { napiKeyring, TokenVault } from './main/src/keychain.ts';
  const vault = new TokenVault(await napiKeyring(), 'dev.lapse.test');
  for (const [name, op] of [['get', () => vault.get('http://127.0.0.1:7420')], ['set', () => vault.set('http://127.0.0.1:7420', 'lapse_abcdefabcdef_secretsecret')]]) {
    try { console.log(name + ' worked: ' + op()); } catch (err) { console.log(name + ' ' + err.name + ': ' + err.message); }
  }
  console.log('problem: ' + vault.problem());
`;

function assertClearKeychainError(out: string): void {
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 3, out);
  for (const [i, op] of ['get', 'set'].entries()) {
    assert.match(lines[i]!, new RegExp(`^${op} KeychainUnavailableError: No keychain service is available to keep the token \\(.+\\)\\. On Linux the token is kept by the Secret Service: start GNOME Keyring or KWallet in your session`));
  }
  assert.match(lines[2]!, /^problem: No keychain service is available/);
  assert.doesNotMatch(out, /secretsecret/, 'the token is not in the error');
}

test('without a session bus: a clear error for every use, never a silent in-memory fallback', () => {
  const env = { ...process.env };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', NO_SERVICE_SCRIPT], { cwd: REPO, env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  assertClearKeychainError(r.stdout);
});

test('with GNOME Keyring in a D-Bus session the token is stored, read back and deleted', () => {
  const script = `
    import { napiKeyring, TokenVault } from './main/src/keychain.ts';
    const vault = new TokenVault(await napiKeyring(), 'dev.lapse.test');
    const url = 'http://127.0.0.1:7420';
    console.log('before=' + vault.get(url));
    vault.set(url, 'lapse_abcdefabcdef_secretsecret');
    console.log('after=' + vault.get(url));
    console.log('other=' + vault.get('https://other.example.com'));
    vault.clear(url);
    console.log('cleared=' + vault.get(url));
    console.log('problem=' + vault.problem());
  `;
  // A fresh home: GNOME Keyring creates its login keyring there, unlocked with this password.
  const home = mkdtempSync(join(tmpdir(), 'lapse-keyring-'));
  const r = spawnSync('dbus-run-session', ['--', 'sh', '-c', `echo unlock | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; exec "${process.execPath}" --import tsx --input-type=module -e "$SCRIPT"`], {
    cwd: REPO, env: { ...process.env, SCRIPT: script, HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: home }, encoding: 'utf8', timeout: 30_000,
  });
  rmSync(home, { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['before=null', 'after=lapse_abcdefabcdef_secretsecret', 'other=null', 'cleared=null', 'problem=null']);
});

test('bad tokens and accounts are refused before touching the keychain', async () => {
  const calls: string[] = [];
  const vault = new TokenVault((service, account) => {
    calls.push(`${service}/${account}`);
    return { getPassword: () => null, setPassword: () => {}, deletePassword: () => true };
  });
  assert.throws(() => vault.set('http://x', 'has space in it'), /no spaces/);
  assert.throws(() => vault.set('http://x', 'short'), /at least 8/);
  assert.throws(() => vault.get(''), /account/);
  assert.deepEqual(calls, []);
  assert.ok(new KeychainUnavailableError(new Error('x')).message.includes('(x)'));
  void napiKeyring;
});
