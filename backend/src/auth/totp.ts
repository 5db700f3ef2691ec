// RFC 6238 time-based one-time codes (SHA-1, 6 digits, 30 s steps), for flows that require MFA.

import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of clean) {
    const idx = BASE32.indexOf(ch);
    if (idx < 0) throw new Error('a TOTP secret must be base32 (A–Z, 2–7)');
    value = (value << 5) | idx;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function totpAt(secret: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return code.toString().padStart(6, '0');
}

/** The time step whose code matches (±1 step of clock drift), or null. */
export function matchTotp(secret: Buffer, code: string, at: number, stepMs = 30_000): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const counter = Math.floor(at / stepMs);
  for (const c of [counter, counter - 1, counter + 1]) if (totpAt(secret, c) === code) return c;
  return null;
}
