// Who is told what: from a transition's audit entry and the request as it leaves it, the
// outbox rows (per person by email, per chat channel, per webhook subscriber), with keys
// that make the same transition write the same rows; and what each channel's message says.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/load.ts';
import { CompiledConfig } from './catalog.ts';
import type { NotificationsConfig } from './config.ts';
import type { RequestRecord } from './request.ts';
import { deliveryFailedNotifications, notificationsFor, webhookWants, type OptedOut, type TransitionEntry } from './notifications.ts';
import { emailContent, headline, slackPayload, teamsPayload } from './notification-messages.ts';

const EXAMPLE = readFileSync(fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url)), 'utf8');
const parsed = parseConfig(EXAMPLE, 'lapse.yaml');
if (!parsed.ok) throw new Error('the example configuration does not load');
const compiled = new CompiledConfig({ ...parsed.config, settings: { ...parsed.config.settings, admins: ['carol'] } });
const T = 1_800_000_000_000;

const notifications = (over: Partial<NotificationsConfig> = {}): NotificationsConfig => ({
  email: { host: 'smtp.example.com', port: 587, secure: false, requireTls: true, user: null, password: null, from: 'Lapse <lapse@example.com>', optOut: true },
  directMessages: null,
  chat: [{ id: 'prod-slack', type: 'slack', url: { env: 'SLACK_URL' }, flows: [], labels: ['prod'] }, { id: 'other', type: 'teams', url: { env: 'TEAMS_URL' }, flows: ['demo-auto'], labels: [] }],
  webhooks: [{ id: 'siem', url: 'https://siem.example.com/hook', secret: { env: 'SIEM_KEY' }, events: ['request.*'] }],
  maxAttempts: 10,
  ...over,
});

function pending(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 'r1', requester: 'alice', flowId: 'demo-approval', bundleId: null, status: 'pending',
    entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }],
    durationMs: 3_600_000, justification: 'INC-42 "fix" <b>now</b>', labels: ['prod'], breakGlass: false, createdAt: T, updatedAt: T, startAt: null, grantedAt: null,
    expiresAt: null, endedAt: null, endReason: null, endedBy: null, endNote: null,
    approverGroups: [{ description: 'group is sre-leads', users: ['bob', 'erin'] }, { description: 'the requester\'s manager', users: ['alice', 'bob'] }],
    approvalMode: 'anyOf', decisions: [], extensions: 0, pendingExtension: null, error: null, version: 1, ...over,
  };
}

const entry = (action: string, actor = 'system', data: Record<string, unknown> = {}): TransitionEntry => ({ at: T, actor, action, requestId: 'r1', data });
const rows = (e: TransitionEntry, r: RequestRecord | null, n = notifications(), optedOut?: OptedOut) => notificationsFor(e, r, `r1:${r?.version ?? 0}:${e.action}`, { compiled, notifications: n, publicUrl: 'https://lapse.example.com', ...(optedOut ? { optedOut } : {}) });
const by = (list: ReturnType<typeof rows>) => list.map((o) => `${o.message.event} ${o.channel} ${o.recipient ?? '*'}`).sort();

test('a new request waiting for approval: each approver by email (never the requester the flow forbids), the channels that carry it, the webhook', () => {
  const out = rows(entry('request.created', 'alice'), pending());
  assert.deepEqual(by(out), ['approval.requested chat:prod-slack *', 'approval.requested email bob', 'approval.requested email erin']);
  const bob = out.find((o) => o.recipient === 'bob')!;
  assert.equal(bob.address, 'bob@example.com');
  assert.equal(bob.message.link, 'https://lapse.example.com/#/requests/r1');
  assert.deepEqual(bob.message.request?.approvers, ['alice', 'bob', 'erin']);
  assert.deepEqual(rows(entry('request.created', 'alice'), pending()).map((o) => o.key), out.map((o) => o.key), 'the same transition, the same keys');
  assert.notDeepEqual(rows(entry('request.created', 'alice'), pending({ version: 2 })).map((o) => o.key), out.map((o) => o.key));
  // The webhook wants request.* only.
  assert.equal(webhookWants(['request.*'], 'approval.requested'), false);
  assert.equal(webhookWants(['request.*'], 'request.approved'), true);
  assert.equal(webhookWants([], 'anything'), true);
});

