// Cryptographically secure random bytes, drawn from a pool refilled 4 KiB at a time.
// `crypto.randomBytes` pays a full call into OpenSSL for every few bytes, which showed up as
// several percent of the CPU time of creating a request (its id, the sealing nonce). Each
// pooled byte is handed out once and copied out, as `crypto.randomUUID` does with its cache.

import { randomFillSync } from 'node:crypto';

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

export function secureRandomBytes(size: number): Buffer {
  if (size > POOL_SIZE / 4) return randomFillSync(Buffer.allocUnsafe(size));
  if (offset + size > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(size);
  pool.copy(out, 0, offset, offset + size);
  // Spent bytes are zeroed, so that nothing handed out lingers in the pool.
  pool.fill(0, offset, offset + size);
  offset += size;
  return out;
}
