// The data directory holds the store, its write-ahead log, the sealing key, the admin token
// and the demo record: it is created 0700 and every file Lapse writes in it 0600, whatever
// the umask, and a directory left wider by an older version is tightened at start.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'libsql';
import { openStore, startService } from './service.ts';
import { createLogger, silentLogger } from './logger.ts';
import { ensurePrivateDir, preparePrivateDatabase, prepareDataDir, writePrivateFile } from './data-dir.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/lapse.yaml', import.meta.url));
const POSIX = process.platform !== 'win32';

const root = mkdtempSync(join(tmpdir(), 'lapse-datadir-'));
let umask = 0;
before(() => {
  // Permissive, as on most machines: what Lapse writes must not depend on it.
  umask = process.umask(0o022);
});
after(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

const mode = (path: string) => (statSync(path).mode & 0o7777).toString(8).padStart(4, '0');

/** Every file in `dir` with its mode, e.g. { 'lapse.db': '0600' }. */
function modes(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((name) => [name, mode(join(dir, name))]));
}

const ENTITLEMENT = { integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' };

test('a fresh data directory is 0700 and every file the server writes in it 0600, the WAL and its index too', { skip: !POSIX }, async () => {
  const dir = join(root, 'fresh', 'data');
  const svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: {} });
  try {
    // Writes: a request granted at once (the store's log and the demo record both grow).
    const r = await svc.engine.createRequest('alice', { flowId: 'demo-auto', entitlements: [ENTITLEMENT], duration: '30m' });
    for (let i = 0; i < 100 && (await svc.store.getGrants(r.id))[0]?.status !== 'active'; i++) await new Promise((res) => setTimeout(res, 20));
    assert.equal((await svc.store.getGrants(r.id))[0]?.status, 'active');
    assert.equal(mode(dir), '0700');
    const files = modes(dir);
    for (const name of ['lapse.db', 'lapse.db-wal', 'lapse.db-shm', 'demo-demo.db', 'demo-demo.db-wal', 'demo-demo.db-shm', 'server.lock', 'secret.key', 'admin-token']) {
      assert.equal(files[name], '0600', `${name}: ${JSON.stringify(files)}`);
    }
    assert.deepEqual(Object.values(files).filter((m) => m !== '0600'), [], JSON.stringify(files));
  } finally {
    await svc.stop();
  }
  assert.deepEqual(Object.values(modes(dir)).filter((m) => m !== '0600'), []);
});

test('the store opened on its own (lapse token create --data-dir) makes the directory 0700 and its files 0600', { skip: !POSIX }, async () => {
  const dir = join(root, 'cli', 'data');
  const store = openStore(dir);
  try {
    await store.migrate();
    await store.setMetaIfAbsent('probe', 'x');
    assert.equal(mode(dir), '0700');
    const files = modes(dir);
    assert.equal(files['lapse.db-wal'], '0600', JSON.stringify(files));
    assert.deepEqual(Object.values(files).filter((m) => m !== '0600'), [], JSON.stringify(files));
  } finally {
    await store.close();
  }
});

