// The audit stream against real receivers: Debian's rsyslog (started by the test with a
// private configuration) and a local HTTP receiver that verifies signatures. Every event of
// the store's chain arrives, in order, with its seq and hash; a receiver that is down gets
// everything from the cursor once it is back; an event's data cannot forge a second message;
// a restart goes on from the cursor; the status route and the metric show where each
// subscriber is.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../store/sqlite-store.ts';
import type { AuditInput } from '../store/store.ts';
import { deriveAuditKey } from './chain.ts';
import { AuditStream, type AuditStreamStatus } from './stream.ts';
import { eventJson, type AuditSubscriberConfig } from '../domain/audit-stream.ts';
import { makeTestCertificates, parseSyslogLine, startRsyslog, type Rsyslog } from './rsyslog-test-support.ts';
import { startWebhookReceiver, waitUntil } from './webhook-receiver-test-support.ts';
import { startService } from '../service.ts';
import { silentLogger } from '../logger.ts';
import { createToken } from '../auth/tokens.ts';
import { call } from '../api/api-test-support.ts';

const dirs: string[] = [];
const rsyslogs: Rsyslog[] = [];
after(async () => {
  for (const r of rsyslogs) await r.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-stream-'));
  dirs.push(dir);
  return dir;
}

async function openStore(): Promise<SqliteStore> {
  const store = new SqliteStore(join(tempDir(), 'lapse.db'), { auditKey: deriveAuditKey(randomBytes(32)) });
  await store.migrate();
  return store;
}

const event = (i: number, extra: Partial<AuditInput> = {}): AuditInput => ({
  at: Date.parse('2026-03-01T10:00:00Z') + i * 1000, actor: i % 2 ? 'alice' : 'system', action: i % 3 ? 'request.created' : 'config.reloaded',
  requestId: i % 3 ? `r${i}` : null, data: { i, flow: 'prod-db-read' }, ...extra,
});

const FAST = { pollMs: 50, backoff: { baseMs: 100, maxMs: 400 } };

function stream(store: SqliteStore, subscribers: AuditSubscriberConfig[], owner = 'test', env: NodeJS.ProcessEnv = {}): AuditStream {
  return new AuditStream({ store, subscribers, owner, leaseMs: 5000, now: () => Date.now(), env, hostname: 'lapse-test', ...FAST });
}

async function statusOf(s: AuditStream, id: string): Promise<AuditStreamStatus> {
  return (await s.status()).find((x) => x.id === id)!;
}

async function caughtUp(s: AuditStream, id: string): Promise<AuditStreamStatus> {
  return waitUntil(`subscriber ${id} to catch up`, 15_000, async () => {
    const st = await statusOf(s, id);
    return st.lag === 0 && st.headSeq > 0 ? st : undefined;
  });
}

test('rsyslog receives every audit event in order, with the seq and hash the store holds; hostile data cannot forge a message', async () => {
  const store = await openStore();
  const rs = await startRsyslog(tempDir());
  rsyslogs.push(rs);
  await store.appendAudit(Array.from({ length: 30 }, (_, i) => event(i + 1)));
  // Quotes, brackets, line breaks, control characters and a whole forged message inside an event.
  const forged = `<109>1 2026-01-01T00:00:00Z evil lapse - request.revoked [lapse@32473 seq="999" hash="${'f'.repeat(64)}"] {"seq":999}`;
  const hostile = {
    reason: `line one\nline two\r\n${forged}\n\u0000\u0007\u001b[31mred\u007f\u0085\u2028\u2029 "quoted" \\back\\slash ] [x]`,
    unicode: 'é 日本 😀', nested: { list: ['a"b', ']', '\n'] },
  };
  await store.appendAudit([event(31, { actor: 'mallory"] [x y="z"', data: hostile }), event(32)]);
  const s = stream(store, [{ id: 'siem', type: 'syslog', host: '127.0.0.1', port: rs.port, timeoutMs: 5000 }]);
  s.start();
  try {
    const st = await caughtUp(s, 'siem');
    assert.equal(st.deliveredSeq, 32);
    assert.equal(st.attempts, 0);
    assert.equal(st.lastError, null);
    assert.equal(st.target, `tcp://127.0.0.1:${rs.port}`);
  } finally {
    await s.stop();
  }
  const stored = await store.listAudit({ limit: 1000 });
  const lines = await waitUntil('rsyslog to write every message', 5000, async () => (rs.lines().length >= stored.length ? rs.lines() : undefined));
  assert.equal(lines.length, stored.length, 'one line a message: no forged line');
  lines.forEach((line, i) => {
    const m = parseSyslogLine(line);
    const e = stored[i]!;
    assert.equal(m.pri, 109, 'facility log audit, severity notice');
    assert.equal(m.appName, 'lapse');
    assert.equal(m.hostname, 'lapse-test');
    assert.equal(m.msgId, e.action);
    assert.equal(m.timestamp, new Date(e.at).toISOString());
    assert.equal(m.params.seq, String(e.seq), `line ${i + 1} holds event ${e.seq}`);
    assert.equal(m.params.hash, e.hash);
    assert.equal(m.params.prevHash, e.prevHash);
    assert.equal(m.params.action, e.action);
    assert.equal(m.params.requestId, e.requestId ?? undefined);
    assert.deepEqual(m.event, eventJson(e), 'the message is the event as JSON');
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/, 'no control character on the wire');
  });
  const evil = parseSyslogLine(lines[30]!);
  assert.deepEqual(evil.event.data, hostile, 'the data arrives intact');
  assert.equal(evil.event.actor, 'mallory"] [x y="z"');
  assert.equal(evil.params.actor, 'mallory"] [x y="z"', 'the structured data holds the actor, escaped');
  assert.equal(parseSyslogLine(lines[31]!).params.seq, '32', 'the next message is the next event');
  assert.ok(stored.every((e, i) => e.seq === i + 1 && (i === 0 || e.prevHash === stored[i - 1]!.hash)), 'the chain as the file shows it');
  await store.close();
});

