// Time-ordered ids (UUID version 7, RFC 9562): the first 48 bits are the millisecond
// timestamp, the rest random. Rows keyed by them are appended near each other in the
// store's indexes instead of landing on random pages, which keeps commits small.

import { secureRandomBytes } from './random.ts';

let lastMs = 0;
let counter = 0;

export function uuidv7(now: number = Date.now()): string {
  const bytes = secureRandomBytes(16);
  // Monotonic within one process: a 12-bit counter in rand_a for ids made in the same ms.
  if (now <= lastMs) {
    now = lastMs;
    counter = (counter + 1) & 0xfff;
    if (counter === 0) now = ++lastMs;
  } else {
    lastMs = now;
    counter = bytes[6]! & 0x07; // start low so the counter has room
  }
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | ((counter >> 8) & 0x0f);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
