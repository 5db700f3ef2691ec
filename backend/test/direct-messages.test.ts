// Direct messages in Slack: a local server that answers as Slack's Web API does (it checks the
// bot token, finds members by email, keeps what chat.postMessage received) stands for Slack.
// Approvers and requesters are written to in person with the request's facts and its link;
// a person who turned direct messages off is not; someone Slack does not know, or a Slack that
// limits the rate, is retried with the reason visible and written to once it works; a message
// whose answer was lost is found by its key in the conversation, not written again; the bot
// token is never in a message, a log line or the outbox.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type Service } from '../src/service.ts';
import { createLogger, type Logger } from '../src/logger.ts';
import { EXAMPLE, analyticsRead, appRead, call, usersWrite } from '../src/api/api-test-support.ts';
import { createToken } from '../src/auth/tokens.ts';

const BOT_TOKEN = 'xoxb-1234-5678-lapse-test-bot-token';

interface Posted { channel: string; text: string; blocks: unknown[]; metadata?: { event_type: string; event_payload: { key: string } }; ts: string }

/**
 * Slack's Web API as far as Lapse uses it, behind the bot token: users.lookupByEmail,
 * chat.postMessage, and the bot's direct conversations (conversations.open and .history).
 * `loseAnswers`: so many messages are kept but their answer is lost (the connection drops).
 */
