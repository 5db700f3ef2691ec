// The audit stream (the `auditStream` configuration section): every audit event, in order,
// delivered to subscribers outside the box, so that a copy the database cannot rewrite is
// kept elsewhere. What a subscriber is, what it receives (an RFC 5424 syslog message, or the
// JSON body and headers of an audit webhook) and how long a failing one waits before the next
// try. Pure: the delivery itself is in audit/stream.ts.

/** TLS towards a subscriber: the CA to trust instead of the system's, and the name its certificate must hold. */
export interface AuditStreamTls {
  /** A PEM file of the CA certificates to trust (absent: the system's). */
  caFile?: string;
  /** The name the server's certificate must hold (absent: the host). */
  serverName?: string;
}

/** RFC 5424 messages over TCP (RFC 6587 octet counting), with TLS when `tls` is given (RFC 5425). */
export interface SyslogSubscriberConfig {
  id: string;
  type: 'syslog';
  host: string;
  port: number;
  /** Absent: plain TCP. */
  tls?: AuditStreamTls;
  /** How long one delivery (connect, send, the server's close) may take, ms. */
  timeoutMs: number;
}

/** An HTTPS POST of each event, signed like the webhook integration. */
export interface WebhookSubscriberConfig {
  id: string;
  type: 'webhook';
  url: string;
  /** The HMAC key, by reference only. */
  secret: { env: string } | { file: string };
  tls?: AuditStreamTls;
  /** How long one POST may take, ms. */
  timeoutMs: number;
}

export type AuditSubscriberConfig = SyslogSubscriberConfig | WebhookSubscriberConfig;

export interface AuditStreamSettings {
  subscribers: AuditSubscriberConfig[];
}

export const DEFAULT_AUDIT_STREAM_TIMEOUT_MS = 10_000;

/** One audit event as the stream carries it (the store's AuditEvent). */
export interface StreamedEvent {
  seq: number;
  at: number;
  actor: string;
  action: string;
  requestId: string | null;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Where a subscriber delivers, as the status and logs show it: tcp://host:port, tls://host:port, or the webhook URL. */
export function subscriberTarget(s: AuditSubscriberConfig): string {
  if (s.type === 'webhook') return s.url;
  return `${s.tls ? 'tls' : 'tcp'}://${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}`;
}

// ---------------------------------------------------------------------------------------
// Syslog (RFC 5424), framed by octet counting (RFC 6587).

/** facility 13 (log audit) × 8 + severity 5 (notice). */
export const SYSLOG_PRI = 13 * 8 + 5;
export const SYSLOG_APP_NAME = 'lapse';
/** The structured data's SD-ID: name@enterprise number (32473 is the number RFC 5612 reserves for documentation). */
export const SYSLOG_SD_ID = 'lapse@32473';

/**
 * JSON with every character outside printable ASCII written as a \u escape, besides what
 * JSON.stringify escapes: no control character (C0, DEL, C1), no line or paragraph separator
 * and no other non-ASCII byte reaches the wire as it is. JSON.parse gives the same value back.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 6.3.3); control characters replaced by U+FFFD. */
function sdValue(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, '\ufffd').replace(/["\\\]]/g, (c) => `\\${c}`);
}

/** A header field: printable US-ASCII without spaces, at most `max` characters; "-" when empty. */
function headerField(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/**
 * One event as an RFC 5424 message: `<109>1 TIMESTAMP HOSTNAME lapse - ACTION [lapse@32473
 * seq=… hash=… prevHash=… actor=… action=… requestId=…] {json}`; the message is the event's
 * JSON (asciiJson: seq, at, actor, action, requestId, data, prevHash, hash).
 */
export function syslogMessage(e: StreamedEvent, hostname: string): string {
  const params: Array<[string, string]> = [
    ['seq', String(e.seq)], ['hash', e.hash], ['prevHash', e.prevHash], ['actor', e.actor], ['action', e.action],
    ...(e.requestId === null ? [] : [['requestId', e.requestId] as [string, string]]),
  ];
  const sd = `[${SYSLOG_SD_ID} ${params.map(([k, v]) => `${k}="${sdValue(v)}"`).join(' ')}]`;
  const header = `<${SYSLOG_PRI}>1 ${new Date(e.at).toISOString()} ${headerField(hostname, 255)} ${SYSLOG_APP_NAME} - ${headerField(e.action, 32)}`;
  return `${header} ${sd} ${asciiJson(eventJson(e))}`;
}

/** RFC 6587 octet counting: the message's length in bytes, a space, the message. */
export function octetCounted(message: string): string {
  return `${new TextEncoder().encode(message).length} ${message}`;
}

// ---------------------------------------------------------------------------------------
// Audit webhooks.

/** The event as JSON: the body of an audit webhook, and a syslog message's MSG. */
export function eventJson(e: StreamedEvent): Record<string, unknown> {
  return { seq: e.seq, hash: e.hash, prevHash: e.prevHash, at: new Date(e.at).toISOString(), actor: e.actor, action: e.action, requestId: e.requestId, data: e.data };
}

export const EVENT_TYPE_HEADER = 'x-lapse-event-type';
export const EVENT_ID_HEADER = 'x-lapse-event-id';
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/** The event's id (`audit:<seq>`). */
export const auditEventId = (e: Pick<StreamedEvent, 'seq'>) => `audit:${e.seq}`;

/** The same for every delivery of this event to this subscriber: `<subscriber>:audit:<seq>:<hash>`. */
export const idempotencyKey = (subscriber: string, e: Pick<StreamedEvent, 'seq' | 'hash'>) => `${subscriber}:audit:${e.seq}:${e.hash}`;

// ---------------------------------------------------------------------------------------
// Retries.

export interface Backoff {
  /** The wait after the first failure, ms. */
  baseMs: number;
  /** The longest wait, ms. */
  maxMs: number;
}

export const DEFAULT_AUDIT_STREAM_BACKOFF: Readonly<Backoff> = { baseMs: 1000, maxMs: 60_000 };

/**
 * How long to wait after the `attempts`-th failure in a row: base × 2^(attempts-1), at most
 * max, then a random half of it taken off (jitter: replicas and subscribers do not retry in step).
 */
export function backoffMs(attempts: number, b: Backoff, random: () => number = Math.random): number {
  const full = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(full / 2 + (full / 2) * random());
}
