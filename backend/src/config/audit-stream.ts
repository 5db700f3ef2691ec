// The `auditStream` section: the subscribers every audit event is delivered to, in order
// (domain/audit-stream.ts). A syslog subscriber is a host and port, with TLS or without; an
// audit webhook is an https URL (plain http only on a loopback address) and its HMAC key,
// given by reference only (secretEnv or secretFile).

import { isMap, isScalar } from 'yaml';
import { DEFAULT_AUDIT_STREAM_TIMEOUT_MS, type AuditStreamSettings, type AuditStreamTls, type AuditSubscriberConfig } from '../domain/audit-stream.ts';
import { ID_PATTERN, type Reader } from './yaml-reader.ts';
import { readWebhookUrl } from './urls.ts';
const TYPES = ['syslog', 'webhook'] as const;

export function readAuditStream(r: Reader, node: unknown, path: string): AuditStreamSettings | undefined {
  const f = r.map(node, path, ['subscribers'], 'the audit stream, { subscribers: [...] }');
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const seen = new Set<string>();
  const subscribers = r.list(f.get('subscribers'), f.at('subscribers'), (n, p) => {
    const s = readSubscriber(r, n, p);
    if (s !== undefined && seen.has(s.id)) return r.error(n, `${p}.id`, `the subscriber id "${s.id}" is used twice; each subscriber needs its own (its cursor is kept under it)`);
    if (s !== undefined) seen.add(s.id);
    return s;
  });
  return subscribers === undefined || r.errorCount() > before ? undefined : { subscribers };
}

const SYSLOG_KEYS = ['id', 'type', 'host', 'port', 'tls?', 'timeout?'];
const WEBHOOK_KEYS = ['id', 'type', 'url', 'secret?', 'secretEnv?', 'secretFile?', 'tls?', 'timeout?'];

function readSubscriber(r: Reader, node: unknown, path: string): AuditSubscriberConfig | undefined {
  if (!r.isMap(node, path, 'a subscriber, { id, type: syslog | webhook, … }')) return undefined;
  const typeNode = isMap(node) ? node.items.find((pair) => isScalar(pair.key) && pair.key.value === 'type')?.value : undefined;
  const type = typeNode === undefined || typeNode === null ? r.error(node, path, 'missing required key "type" (syslog or webhook)') : r.oneOf(typeNode, `${path}.type`, TYPES);
  if (type === undefined) return undefined;
  const f = r.map(node, path, type === 'syslog' ? SYSLOG_KEYS : WEBHOOK_KEYS);
  if (f === undefined) return undefined;
  const before = r.errorCount();
  const id = r.id(f.get('id'), f.at('id'));
  const tls = f.has('tls') ? readTls(r, f.get('tls'), f.at('tls')) : undefined;
  const timeoutMs = f.has('timeout') ? r.duration(f.get('timeout'), f.at('timeout')) : DEFAULT_AUDIT_STREAM_TIMEOUT_MS;
  if (timeoutMs !== undefined && (timeoutMs < 1000 || timeoutMs > 300_000)) r.error(f.get('timeout'), f.at('timeout'), `expected a duration from 1s to 5m; got ${JSON.stringify(r.scalar(f.get('timeout')))}`);
  if (type === 'syslog') {
    const host = readHost(r, f.get('host'), f.at('host'));
    const port = readPort(r, f.get('port'), f.at('port'));
    if (r.errorCount() > before || id === undefined || host === undefined || port === undefined || timeoutMs === undefined) return undefined;
    return { id, type, host, port, ...(tls ? { tls } : {}), timeoutMs };
  }
  const url = readWebhookUrl(r, f.get('url'), f.at('url'));
  if (f.has('secret')) r.error(f.get('secret'), f.at('secret'), '"secret" would hold a secret inline; give it by reference instead: secretEnv (an environment variable) or secretFile (a file path)');
  if (f.has('secretEnv') && f.has('secretFile')) r.error(f.get('secretFile'), f.at('secretFile'), 'give the secret one way: secretEnv or secretFile, not both');
  if (!f.has('secretEnv') && !f.has('secretFile') && !f.has('secret')) r.error(node, path, 'an audit webhook needs its HMAC key: secretEnv (an environment variable) or secretFile (a file path)');
  const secretEnv = f.has('secretEnv') ? r.name(f.get('secretEnv'), f.at('secretEnv'), 'an environment variable name') : undefined;
  const secretFile = f.has('secretFile') ? r.name(f.get('secretFile'), f.at('secretFile'), 'a file path') : undefined;
  if (r.errorCount() > before || id === undefined || url === undefined || timeoutMs === undefined || (secretEnv === undefined && secretFile === undefined)) return undefined;
  return { id, type, url, secret: secretEnv !== undefined ? { env: secretEnv } : { file: secretFile! }, ...(tls ? { tls } : {}), timeoutMs };
}