test('rsyslog down, then back: delivered from the cursor, nothing lost, in order; a restart goes on from the cursor', async () => {
  const store = await openStore();
  const rs = await startRsyslog(tempDir());
  rsyslogs.push(rs);
  const subscriber: AuditSubscriberConfig = { id: 'siem', type: 'syslog', host: '127.0.0.1', port: rs.port, timeoutMs: 5000 };
  await store.appendAudit(Array.from({ length: 10 }, (_, i) => event(i + 1)));
  const first = stream(store, [subscriber], 'replica-a');
  first.start();
  await caughtUp(first, 'siem');
  await rs.stop();
  await store.appendAudit(Array.from({ length: 10 }, (_, i) => event(i + 11)));
  const failing = await waitUntil('the failure to show', 10_000, async () => {
    const st = await statusOf(first, 'siem');
    return st.attempts >= 2 && st.lastError !== null ? st : undefined;
  });
  assert.match(failing.lastError!, /ECONNREFUSED/);
  assert.equal(failing.deliveredSeq, 10);
  assert.equal(failing.lag, 10);
  assert.ok(failing.retryAt !== null && failing.lastErrorAt !== null);
  await rs.start();
  const back = await caughtUp(first, 'siem');
  assert.equal(back.deliveredSeq, 20);
  assert.equal(back.attempts, 0, 'not failing any more');
  assert.match(back.lastError ?? '', /ECONNREFUSED/, 'the last error stays, with its time');
  // A restart: the loops stop (the lease is given up), events are written meanwhile, and a new
  // process goes on from the cursor without sending anything twice.
  await first.stop();
  await store.appendAudit(Array.from({ length: 5 }, (_, i) => event(i + 21)));
  const second = stream(store, [subscriber], 'replica-b');
  second.start();
  try {
    assert.equal((await caughtUp(second, 'siem')).deliveredSeq, 25);
  } finally {
    await second.stop();
  }
  const stored = await store.listAudit({ limit: 1000 });
  const received = await waitUntil('rsyslog to write every message', 5000, async () => (rs.lines().length >= 25 ? rs.lines().map(parseSyslogLine) : undefined));
  assert.deepEqual(received.map((m) => Number(m.params.seq)), stored.map((e) => e.seq), 'every event once, in order');
  assert.deepEqual(received.map((m) => m.params.hash), stored.map((e) => e.hash));
  await store.close();
});

