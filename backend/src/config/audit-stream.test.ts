// The auditStream section: what a valid section gives (the schema accepts it too), and each
// mistake refused at its place with what to write instead.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { parseConfig } from './load.ts';
import { configJsonSchema } from './json-schema.ts';
import { formatConfigErrors } from './yaml-reader.ts';

const EXAMPLE = readFileSync(fileURLToPath(new URL('../../examples/lapse.yaml', import.meta.url)), 'utf8');

/** The example configuration with an auditStream section of these subscriber lines. */
const withStream = (lines: string) => `${EXAMPLE}\nauditStream:\n  subscribers:\n${lines.replace(/^/gm, '    ')}\n`;

function errors(text: string): string[] {
  const result = parseConfig(text, 'lapse.yaml');
  assert.equal(result.ok, false, 'expected errors');
  return result.ok ? [] : formatConfigErrors(result.errors).split('\n');
}

function expectError(lines: string, expected: RegExp): string[] {
  const found = errors(withStream(lines));
  assert.ok(found.some((e) => expected.test(e)), `${expected}\n${found.join('\n')}`);
  return found;
}

const validate = new Ajv({ allErrors: true, strict: true, strictRequired: false }).compile(configJsonSchema);

test('syslog and webhook subscribers, with their defaults; the schema accepts the same', () => {
  const text = withStream([
    '- { id: siem, type: syslog, host: siem.example.com, port: 6514, tls: { caFile: /etc/lapse/siem-ca.pem, serverName: siem.example.com }, timeout: 30s }',
    '- { id: relay, type: syslog, host: 10.0.0.7, port: 514 }',
    '- { id: archive, type: webhook, url: "https://audit.example.com/lapse", secretEnv: LAPSE_AUDIT_HOOK_KEY, tls: {} }',
    '- { id: local, type: webhook, url: "http://127.0.0.1:9000/hook", secretFile: /etc/lapse/hook.key }',
  ].join('\n'));
  const result = parseConfig(text, 'lapse.yaml');
  assert.ok(result.ok, result.ok ? '' : formatConfigErrors(result.errors));
  assert.deepEqual(result.config.auditStream, {
    subscribers: [
      { id: 'siem', type: 'syslog', host: 'siem.example.com', port: 6514, tls: { caFile: '/etc/lapse/siem-ca.pem', serverName: 'siem.example.com' }, timeoutMs: 30_000 },
      { id: 'relay', type: 'syslog', host: '10.0.0.7', port: 514, timeoutMs: 10_000 },
      { id: 'archive', type: 'webhook', url: 'https://audit.example.com/lapse', secret: { env: 'LAPSE_AUDIT_HOOK_KEY' }, tls: {}, timeoutMs: 10_000 },
      { id: 'local', type: 'webhook', url: 'http://127.0.0.1:9000/hook', secret: { file: '/etc/lapse/hook.key' }, timeoutMs: 10_000 },
    ],
  });
  assert.ok(validate(parse(text)), JSON.stringify(validate.errors));
  const none = parseConfig(EXAMPLE, 'lapse.yaml');
  assert.ok(none.ok && none.config.auditStream === undefined, 'no section: no stream');
});

test('a bad host or port, an unknown key or type: each at its line', () => {
  const host = expectError('- { id: s, type: syslog, host: "tcp://siem.example.com", port: 514 }', /lapse\.yaml:\d+:\d+: auditStream\.subscribers\[0\]\.host: expected a host name or IP address \(no scheme, port or path\); got "tcp:\/\/siem\.example\.com"/);
  assert.equal(host.length, 1, host.join('\n'));
  expectError('- { id: s, type: syslog, host: siem.example.com, port: 70000 }', /auditStream\.subscribers\[0\]\.port: expected a port from 1 to 65535; got 70000/);
  expectError('- { id: s, type: syslog, host: siem.example.com, port: "514" }', /auditStream\.subscribers\[0\]\.port: expected a port from 1 to 65535; got "514"/);
  expectError('- { id: s, type: syslog, host: siem.example.com, port: 514, tsl: {} }', /auditStream\.subscribers\[0\]\.tsl: unknown key "tsl"; expected one of id, type, host, port, tls, timeout$/);
  expectError('- { id: s, type: syslog, host: siem.example.com, port: 514, tls: { ca: /x } }', /auditStream\.subscribers\[0\]\.tls\.ca: unknown key "ca"; expected one of caFile, serverName/);
  expectError('- { id: s, type: splunk, host: siem.example.com, port: 514 }', /auditStream\.subscribers\[0\]\.type: expected one of syslog, webhook; got "splunk"/);
  expectError('- { id: s, host: siem.example.com, port: 514 }', /auditStream\.subscribers\[0\]: missing required key "type" \(syslog or webhook\)/);
  expectError('- { id: s, type: syslog, host: siem.example.com, port: 514, timeout: 10m }', /auditStream\.subscribers\[0\]\.timeout: expected a duration from 1s to 5m; got "10m"/);
  expectError('- { id: s, type: syslog, host: a.example.com, port: 514 }\n- { id: s, type: syslog, host: b.example.com, port: 514 }', /auditStream\.subscribers\[1\]\.id: the subscriber id "s" is used twice/);
  const unknownTop = errors(`${EXAMPLE}\nauditStreams: { subscribers: [] }\n`);
  assert.ok(unknownTop.some((e) => /auditStreams: unknown key "auditStreams"; expected one of .*auditStream.* \(did you mean "auditStream"\?\)/.test(e)), unknownTop.join('\n'));
});

test('a webhook: the key by reference only, and an https URL without credentials or a query', () => {
  const inline = expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse", secret: hunter2-secret }', /auditStream\.subscribers\[0\]\.secret: "secret" would hold a secret inline; give it by reference instead: secretEnv .* or secretFile/);
  assert.ok(inline.every((e) => !e.includes('hunter2')), 'the secret is not repeated in the error');
  expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse" }', /auditStream\.subscribers\[0\]: an audit webhook needs its HMAC key: secretEnv .* or secretFile/);
  expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse", secretEnv: A, secretFile: /b }', /secretFile: give the secret one way: secretEnv or secretFile, not both/);
  const credentials = expectError('- { id: h, type: webhook, url: "https://user:pa55word@audit.example.com/lapse", secretEnv: K }', /auditStream\.subscribers\[0\]\.url: the URL holds credentials; leave them out/);
  assert.ok(credentials.every((e) => !e.includes('pa55word')), 'the password in the URL is not repeated');
  const query = expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse?token=abc123", secretEnv: K }', /auditStream\.subscribers\[0\]\.url: expected a URL without a query or fragment/);
  assert.ok(query.every((e) => !e.includes('abc123')), 'the query is not repeated');
  expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse#x", secretEnv: K }', /url: expected a URL without a query or fragment/);
  expectError('- { id: h, type: webhook, url: "http://audit.example.com/lapse", secretEnv: K }', /url: expected an https URL \(plain http only on 127\.0\.0\.1 or localhost\)/);
  expectError('- { id: h, type: webhook, url: "ftp://audit.example.com/lapse", secretEnv: K }', /url: expected an https URL/);
  expectError('- { id: h, type: webhook, url: "https://audit.example.com/lapse", secretEnv: K, host: x }', /auditStream\.subscribers\[0\]\.host: unknown key "host"/);
});