test('decisions: the requester is told; the other approvers learn someone else decided; a partial allOf approval tells nobody', () => {
  const approved = pending({ status: 'granting', decisions: [{ approver: 'bob', decision: 'approve', reason: 'ok', at: T, subject: 'request' }], version: 2 });
  assert.deepEqual(by(rows(entry('request.approved', 'bob', { reason: 'ok' }), approved)), [
    'approval.decided email erin', 'request.approved chat:prod-slack *', 'request.approved email alice', 'request.approved webhook:siem *',
  ]);
  const denied = rows(entry('request.denied', 'erin', { reason: 'not now' }), pending({ status: 'rejected', version: 2 }));
  const toAlice = denied.find((o) => o.recipient === 'alice')!;
  assert.equal(headline(toAlice.message), 'Your request for Write app tables was denied by erin: not now');
  assert.deepEqual(rows(entry('request.approved', 'bob'), pending({ approvalMode: 'allOf' })), [], 'still pending: more approvals to come');
});

test('granted (a link, never credentials), failed, expiring, revoked by someone else but not by oneself, admins for a revoke still failing', () => {
  const active = pending({ status: 'active', grantedAt: T, expiresAt: T + 3_600_000, version: 4 });
  const granted = rows(entry('request.active'), active).filter((o) => o.channel === 'email');
  assert.deepEqual(granted.map((o) => [o.recipient, o.message.event]), [['alice', 'request.granted']]);
  assert.deepEqual(granted[0]!.message.detail, {}, 'nothing of the grant but its link');
  assert.deepEqual(by(rows(entry('request.expiring', 'system', { msLeft: 600_000, expiresAt: T }), active)).filter((x) => x.includes('email')), ['request.expiring email alice']);
  const revokedByBob = pending({ status: 'revoked', endedBy: 'bob', endReason: 'approver', endNote: 'done', version: 6 });
  assert.deepEqual(by(rows(entry('request.revoked'), revokedByBob)), ['request.revoked email alice', 'request.revoked webhook:siem *']);
  assert.deepEqual(rows(entry('request.revoked'), pending({ status: 'revoked', endedBy: 'alice', endReason: 'self', version: 6 })), []);
  assert.deepEqual(rows(entry('grant.revoke_failed', 'system', { attempt: 2, integration: 'demo' }), active), []);
  assert.deepEqual(by(rows(entry('grant.revoke_failed', 'system', { attempt: 3, integration: 'demo', error: 'down' }), active)), ['revoke.failing email carol']);
  assert.deepEqual(by(rows(entry('request.break_glass', 'alice', { reason: 'outage' }), pending({ breakGlass: true, status: 'active' }))).filter((x) => x.includes('email')),
    ['request.break_glass email alice', 'request.break_glass email bob', 'request.break_glass email erin'], 'every approver at once');
});

test('without email configured, nobody is told by email; chat channels filter by flow and label', () => {
  const out = rows(entry('request.created', 'alice'), pending(), notifications({ email: null }));
  assert.deepEqual(by(out), ['approval.requested chat:prod-slack *']);
  assert.deepEqual(rows(entry('request.created', 'alice'), pending({ labels: [] }), notifications({ email: null, webhooks: [] })), []);
});

