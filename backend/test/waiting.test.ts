// Requests that wait for approval, with an injected clock: approvers are reminded every
// settings.remindApproversEvery (by email, through the outbox), and a request nobody decides
// times out after settings.pendingTimeout in a state of its own (audited, told to the
// requester and the approvers); an extension nobody decides is dropped, the access kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startService } from '../src/service.ts';
import { silentLogger } from '../src/logger.ts';
import { EXAMPLE, call, usersWrite } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';
import { parseConfig } from '../src/config/load.ts';
import { formatConfigErrors } from '../src/config/yaml-reader.ts';

const MINUTE = 60_000;

async function withServer(settings: string, run: (s: { url: string; clock: { offset: number; now(): number }; mails: ParsedMail[]; tick(ms: number): Promise<void>; svc: Awaited<ReturnType<typeof startService>> }) => Promise<void>): Promise<void> {
  const mails: ParsedMail[] = [];
  const smtp = new SMTPServer({ authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, onData(stream, _s, done) { simpleParser(stream).then((m) => { mails.push(m); done(); }, done); } });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), 'lapse-waiting-'));
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8').replace('settings:\n', `settings:\n${settings.replace(/^/gm, '  ')}\n`)}\nnotifications:\n  email: { host: 127.0.0.1, port: ${(smtp.server.address() as AddressInfo).port}, from: lapse@example.com }\n`);
  const clock = { offset: 0, now() { return Date.now() + this.offset; } };
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, clock });
  try {
    await run({
      url: svc.url, clock, mails, svc,
      tick: async (ms) => {
        clock.offset += ms;
        await svc.scheduler.runDue();
        await svc.deliverNotifications();
      },
    });
  } finally {
    await svc.stop();
    await new Promise<void>((r) => smtp.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const subjects = (mails: ParsedMail[], to: string) => mails.filter((m) => JSON.stringify(m.to).includes(to)).map((m) => String(m.subject)).filter((s) => !/On-call admin/.test(s));

test('approvers are reminded while a request waits, and it times out in a state of its own, told to all', async () => {
  await withServer('pendingTimeout: 2h\nremindApproversEvery: 30m', async ({ url, mails, tick, svc }) => {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    const bob = (await createToken(svc.store, 'bob', 'bob')).token;
    const r = await call(url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-9' });
    assert.equal(r.body.status, 'pending');
    assert.equal(r.body.waitingFor, 'bob or erin', 'the requester sees who may approve');
    await tick(0);
    await until(() => subjects(mails, 'bob@example.com').length === 1, 'the first ask');

    await tick(31 * MINUTE);
    await until(() => subjects(mails, 'bob@example.com').length === 2, 'a reminder');
    assert.equal(subjects(mails, 'bob@example.com')[1], '[Lapse] Still waiting for your decision: Alice asks for Write app tables');
    assert.equal(subjects(mails, 'erin@example.com').length, 2);
    await tick(31 * MINUTE);
    await until(() => subjects(mails, 'bob@example.com').length === 3, 'a second reminder');

    await tick(31 * MINUTE);
    await until(() => subjects(mails, 'bob@example.com').length === 4, 'a third reminder');
    await tick(30 * MINUTE);
    const ended = (await svc.store.getRequest(r.body.id))!;
    assert.deepEqual([ended.status, ended.endReason, ended.endedBy], ['timed_out', 'timed-out', 'system']);
    await until(() => subjects(mails, 'alice@example.com').some((s) => /timed out/.test(s)), 'the requester told');
    assert.ok(subjects(mails, 'bob@example.com').some((s) => s === '[Lapse] Alice\'s request for Write app tables timed out: nobody decided in time'));
    const audit = await svc.store.listAudit({ requestId: r.body.id, limit: 100 });
    assert.deepEqual(audit.filter((e) => e.action === 'approval.reminder').length, 3, 'reminded at 30, 60 and 90 minutes');
    assert.ok(audit.some((e) => e.action === 'request.timed_out'));
    assert.deepEqual((await svc.store.jobsOfRequest(r.body.id)).map((j) => j.kind), [], 'no reminder after the end');

    const late = await call(url, 'POST', `/api/v1/requests/${r.body.id}/approve`, bob, { reason: 'sorry, late' });
    assert.equal(late.status, 409, 'a timed-out request cannot be approved');
    const shown = await call(url, 'GET', `/api/v1/requests/${r.body.id}`, alice);
    assert.equal(shown.body.status, 'timed_out');
    assert.equal(shown.body.waitingFor, null, 'it waits for nobody now');
  });
});

test('an extension nobody decides is dropped when it times out; the access stays', async () => {
  await withServer('pendingTimeout: 1h\nremindApproversEvery: "off"', async ({ url, tick, svc }) => {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    const bob = (await createToken(svc.store, 'bob', 'bob')).token;
    const r = await call(url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-9', duration: '4h' });
    assert.equal((await call(url, 'POST', `/api/v1/requests/${r.body.id}/approve`, bob, { reason: 'ok' })).body.status, 'active');
    const ext = await call(url, 'POST', `/api/v1/requests/${r.body.id}/extend`, alice, { duration: '1h', justification: 'still on it' });
    assert.equal(ext.status, 200, ext.text);
    assert.ok(ext.body.pendingExtension, 'waiting for approval');
    assert.deepEqual((await svc.store.jobsOfRequest(r.body.id)).map((j) => j.kind).sort(), ['expire', 'timeout'], 'reminders off: a timeout only');
    await tick(61 * MINUTE);
    const after = (await svc.store.getRequest(r.body.id))!;
    assert.equal(after.status, 'active');
    assert.equal(after.pendingExtension, null);
    assert.ok((await svc.store.listAudit({ requestId: r.body.id, limit: 100 })).some((e) => e.action === 'extension.timed_out'));
  });
});

test('settings: pendingTimeout and remindApproversEvery take a duration or "off", per flow too', () => {
  const withLines = (settings: string, flowSettings = '') => readFileSync(EXAMPLE, 'utf8')
    .replace('settings:\n', `settings:\n${settings.replace(/^/gm, '  ')}\n`)
    .replace('settings: { labels: [demo], maxExtensions: 2 }', `settings: { labels: [demo], maxExtensions: 2${flowSettings} }`);
  const ok = parseConfig(withLines('pendingTimeout: 3d\nremindApproversEvery: "off"', ', pendingTimeout: "off"'), 'lapse.yaml');
  assert.ok(ok.ok, ok.ok ? '' : formatConfigErrors(ok.errors));
  assert.equal(ok.config.settings.pendingTimeoutMs, 3 * 86_400_000);
  assert.equal(ok.config.settings.remindApproversEveryMs, null);
  assert.equal(ok.config.flows.find((f) => f.id === 'demo-auto')!.settings.pendingTimeoutMs, null);
  for (const [lines, expected] of [
    ['pendingTimeout: 10s', /settings\.pendingTimeout: expected a duration from 1m to 366d, or "off"; got "10s"/],
    ['remindApproversEvery: sometimes', /settings\.remindApproversEvery: /],
    ['pendingTimeout: 400d', /settings\.pendingTimeout: expected a duration from 1m to 366d/],
  ] as const) {
    const bad = parseConfig(withLines(lines), 'lapse.yaml');
    assert.ok(!bad.ok && expected.test(formatConfigErrors(bad.errors)), bad.ok ? 'accepted' : formatConfigErrors(bad.errors));
  }
});
