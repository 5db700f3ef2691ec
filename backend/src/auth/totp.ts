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

/** RFC 4648 base32 without padding (what authenticator apps take). */
export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 0x1f];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 0x1f];
  return out;
}

/**
 * The key URI an authenticator app reads (from a QR code, or typed): the account shown as
 * `Lapse:<user>`, and the defaults this module checks codes with (SHA-1, 6 digits, 30 s).
 */
export function otpauthUri(userId: string, base32Secret: string): string {
  return `otpauth://totp/Lapse:${encodeURIComponent(userId)}?secret=${base32Secret}&issuer=Lapse`;
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