test('direct messages: each person told by email is told in chat too, unless they turned one off where the admins allow it; the admins\' notices always', () => {
  const slack = { type: 'slack' as const, token: { env: 'SLACK_BOT_TOKEN' }, apiUrl: 'https://slack.com/api', optOut: true };
  const both = notifications({ directMessages: slack, chat: [], webhooks: [] });
  const asked = rows(entry('request.created', 'alice'), pending(), both);
  assert.deepEqual(by(asked), ['approval.requested direct bob', 'approval.requested direct erin', 'approval.requested email bob', 'approval.requested email erin']);
  const direct = asked.find((o) => o.channel === 'direct' && o.recipient === 'bob')!;
  assert.equal(direct.address, 'bob@example.com', 'found in Slack by the email of the identity');
  assert.notEqual(direct.key, asked.find((o) => o.channel === 'email' && o.recipient === 'bob')!.key, 'a key per channel');
  const off: OptedOut = { email: new Set(['bob']), chat: new Set(['erin']) };
  assert.deepEqual(by(rows(entry('request.created', 'alice'), pending(), both, off)), ['approval.requested direct bob', 'approval.requested email erin']);
  assert.deepEqual(by(rows(entry('request.created', 'alice'), pending(), notifications({ directMessages: { ...slack, optOut: false }, chat: [], webhooks: [] }), off)),
    ['approval.requested direct bob', 'approval.requested direct erin', 'approval.requested email erin'], 'where the admins keep direct messages on, they stay on');
  const active = pending({ status: 'active', grantedAt: T, expiresAt: T + 3_600_000, version: 4 });
  assert.deepEqual(by(rows(entry('grant.revoke_failed', 'system', { attempt: 3, integration: 'demo', error: 'down' }), active, both, { email: new Set(['carol']), chat: new Set(['carol']) })),
    ['revoke.failing direct carol', 'revoke.failing email carol'], 'the admins\' notices whatever they chose');
  const [failedDm] = asked.filter((o) => o.channel === 'direct' && o.recipient === 'bob');
  assert.deepEqual(deliveryFailedNotifications(failedDm!, 'Slack has no member with the email bob@example.com', compiled, both, T + 5).map((n) => `${n.channel} ${n.recipient}`), ['email carol', 'direct carol']);
  const toCarol = { ...failedDm!, recipient: 'carol' };
  assert.deepEqual(deliveryFailedNotifications(toCarol, 'down', compiled, both, T + 5).map((n) => `${n.channel} ${n.recipient}`), ['email carol'], 'not in the channel that failed her');
});

test('messages: escaped HTML, one-line subjects (no header injection), Slack and Teams carry the facts and the link', () => {
  const [bob] = rows(entry('request.created', 'alice'), pending({ justification: 'line1\r\nBcc: evil@example.com <script>x</script>' })).filter((o) => o.recipient === 'bob');
  const mail = emailContent(bob!.message);
  assert.doesNotMatch(mail.subject, /[\r\n]/);
  assert.match(mail.subject, /^\[Lapse\] Alice asks for Write app tables: your decision is needed$/);
  assert.match(mail.text, /Justification: line1 Bcc: evil@example.com <script>x<\/script>/, 'text: one line, as given');
  assert.doesNotMatch(mail.html, /<script>/);
  assert.match(mail.html, /&lt;script&gt;/);
  assert.match(mail.html, /href="https:\/\/lapse\.example\.com\/#\/requests\/r1"/);
  const slack = JSON.stringify(slackPayload(bob!.message));
  assert.match(slack, /&lt;script&gt;/);
  assert.match(slack, /"url":"https:\/\/lapse.example.com\/#\/requests\/r1"/);
  assert.match(JSON.stringify(teamsPayload(bob!.message)), /"type":"FactSet"/);
});

test('a delivery given up: the admins are told, never about such a notice itself', () => {
  const [row] = rows(entry('request.created', 'alice'), pending()).filter((o) => o.recipient === 'bob');
  const notices = deliveryFailedNotifications(row!, 'HTTP 550: mailbox unavailable', compiled, notifications({ webhooks: [{ id: 'ops', url: 'https://ops.example.com', secret: { env: 'K' }, events: ['delivery.*'] }] }), T + 5);
  assert.deepEqual(notices.map((n) => `${n.message.event} ${n.channel} ${n.recipient ?? '*'}`), ['delivery.failed email carol', 'delivery.failed webhook:ops *']);
  assert.deepEqual(deliveryFailedNotifications(notices[0]!, 'again', compiled, notifications(), T + 6), []);
});

test('reconciliation removing access no request covers: the admins are told', () => {
  const out = notificationsFor({ at: T, actor: 'system', action: 'reconcile.revoked', requestId: null, data: { integration: 'demo', account: 'demo_zed', user: 'zed' } }, null, `lapse:${T}:reconcile.revoked:demo:demo_zed`, { compiled, notifications: notifications(), publicUrl: undefined });
  assert.deepEqual(out.map((o) => `${o.message.event} ${o.channel} ${o.recipient ?? '*'}`), ['reconcile.fixed email carol']);
  assert.equal(headline(out[0]!.message), 'Reconciliation removed access no request covers (demo_zed)');
});
