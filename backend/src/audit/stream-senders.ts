// How the audit stream reaches each kind of subscriber (domain/audit-stream.ts says what is
// sent): a batch of RFC 5424 messages over one TCP or TLS connection, or one signed HTTPS POST
// per event. A sender reports each event delivered through `delivered`, in order, and throws
// at the first it could not deliver.

import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  auditEventId, EVENT_ID_HEADER, EVENT_TYPE_HEADER, eventJson, IDEMPOTENCY_HEADER, idempotencyKey, octetCounted, syslogMessage,
  type AuditStreamTls, type StreamedEvent, type SyslogSubscriberConfig, type WebhookSubscriberConfig,
} from '../domain/audit-stream.ts';
import { redactedExcerpt } from '../integrations/credentials.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, webhookSignature } from '../integrations/webhook.ts';

export interface Sender {
  /** Delivers `events` in order; `delivered(seq)` after each one the subscriber has (false: stop, the lease was lost). */
  deliver(events: StreamedEvent[], delivered: (seq: number) => Promise<boolean>): Promise<void>;
}

/** The CA file's certificates (read at each connection, so a renewed file is used), and the name to check. */
function tlsOptions(tls: AuditStreamTls, host: string): { ca?: Buffer; servername?: string } {
  let ca: Buffer | undefined;
  if (tls.caFile !== undefined) {
    try {
      ca = readFileSync(tls.caFile);
    } catch (err) {
      throw new Error(`cannot read tls.caFile ${tls.caFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const servername = tls.serverName ?? (isIP(host) === 0 ? host : undefined);
  return { ...(ca ? { ca } : {}), ...(servername ? { servername } : {}) };
}

/**
 * Syslog: one connection per batch. The messages are written, then our side of the connection
 * is closed; the batch counts as delivered when the server closes its side in turn, which it
 * does once it has read everything up to our close. A connection that fails or is reset before
 * that delivers nothing (the batch is sent again).
 */
export class SyslogSender implements Sender {
  constructor(private readonly s: SyslogSubscriberConfig, private readonly hostname: string) {}

  async deliver(events: StreamedEvent[], delivered: (seq: number) => Promise<boolean>): Promise<void> {
    if (events.length === 0) return;
    const frames = events.map((e) => octetCounted(syslogMessage(e, this.hostname))).join('');
    await this.send(frames);
    await delivered(events[events.length - 1]!.seq);
  }

  private send(frames: string): Promise<void> {
    const { host, port, timeoutMs } = this.s;
    return new Promise<void>((resolve, reject) => {
      let socket: Socket;
      try {
        socket = this.s.tls ? tlsConnect({ host, port, ...tlsOptions(this.s.tls, host) }) : tcpConnect({ host, port });
      } catch (err) {
        reject(err as Error);
        return;
      }
      let settled = false;
      const done = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => done(new Error(`no close from the server within ${timeoutMs} ms`)), timeoutMs);
      socket.once(this.s.tls ? 'secureConnect' : 'connect', () => socket.end(frames));
      // A syslog server sends nothing back; whatever comes is read and dropped.
      socket.on('data', () => undefined);
      socket.once('end', () => done());
      socket.once('error', (err: NodeJS.ErrnoException) => done(new Error(err.code ? `${err.code}: ${err.message}` : err.message)));
      socket.once('close', () => done(new Error('the connection closed before the server had read the batch')));
    });
  }
}

/** Characters a header value may not hold are replaced (an action is plain ASCII; this only guards the request). */
const headerValue = (text: string) => text.replace(/[^\x20-\x7e]/g, '_');

/** How much of a receiver's answer is read (for the error's excerpt). */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Audit webhooks: one POST per event, the next after a 2xx answer. Signed as the webhook
 * integration's calls are (x-lapse-timestamp, x-lapse-signature), with the event's type, id
 * and the idempotency key in headers. Redirects are not followed.
 */
export class WebhookSender implements Sender {
  private secret: string | null = null;
  private readonly url: URL;

  constructor(private readonly s: WebhookSubscriberConfig, private readonly env: NodeJS.ProcessEnv) {
    this.url = new URL(s.url);
  }

  /** The key, read at the first delivery (an unreadable one fails each try, with the reason, until it can be read). */
  private key(): string {
    if (this.secret !== null) return this.secret;
    const where = `audit stream subscriber "${this.s.id}"`;
    let value: string;
    if ('env' in this.s.secret) {
      value = this.env[this.s.secret.env] ?? '';
      if (value === '') throw new Error(`${where}: secretEnv names the environment variable ${this.s.secret.env}, which is not set`);
    } else {
      const file = this.s.secret.file;
      try {
        value = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        throw new Error(`${where}: secretFile: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (value === '') throw new Error(`${where}: secretFile: ${file} is empty`);
    }
    this.secret = value;
    return value;
  }

  async deliver(events: StreamedEvent[], delivered: (seq: number) => Promise<boolean>): Promise<void> {
    for (const e of events) {
      await this.post(e);
      if (!(await delivered(e.seq))) return;
    }
  }

  private post(e: StreamedEvent): Promise<void> {
    let secret: string;
    try {
      secret = this.key();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const body = JSON.stringify(eventJson(e));
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      [TIMESTAMP_HEADER]: timestamp,
      [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body),
      [EVENT_TYPE_HEADER]: headerValue(e.action),
      [EVENT_ID_HEADER]: auditEventId(e),
      [IDEMPOTENCY_HEADER]: headerValue(idempotencyKey(this.s.id, e)),
      'user-agent': 'lapse',
    };
    const https = this.url.protocol === 'https:';
    const tls = https ? tlsOptions(this.s.tls ?? {}, this.url.hostname.replace(/^\[|\]$/g, '')) : {};
    return new Promise<void>((resolve, reject) => {
      const req = (https ? httpsRequest : httpRequest)(this.url, { method: 'POST', headers, timeout: this.s.timeoutMs, ...tls }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < MAX_ANSWER_BYTES) chunks.push(c);
          size += c.length;
        });
        res.once('error', (err) => reject(err));
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status <= 299) return resolve();
          // The receiver's answer only as a redacted excerpt: it may echo the key in any shape.
          const detail = redactedExcerpt(Buffer.concat(chunks).toString('utf8'), [secret]);
          reject(new Error(`HTTP ${status}${detail ? `: ${detail}` : ''}`));
        });
      });
      req.once('timeout', () => req.destroy(new Error(`no answer within ${this.s.timeoutMs} ms`)));
      req.once('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message)));
      req.end(body);
    });
  }
}
