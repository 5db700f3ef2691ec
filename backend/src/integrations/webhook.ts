// The `webhook` integration: grant and revoke as HTTP POSTs to a configured URL.
//
// Configuration (`connection`):
//   url: https://hooks.example.com/lapse   (required; no password in it)
//   secretEnv / secretFile                 (required) the HMAC key, by reference
//   timeout: 10s                           per call; default 10s
//
// Each call is a POST with the JSON body of payload.ts and these headers:
//   content-type: application/json
//   x-lapse-timestamp: <unix time in seconds>
//   x-lapse-signature: v1=<hex HMAC-SHA256(key, timestamp + "." + body)>
//   idempotency-key: <action>:<request id>
// A receiver verifies by recomputing the HMAC over the timestamp header, a ".", and the raw
// body bytes exactly as received, comparing in constant time, and refusing a timestamp more
// than a few minutes away from its own clock (replays); see verifyWebhookSignature.
//
// A 2xx answer is success; its JSON body may carry access details. Any other status, a
// network error or a timeout is a failure (the answer shown only as a redacted excerpt,
// credentials.ts): the engine retries it (grants a few times, then the request fails;
// revokes with backoff until they succeed). The target must treat a repeated call as the
// same call (the idempotency key says which). Webhook targets do not report what they
// hold: listGranted is empty, so reconciliation has nothing to compare.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect } from 'node:net';
import { redactedExcerpt } from './credentials.ts';
import { accessDetailsFrom, grantPayload, revokePayload, type IntegrationAction } from './payload.ts';
import type { DiscoveredResource, GrantedEntry, GrantInput, GrantResult, HealthReport, Integration, RevokeInput } from './integration.ts';
import type { ResourceConfig } from '../domain/config.ts';

export interface WebhookConnection {
  url: string;
  secret: string;
  timeoutMs?: number;
}

export const SIGNATURE_HEADER = 'x-lapse-signature';
export const TIMESTAMP_HEADER = 'x-lapse-timestamp';
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 10_000;

export function webhookSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return 'v1=' + createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** What a receiver does: true when the signature matches and the timestamp is recent. */
export function verifyWebhookSignature(secret: string, timestamp: string, body: string | Buffer, signature: string, nowMs = Date.now(), toleranceS = 300): boolean {
  if (!/^\d+$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceS) return false;
  const expected = Buffer.from(webhookSignature(secret, timestamp, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

export interface WebhookIntegrationOptions {
  clock?: { now(): number };
  resources?: ResourceConfig[];
}

export class WebhookIntegration implements Integration {
  readonly type = 'webhook';
  private readonly url: URL;
  /** The URL as errors show it: no query string (it may carry a token). */
  private readonly shownUrl: string;

  constructor(
    readonly id: string,
    private readonly connection: WebhookConnection,
    private readonly opts: WebhookIntegrationOptions = {},
  ) {
    this.url = new URL(connection.url);
    this.shownUrl = `${this.url.origin}${this.url.pathname}`;
  }

  private now(): number {
    return (this.opts.clock ?? Date).now();
  }

  private async post(action: IntegrationAction, requestId: string, payload: Record<string, unknown>): Promise<string> {
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const timeoutMs = this.connection.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
    const where = `webhook ${action} POST ${this.shownUrl}`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: webhookSignature(this.connection.secret, timestamp, body),
          'idempotency-key': `${action}:${requestId}`,
          'user-agent': 'lapse',
        },
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      text = await res.text();
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const reason = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new Error(`${where} failed: ${redactedExcerpt(String(reason), [this.connection.secret])}`);
    }
    if (res.status < 200 || res.status > 299) {
      // The receiver's answer only as a redacted excerpt: it may echo the key in any shape.
      const detail = redactedExcerpt(text, [this.connection.secret]);
      throw new Error(`${where} failed: HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
    }
    return text;
  }

  async grant(input: GrantInput): Promise<GrantResult> {
    const text = await this.post('grant', input.requestId, grantPayload(this.id, input));
    return { accessDetails: accessDetailsFrom(text) };
  }

  async revoke(input: RevokeInput): Promise<void> {
    await this.post('revoke', input.requestId, revokePayload(this.id, input));
  }

  async listGranted(): Promise<GrantedEntry[]> {
    return [];
  }

  async listResources(): Promise<DiscoveredResource[]> {
    return (this.opts.resources ?? []).map((r) => ({ type: r.type, name: r.name, ...(r.parent ? { parent: r.parent } : {}), tags: r.tags }));
  }

  /** Whether the receiver's host accepts a TCP connection (no request is sent: a POST would act). */
  async health(): Promise<HealthReport> {
    const checkedAt = this.now();
    const port = Number(this.url.port || (this.url.protocol === 'https:' ? 443 : 80));
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    const timeoutMs = Math.min(this.connection.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS, 5000);
    const error = await new Promise<string | null>((resolve) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(`webhook ${this.shownUrl}: no TCP connection within ${timeoutMs} ms`);
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.end();
        resolve(null);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(`webhook ${this.shownUrl}: cannot connect (${err.code ?? err.message})`);
      });
    });
    return { ok: error === null, checkedAt, error };
  }

  async close(): Promise<void> {}
}
