// Access details (the credentials a grant hands to the requester) are encrypted before they
// reach the store, and opened only to be shown to the requester.
//
// AES-256-GCM with a random 96-bit nonce per seal; the request id and the integration are
// bound in as associated data, so a sealed value copied onto another grant does not open.
// What the store holds for a grant is `{ "sealed": "v1:<base64 of nonce | tag | ciphertext>" }`.
//
// The key: LAPSE_SECRET_KEY (base64 of 32 bytes) if set, otherwise `<data-dir>/secret.key`
// (base64 of 32 bytes), created with mode 0600 on first start. Losing the key loses the access
// details of active requests (not the access itself: revokes do not need them).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { secureRandomBytes } from '../domain/random.ts';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_KEY_FILE = 'secret.key';
const VERSION = 'v1:';

export class AccessSealer {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error(`the access details key must be 32 bytes; got ${key.length}`);
  }

  seal(requestId: string, integration: string, details: Record<string, string>): Record<string, string> {
    const nonce = secureRandomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(aad(requestId, integration));
    const body = Buffer.concat([cipher.update(JSON.stringify(details), 'utf8'), cipher.final()]);
    return { sealed: VERSION + Buffer.concat([nonce, cipher.getAuthTag(), body]).toString('base64') };
  }

  /** The details of a sealed value (a value stored before sealing existed is returned as it is). */
  open(requestId: string, integration: string, stored: Record<string, string>): Record<string, string> {
    const sealed = stored.sealed;
    if (sealed === undefined || Object.keys(stored).length !== 1) return stored;
    if (!sealed.startsWith(VERSION)) throw new Error('sealed access details of an unknown version');
    const raw = Buffer.from(sealed.slice(VERSION.length), 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(aad(requestId, integration));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    return JSON.parse(text) as Record<string, string>;
  }
}

function aad(requestId: string, integration: string): Buffer {
  return Buffer.from(`lapse-access-details\u0000${requestId}\u0000${integration}`, 'utf8');
}

/**
 * The key from LAPSE_SECRET_KEY, or from `<dataDir>/secret.key` (created on first use, unless
 * `create` is false: then a missing file is an error).
 */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv, opts: { create?: boolean } = {}): { key: Buffer; source: string } {
  const fromEnv = env.LAPSE_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv !== '') {
    const key = Buffer.from(fromEnv, 'base64');
    if (key.length !== 32 || key.toString('base64') !== fromEnv.trim()) {
      throw new Error('LAPSE_SECRET_KEY must be the base64 encoding of 32 random bytes (e.g. `openssl rand -base64 32`)');
    }
    return { key, source: 'LAPSE_SECRET_KEY' };
  }
  const path = join(dataDir, SECRET_KEY_FILE);
  if (!existsSync(path) && opts.create === false) {
    throw new Error(`there is no ${path}: give the server's key in LAPSE_SECRET_KEY, or the server's data directory`);
  }
  if (!existsSync(path)) {
    try {
      writeFileSync(path, randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    chmodSync(path, 0o600);
  }
  const text = readFileSync(path, 'utf8').trim();
  const key = Buffer.from(text, 'base64');
  if (key.length !== 32) throw new Error(`${path} must hold the base64 encoding of 32 bytes`);
  return { key, source: path };
}
