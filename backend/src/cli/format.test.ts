import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeControl, jsonText, output, printTable } from './format.ts';

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
