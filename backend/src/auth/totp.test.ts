import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode, matchTotp, totpAt } from './totp.ts';

// RFC 6238 appendix B (SHA-1), secret "12345678901234567890"; 6-digit codes are the last 6 digits.
const RFC_SECRET = Buffer.from('12345678901234567890');
const VECTORS: [number, string][] = [
  [59, '287082'],
  [1111111109, '081804'],
  [1111111111, '050471'],
  [1234567890, '005924'],
  [2000000000, '279037'],
];

test('codes match the RFC 6238 test vectors', () => {
  for (const [seconds, code] of VECTORS) assert.equal(totpAt(RFC_SECRET, Math.floor(seconds / 30)), code, `at T=${seconds}`);
});

test('base32 secrets decode as in RFC 4648', () => {
  assert.deepEqual(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'), RFC_SECRET);
  assert.deepEqual(base32Decode('gezd gnbv gy3t qojq gezd gnbv gy3t qojq'), RFC_SECRET);
  assert.throws(() => base32Decode('not base32!'), /base32/);
});

test('a code is accepted one step either side for clock drift, and not beyond', () => {
  const at = 1234567890_000;
  const step = Math.floor(at / 30_000);
  assert.equal(matchTotp(RFC_SECRET, totpAt(RFC_SECRET, step), at), step);
  assert.equal(matchTotp(RFC_SECRET, totpAt(RFC_SECRET, step - 1), at), step - 1);
  assert.equal(matchTotp(RFC_SECRET, totpAt(RFC_SECRET, step + 1), at), step + 1);
  assert.equal(matchTotp(RFC_SECRET, totpAt(RFC_SECRET, step - 2), at), null);
  assert.equal(matchTotp(RFC_SECRET, '12345', at), null);
  assert.equal(matchTotp(RFC_SECRET, 'abcdef', at), null);
});