test('over TLS: rsyslog and an https receiver with their own CA; a certificate the CA did not sign is refused', async () => {
  const store = await openStore();
  const certs = makeTestCertificates(tempDir());
  const rs = await startRsyslog(tempDir(), certs);
  rsyslogs.push(rs);
  const key = randomBytes(24).toString('base64');
  const receiver = await startWebhookReceiver(key, { cert: readFileSync(certs.cert), key: readFileSync(certs.key) });
  await store.appendAudit(Array.from({ length: 5 }, (_, i) => event(i + 1)));
  const tls = { caFile: certs.ca, serverName: 'localhost' };
  const s = stream(store, [
    { id: 'siem', type: 'syslog', host: '127.0.0.1', port: rs.port, tls, timeoutMs: 5000 },
    { id: 'archive', type: 'webhook', url: `${receiver.url}/audit`, secret: { env: 'HOOK_KEY' }, tls: { caFile: certs.ca }, timeoutMs: 5000 },
    // The system's CAs: this test CA is not among them.
    { id: 'untrusting', type: 'syslog', host: '127.0.0.1', port: rs.port, tls: {}, timeoutMs: 5000 },
  ], 'test', { HOOK_KEY: key });
  s.start();
  try {
    assert.equal((await caughtUp(s, 'siem')).target, `tls://127.0.0.1:${rs.port}`);
    assert.equal((await caughtUp(s, 'archive')).deliveredSeq, 5);
    const refused = await waitUntil('the untrusted certificate to be refused', 10_000, async () => {
      const st = await statusOf(s, 'untrusting');
      return st.attempts >= 1 ? st : undefined;
    });
    assert.match(refused.lastError!, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed|unable to verify/i);
    assert.equal(refused.deliveredSeq, 0);
  } finally {
    await s.stop();
  }
  const stored = await store.listAudit({ limit: 100 });
  const lines = await waitUntil('rsyslog to write every message', 5000, async () => (rs.lines().length >= 5 ? rs.lines() : undefined));
  assert.deepEqual(lines.map((l) => parseSyslogLine(l).params.hash), stored.map((e) => e.hash));
  assert.deepEqual(receiver.requests.filter((r) => r.verified && r.status === 200).map((r) => r.body.seq), [1, 2, 3, 4, 5]);
  await receiver.close();
  await store.close();
});

test('audit webhooks: signed, with the event type, id and idempotency key; a failing receiver is retried with its error in the status, then delivered once', async () => {
  const store = await openStore();
  const key = randomBytes(24).toString('base64');
  const receiver = await startWebhookReceiver(key);
  receiver.answer = { status: 503, body: 'down for maintenance' };
  const keyFile = join(tempDir(), 'hook.key');
  writeFileSync(keyFile, `${key}\n`);
  await store.appendAudit(Array.from({ length: 6 }, (_, i) => event(i + 1)));
  const s = stream(store, [{ id: 'archive', type: 'webhook', url: `${receiver.url}/audit`, secret: { file: keyFile }, timeoutMs: 5000 }]);
  s.start();
  try {
    const failing = await waitUntil('the failure to show', 10_000, async () => {
      const st = await statusOf(s, 'archive');
      return st.attempts >= 2 ? st : undefined;
    });
    assert.equal(failing.lastError, 'HTTP 503: down for maintenance');
    assert.equal(failing.deliveredSeq, 0);
    assert.equal(failing.lag, 6);
    receiver.answer = { status: 204, body: '' };
    assert.equal((await caughtUp(s, 'archive')).deliveredSeq, 6);
  } finally {
    await s.stop();
  }
  const stored = await store.listAudit({ limit: 100 });
  assert.ok(receiver.requests.every((r) => r.verified), 'every request carries a valid signature');
  const accepted = receiver.requests.filter((r) => r.status === 204);
  assert.deepEqual(accepted.map((r) => r.body.seq), stored.map((e) => e.seq), 'each event accepted once, in order');
  const retried = receiver.requests.filter((r) => r.status === 503);
  assert.ok(retried.length >= 2 && retried.every((r) => r.body.seq === 1), 'the first event is tried again; nothing after it meanwhile');
  assert.ok(retried.every((r) => r.headers['idempotency-key'] === accepted[0]!.headers['idempotency-key']), 'a redelivery has the same idempotency key');
  accepted.forEach((r, i) => {
    const e = stored[i]!;
    assert.equal(r.path, '/audit');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-lapse-event-type'], e.action);
    assert.equal(r.headers['x-lapse-event-id'], `audit:${e.seq}`);
    assert.equal(r.headers['idempotency-key'], `archive:audit:${e.seq}:${e.hash}`);
    assert.deepEqual(r.body, { seq: e.seq, hash: e.hash, prevHash: e.prevHash, at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, requestId: e.requestId, data: e.data });
  });
  await receiver.close();
  await store.close();
});

