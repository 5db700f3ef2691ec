// The notifications section: what a full one gives, and each mistake refused at its place
// with what to write instead (secrets by reference only).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig } from './load.ts';
import { formatConfigErrors } from './yaml-reader.ts';

const EXAMPLE = readFileSync(fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url)), 'utf8');
const withNotifications = (lines: string) => `${EXAMPLE}\nnotifications:\n${lines.replace(/^/gm, '  ')}\n`;

function errors(text: string): string[] {
  const result = parseConfig(text, 'lapse.yaml');
  assert.equal(result.ok, false, 'expected errors');
  return result.ok ? [] : formatConfigErrors(result.errors).split('\n');
}

test('a full notifications section, and the defaults', () => {
  const full = parseConfig(withNotifications([
    'email: { host: smtp.example.com, port: 465, secure: true, requireTls: true, user: lapse, passwordFile: /etc/lapse/smtp, from: "Lapse <lapse@example.com>" }',
    'directMessages: { type: slack, tokenEnv: SLACK_BOT_TOKEN, apiUrl: "https://slack.example.gov/api/", optOut: false }',
    'chat:',
    '  - { id: sre, type: slack, urlEnv: SLACK_SRE, flows: [demo-approval], labels: [prod] }',
    '  - { id: all, type: teams, urlFile: /etc/lapse/teams }',
    'webhooks:',
    '  - { id: siem, url: "https://siem.example.com/lapse", secretEnv: SIEM_KEY, events: [request.*, approval.requested] }',
    'maxAttempts: 5',
  ].join('\n')), 'lapse.yaml');
  assert.ok(full.ok, full.ok ? '' : formatConfigErrors(full.errors));
  assert.deepEqual(full.config.notifications, {
    email: { host: 'smtp.example.com', port: 465, secure: true, requireTls: true, user: 'lapse', password: { file: '/etc/lapse/smtp' }, from: 'Lapse <lapse@example.com>', optOut: true },
    directMessages: { type: 'slack', token: { env: 'SLACK_BOT_TOKEN' }, apiUrl: 'https://slack.example.gov/api', optOut: false },
    chat: [
      { id: 'sre', type: 'slack', url: { env: 'SLACK_SRE' }, flows: ['demo-approval'], labels: ['prod'] },
      { id: 'all', type: 'teams', url: { file: '/etc/lapse/teams' }, flows: [], labels: [] },
    ],
    webhooks: [{ id: 'siem', url: 'https://siem.example.com/lapse', secret: { env: 'SIEM_KEY' }, events: ['request.*', 'approval.requested'] }],
    maxAttempts: 5,
  });
  const minimal = parseConfig(withNotifications('email: { host: 127.0.0.1, from: lapse@example.com }'), 'lapse.yaml');
  assert.ok(minimal.ok, minimal.ok ? '' : formatConfigErrors(minimal.errors));
  assert.deepEqual(minimal.config.notifications, {
    email: { host: '127.0.0.1', port: 587, secure: false, requireTls: false, user: null, password: null, from: 'lapse@example.com', optOut: true }, directMessages: null, chat: [], webhooks: [], maxAttempts: 10,
  });
  const slack = parseConfig(withNotifications('directMessages: { type: slack, tokenFile: /etc/lapse/slack-bot }'), 'lapse.yaml');
  assert.ok(slack.ok, slack.ok ? '' : formatConfigErrors(slack.errors));
  assert.deepEqual(slack.config.notifications?.directMessages, { type: 'slack', token: { file: '/etc/lapse/slack-bot' }, apiUrl: 'https://slack.com/api', optOut: true });
  const none = parseConfig(EXAMPLE, 'lapse.yaml');
  assert.ok(none.ok && none.config.notifications === undefined, 'absent: nobody is told outside Lapse');
});

