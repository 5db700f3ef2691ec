// The service's log: one JSON line per entry, secrets redacted wherever they sit, a line per
// HTTP request (route, status, time, user; never the token), a line per change of a
// request, and readable lines only on a terminal.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, isLogLevel } from './logger.ts';
import { startService } from './service.ts';
import { createToken } from './auth/tokens.ts';
import { call, ent, EXAMPLE } from './api/api-test-support.ts';

function capture(level: 'debug' | 'info' = 'info') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => { raw.push(line); lines.push(JSON.parse(line)); } } });
  return { logger, lines, raw };
}

test('secret-bearing fields are redacted at any of the first three levels, and in request headers', () => {
  const { logger, lines, raw } = capture();
  logger.info({
    password: 'pw-top', token: 'tok-top', user: 'alice',
    connection: { password: 'pw-nested', host: 'db' },
    deep: { inner: { secret: 'sec-deep', apiKey: 'key-deep' } },
    req: { headers: { authorization: 'Bearer lapse_abc', cookie: 'sid=1' } },
    grant: { accessDetails: { password: 'granted-pw' } },
  }, 'with secrets');
  const text = raw.join('');
  for (const secret of ['pw-top', 'tok-top', 'pw-nested', 'sec-deep', 'key-deep', 'lapse_abc', 'sid=1', 'granted-pw']) assert.equal(text.includes(secret), false, secret);
  assert.equal(lines[0]!.user, 'alice');
  assert.equal((lines[0]!.connection as { host: string }).host, 'db');
  assert.equal(lines[0]!.password, '[redacted]');
  assert.equal(lines[0]!.level, 'info');
  assert.equal(lines[0]!.msg, 'with secrets');
  assert.match(String(lines[0]!.time), /^\d{4}-\d\d-\d\dT/);
});

test('levels: below the threshold nothing is written; an unknown level name is refused', () => {
  const { logger, lines } = capture('info');
  logger.debug('hidden');
  logger.warn({ a: 1 }, 'shown');
  assert.deepEqual(lines.map((l) => l.msg), ['shown']);
  assert.equal(isLogLevel('debug'), true);
  assert.equal(isLogLevel('verbose'), false);
  assert.equal(isLogLevel('info\n'), false);
});

test('a running server logs each request by route with its status, time and user, never the token, and each change of a request', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-log-'));
  const { logger, lines, raw } = capture();
  const svc = await startService({ configPath: EXAMPLE, dataDir: dir, port: 0, logger, env: {} });
  try {
    const { token } = await createToken(svc.store, 'alice', 'log test');
    const created = await call(svc.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [ent('database', 'analytics', 'read')] });
    assert.equal(created.status, 201);
    await call(svc.url, 'POST', `/api/v1/requests/${created.body.id}/revoke`, token, { reason: 'done' });
    await call(svc.url, 'GET', '/api/v1/me', 'lapse_wrongwrongwrongwrongwrongwrongwrong0');
    const requestLine = lines.find((l) => l.msg === 'request' && l.route === '/api/v1/requests' && l.method === 'POST');
    assert.ok(requestLine, raw.join(''));
    assert.equal(requestLine.status, 201);
    assert.equal(requestLine.user, 'alice');
    assert.equal(typeof requestLine.ms, 'number');
    assert.ok(lines.some((l) => l.msg === 'request' && l.route === '/api/v1/requests/:id/revoke' && l.status === 200));
    assert.ok(lines.some((l) => l.msg === 'request' && l.route === '/api/v1/me' && l.status === 401 && l.user === undefined));
    assert.equal(raw.join('').includes(token), false, 'the token is never logged');
    assert.equal(raw.join('').includes('lapse_wrongwrong'), false, 'nor a wrong one');
    for (const type of ['request.created', 'request.granted', 'request.revoked']) {
      const line = lines.find((l) => l.msg === type && l.request === created.body.id);
      assert.ok(line, `${type} logged: ${raw.join('')}`);
      assert.equal(line.request, created.body.id);
      assert.equal(line.requester, 'alice');
    }
  } finally {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readable lines on a terminal, JSON otherwise', () => {
  const script = `import { createLogger } from ${JSON.stringify(fileURLToPath(new URL('./logger.ts', import.meta.url)))}; createLogger().info({ request: 'r1' }, 'hello'); setTimeout(() => {}, 100);`;
  const args = ['--import', 'tsx', '--input-type=module', '-e', script];
  const piped = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(piped.status, 0, piped.stderr);
  assert.equal(JSON.parse(piped.stderr.trim()).msg, 'hello', 'stderr not a terminal: JSON');
  // `script` runs the command on a pseudo-terminal.
  const command = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const onTty = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' });
  assert.equal(onTty.status, 0, onTty.stderr);
  assert.match(onTty.stdout, /INFO.*hello/);
  assert.doesNotMatch(onTty.stdout, /"msg":"hello"/);
});

test('lapse server --log-level: an unknown level is refused by name; warn hides the info lines', async () => {
  const bin = fileURLToPath(new URL('../bin/lapse.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'lapse-log-level-'));
  try {
    const refused = spawnSync(process.execPath, [bin, 'server', '--config', EXAMPLE, '--data-dir', dir, '--log-level', 'loud'], { encoding: 'utf8' });
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /--log-level must be one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
    for (const [level, infoShown] of [['warn', false], ['info', true]] as const) {
      const child = spawn(process.execPath, [bin, 'server', '--config', EXAMPLE, '--data-dir', join(dir, level), '--port', '0', '--log-level', level], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LAPSE_LOG_LEVEL: '' } });
      let err = '';
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => { if (err.includes('listening on')) { clearInterval(t); resolve(); } }, 20);
        child.once('exit', (code) => { clearInterval(t); reject(new Error(`exited ${code}: ${err}`)); });
      });
      await new Promise((r) => setTimeout(r, 200));
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      const infoLines = err.split('\n').filter((l) => l.startsWith('{') && JSON.parse(l).level === 'info');
      assert.equal(infoLines.length > 0, infoShown, `${level}: ${err}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