test('a webhook key that cannot be read fails each try with the reason, not the server', async () => {
  const store = await openStore();
  await store.appendAudit([event(1)]);
  const s = stream(store, [{ id: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x', secret: { env: 'LAPSE_TEST_NO_SUCH_KEY' }, timeoutMs: 2000 }]);
  s.start();
  try {
    const st = await waitUntil('the failure to show', 10_000, async () => {
      const x = await statusOf(s, 'hook');
      return x.attempts >= 1 ? x : undefined;
    });
    assert.equal(st.lastError, 'audit stream subscriber "hook": secretEnv names the environment variable LAPSE_TEST_NO_SUCH_KEY, which is not set');
  } finally {
    await s.stop();
  }
  await store.close();
});

test('the server streams its audit log; GET /api/v1/audit/stream (admins only) and /metrics show each subscriber', async () => {
  const dir = tempDir();
  const key = randomBytes(24).toString('base64');
  const receiver = await startWebhookReceiver(key);
  const rs = await startRsyslog(tempDir());
  rsyslogs.push(rs);
  const example = readFileSync(join(import.meta.dirname, '../../examples/lapse.yaml'), 'utf8');
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${example}\nauditStream:\n  subscribers:\n    - { id: hook, type: webhook, url: "${receiver.url}/in", secretEnv: LAPSE_TEST_AUDIT_KEY }\n    - { id: siem, type: syslog, host: 127.0.0.1, port: ${rs.port} }\n`);
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, env: { LAPSE_TEST_AUDIT_KEY: key }, auditStream: FAST });
  try {
    const carol = (await createToken(svc.store, 'carol', 'test')).token;
    const alice = (await createToken(svc.store, 'alice', 'test')).token;
    const created = await call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'app', permission: 'read' }] });
    assert.equal(created.status, 201);
    const head = (await svc.store.auditHead())!.seq;
    const status = await waitUntil('both subscribers to catch up', 15_000, async () => {
      const res = await call(svc.url, 'GET', '/api/v1/audit/stream', carol);
      assert.equal(res.status, 200);
      const subs = res.body.subscribers as Array<Record<string, unknown>>;
      return subs.every((x) => typeof x.deliveredSeq === 'number' && x.deliveredSeq >= head) ? subs : undefined;
    });
    assert.deepEqual(status.map((x) => [x.id, x.type, x.target, x.failing, x.attempts, x.lastError]), [
      ['hook', 'webhook', `${receiver.url}/in`, false, 0, null],
      ['siem', 'syslog', `tcp://127.0.0.1:${rs.port}`, false, 0, null],
    ]);
    assert.ok(status.every((x) => typeof x.deliveredAt === 'string' && x.retryAt === null && x.lastErrorAt === null));
    assert.equal((await call(svc.url, 'GET', '/api/v1/audit/stream', alice)).status, 403, 'admins only');
    const actions = receiver.requests.map((r) => r.body.action);
    assert.ok(actions.includes('request.created') && actions.includes('request.active'), actions.join(', '));
    assert.ok(rs.lines().map(parseSyslogLine).some((m) => m.msgId === 'request.active'));
    const metrics = await call(svc.url, 'GET', '/metrics');
    assert.match(metrics.text, /^lapse_audit_stream_lag\{subscriber="hook"\} \d+$/m);
    assert.match(metrics.text, /^lapse_audit_stream_lag\{subscriber="siem"\} \d+$/m);
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics.text, encoding: 'utf8' });
    assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
    assert.equal(promtool.stdout.trim(), '', 'no lint problem');
  } finally {
    await svc.stop();
    await receiver.close();
  }
});
