// Credentials by reference: read from the environment variable or the file a connection
// names; errors name the variable or the file, never a value.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXCERPT_MAX, redactedExcerpt, resolveSecret } from './credentials.ts';

const dir = mkdtempSync(join(tmpdir(), 'lapse-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const opts = (env: NodeJS.ProcessEnv, required = false) => ({ integration: 'pg', env, required });

test('from an environment variable or a file (one trailing newline dropped)', () => {
  assert.equal(resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({ PG_PW: 's3cret value' })), 's3cret value');
  writeFileSync(join(dir, 'pw'), 'from-file\n');
  assert.equal(resolveSecret({ passwordFile: join(dir, 'pw') }, 'password', opts({})), 'from-file');
  writeFileSync(join(dir, 'hook'), 'line1\nline2\r\n');
  assert.equal(resolveSecret({ secretFile: join(dir, 'hook') }, 'secret', opts({})), 'line1\nline2');
  assert.equal(resolveSecret({}, 'password', opts({})), undefined);
});

test('a missing variable, a missing or empty file, or a missing required secret is a clear error without the value', () => {
  assert.throws(() => resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({})), { message: 'integration "pg": connection.passwordEnv names the environment variable PG_PW, which is not set' });
  assert.throws(() => resolveSecret({ passwordEnv: 'PG_PW' }, 'password', opts({ PG_PW: '' })), /PG_PW, which is not set/);
  assert.throws(() => resolveSecret({ passwordFile: join(dir, 'nope') }, 'password', opts({})), { message: `integration "pg": connection.passwordFile: cannot read ${join(dir, 'nope')} (ENOENT)` });
  writeFileSync(join(dir, 'empty'), '\n');
  assert.throws(() => resolveSecret({ passwordFile: join(dir, 'empty') }, 'password', opts({})), /is empty/);
  assert.throws(() => resolveSecret({}, 'secret', opts({}, true)), { message: 'integration "pg": connection.secretEnv or connection.secretFile is required' });
});

// The shapes a target may echo a secret in, as a test computes them independently.
function shapesOf(secret: string): Record<string, string> {
  const bytes = Buffer.from(secret, 'utf8');
  return {
    plain: secret,
    base64: bytes.toString('base64'),
    base64url: bytes.toString('base64url'),
    hex: bytes.toString('hex'),
    HEX: bytes.toString('hex').toUpperCase(),
    percent: encodeURIComponent(secret),
    percentLower: encodeURIComponent(secret).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
    json: JSON.stringify(secret).slice(1, -1),
    jsonAscii: JSON.stringify(secret).slice(1, -1).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  };
}

/** Fails when `text` holds a shape of a secret, or any `n` consecutive characters of one. */
function assertNoFragment(text: string, shapes: Record<string, string>, n = 8): void {
  for (const [name, shape] of Object.entries(shapes)) {
    assert.ok(!text.includes(shape), `${name} "${shape}" survived in: ${text}`);
    for (let i = 0; i + n <= shape.length; i++) {
      const piece = shape.slice(i, i + n);
      assert.ok(!text.includes(piece), `a ${n}-character fragment "${piece}" of the ${name} shape survived in: ${text}`);
    }
  }
}

const SECRET = 'Zq7-pW2!x9Lk/aB3+tR8~ü';

test('redactedExcerpt: a secret is removed as is and base64, base64url, hex, percent- and JSON-encoded, split across lines or not', () => {
  const shapes = shapesOf(SECRET);
  const half = Math.floor(SECRET.length / 2);
  const texts = [
    ...Object.values(shapes).map((shape) => `before ${shape} after`),
    `before ${SECRET.slice(0, half)}\n${SECRET.slice(half)} after`,
    `before ${SECRET.slice(0, 3)}\r\n${SECRET.slice(3)} after`,
    `before ${shapes.base64.slice(0, 5)}\n  ${shapes.base64.slice(5)} after`,
    `before ${shapes.hex.slice(0, 12)}\n${shapes.hex.slice(12)} after`,
    // Inside a longer encoded value (an HTTP basic authorization header), at each alignment.
    ...['u:', 'us:', 'usr:'].map((user) => `before Basic ${Buffer.from(user + SECRET).toString('base64')} after`),
  ];
  for (const text of texts) {
    const out = redactedExcerpt(text, [SECRET]);
    assertNoFragment(out, shapes);
    assert.match(out, /^before .*\[redacted\].* after$/, `${JSON.stringify(text)} -> ${out}`);
  }
  assert.equal(redactedExcerpt(`before ${SECRET} after`, [SECRET]), 'before [redacted] after');
  assert.equal(redactedExcerpt(`before ${SECRET.slice(0, 9)}\n${SECRET.slice(9)} after`, [SECRET]), 'before [redacted] after', 'the line break inside goes with it');
  assert.equal(redactedExcerpt(`a ${SECRET.toUpperCase()} b`, [SECRET]), 'a [redacted] b', 'letters in another case');
});

