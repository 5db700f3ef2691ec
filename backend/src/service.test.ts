import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService } from './service.ts';
import { silentLogger } from './logger.ts';

const EXAMPLE = fileURLToPath(new URL('../examples/lapse.yaml', import.meta.url));

test('one server per data directory; a server that cannot listen leaves nothing locked behind', async () => {
  const a = mkdtempSync(join(tmpdir(), 'lapse-svc-'));
  const b = mkdtempSync(join(tmpdir(), 'lapse-svc-'));
  const first = await startService({ configPath: EXAMPLE, dataDir: a, port: 0, logger: silentLogger, env: {} });
  try {
    assert.ok(existsSync(join(a, 'server.lock')), 'the running server holds the lock');
    await assert.rejects(startService({ configPath: EXAMPLE, dataDir: a, port: 0, logger: silentLogger, env: {} }), /another Lapse server \(pid \d+, this process\) is using/);
    // Same port, another data directory: listening fails, and that directory is left unlocked.
    await assert.rejects(startService({ configPath: EXAMPLE, dataDir: b, port: first.port, logger: silentLogger, env: {} }), /EADDRINUSE/);
    assert.equal(existsSync(join(b, 'server.lock')), false);
    const second = await startService({ configPath: EXAMPLE, dataDir: b, port: 0, logger: silentLogger, env: {} });
    await second.stop();
  } finally {
    await first.stop();
    assert.equal(existsSync(join(a, 'server.lock')), false, 'a stopped server releases its lock');
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('replicas on PostgreSQL need one sealing key: without LAPSE_SECRET_KEY the server refuses to start and writes no key of its own', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-svc-'));
  try {
    await assert.rejects(
      startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger: silentLogger, env: {}, store: 'postgres://lapse@127.0.0.1:5432/none' }),
      /the PostgreSQL store needs LAPSE_SECRET_KEY .* the same on every replica/,
    );
    assert.equal(existsSync(join(dir, 'secret.key')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
