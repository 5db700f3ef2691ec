// The credential `lapse login` keeps for the other verbs: the server's address and an API
// token of the person who signed in, in a file only they can read (0600, in a 0700 folder):
// $LAPSE_CREDENTIALS, else $XDG_CONFIG_HOME/lapse/credentials.json, else ~/.config/lapse/….

import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface StoredCredential {
  url: string;
  token: string;
  user: string;
  tokenId: string;
  expiresAt: string | null;
  /** From when the token is renewed at the server (two thirds of its lifetime; absent: never). */
  renewAfter?: string;
}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.LAPSE_CREDENTIALS || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'lapse', 'credentials.json');
}

/** The stored credential, or null when there is none (or it cannot be read as one). */
export function readCredential(env: NodeJS.ProcessEnv = process.env): StoredCredential | null {
  try {
    const c = JSON.parse(readFileSync(credentialsPath(env), 'utf8')) as Partial<StoredCredential>;
    return typeof c.url === 'string' && typeof c.token === 'string' && typeof c.user === 'string' && typeof c.tokenId === 'string'
      ? {
        url: c.url, token: c.token, user: c.user, tokenId: c.tokenId, expiresAt: typeof c.expiresAt === 'string' ? c.expiresAt : null,
        ...(typeof c.renewAfter === 'string' ? { renewAfter: c.renewAfter } : {}),
      }
      : null;
  } catch {
    return null;
  }
}

export function writeCredential(c: StoredCredential, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written private from the first byte, and kept so whatever the umask or an earlier file.
  writeFileSync(path, JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

export function removeCredential(env: NodeJS.ProcessEnv = process.env): boolean {
  const path = credentialsPath(env);
  try {
    readFileSync(path);
  } catch {
    return false;
  }
  rmSync(path, { force: true });
  return true;
}
