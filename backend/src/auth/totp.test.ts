import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { base32Decode, base32Encode, matchTotp, otpauthUri, totpAt } from './totp.ts';

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

test('base32 encoding is RFC 4648\'s (without padding) and decodes back, whatever the length', () => {
  assert.equal(base32Encode(RFC_SECRET), 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
  // RFC 4648 section 10, padding left off.
  const vectors: [string, string][] = [['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']];
  for (const [text, encoded] of vectors) assert.equal(base32Encode(Buffer.from(text)), encoded, text);
  for (let n = 0; n < 40; n++) {
    const bytes = randomBytes(n);
    assert.deepEqual(base32Decode(base32Encode(bytes)), bytes);
  }
  // A 20-byte secret (what enrolment makes) is 32 characters.
  assert.equal(base32Encode(randomBytes(20)).length, 32);
});

test('the key URI names the account Lapse:<user>, encoded', () => {
  assert.equal(otpauthUri('alice', 'JBSWY3DPEHPK3PXP'), 'otpauth://totp/Lapse:alice?secret=JBSWY3DPEHPK3PXP&issuer=Lapse');
  assert.equal(otpauthUri('o\'brien@example.com/x?y', 'AB'), 'otpauth://totp/Lapse:o\'brien%40example.com%2Fx%3Fy?secret=AB&issuer=Lapse');
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