test('a data directory an older version left 0755, with a 0644 store and log, is tightened at start and the log says what changed', { skip: !POSIX }, async () => {
  const dir = join(root, 'old');
  mkdirSync(dir, { mode: 0o755 });
  // The store as SQLite creates it under umask 022: 0644, and its log and index with it
  // (the connection stays open, so the log is still there when the server starts).
  const old = new Database(join(dir, 'lapse.db'));
  old.exec('PRAGMA journal_mode = WAL');
  old.exec('CREATE TABLE t (x)');
  old.exec('INSERT INTO t VALUES (1)');
  writeFileSync(join(dir, 'secret.key'), randomBytes(32).toString('base64') + '\n', { mode: 0o644 });
  writeFileSync(join(dir, 'notes.txt'), 'not Lapse\'s', { mode: 0o644 });
  assert.deepEqual(modes(dir), { 'lapse.db': '0644', 'lapse.db-shm': '0644', 'lapse.db-wal': '0644', 'notes.txt': '0644', 'secret.key': '0644' });
  const warnings: { msg: string; fields?: Record<string, unknown> }[] = [];
  const logger = createLogger({
    level: 'warn',
    destination: { write: (line: string) => { const { msg, level: _l, time: _t, pid: _p, ...fields } = JSON.parse(line); warnings.push({ msg, fields }); } },
  });
  const svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger, env: {} });
  try {
    await svc.store.setMetaIfAbsent('probe', 'x');
    assert.equal(mode(dir), '0700');
    const { 'notes.txt': notes, ...own } = modes(dir);
    assert.equal(notes, '0644', 'a file that is not Lapse\'s is left as it is');
    assert.deepEqual(Object.entries(own).filter(([, m]) => m !== '0600'), []);
    const tightened = warnings.find((w) => w.msg.startsWith('tightened the permissions of the data directory'));
    assert.ok(tightened, JSON.stringify(warnings));
    assert.deepEqual(tightened.fields, {
      dataDir: dir,
      tightened: [`${dir} 0755 -> 0700`, ...['lapse.db', 'lapse.db-shm', 'lapse.db-wal', 'secret.key'].map((n) => `${join(dir, n)} 0644 -> 0600`)],
    });
  } finally {
    await svc.stop();
    old.close();
  }
  // Once tight, a start changes nothing and says nothing.
  warnings.length = 0;
  const again = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger, env: {} });
  await again.stop();
  assert.deepEqual(warnings.filter((w) => /data directory/.test(w.msg)), []);
});

test('a directory that is shared (sticky) or another user\'s is left as it is, with a warning; Lapse\'s own files in it are still tightened', { skip: !POSIX }, () => {
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  writeFileSync(join(shared, 'admin-token'), 'x', { mode: 0o644 });
  const warnings: string[] = [];
  const report = prepareDataDir(shared, createLogger({ level: 'warn', destination: { write: (line: string) => { const { msg, ...fields } = JSON.parse(line); warnings.push(`${msg} ${JSON.stringify(fields)}`); } } }));
  assert.equal(mode(shared), '1777');
  assert.equal(mode(join(shared, 'admin-token')), '0600');
  assert.deepEqual(report.leftWide.map((w) => [w.path, w.mode]), [[shared, '1777']]);
  assert.match(report.leftWide[0]!.why, /shared directory \(sticky bit\)/);
  assert.ok(warnings.some((w) => w.startsWith('a path in the data directory is readable by other users and was left as it is')), warnings.join('\n'));

  if (process.getuid?.() === 0) {
    // Even root does not take another user's directory away from them.
    const theirs = join(root, 'theirs');
    mkdirSync(theirs, { mode: 0o755 });
    chownSync(theirs, 65534, 65534);
    const r = prepareDataDir(theirs);
    assert.equal(mode(theirs), '0755');
    assert.match(r.leftWide[0]!.why, /belongs to another user \(uid 65534\)/);
  }
});

test('a private file is 0600 before its content is written, also when it existed wider; exclusive creation keeps EEXIST', { skip: !POSIX }, () => {
  const dir = join(root, 'files');
  ensurePrivateDir(join(dir, 'a', 'b'));
  assert.equal(mode(dir), '0700');
  assert.equal(mode(join(dir, 'a', 'b')), '0700');
  const path = join(dir, 'token');
  writeFileSync(path, 'old', { mode: 0o644 });
  writePrivateFile(path, 'new\n');
  assert.equal(mode(path), '0600');
  assert.equal(readFileSync(path, 'utf8'), 'new\n');
  assert.throws(() => writePrivateFile(path, 'again', { exclusive: true }), { code: 'EEXIST' });
  assert.equal(readFileSync(path, 'utf8'), 'new\n');
  // A database file made before SQLite opens it: SQLite gives its log the same mode.
  const db = join(dir, 'x.db');
  preparePrivateDatabase(db);
  const conn = new Database(db);
  conn.exec('PRAGMA journal_mode = WAL');
  conn.exec('CREATE TABLE t (x)');
  try {
    assert.deepEqual([mode(db), mode(`${db}-wal`), mode(`${db}-shm`)], ['0600', '0600', '0600']);
  } finally {
    conn.close();
  }
});
