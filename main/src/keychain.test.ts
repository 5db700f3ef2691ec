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

test('without a keychain service the error says what is missing and what to do', async () => {
  // No session bus at all: no Secret Service can answer. Each check runs in a fresh process,
  // as the app does at start (the settings window shows the problem before any token is set).
  const env = { ...process.env };
  delete env.DBUS_SESSION_BUS_ADDRESS;
  const run = (code: string) => spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    import { napiKeyring, TokenVault } from './main/src/keychain.ts';
    const vault = new TokenVault(await napiKeyring(), 'dev.lapse.test');
    try { ${code} } catch (err) { console.log(err.name + ': ' + err.message); }
  `], { cwd: REPO, env, encoding: 'utf8', timeout: 30_000 });
  const set = run(`vault.set('http://127.0.0.1:7420', 'lapse_abcdefabcdef_secretsecret'); console.log('stored');`);
  assert.equal(set.status, 0, set.stderr);
  assert.match(set.stdout, /^KeychainUnavailableError: No keychain service is available to keep the token \(.+\)\. On Linux the token is kept by the Secret Service: start GNOME Keyring/m);
  assert.doesNotMatch(set.stdout + set.stderr, /secretsecret/, 'the token is not in the error');
  const problem = run(`console.log('problem: ' + vault.problem());`);
  assert.match(problem.stdout, /^problem: No keychain service is available/m);
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
