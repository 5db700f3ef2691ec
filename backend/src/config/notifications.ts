// The `notifications` section: how people and systems are told of what concerns them. Email
// over SMTP (each person at the address of their identity), direct messages in Slack (each
// person found by that address), Slack and Microsoft Teams incoming webhooks (per flow or
// label), and signed webhooks for the request lifecycle. Secrets (the SMTP password, the bot
// token, the chat webhooks' URLs, which hold their token, the webhooks' signing keys) by
// reference only.

import type { ChatChannelConfig, DirectMessagesConfig, EmailChannelConfig, NotificationsConfig, WebhookSubscriberConfig } from '../domain/config.ts';
import { DEFAULT_MAX_ATTEMPTS } from '../domain/notifications.ts';
import { readSecretRef, secretKeys } from './secret-ref.ts';
import type { Reader } from './yaml-reader.ts';
import { readWebhookUrl } from './urls.ts';

export function readNotifications(r: Reader, node: unknown, path: string): NotificationsConfig | undefined {
  const f = r.map(node, path, ['email?', 'directMessages?', 'chat?', 'webhooks?', 'maxAttempts?'], 'the notifications, { email, directMessages, chat, webhooks }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const email = f.has('email') ? readEmail(r, f.get('email'), f.at('email')) : null;
  const directMessages = f.has('directMessages') ? readDirectMessages(r, f.get('directMessages'), f.at('directMessages')) : null;
  const chat = f.has('chat') ? r.list(f.get('chat'), f.at('chat'), (n, p) => readChat(r, n, p)) : [];
  const webhooks = f.has('webhooks') ? r.list(f.get('webhooks'), f.at('webhooks'), (n, p) => readWebhook(r, n, p)) : [];
  const maxAttempts = f.has('maxAttempts') ? r.int(f.get('maxAttempts'), f.at('maxAttempts'), 1) : DEFAULT_MAX_ATTEMPTS;
  if (typeof maxAttempts === 'number' && maxAttempts > 100) r.error(f.get('maxAttempts'), f.at('maxAttempts'), `expected at most 100 attempts; got ${maxAttempts}`);
  for (const [list, key] of [[chat, 'chat'], [webhooks, 'webhooks']] as const) {
    const seen = new Set<string>();
    for (const [i, item] of (list ?? []).entries()) {
      if (seen.has(item.id)) r.error(f.get(key), `${f.at(key)}[${i}].id`, `the id "${item.id}" is used twice in ${key}; each needs its own`);
      seen.add(item.id);
    }
  }
  if (r.errorCount() > before || email === undefined || directMessages === undefined || !chat || !webhooks || maxAttempts === undefined) return undefined;
  return { email, directMessages, chat, webhooks, maxAttempts };
}

function readEmail(r: Reader, node: unknown, path: string): EmailChannelConfig | undefined {
  const f = r.map(node, path, ['host', 'port?', 'secure?', 'requireTls?', 'user?', ...secretKeys('password'), 'from', 'optOut?'], 'email over SMTP, { host, port, from, … }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const host = r.name(f.get('host'), f.at('host'), 'a host name or IP address');
  if (host !== undefined && !/^[A-Za-z0-9.:[\]-]+$/.test(host)) r.error(f.get('host'), f.at('host'), `expected a host name or IP address; got ${JSON.stringify(host)}`);
  const secure = f.has('secure') ? r.bool(f.get('secure'), f.at('secure')) : false;
  const port = f.has('port') ? r.int(f.get('port'), f.at('port'), 1) : secure ? 465 : 587;
  if (typeof port === 'number' && port > 65535) r.error(f.get('port'), f.at('port'), `expected a port from 1 to 65535; got ${port}`);
  const requireTls = f.has('requireTls') ? r.bool(f.get('requireTls'), f.at('requireTls')) : false;
  const user = f.has('user') ? r.name(f.get('user'), f.at('user')) : null;
  const password = readSecretRef(r, f, node, path, 'password', 'the SMTP password', false);
  if (password && user === null) r.error(node, path, 'a password needs a user');
  const from = r.name(f.get('from'), f.at('from'), 'a From address, e.g. "Lapse <lapse@example.com>"');
  if (from !== undefined && (!/@/.test(from) || /[\r\n]/.test(from))) r.error(f.get('from'), f.at('from'), `expected a From address, e.g. "Lapse <lapse@example.com>"; got ${JSON.stringify(from)}`);
  const optOut = f.has('optOut') ? r.bool(f.get('optOut'), f.at('optOut')) : true;
  if (r.errorCount() > before || host === undefined || port === undefined || secure === undefined || requireTls === undefined || user === undefined || password === undefined || from === undefined || optOut === undefined) return undefined;
  return { host, port, secure, requireTls, user, password, from, optOut };
}

function readDirectMessages(r: Reader, node: unknown, path: string): DirectMessagesConfig | undefined {
  const f = r.map(node, path, ['type', ...secretKeys('token'), 'apiUrl?', 'optOut?'], 'direct messages in chat, { type: slack, tokenEnv | tokenFile }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const type = r.oneOf(f.get('type'), f.at('type'), ['slack'] as const);
  const token = readSecretRef(r, f, node, path, 'token', 'the Slack app\'s bot token (xoxb-…)', true);
  const apiUrl = f.has('apiUrl') ? readWebhookUrl(r, f.get('apiUrl'), f.at('apiUrl')) : 'https://slack.com/api';
  const optOut = f.has('optOut') ? r.bool(f.get('optOut'), f.at('optOut')) : true;
  if (r.errorCount() > before || !type || !token || apiUrl === undefined || optOut === undefined) return undefined;
  return { type, token, apiUrl: apiUrl.replace(/\/+$/, ''), optOut };
}

function readChat(r: Reader, node: unknown, path: string): ChatChannelConfig | undefined {
  const f = r.map(node, path, ['id', 'type', ...secretKeys('url'), 'flows?', 'labels?'], 'a chat channel, { id, type: slack | teams, urlEnv | urlFile }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const id = r.id(f.get('id'), f.at('id'));
  const type = r.oneOf(f.get('type'), f.at('type'), ['slack', 'teams'] as const);
  // An incoming webhook's URL is its credential: by reference, like a password.
  const url = readSecretRef(r, f, node, path, 'url', 'the incoming webhook\'s URL (it holds its token)', true);
  const flows = f.has('flows') ? r.list(f.get('flows'), f.at('flows'), (n, p) => r.id(n, p)) : [];
  const labels = f.has('labels') ? r.list(f.get('labels'), f.at('labels'), (n, p) => r.name(n, p, 'a label')) : [];
  if (r.errorCount() > before || !id || !type || !url || !flows || !labels) return undefined;
  return { id, type, url, flows, labels };
}

function readWebhook(r: Reader, node: unknown, path: string): WebhookSubscriberConfig | undefined {
  const f = r.map(node, path, ['id', 'url', ...secretKeys('secret'), 'events?'], 'a webhook subscriber, { id, url, secretEnv | secretFile, events }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const id = r.id(f.get('id'), f.at('id'));
  const url = readWebhookUrl(r, f.get('url'), f.at('url'));
  const secret = readSecretRef(r, f, node, path, 'secret', 'the signing key', true);
  const events = f.has('events') ? r.list(f.get('events'), f.at('events'), (n, p) => {
    const e = r.name(n, p, 'an event type, e.g. request.approved or request.*');
    return e === undefined ? undefined : /^[a-z_]+(\.[a-z_]+)*(\.\*)?$|^\*$/.test(e) ? e : r.error(n, p, `expected an event type, e.g. request.approved or request.*; got ${JSON.stringify(e)}`);
  }) : [];
  if (r.errorCount() > before || !id || !url || !secret || !events) return undefined;
  return { id, url, secret, events };
}
