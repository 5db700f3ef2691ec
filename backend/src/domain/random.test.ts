import { test } from 'node:test';
import assert from 'node:assert/strict';
import { secureRandomBytes } from './random.ts';

test('secureRandomBytes hands out fresh bytes of the asked size, across pool refills and for large sizes', () => {
  const seen = new Set<string>();
  // 12-byte draws span several 4 KiB refills; none repeats and none is all zeros.
  for (let i = 0; i < 2000; i++) {
    const b = secureRandomBytes(12);
    assert.equal(b.length, 12);
    const hex = b.toString('hex');
    assert.notEqual(hex, '0'.repeat(24));
    assert.ok(!seen.has(hex), 'a draw repeated');
    seen.add(hex);
  }
  const big = secureRandomBytes(5000);
  assert.equal(big.length, 5000);
  assert.ok(new Set(big).size > 200, 'large draws are random too');
  // A returned buffer is the caller's own: changing it does not touch later draws.
  const a = secureRandomBytes(16);
  a.fill(0);
  assert.notEqual(secureRandomBytes(16).toString('hex'), '0'.repeat(32));
});
