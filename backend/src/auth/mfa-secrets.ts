// The TOTP secrets people enrol are sealed before they reach the store, and opened only to
// check a code: a copy of the database (a backup, a replica's disk) does not let anyone make
// codes.
//
// AES-256-GCM with a random 96-bit nonce per seal, under a key derived from the server's
// secret key (engine/access-sealer.ts loadSecretKey) for this use alone; the user id is bound
// in as associated data, so a sealed secret copied onto another user's enrolment does not
// open. What the store holds: `v1:<base64 of nonce | tag | ciphertext>`.

import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { secureRandomBytes } from '../domain/random.ts';

const VERSION = 'v1:';

export class MfaSecretSealer {
  private readonly key: Buffer;

  /** `secretKey`: the server's 32-byte secret key (LAPSE_SECRET_KEY or the data directory's secret.key). */
  constructor(secretKey: Buffer) {
    if (secretKey.length !== 32) throw new Error(`the secret key must be 32 bytes; got ${secretKey.length}`);
    this.key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), 'lapse mfa secrets v1', 32));
  }

  seal(userId: string, base32Secret: string): string {
    const nonce = secureRandomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(aad(userId));
    const body = Buffer.concat([cipher.update(base32Secret, 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64');
  }

  /** The base32 secret; throws when `sealed` was not sealed for this user with this key. */
  open(userId: string, sealed: string): string {
    if (!sealed.startsWith(VERSION)) throw new Error('a sealed MFA secret of an unknown version');
    const raw = Buffer.from(sealed.slice(VERSION.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(aad(userId));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

function aad(userId: string): Buffer {
  return Buffer.from(`lapse-mfa-secret\u0000${userId}`, 'utf8');
}
