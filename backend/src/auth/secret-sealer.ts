// Secrets Lapse must use again are sealed before they reach the store, and opened only where
// they are used: the TOTP secrets people enrol (to check a code) and the refresh tokens the
// identity provider gives (to renew a person). A copy of the database (a backup, a replica's
// disk) then neither makes codes nor renews anyone at the provider.
//
// AES-256-GCM with a random 96-bit nonce per seal, under a key derived from the server's
// secret key (engine/access-sealer.ts loadSecretKey) for each use alone; the user id is bound
// in as associated data, so a sealed value copied onto another user does not open. What the
// store holds: `v1:<base64 of nonce | tag | ciphertext>`.

import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { secureRandomBytes } from '../domain/random.ts';

const VERSION = 'v1:';

/** What a sealer seals: its key derivation's label, its associated data's prefix, and its name for errors. */
export interface SealedUse {
  info: string;
  aad: string;
  what: string;
}

export const MFA_SECRETS: SealedUse = { info: 'lapse mfa secrets v1', aad: 'lapse-mfa-secret', what: 'MFA secret' };
export const REFRESH_TOKENS: SealedUse = { info: 'lapse refresh tokens v1', aad: 'lapse-refresh-token', what: 'refresh token' };

export class SecretSealer {
  private readonly key: Buffer;

  /** `secretKey`: the server's 32-byte secret key (LAPSE_SECRET_KEY or the data directory's secret.key). */
  constructor(secretKey: Buffer, private readonly use: SealedUse) {
    if (secretKey.length !== 32) throw new Error(`the secret key must be 32 bytes; got ${secretKey.length}`);
    this.key = Buffer.from(hkdfSync('sha256', secretKey, Buffer.alloc(0), use.info, 32));
  }

  seal(userId: string, secret: string): string {
    const nonce = secureRandomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(this.aad(userId));
    const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64');
  }

  /** The secret; throws when `sealed` was not sealed for this user, for this use, with this key. */
  open(userId: string, sealed: string): string {
    if (!sealed.startsWith(VERSION)) throw new Error(`a sealed ${this.use.what} of an unknown version`);
    const raw = Buffer.from(sealed.slice(VERSION.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(this.aad(userId));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  private aad(userId: string): Buffer {
    return Buffer.from(`${this.use.aad}\u0000${userId}`, 'utf8');
  }
}

/** The TOTP secrets people enrol. */
export class MfaSecretSealer extends SecretSealer {
  constructor(secretKey: Buffer) {
    super(secretKey, MFA_SECRETS);
  }
}
