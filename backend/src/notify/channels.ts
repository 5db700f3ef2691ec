// The channels notifications leave by: email over SMTP (nodemailer), direct messages in
// Slack (a Slack app's bot, through Slack's Web API), Slack and Microsoft Teams incoming
// webhooks, and signed lifecycle webhooks. Each delivers one outbox row, or
// throws with what went wrong (the outbox keeps it and tries again). Secrets are read when
// used, from the environment variable or file the configuration names.

import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import type { ChatChannelConfig, DirectMessagesConfig, EmailChannelConfig, NotificationsConfig, SecretRef, WebhookSubscriberConfig } from '../domain/config.ts';
import { emailContent, slackPayload, teamsPayload, webhookBody } from '../domain/notification-messages.ts';
import type { OutboxRecord } from '../store/store.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../integrations/webhook.ts';

/** How long one delivery may take before it counts as failed. */
const TIMEOUT_MS = 15_000;
/** The metadata type of a direct message in Slack, whose payload holds its idempotency key. */
const SLACK_METADATA_TYPE = 'lapse_notification';
/** A retry reads the conversation from this long before its row was written (clocks differ)... */
const SLACK_HISTORY_MARGIN_MS = 3_600_000;
/** ...and this many pages of 200 messages at most. */
const SLACK_HISTORY_PAGES = 5;
/** The headers every HTTP delivery carries, so receivers can drop repeats. */
export const EVENT_HEADER = 'x-lapse-event';
export const EVENT_ID_HEADER = 'x-lapse-event-id';
export const IDEMPOTENCY_HEADER = 'x-lapse-idempotency-key';

export interface Channel {
  deliver(row: OutboxRecord): Promise<void>;
  close?(): void;
}