test('redactedExcerpt: any 8 characters of a shape are removed, overlapping fragments and several secrets in one run', () => {
  const other = 'charlie-delta-echo-foxtrot';
  const first = 'alpha-bravo-charlie';
  // A fragment from the middle, and fragments of two secrets that overlap ("charlie").
  assert.equal(redactedExcerpt(`x ${SECRET.slice(4, 13)} y`, [SECRET]), 'x [redacted] y');
  assert.equal(redactedExcerpt('x alpha-bravo-charlie-delta-echo-foxtrot y', [first, other]), 'x [redacted] y');
  assert.equal(redactedExcerpt(`x ${shapesOf(other).hex.slice(6, 30)} y`, [first, other]), 'x [redacted] y');
  // A repeated secret, cut anywhere, leaves nothing of it.
  assert.equal(redactedExcerpt(SECRET.repeat(5).slice(7, -5), [SECRET]), '[redacted]');
  // Shorter fragments than 8 characters are not recognised (they would be ordinary words).
  assert.equal(redactedExcerpt(`x ${SECRET.slice(0, 7)} y`, [SECRET]), `x ${SECRET.slice(0, 7)} y`);
  assertNoFragment(redactedExcerpt(`${first}${SECRET}${other}`, [first, SECRET, other]), { ...shapesOf(first), ...shapesOf(SECRET), ...shapesOf(other) });
});

test('redactedExcerpt: secrets of 4 to 7 characters are removed whole in each shape; with a shorter one the output is withheld', () => {
  const short = 'hunt3r';
  const shapes = shapesOf(short);
  for (const text of [...Object.values(shapes), 'HUNT3R', 'hu\nnt3r', shapes.hex.slice(0, 8)]) {
    const out = redactedExcerpt(`login ${text} refused`, [short]);
    assertNoFragment(out, shapes);
    assert.equal(out, 'login [redacted] refused', text);
  }
  assert.equal(redactedExcerpt('nothing to see', ['abcd']), 'nothing to see');
  assert.equal(redactedExcerpt('ok hunt the hunter', [short]), 'ok hunt the hunter', 'a part of a short secret is no match');
  for (const tiny of ['pw', 'abc', ' \n x ']) {
    assert.equal(redactedExcerpt('denied for pw abc x', ['a-long-enough-secret', tiny]), '[output withheld: a secret of this integration is shorter than 4 characters, too short to be redacted]');
  }
  assert.equal(redactedExcerpt('  ', ['pw']), '', 'no output: nothing to withhold');
  assert.equal(redactedExcerpt('denied', [undefined]), 'denied');
});

test('redactedExcerpt: text without a secret is kept, on one line (line breaks and control characters shown), and bounded to its end', () => {
  assert.equal(redactedExcerpt('  connection refused\n', [SECRET]), 'connection refused');
  assert.equal(redactedExcerpt('line 1\r\nline 2\nline 3\rline 4', []), 'line 1⏎line 2⏎line 3⏎line 4');
  assert.equal(redactedExcerpt('red \u001b[31mtext\u001b[0m\ttab\u0000nul\u202Eevil\u2028sep', []), 'red \\u001b[31mtext\\u001b[0m\\u0009tab\\u0000nul\\u202eevil⏎sep');
  const long = Array.from({ length: 400 }, (_, i) => `line ${i}`).join('\n');
  const out = redactedExcerpt(long, [SECRET]);
  assert.equal(out.length, EXCERPT_MAX);
  assert.ok(out.startsWith('…'));
  assert.ok(out.endsWith('line 398⏎line 399'));
  assert.equal(redactedExcerpt('x'.repeat(50), [], { max: 10 }), '…xxxxxxxxx');
  assert.ok(!/[\u0000-\u001f\u007f]/.test(redactedExcerpt(`a\n${'\u0007'.repeat(500)}`, [])));
});

test('redactedExcerpt: the end of a longer output (truncated) may begin inside a secret: that beginning is removed too', () => {
  const end = SECRET.slice(-6) + ' then ok';
  assert.equal(redactedExcerpt(end, [SECRET], { truncated: true }), '[redacted] then ok');
  assert.equal(redactedExcerpt(end, [SECRET]), end, 'not cut: 6 characters alone are no match');
  assert.equal(redactedExcerpt(shapesOf(SECRET).hex.slice(-3) + ' then ok', [SECRET], { truncated: true }), '[redacted] then ok');
  assert.equal(redactedExcerpt('then ok', [SECRET], { truncated: true }), 'then ok');
  // A large output: only its end is looked at, and a secret in it is still found.
  const big = 'y'.repeat(3_000_000) + `\nfailed: ${shapesOf(SECRET).base64}`;
  const started = Date.now();
  assert.ok(redactedExcerpt(big, [SECRET]).endsWith('⏎failed: [redacted]'));
  assert.ok(Date.now() - started < 2000);
});