async function startSlack(members: Record<string, string>) {
  const state = { posted: [] as Posted[], lookups: [] as string[], historyReads: 0, historyPages: [] as string[], unauthorized: 0, rateLimited: false, loseAnswers: 0, historyScope: true };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = (body: Record<string, unknown>) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.headers.authorization !== `Bearer ${BOT_TOKEN}`) { state.unauthorized++; answer({ ok: false, error: 'invalid_auth' }); return; }
      if (state.rateLimited) { res.writeHead(429, { 'retry-after': '30' }).end(); return; }
      const url = new URL(req.url!, 'http://slack');
      if (req.method === 'GET' && url.pathname === '/api/users.lookupByEmail') {
        const email = url.searchParams.get('email') ?? '';
        state.lookups.push(email);
        const id = members[email];
        answer(id ? { ok: true, user: { id, profile: { email } } } : { ok: false, error: 'users_not_found' });
        return;
      }
      if (req.method === 'POST' && url.pathname === '/api/chat.postMessage' && /^application\/json/.test(req.headers['content-type'] ?? '')) {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Posted;
        if (!Object.values(members).includes(body.channel)) { answer({ ok: false, error: 'channel_not_found' }); return; }
        body.ts = (Date.now() / 1000).toFixed(6);
        state.posted.push(body);
        if (state.loseAnswers > 0) { state.loseAnswers--; req.socket.destroy(); return; }
        answer({ ok: true, channel: `D-${body.channel}`, ts: body.ts });
        return;
      }
      if (req.method === 'POST' && url.pathname === '/api/conversations.open') {
        const { users } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { users: string };
        answer(Object.values(members).includes(users) ? { ok: true, channel: { id: `D-${users}` } } : { ok: false, error: 'user_not_found' });
        return;
      }
      if (req.method === 'GET' && url.pathname === '/api/conversations.history') {
        if (!state.historyScope) { answer({ ok: false, error: 'missing_scope', needed: 'im:history' }); return; }
        state.historyReads++;
        state.historyPages.push(url.searchParams.get('cursor') ?? '');
        const oldest = Number(url.searchParams.get('oldest') ?? 0);
        const withMetadata = url.searchParams.get('include_all_metadata') === 'true';
        const all = state.posted.filter((p) => `D-${p.channel}` === url.searchParams.get('channel') && Number(p.ts) >= oldest).reverse()
          .map((p) => ({ type: 'message', text: p.text, ts: p.ts, ...(withMetadata && p.metadata ? { metadata: p.metadata } : {}) }));
        // Newest first, a page at a time (the cursor is where the next page starts).
        const from = Number(url.searchParams.get('cursor') || 0);
        const to = from + Math.min(200, Number(url.searchParams.get('limit') ?? 100));
        answer({ ok: true, messages: all.slice(from, to), has_more: to < all.length, ...(to < all.length ? { response_metadata: { next_cursor: String(to) } } : {}) });
        return;
      }
      answer({ ok: false, error: 'unknown_method' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`,
    members,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  });
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

type Slack = Awaited<ReturnType<typeof startSlack>>;

/**
 * A service whose direct messages go to a local Slack knowing `members`, with the bot token
 * `token`; `directMessages`: more settings of that section (e.g. `, optOut: false`); `config`:
 * the example configuration as the test changes it. Everything is stopped and removed after `fn`.
 */
async function withDirectMessages(
  opts: { members: Record<string, string>; token?: string; directMessages?: string; maxAttempts?: number; config?: (example: string) => string; logger?: Logger },
  fn: (s: { slack: Slack; svc: Service; clock: { offset: number; now(): number } }) => Promise<void>,
): Promise<void> {
  const slack = await startSlack(opts.members);
  const dir = mkdtempSync(join(tmpdir(), 'lapse-direct-'));
  const clock = { offset: 0, now() { return Date.now() + this.offset; } };
  try {
    const configPath = join(dir, 'lapse.yaml');
    const example = readFileSync(EXAMPLE, 'utf8');
    const maxAttempts = opts.maxAttempts === undefined ? '' : `  maxAttempts: ${opts.maxAttempts}\n`;
    writeFileSync(configPath, `${opts.config ? opts.config(example) : example}\nnotifications:\n  directMessages: { type: slack, tokenEnv: LAPSE_TEST_SLACK_BOT, apiUrl: "${slack.apiUrl}"${opts.directMessages ?? ''} }\n${maxAttempts}`);
    const svc = await startService({
      configPath, dataDir: join(dir, 'data'), port: 0, clock, env: { LAPSE_TEST_SLACK_BOT: opts.token ?? BOT_TOKEN }, logger: opts.logger ?? createLogger({ level: 'silent' }),
    });
    try {
      await fn({ slack, svc, clock });
    } finally {
      await svc.stop();
    }
  } finally {
    await slack.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('direct messages in Slack: approvers and requesters in person, each once, found by email; someone Slack does not know is retried with the reason; a person may turn them off; the token stays secret', async () => {
  // Erin's address has the characters a query string must not take as they are.
  const erin = "erin+ops&x=1'@example.com";
  const logLines: string[] = [];
  await withDirectMessages({
    members: { 'alice@example.com': 'U0ALICE', 'bob@example.com': 'U0BOB', 'carol@example.com': 'U0CAROL' },
    maxAttempts: 5,
    config: (example) => {
      const config = example.replace('email: erin@example.com', `email: "${erin}"`).replace('settings:\n', 'settings:\n  publicUrl: https://lapse.example.com\n');
      assert.match(config, /erin\+ops/);
      return config;
    },
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
  }, async ({ slack, svc, clock }) => {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    const bob = (await createToken(svc.store, 'bob', 'bob')).token;
    const dave = (await createToken(svc.store, 'dave', 'dave')).token;
    assert.deepEqual((await call(svc.url, 'GET', '/api/v1/me/notifications', bob)).body, {
      email: { available: false, address: 'bob@example.com', on: false, mayTurnOff: false },
      chat: { available: true, service: 'slack', on: true, mayTurnOff: true },
    });

    const created = await call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-approval', entitlements: [usersWrite], justification: 'INC-78 <!channel> *now*' });
    assert.equal(created.body.status, 'pending', created.text);
    await until(() => slack.posted.some((p) => p.channel === 'U0BOB'), 'bob is asked in Slack');
    const ask = slack.posted.find((p) => p.channel === 'U0BOB')!;
    assert.equal(ask.text, 'Alice asks for Write app tables: your decision is needed');
    const blocks = JSON.stringify(ask.blocks);
    assert.match(blocks, /INC-78 &lt;!channel&gt; \*now\*/, 'the justification, escaped: no mention of everyone');
    assert.match(blocks, new RegExp(`"url":"https://lapse\\.example\\.com/#/requests/${created.body.id}"`));
    // (Whoever is on shift is granted the on-call flow, and told: alice may be, today.)
    assert.equal(slack.posted.filter((p) => p.channel === 'U0ALICE' && /decision/.test(p.text)).length, 0, 'the requester cannot approve her own: not asked');

    // Erin is not in Slack yet: her message waits, with Slack's reason, and the lookup carried her address intact.
    type Row = { channel: string; recipient: string | null; requestId: string; lastError: string | null; status: string };
    const carol = (await createToken(svc.store, 'carol', 'carol')).token;
    const erinsRow = async () => ((await call(svc.url, 'GET', '/api/v1/notifications?status=pending', carol)).body.notifications as Row[]).find((n) => n.channel === 'direct' && n.recipient === 'erin' && n.requestId === created.body.id);
    await until(async () => (await erinsRow())?.lastError != null, 'erin\'s message fails');
    assert.equal((await erinsRow())!.lastError, `Slack has no member with the email ${erin}`);
    assert.ok(slack.lookups.includes(erin), `looked up as given: ${slack.lookups.join(', ')}`);
    slack.members[erin] = 'U0ERIN';
    clock.offset += 60_000;
    await svc.deliverNotifications();
    await until(() => slack.posted.some((p) => p.channel === 'U0ERIN'), 'erin is asked once Slack knows her');

    // Dave turns direct messages off: the grant of his request reaches nobody; alice's reaches her.
    const off = await call(svc.url, 'PUT', '/api/v1/me/notifications', dave, { chat: false });
    assert.equal(off.status, 200, off.text);
    assert.equal(off.body.chat.on, false);
    assert.equal((await call(svc.url, 'PUT', '/api/v1/me/notifications', dave, { email: false })).status, 409, 'no email on this server');
    // Nobody chooses for someone else: a user field is no field of this body, and alice keeps hers.
    const forAlice = await call(svc.url, 'PUT', '/api/v1/me/notifications', dave, { chat: false, userId: 'alice' });
    assert.equal(forAlice.status, 400, forAlice.text);
    assert.match(forAlice.text, /userId/, 'the problem names the field');
    assert.equal((await call(svc.url, 'GET', '/api/v1/me/notifications', alice)).body.chat.on, true);
    assert.equal((await call(svc.url, 'PUT', '/api/v1/me/notifications', dave, { chat: 'false' })).status, 400, 'a boolean, not text');
    for (const token of [dave, alice]) assert.equal((await call(svc.url, 'POST', '/api/v1/requests', token, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })).body.status, 'active');
    await until(() => slack.posted.some((p) => p.channel === 'U0ALICE' && /is active/.test(p.text)), 'alice hears of her grant');
    await svc.deliverNotifications();
    assert.equal((await svc.store.listOutbox({ limit: 1000 })).filter((o) => o.channel === 'direct' && o.recipient === 'dave').length, 0, 'nothing written for dave');

    // Slack limits the rate: retried, with the reason visible, then delivered once.
    slack.rateLimited = true;
    const approved = await call(svc.url, 'POST', `/api/v1/requests/${created.body.id}/approve`, bob, { reason: 'ok' });
    assert.equal(approved.body.status, 'active', approved.text);
    const limited = async () => (await svc.store.listOutbox({ status: 'pending', limit: 100 })).filter((o) => o.channel === 'direct' && o.requestId === created.body.id && o.lastError !== null);
    await until(async () => (await limited()).length > 0, 'a limited attempt');
    assert.match((await limited())[0]!.lastError!, /Slack: rate limited \(retry after 30 s\)/);
    slack.rateLimited = false;
    clock.offset += 60_000;
    await svc.deliverNotifications();
    await until(async () => (await svc.store.listOutbox({ status: 'pending', limit: 100 })).filter((o) => o.channel === 'direct').length === 0, 'all delivered');
    const toAlice = slack.posted.filter((p) => p.channel === 'U0ALICE').map((p) => p.text).sort();
    assert.deepEqual(toAlice.filter((t) => /Write app tables/.test(t)), ['Your access to Write app tables is active', 'Your request for Write app tables was approved by bob']);
    assert.equal(slack.posted.filter((p) => p.channel === 'U0ERIN' && /approved by bob/.test(p.text)).length, 1, 'erin learns bob decided, once');

    assert.equal(slack.unauthorized, 0, 'every call carried the bot token');
    const everything = [JSON.stringify(await svc.store.listOutbox({ limit: 1000 })), JSON.stringify(await svc.store.listAudit({ limit: 1000 })), JSON.stringify(slack.posted), logLines.join('\n')].join('\n');
    assert.doesNotMatch(everything, /xoxb-/, 'the bot token is in no row, message or log line');
    assert.doesNotMatch(JSON.stringify(slack.posted), /demo-[0-9a-f]{24}/, 'no credential in any message');
  });
});

test('direct messages the admins keep on cannot be turned off; a wrong bot token is an error that names Slack\'s reason', async () => {
  await withDirectMessages({ members: { 'alice@example.com': 'U0ALICE' }, token: 'xoxb-wrong', directMessages: ', optOut: false' }, async ({ slack, svc }) => {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    assert.equal((await call(svc.url, 'GET', '/api/v1/me/notifications', alice)).body.chat.mayTurnOff, false);
    const refused = await call(svc.url, 'PUT', '/api/v1/me/notifications', alice, { chat: false });
    assert.equal(refused.status, 403);
    assert.match(refused.body.detail, /the admins do not let people turn direct messages off here/);
    assert.equal((await call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [appRead], duration: '10m' })).body.status, 'active');
    const mine = async () => (await svc.store.listOutbox({ status: 'pending', limit: 100 })).find((o) => o.channel === 'direct' && o.recipient === 'alice' && o.lastError !== null);
    await until(async () => (await mine()) !== undefined, 'the attempt');
    assert.equal((await mine())!.lastError, 'Slack could not find alice@example.com: invalid_auth');
    assert.equal(slack.posted.length, 0);
  });
});

test('a direct message whose answer from Slack was lost is not written twice: the next attempt finds it in the conversation by its key', async () => {
  await withDirectMessages({ members: { 'alice@example.com': 'U0ALICE' }, maxAttempts: 5 }, async ({ slack, svc, clock }) => {
    const alice = (await createToken(svc.store, 'alice', 'alice')).token;
    const grant = async (entitlement: typeof appRead) => {
      const created = await call(svc.url, 'POST', '/api/v1/requests', alice, { flowId: 'demo-auto', entitlements: [entitlement], duration: '10m' });
      assert.equal(created.body.status, 'active', created.text);
      return created.body.id as string;
    };
    const rowOf = async (requestId: string) => (await svc.store.listOutbox({ limit: 100 })).find((o) => o.channel === 'direct' && o.requestId === requestId && o.message.event === 'request.granted')!;
    // A first message reaches her as usual, written once, without reading the conversation.
    const first = await grant(appRead);
    await until(async () => (await rowOf(first))?.status === 'delivered', 'the first message');
    assert.equal(slack.historyReads, 0, 'a first attempt writes at once');
    const keysPosted = () => slack.posted.map((p) => p.metadata?.event_payload.key);
    assert.ok(keysPosted().includes((await rowOf(first)).key), 'each message carries its key');

    // The next one reaches Slack, but its answer is lost: the attempt counts as failed.
    slack.loseAnswers = 1;
    const second = await grant(analyticsRead);
    await until(async () => (await rowOf(second))?.lastError != null, 'the attempt whose answer was lost');
    const secondKey = (await rowOf(second)).key;
    assert.equal(keysPosted().filter((k) => k === secondKey).length, 1, 'Slack has it');
    await until(async () => (await svc.store.listOutbox({ status: 'pending', limit: 100 })).length === 1, 'only the lost one left');
    // Since then, 450 other messages (another app's, say, with keys of their own): the lost one is on the third page.
    for (let i = 0; i < 450; i++) slack.posted.push({ channel: 'U0ALICE', text: `other ${i}`, blocks: [], ts: (Date.now() / 1000 + 1 + i / 1000).toFixed(6), metadata: { event_type: 'lapse_notification', event_payload: { key: `other-${i}` } } });
    const posted = slack.posted.length;
    // Without the scope to read the conversation, the retry says so and writes nothing.
    slack.historyScope = false;
    clock.offset += 60_000;
    await svc.deliverNotifications();
    await until(async () => /missing_scope/.test((await rowOf(second)).lastError ?? ''), 'the missing scope named');
    assert.equal((await rowOf(second)).lastError, 'Slack could not read the conversation with alice@example.com, to look for an earlier attempt: missing_scope');
    assert.equal(slack.posted.length, posted, 'nothing written on a guess');
    // With it, the retry finds its own key (not the first message's) and marks it delivered.
    slack.historyScope = true;
    clock.offset += 600_000;
    await svc.deliverNotifications();
    await until(async () => (await rowOf(second)).status === 'delivered', 'the second marked delivered');
    assert.deepEqual(slack.historyPages, ['', '200', '400'], 'the conversation was read page by page, as far as the message');
    assert.equal(slack.posted.length, posted, 'and not written to again');
    assert.equal(keysPosted().filter((k) => k === secondKey).length, 1);
  });
});