export function readSecret(ref: SecretRef, what: string, env: NodeJS.ProcessEnv): string {
  if ('env' in ref) {
    const value = env[ref.env]?.trim();
    if (!value) throw new Error(`${what}: the environment variable ${ref.env} is not set`);
    return value;
  }
  let value: string;
  try {
    value = readFileSync(ref.file, 'utf8').trim();
  } catch (err) {
    throw new Error(`${what}: ${ref.file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (!value) throw new Error(`${what}: ${ref.file} is empty`);
  return value;
}

/** POSTs JSON; anything but a 2xx answer is an error naming the status and the start of the answer. */
async function postJson(url: string, body: string, headers: Record<string, string>): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? `: ${((err as Error).cause as Error).message}` : '';
    throw new Error(`${(err as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : (err as Error).message}${cause}`);
  }
  const answer = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
  if (!res.ok) throw new Error(`HTTP ${res.status}${answer ? `: ${answer}` : ''}`);
}

class EmailChannel implements Channel {
  /** Made once (deliveries in flight at once share it), again after a failure to make it. */
  private transport: Promise<Transporter> | null = null;
  private closed = false;
  constructor(private readonly c: EmailChannelConfig, private readonly env: NodeJS.ProcessEnv) {}

  private transporter(): Promise<Transporter> {
    this.transport ??= (async () => {
      const { createTransport } = await import('nodemailer');
      const auth = this.c.user ? { user: this.c.user, pass: this.c.password ? readSecret(this.c.password, 'notifications.email password', this.env) : '' } : undefined;
      // A few connections kept open and reused: a burst of mail does not open one connection per message.
      const t = createTransport({
        pool: true, maxConnections: 4, maxMessages: 500,
        host: this.c.host, port: this.c.port, secure: this.c.secure, requireTLS: this.c.requireTls, ...(auth ? { auth } : {}),
        connectionTimeout: TIMEOUT_MS, greetingTimeout: TIMEOUT_MS, socketTimeout: TIMEOUT_MS,
      });
      if (this.closed) t.close();
      return t;
    })().catch((err: unknown) => {
      this.transport = null;
      throw err;
    });
    return this.transport;
  }

  async deliver(row: OutboxRecord): Promise<void> {
    if (!row.address) throw new Error('no email address');
    const { subject, text, html } = emailContent(row.message);
    await (await this.transporter()).sendMail({
      from: this.c.from, to: row.address, subject, text, html,
      // The same notification sent again has the same Message-ID: mail systems can drop it.
      messageId: `<${row.key}@lapse>`,
      headers: { 'X-Lapse-Event': row.message.event, 'X-Lapse-Idempotency-Key': row.key },
    });
  }

  close(): void {
    this.closed = true;
    void this.transport?.then((t) => t.close(), () => undefined);
  }
}

class ChatChannel implements Channel {
  constructor(private readonly c: ChatChannelConfig, private readonly env: NodeJS.ProcessEnv) {}

  async deliver(row: OutboxRecord): Promise<void> {
    const url = readSecret(this.c.url, `notifications.chat ${this.c.id} url`, this.env);
    const payload = this.c.type === 'slack' ? slackPayload(row.message) : teamsPayload(row.message);
    await postJson(url, JSON.stringify(payload), { [IDEMPOTENCY_HEADER]: row.key });
  }
}

/** How long a person's Slack member id, found by their email, is used before it is looked up again. */
const SLACK_MEMBER_TTL_MS = 3_600_000;

/**
 * A direct message to the person from the Slack app's bot: the member is found by the email of
 * their identity (users.lookupByEmail), then written to (chat.postMessage to their member id,
 * which Slack delivers in the app's direct messages). Slack's Web API answers most failures
 * with 200 and `ok: false`; each becomes an error naming Slack's reason.
 */
class SlackDirectChannel implements Channel {
  private readonly members = new Map<string, { id: string; at: number }>();
  constructor(private readonly c: DirectMessagesConfig, private readonly env: NodeJS.ProcessEnv) {}

  async deliver(row: OutboxRecord): Promise<void> {
    if (!row.address) throw new Error('no email address to find the person in Slack by');
    const token = readSecret(this.c.token, 'notifications.directMessages token', this.env);
    const member = await this.member(row.address, token);
    // Slack takes no idempotency key: each message carries its key as metadata, and an attempt
    // after one that may have reached Slack (its answer lost, or the sender stopped before
    // marking it) reads the conversation for that key before it writes again.
    if ((row.attempts > 1 || row.lastError !== null) && (await this.alreadyPosted(member, row, token))) return;
    const message = { channel: member, ...slackPayload(row.message), unfurl_links: false, metadata: { event_type: SLACK_METADATA_TYPE, event_payload: { key: row.key } } };
    const answer = await this.call('chat.postMessage', token, { method: 'POST', body: JSON.stringify(message) });
    if (answer.ok !== true) {
      // The member left, or the id is stale: found again at the next attempt.
      this.members.delete(row.address);
      throw new Error(`Slack refused the message to ${row.address}: ${String(answer.error ?? 'no reason given')}`);
    }
  }

  /** Whether the bot's conversation with `member` holds a message carrying `row`'s key (posted since an hour before the row). */
  private async alreadyPosted(member: string, row: OutboxRecord, token: string): Promise<boolean> {
    const why = (answer: Record<string, unknown>) => String(answer.error ?? 'no reason given');
    const opened = await this.call('conversations.open', token, { method: 'POST', body: JSON.stringify({ users: member }) });
    const channel = (opened.channel as { id?: unknown } | undefined)?.id;
    if (opened.ok !== true || typeof channel !== 'string') throw new Error(`Slack could not open the conversation with ${row.address}, to look for an earlier attempt: ${why(opened)}`);
    const oldest = String(Math.floor((row.createdAt - SLACK_HISTORY_MARGIN_MS) / 1000));
    let cursor = '';
    for (let page = 0; page < SLACK_HISTORY_PAGES; page++) {
      const query = new URLSearchParams({ channel, oldest, include_all_metadata: 'true', limit: '200', ...(cursor ? { cursor } : {}) });
      const answer = await this.call(`conversations.history?${query}`, token, { method: 'GET' });
      if (answer.ok !== true) throw new Error(`Slack could not read the conversation with ${row.address}, to look for an earlier attempt: ${why(answer)}`);
      const messages = (Array.isArray(answer.messages) ? answer.messages : []) as { metadata?: { event_type?: unknown; event_payload?: { key?: unknown } } }[];
      if (messages.some((m) => m?.metadata?.event_type === SLACK_METADATA_TYPE && m.metadata.event_payload?.key === row.key)) return true;
      cursor = String((answer.response_metadata as { next_cursor?: unknown } | undefined)?.next_cursor ?? '');
      if (answer.has_more !== true || !cursor) return false;
    }
    return false;
  }

  private async member(email: string, token: string): Promise<string> {
    const known = this.members.get(email);
    if (known && Date.now() - known.at < SLACK_MEMBER_TTL_MS) return known.id;
    const answer = await this.call(`users.lookupByEmail?${new URLSearchParams({ email })}`, token, { method: 'GET' });
    const id = (answer.user as { id?: unknown } | undefined)?.id;
    if (answer.ok !== true || typeof id !== 'string') {
      throw new Error(answer.error === 'users_not_found' ? `Slack has no member with the email ${email}` : `Slack could not find ${email}: ${String(answer.error ?? 'no member id in its answer')}`);
    }
    this.members.set(email, { id, at: Date.now() });
    return id;
  }

  private async call(method: string, token: string, init: { method: 'GET' | 'POST'; body?: string }): Promise<Record<string, unknown>> {
    let res: Response;
    try {
      res = await fetch(`${this.c.apiUrl}/${method}`, {
        ...init, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS),
        headers: { authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json; charset=utf-8' } : {}) },
      });
    } catch (err) {
      throw new Error(`Slack: ${(err as Error).name === 'TimeoutError' ? `no answer within ${TIMEOUT_MS / 1000} s` : (err as Error).message}`);
    }
    const text = await res.text().catch(() => '');
    if (res.status === 429) throw new Error(`Slack: rate limited (retry after ${res.headers.get('retry-after') ?? '?'} s)`);
    if (!res.ok) throw new Error(`Slack: HTTP ${res.status}${text ? `: ${text.slice(0, 200).replace(/\s+/g, ' ')}` : ''}`);
    try {
      return JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`Slack: an answer that is not JSON: ${text.slice(0, 200).replace(/\s+/g, ' ')}`);
    }
  }
}

class WebhookChannel implements Channel {
  constructor(private readonly c: WebhookSubscriberConfig, private readonly env: NodeJS.ProcessEnv) {}

  async deliver(row: OutboxRecord): Promise<void> {
    const secret = readSecret(this.c.secret, `notifications.webhooks ${this.c.id} secret`, this.env);
    const body = JSON.stringify(webhookBody(row.message, row.key));
    const timestamp = String(Math.floor(Date.now() / 1000));
    await postJson(this.c.url, body, {
      [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
      [EVENT_HEADER]: row.message.event, [EVENT_ID_HEADER]: row.message.eventId, [IDEMPOTENCY_HEADER]: row.key,
    });
  }
}

/** The channels of a `notifications` configuration, by the outbox's channel names. */
export class Channels {
  private readonly byName = new Map<string, Channel>();

  constructor(readonly config: NotificationsConfig, env: NodeJS.ProcessEnv) {
    if (config.email) this.byName.set('email', new EmailChannel(config.email, env));
    if (config.directMessages) this.byName.set('direct', new SlackDirectChannel(config.directMessages, env));
    for (const c of config.chat) this.byName.set(`chat:${c.id}`, new ChatChannel(c, env));
    for (const w of config.webhooks) this.byName.set(`webhook:${w.id}`, new WebhookChannel(w, env));
  }

  get(name: string): Channel | undefined {
    return this.byName.get(name);
  }

  close(): void {
    for (const c of this.byName.values()) c.close?.();
  }
}