test('mistakes, each at its line with what to do', () => {
  const cases: Array<[string, RegExp]> = [
    ['email: { host: smtp.example.com, user: lapse, password: hunter2, from: a@example.com }', /notifications\.email\.password: "password" would hold the SMTP password inline; give it by reference instead: passwordEnv/],
    ['email: { host: smtp.example.com, from: "a@example.com\\nBcc: x@evil.example" }', /notifications\.email\.from: expected a From address/],
    ['email: { host: smtp.example.com, passwordEnv: P, from: a@example.com }', /notifications\.email: a password needs a user/],
    ['email: { host: "smtp.example.com; rm -rf", from: a@example.com }', /notifications\.email\.host: expected a host name or IP address/],
    ['chat: [ { id: x, type: slack, url: "https://hooks.slack.com/services/T/B/secret" } ]', /notifications\.chat\[0\]\.url: "url" would hold the incoming webhook's URL \(it holds its token\) inline/],
    ['chat: [ { id: x, type: slack } ]', /notifications\.chat\[0\]: the incoming webhook's URL \(it holds its token\) is required: urlEnv/],
    ['chat: [ { id: x, type: discord, urlEnv: U } ]', /notifications\.chat\[0\]\.type: expected one of slack, teams/],
    ['chat: [ { id: x, type: slack, urlEnv: U, urlFile: /f } ]', /give the incoming webhook's URL \(it holds its token\) one way/],
    ['chat: [ { id: x, type: slack, urlEnv: U, flows: [no-such-flow] } ]', /notifications\.chat\[0\]\.flows: unknown flow "no-such-flow"/],
    ['chat: [ { id: x, type: slack, urlEnv: U }, { id: x, type: teams, urlEnv: V } ]', /notifications\.chat\[1\]\.id: the id "x" is used twice in chat/],
    ['directMessages: { type: slack, token: xoxb-123-secret }', /notifications\.directMessages\.token: "token" would hold the Slack app's bot token \(xoxb-…\) inline; give it by reference instead: tokenEnv/],
    ['directMessages: { type: slack }', /notifications\.directMessages: the Slack app's bot token \(xoxb-…\) is required: tokenEnv/],
    ['directMessages: { type: teams, tokenEnv: T }', /notifications\.directMessages\.type: expected one of slack/],
    ['directMessages: { type: slack, tokenEnv: T, apiUrl: "http://slack.example.com/api" }', /notifications\.directMessages\.apiUrl: expected an https URL/],
    ['directMessages: { type: slack, tokenEnv: T, apiUrl: "https://slack.com/api?token=xoxb-1" }', /notifications\.directMessages\.apiUrl: expected a URL without a query or fragment/],
    ['webhooks: [ { id: w, url: "http://siem.example.com/x", secretEnv: K } ]', /notifications\.webhooks\[0\]\.url: expected an https URL \(plain http only on 127\.0\.0\.1 or localhost\)/],
    ['webhooks: [ { id: w, url: "https://u:p@siem.example.com/x", secretEnv: K } ]', /the URL holds credentials/],
    ['webhooks: [ { id: w, url: "https://siem.example.com/x" } ]', /notifications\.webhooks\[0\]: the signing key is required: secretEnv/],
    ['webhooks: [ { id: w, url: "https://siem.example.com/x", secretEnv: K, events: ["request.*; drop"] } ]', /notifications\.webhooks\[0\]\.events\[0\]: expected an event type/],
    ['maxAttempts: 1000', /notifications\.maxAttempts: expected at most 100 attempts/],
    ['sms: { to: 123 }', /notifications\.sms: unknown key "sms"/],
  ];
  for (const [lines, expected] of cases) {
    const found = errors(withNotifications(lines));
    assert.ok(found.some((e) => expected.test(e)), `${expected}\n${found.join('\n')}`);
    assert.ok(found.every((e) => /^lapse\.yaml:\d+:\d+: /.test(e)), `each at its line: ${found.join('\n')}`);
  }
});
