import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeControl, expiryText, jsonText, output, printRequest, printTable } from './format.ts';
import type { AccessRequest } from '../../../common/api/types.ts';

test('escapeControl shows every control character, bidi control and line separator as an escape', () => {
  assert.equal(escapeControl('\x1b[2J\x1b[H'), String.raw`\x1b[2J\x1b[H`);
  assert.equal(escapeControl('a\rb\nc\td'), String.raw`a\rb\nc\td`);
  assert.equal(escapeControl('\x00\x07\x08\x7f'), String.raw`\x00\x07\x08\x7f`);
  assert.equal(escapeControl('\x85\x9b31m'), String.raw`\x85\x9b31m`);
  assert.equal(escapeControl('\u202eevil\u202c \u2066x\u2069 \u200e\u200f\u061c'), String.raw`\u202eevil\u202c \u2066x\u2069 \u200e\u200f\u061c`);
  assert.equal(escapeControl('\u2028\u2029'), String.raw`\u2028\u2029`);
  // Printable text is left alone, including non-Latin letters, emoji and backslashes.
  const plain = 'Zoë · 42 min left — ✓ 日本語 👩‍💻 C:\\path "quoted"';
  assert.equal(escapeControl(plain), plain);
  // Escaped text has nothing left to escape.
  assert.equal(escapeControl(escapeControl('\x1b\u202e\r')), escapeControl('\x1b\u202e\r'));
});

test('jsonText is exact JSON with no raw control character, even those JSON.stringify leaves as they are', () => {
  const value = { text: 'a\x1b[31m\r\n\x00\x9b\u202e\u2066\u2028 ü', n: [1, 2] };
  for (const space of [undefined, 2]) {
    const text = jsonText(value, space);
    assert.deepEqual(JSON.parse(text), value);
    for (const line of text.split('\n')) assert.doesNotMatch(line, /[\p{Cc}\p{Bidi_Control}\u2028\u2029]/u);
    assert.match(text, /\\u009b/);
    assert.match(text, /\\u202e/);
  }
  assert.equal(jsonText({ a: 'plain' }, 2), JSON.stringify({ a: 'plain' }, null, 2));
});

test('human lines are escaped at the output; data passes as it is', () => {
  const written: string[] = [];
  const o = output((s) => written.push(s));
  o.line('justification: \x1b[2Jhi\nthere');
  o.data('{"a":"\\u001b"}');
  assert.deepEqual(written, [String.raw`justification: \x1b[2Jhi\nthere`, '{"a":"\\u001b"}']);
});

test('tables line up on the escaped text', () => {
  const lines: string[] = [];
  printTable(output((s) => lines.push(s)).line, ['id', 'justification', 'who'], [['r1', 'a\x1bb', 'x'], ['r2', 'plain', 'y']]);
  assert.deepEqual(lines, [
    'id  justification  who',
    String.raw`r1  a\x1bb         x`,
    'r2  plain          y',
  ]);
});

test('a list shows when access ends: the expiry of active access, when ended access ended, nothing otherwise', () => {
  const now = Date.parse('2026-12-07T12:00:00Z');
  const later = '2026-12-07T12:25:00.000Z';
  const earlier = '2026-12-07T11:57:00.000Z';
  assert.equal(expiryText({ status: 'active', expiresAt: later, endedAt: null }, now), 'in 25 min');
  assert.equal(expiryText({ status: 'active', expiresAt: null, endedAt: null }, now), 'indefinite');
  // Revoked before its expiry: not "in 25 min".
  assert.equal(expiryText({ status: 'revoked', expiresAt: later, endedAt: earlier }, now), 'ended 3 min ago');
  assert.equal(expiryText({ status: 'expired', expiresAt: earlier, endedAt: earlier }, now), 'ended 3 min ago');
  assert.equal(expiryText({ status: 'pending', expiresAt: null, endedAt: null }, now), '-');
  const lines: string[] = [];
  printRequest((l) => lines.push(l), { id: 'r1', status: 'revoked', error: null, flowId: 'f', bundleName: null, requester: 'alice', duration: '1h', expiresAt: later, endedAt: earlier, justification: null, approverGroups: [], decisions: [], entitlements: [], grants: [] } as unknown as AccessRequest);
  assert.ok(lines.some((l) => l.includes(`ended ${earlier}`)), lines.join('\n'));
  assert.ok(!lines.some((l) => l.includes('expires')), lines.join('\n'));
});
