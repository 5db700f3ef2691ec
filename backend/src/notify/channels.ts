// The channels notifications leave by: email over SMTP (nodemailer), Slack and Microsoft
// Teams incoming webhooks, and signed lifecycle webhooks. Each delivers one outbox row, or
// throws with what went wrong (the outbox keeps it and tries again). Secrets are read when
// used, from the environment variable or file the configuration names.

import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import type { ChatChannelConfig, EmailChannelConfig, NotificationsConfig, SecretRef, WebhookSubscriberConfig } from '../domain/config.ts';
import { emailContent, slackPayload, teamsPayload, webhookBody } from '../domain/notification-messages.ts';
import type { OutboxRecord } from '../store/store.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../integrations/webhook.ts';

/** How long one delivery may take before it counts as failed. */
const TIMEOUT_MS = 15_000;
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
