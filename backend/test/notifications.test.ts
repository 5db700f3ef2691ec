// Notifications through real components: an SMTP server (smtp-server) receives the mail,
// mailparser reads it; a local HTTP receiver verifies each lifecycle webhook's signature and
// counts deliveries by idempotency key. A request waiting for approval reaches its approvers,
// the decision and the grant reach the requester (a link, never the credentials); a receiver
// that is down is retried, shows its error, and gets each notification once when back; one
// that never comes back ends failed, visible, retried by an admin; on PostgreSQL two replicas
// deliver each notification once.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import { startService, type Service } from '../src/service.ts';
import { silentLogger } from '../src/logger.ts';
import { EXAMPLE, appRead, call, usersWrite } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';
import { verifyWebhookSignature } from '../src/integrations/webhook.ts';
import { freshTestStoreUrl, TEST_SECRET_KEY } from '../src/store/postgres-test-support.ts';

const WEBHOOK_KEY = 'lapse-test-webhook-signing-key-0123456789';

/** An SMTP server on 127.0.0.1 (no TLS, no auth) keeping every message it receives, parsed. */
async function startSmtp(): Promise<{ port: number; mails: ParsedMail[]; close(): Promise<void> }> {
  const mails: ParsedMail[] = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false,
    onData(stream, _session, done) {
      simpleParser(stream).then((m) => { mails.push(m); done(); }, done);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, mails, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface Received { key: string; event: string; body: Record<string, unknown> }

/** A webhook receiver that verifies signatures, keeps what it accepted, and can be made to fail. */
async function startReceiver(): Promise<{ url: string; received: Received[]; chat: Record<string, unknown>[]; bad: number; failing: boolean; close(): Promise<void> }> {
  const state = { received: [] as Received[], chat: [] as Record<string, unknown>[], bad: 0, failing: false };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      // A chat channel's incoming webhook (unsigned: its URL is its secret).
      if (req.url === '/slack') { state.chat.push(JSON.parse(body.toString('utf8')) as Record<string, unknown>); res.writeHead(200).end('ok'); return; }
      if (state.failing) { res.writeHead(503).end('down for maintenance'); return; }
      const ok = verifyWebhookSignature(WEBHOOK_KEY, String(req.headers['x-lapse-timestamp']), body, String(req.headers['x-lapse-signature']));
      if (!ok) { state.bad++; res.writeHead(401).end('bad signature'); return; }
      state.received.push({ key: String(req.headers['x-lapse-idempotency-key']), event: String(req.headers['x-lapse-event']), body: JSON.parse(body.toString('utf8')) as Record<string, unknown> });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  });
}

/** The real time, moved forward by what a test says (retries fall due without waiting). */
function shiftedClock() {
  return { offset: 0, now() { return Date.now() + this.offset; } };
}

interface Setup { svc: Service; dir: string; smtp: Awaited<ReturnType<typeof startSmtp>>; hook: Awaited<ReturnType<typeof startReceiver>>; clock: ReturnType<typeof shiftedClock>; stop(): Promise<void> }