/** A host name or IP address: letters, digits, ".", "-", ":" (IPv6), nothing else. */
function readHost(r: Reader, node: unknown, path: string): string | undefined {
  const host = r.name(node, path, 'a host name or IP address');
  if (host === undefined) return undefined;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host) && !/^[0-9A-Fa-f:.]+$/.test(host)) {
    return r.error(node, path, `expected a host name or IP address (no scheme, port or path); got ${JSON.stringify(host)}`);
  }
  return host;
}

function readPort(r: Reader, node: unknown, path: string): number | undefined {
  const port = r.scalar(node);
  if (typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535) return port;
  return r.error(node, path, `expected a port from 1 to 65535; got ${JSON.stringify(port ?? null)}`);
}

function readTls(r: Reader, node: unknown, path: string): AuditStreamTls | undefined {
  const f = r.map(node, path, ['caFile?', 'serverName?'], 'TLS settings, { caFile, serverName } (either may be left out: {} uses the system\'s CAs)');
  if (f === undefined) return undefined;
  const caFile = f.has('caFile') ? r.name(f.get('caFile'), f.at('caFile'), 'a file path') : undefined;
  const serverName = f.has('serverName') ? readHost(r, f.get('serverName'), f.at('serverName')) : undefined;
  if ((f.has('caFile') && caFile === undefined) || (f.has('serverName') && serverName === undefined)) return undefined;
  return { ...(caFile !== undefined ? { caFile } : {}), ...(serverName !== undefined ? { serverName } : {}) };
}


/** The section in the configuration's JSON Schema (json-schema.ts). */
export function auditStreamSchema(): Record<string, unknown> {
  const tls = {
    type: 'object', additionalProperties: false,
    description: 'TLS (RFC 5425 for syslog): {} trusts the system\'s CAs; caFile a PEM file of the CAs to trust instead; serverName the name the certificate must hold (default the host).',
    properties: { caFile: { type: 'string', minLength: 1 }, serverName: { type: 'string', minLength: 1 } },
  };
  const timeout = { $ref: '#/definitions/duration', description: 'How long one delivery may take (1s to 5m); default 10s.' };
  const id = { type: 'string', pattern: ID_PATTERN.source, description: 'The subscriber\'s id: its cursor (the last event delivered) is kept in the store under it.' };
  return {
    type: 'object', additionalProperties: false, required: ['subscribers'],
    description: 'Every audit event, in order, delivered to each subscriber (at least once; see the README\'s Audit stream).',
    properties: {
      subscribers: {
        type: 'array',
        items: {
          oneOf: [
            {
              type: 'object', additionalProperties: false, required: ['id', 'type', 'host', 'port'],
              description: 'RFC 5424 syslog over TCP (RFC 6587 octet counting), with tls over TLS.',
              properties: { id, type: { const: 'syslog' }, host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 1, maximum: 65535 }, tls, timeout },
            },
            {
              type: 'object', additionalProperties: false, required: ['id', 'type', 'url'],
              description: 'An HTTPS POST of each event, signed with the key that secretEnv or secretFile names.',
              properties: {
                id, type: { const: 'webhook' },
                url: { type: 'string', description: 'https (plain http only on 127.0.0.1 or localhost); no credentials, query or fragment.' },
                secretEnv: { type: 'string', description: 'The environment variable holding the HMAC key (never inline).' },
                secretFile: { type: 'string', description: 'The file holding the HMAC key (never inline).' },
                tls, timeout,
              },
            },
          ],
        },
      },
    },
  };
}