async function setup(opts: { maxAttempts?: number; store?: string; replicaOf?: Setup } = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-notify-'));
  const smtp = opts.replicaOf?.smtp ?? (await startSmtp());
  const hook = opts.replicaOf?.hook ?? (await startReceiver());
  const configPath = join(dir, 'lapse.yaml');
  const notifications = [
    'notifications:',
    `  email: { host: 127.0.0.1, port: ${smtp.port}, from: "Lapse <lapse@example.com>" }`,
    `  webhooks: [ { id: siem, url: "${hook.url}", secretEnv: LAPSE_TEST_HOOK_KEY } ]`,
    '  chat: [ { id: prod, type: slack, urlEnv: LAPSE_TEST_SLACK_URL, labels: [prod] } ]',
    `  maxAttempts: ${opts.maxAttempts ?? 10}`,
  ].join('\n');
  writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8').replace('settings:\n', 'settings:\n  publicUrl: https://lapse.example.com\n')}\n${notifications}\n`);
  const clock = shiftedClock();
  const svc = await startService({
    configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, clock,
    env: { LAPSE_TEST_HOOK_KEY: WEBHOOK_KEY, LAPSE_TEST_SLACK_URL: hook.url.replace(/\/hook$/, '/slack'), ...(opts.store ? { LAPSE_SECRET_KEY: TEST_SECRET_KEY } : {}) }, ...(opts.store ? { store: opts.store } : {}),
  });
  return {
    svc, dir, smtp, hook, clock,
    stop: async () => {
      await svc.stop();
      if (!opts.replicaOf) {
        await smtp.close();
        await hook.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The mail to `address`, but for the on-call flow's (whoever is on shift is granted and told, whatever the test does). */
const mailsTo = (s: Setup, address: string) => s.smtp.mails.filter((m) => (Array.isArray(m.to) ? m.to : [m.to]).some((t) => t?.text.includes(address)) && !/On-call admin/.test(String(m.subject)));
/** What the webhook received about the test's own requests (not the on-call flow's). */
const hookOf = (s: Setup) => s.hook.received.filter((r) => (r.body.request as { flowId?: string } | null)?.flowId !== 'demo-oncall');

test('approvers are told by email, the requester of the decision and the grant (a link, never the credentials), the webhook of the lifecycle, signed', async () => {
  const s = await setup();
  try {
    const alice = (await createToken(s.svc.store, 'alice', 'alice')).token;
    const bob = (await createToken(s.svc.store, 'bob', 'bob')).token;
    const created = await call(s.svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-77 fix orders' });
    assert.equal(created.body.status, 'pending', created.text);
    await until(() => mailsTo(s, 'bob@example.com').length === 1 && mailsTo(s, 'erin@example.com').length === 1, 'the approvers\' mail');
    assert.equal(mailsTo(s, 'alice@example.com').length, 0, 'the requester cannot approve her own: not asked');
    const ask = mailsTo(s, 'bob@example.com')[0]!;
    assert.equal(ask.subject, '[Lapse] Alice asks for Write app tables: your decision is needed');
    assert.deepEqual(ask.from?.value.map((a) => [a.name, a.address]), [['Lapse', 'lapse@example.com']]);
    assert.match(ask.text!, /Justification: INC-77 fix orders/);
    assert.match(ask.text!, /May approve: bob, erin/);
    assert.match(ask.text!, new RegExp(`Open it in Lapse: https://lapse\\.example\\.com/#/requests/${created.body.id}`));
    assert.match(String(ask.html), new RegExp(`href="https://lapse\\.example\\.com/#/requests/${created.body.id}"`));
    assert.match(String(ask.messageId), /^<[0-9a-f]{64}@lapse>$/, 'the idempotency key as its Message-ID');

    const approved = await call(s.svc.url, 'POST', `/api/v1/requests/${created.body.id}/approve`, bob, { reason: 'ticket OPS-7' });
    assert.equal(approved.body.status, 'active', approved.text);
    await until(() => mailsTo(s, 'alice@example.com').length === 2, 'approved and granted, to alice');
    assert.deepEqual(mailsTo(s, 'alice@example.com').map((m) => m.subject).sort(), ['[Lapse] Your access to Write app tables is active', '[Lapse] Your request for Write app tables was approved by bob']);
    const details = await call(s.svc.url, 'GET', `/api/v1/requests/${created.body.id}/access`, alice);
    const secret = JSON.stringify(details.body);
    assert.match(secret, /demo-[0-9a-f]{24}/, 'the access details exist');
    for (const m of s.smtp.mails) assert.doesNotMatch(`${m.text}${String(m.html)}`, /demo-[0-9a-f]{24}/, 'no credential in any mail');
    await until(() => mailsTo(s, 'erin@example.com').length === 2, 'erin learns bob decided');
    assert.equal(mailsTo(s, 'erin@example.com')[1]!.subject, '[Lapse] Alice\'s request for Write app tables was approved by bob');

    // The prod channel in Slack: the ask with its facts and a button to the request, then the outcome.
    await until(() => s.hook.chat.length === 2, 'the chat channel');
    const [asked, outcome] = s.hook.chat.map((c) => JSON.stringify(c));
    assert.match(asked!, /"text":"Alice asks for Write app tables: your decision is needed"/);
    assert.match(asked!, /INC-77 fix orders/);
    assert.match(asked!, new RegExp(`"url":"https://lapse\\.example\\.com/#/requests/${created.body.id}"`));
    assert.match(outcome!, /"text":"Alice's request for Write app tables was approved by bob"/);
    await until(() => hookOf(s).some((r) => r.event === 'request.granted'), 'the lifecycle webhook');
    assert.equal(s.hook.bad, 0, 'every webhook verified');
    const events = hookOf(s).map((r) => r.event);
    for (const e of ['approval.requested', 'request.approved', 'request.granted']) assert.ok(events.includes(e), `${e} in ${events.join(', ')}`);
    const grant = hookOf(s).find((r) => r.event === 'request.granted')!;
    assert.equal((grant.body.request as { id: string }).id, created.body.id);
    assert.doesNotMatch(JSON.stringify(grant.body), /demo-[0-9a-f]{24}/);
    const listed = await call(s.svc.url, 'GET', '/api/v1/notifications?status=delivered', (await createToken(s.svc.store, 'carol', 'carol')).token);
    assert.equal(listed.status, 200, listed.text);
    assert.ok(listed.body.notifications.length >= 7);
    assert.equal((await call(s.svc.url, 'GET', '/api/v1/notifications', alice)).status, 403, 'admins only');
  } finally {
    await s.stop();
  }
});

test('a receiver that is down is retried, its error visible, and gets each notification once when back; one that never answers ends failed, retried by an admin', async () => {
  const s = await setup({ maxAttempts: 3 });
  try {
    const alice = (await createToken(s.svc.store, 'alice', 'alice')).token;
    const carol = (await createToken(s.svc.store, 'carol', 'carol')).token;
    s.hook.failing = true;
    for (let i = 0; i < 3; i++) {
      const r = await call(s.svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
      assert.equal(r.body.status, 'active', r.text);
    }
    const mine = new Set((await s.svc.store.listRequests({ requester: 'alice', flowId: 'demo-auto', limit: 10 })).map((r) => r.id));
    type Row = { channel: string; requestId: string; lastError: string | null; nextAttemptAt: string };
    const pendingHooks = async (): Promise<Row[]> => ((await call(s.svc.url, 'GET', '/api/v1/notifications?status=pending', carol)).body.notifications as Row[]).filter((n) => n.channel === 'webhook:siem' && mine.has(n.requestId));
    await until(async () => (await pendingHooks()).filter((n) => n.lastError !== null).length === 3, 'a failed attempt each');
    const pending = await pendingHooks();
    assert.equal(pending.length, 3, 'the three grants, for the webhook');
    assert.match(pending[0]!.lastError!, /HTTP 503: down for maintenance/);
    assert.ok(pending[0]!.nextAttemptAt > new Date().toISOString(), 'tried again later');

    s.hook.failing = false;
    s.clock.offset += 60_000;
    await s.svc.deliverNotifications();
    await until(() => hookOf(s).length === 3, 'delivered once back');
    assert.equal(new Set(hookOf(s).map((r) => r.key)).size, 3, 'each once');

    // Down for good: after maxAttempts (3) it is failed, visible, and the admin is told by email.
    s.hook.failing = true;
    const r = await call(s.svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
    assert.equal(r.body.status, 'active');
    for (let i = 0; i < 4; i++) {
      await until(async () => (await s.svc.store.outboxCounts()).pending === 0 || (await s.svc.store.listOutbox({ status: 'pending', limit: 10 })).every((n) => n.lastError !== null), 'an attempt');
      s.clock.offset += 15 * 60_000;
      await s.svc.deliverNotifications();
    }
    // (The clock moved an hour: the request also expired, and those notifications failed too.)
    const failed = (await call(s.svc.url, 'GET', '/api/v1/notifications?status=failed', carol)).body.notifications.filter((n: { requestId: string; event: string }) => n.requestId === r.body.id && n.event === 'request.granted');
    assert.equal(failed.length, 1);
    assert.equal(failed[0].attempts, 3);
    assert.match(failed[0].lastError, /HTTP 503/);
    await until(() => mailsTo(s, 'carol@example.com').some((m) => /could not be delivered to webhook:siem/.test(String(m.subject))), 'the admin told');
    const metrics = await (await fetch(`${s.svc.url}/metrics`)).text();
    assert.match(metrics, /lapse_notifications\{status="failed"\} [1-9]/);
    assert.match(metrics, /lapse_notification_deliveries_total\{channel="webhook:siem",outcome="failed"\} [1-9]/);

    s.hook.failing = false;
    assert.equal((await call(s.svc.url, 'POST', `/api/v1/notifications/${failed[0].key}/retry`, alice)).status, 403, 'admins only');
    assert.equal((await call(s.svc.url, 'POST', `/api/v1/notifications/${'0'.repeat(64)}/retry`, carol)).status, 404);
    assert.equal((await call(s.svc.url, 'POST', '/api/v1/notifications/..%2F..%2Fetc/retry', carol)).status, 400, 'a key is 64 hex digits');
    assert.equal((await call(s.svc.url, 'POST', `/api/v1/notifications/${failed[0].key}/retry`, carol)).status, 204);
    await s.svc.deliverNotifications();
    await until(() => hookOf(s).filter((x) => x.event === 'request.granted').length === 4, 'delivered after the retry');
    assert.ok((await s.svc.store.listAudit({ limit: 1000 })).some((e) => e.action === 'notification.retried' && e.actor === 'carol'));
  } finally {
    await s.stop();
  }
});

test('PostgreSQL: two replicas deliver each notification once', async () => {
  const url = await freshTestStoreUrl();
  const a = await setup({ store: url });
  const b = await setup({ store: url, replicaOf: a });
  try {
    const alice = (await createToken(a.svc.store, 'alice', 'alice')).token;
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => call((i % 2 ? b : a).svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })));
    assert.ok(made.every((r) => r.body.status === 'active'), made.map((r) => r.text).join('\n'));
    await Promise.all([a.svc.deliverNotifications(), b.svc.deliverNotifications(), a.svc.deliverNotifications(), b.svc.deliverNotifications()]);
    await until(() => hookOf(a).length >= 12 && mailsTo(a, 'alice@example.com').length >= 12, 'every notification');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // any second delivery would land by now
    assert.equal(hookOf(a).length, 12, 'each webhook notification once');
    assert.equal(new Set(hookOf(a).map((r) => r.key)).size, 12);
    assert.equal(mailsTo(a, 'alice@example.com').length, 12, 'each mail once');
    assert.equal(a.hook.received.length, new Set(a.hook.received.map((r) => r.key)).size, 'nothing twice, the on-call flow\'s included');
    assert.equal((await a.svc.store.outboxCounts()).pending, 0);
  } finally {
    await b.stop();
    await a.stop();
  }
});

test('a person who turns email off is no longer emailed (the others still are); where the admins forbid it, the switch is refused', async () => {
  const s = await setup();
  try {
    const alice = (await createToken(s.svc.store, 'alice', 'alice')).token;
    const dave = (await createToken(s.svc.store, 'dave', 'dave')).token;
    const shown = await call(s.svc.url, 'GET', '/api/v1/me/notifications', alice);
    assert.deepEqual(shown.body, { email: { available: true, address: 'alice@example.com', on: true, mayTurnOff: true }, chat: { available: false, service: null, on: false, mayTurnOff: false } });
    const off = await call(s.svc.url, 'PUT', '/api/v1/me/notifications', alice, { email: false });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.email.on, false);
    assert.equal((await call(s.svc.url, 'PUT', '/api/v1/me/notifications', alice, { email: 'no' })).status, 400);
    assert.equal((await call(s.svc.url, 'PUT', '/api/v1/me/notifications', alice, {})).status, 400, 'a choice names a channel');
    const noChat = await call(s.svc.url, 'PUT', '/api/v1/me/notifications', alice, { chat: false });
    assert.equal(noChat.status, 409, 'no direct messages here');
    assert.match(noChat.body.detail, /notifications\.directMessages is not configured/);
    for (const token of [alice, dave]) {
      const r = await call(s.svc.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' });
      assert.equal(r.body.status, 'active');
    }
    await until(() => mailsTo(s, 'dave@example.com').length === 1, 'dave is told');
    await s.svc.deliverNotifications();
    assert.equal(mailsTo(s, 'alice@example.com').length, 0, 'alice chose no email');
    assert.ok((await s.svc.store.listAudit({ limit: 1000 })).some((e) => e.action === 'notifications.preference' && e.actor === 'alice' && e.data.email === false));
    assert.equal((await call(s.svc.url, 'PUT', '/api/v1/me/notifications', alice, { email: true })).body.email.on, true);
  } finally {
    await s.stop();
  }
  // Where the admins keep email on for everyone.
  const dir = mkdtempSync(join(tmpdir(), 'lapse-notify-optout-'));
  try {
    const configPath = join(dir, 'lapse.yaml');
    writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8')}\nnotifications:\n  email: { host: 127.0.0.1, port: 25, from: lapse@example.com, optOut: false }\n`);
    const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger });
    try {
      const alice = (await createToken(svc.store, 'alice', 'alice')).token;
      assert.equal((await call(svc.url, 'GET', '/api/v1/me/notifications', alice)).body.email.mayTurnOff, false);
      const refused = await call(svc.url, 'PUT', '/api/v1/me/notifications', alice, { email: false });
      assert.equal(refused.status, 403);
      assert.match(refused.body.detail, /the admins do not let people turn email off here/);
    } finally {
      await svc.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
