// `lapse login` and `lapse logout`: single sign-on for the command line, through the same
// loopback flow as the tray app (auth/app-sign-in.ts). The token that comes back is kept
// where only this user can read it (credentials.ts); logout revokes it at the server.

import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { ssoSignIn } from '../auth/app-sign-in.ts';
import { ApiClient } from './client.ts';
import { credentialsPath, readCredential, removeCredential, writeCredential, type StoredCredential } from './credentials.ts';
import { serverUrl, type Values, type Verb } from './args.ts';

export const login: Verb = async (_args, v, o) => {
  const url = serverUrl(v).replace(/\/+$/, '');
  const previous = readCredential();
  const got = await ssoSignIn({
    serverUrl: url,
    name: `lapse login on ${hostname()}`,
    ...(v['step-up'] ? { stepUp: v['step-up'] } : {}),
    openBrowser: (address) => {
      o.line('Sign in in your browser; if it does not open, open this address:');
      o.line(address);
      if (!v['no-browser']) openBrowser(address);
    },
  });
  const stored: StoredCredential = { url, token: got.token, user: got.user, tokenId: tokenIdOf(got.token), expiresAt: got.expiresAt, ...renewAfter(got.expiresAt, Date.now()) };
  const path = writeCredential(stored);
  // The token this one replaces is revoked, so that signing in again leaves one working token.
  if (previous && previous.url === url && previous.tokenId !== stored.tokenId) {
    await new ApiClient(url, got.token).delete(`/api/v1/tokens/${encodeURIComponent(previous.tokenId)}`).catch(() => undefined);
  }
  o.line(`signed in to ${url} as ${got.user}${got.expiresAt ? ` until ${got.expiresAt}` : ''}${v['step-up'] ? ` (stepped up for ${v['step-up']})` : ''}; the token is kept in ${path}`);
  return 0;
};

export const logout: Verb = async (_args, _v, o) => {
  const stored = readCredential();
  if (!stored) {
    o.line(`not signed in (no ${credentialsPath()})`);
    return 0;
  }
  // Revoked at the server where it can be reached; the local copy goes either way.
  const revoked = await new ApiClient(stored.url, stored.token).delete(`/api/v1/tokens/${encodeURIComponent(stored.tokenId)}`).then(() => true, () => false);
  removeCredential();
  o.line(revoked ? `signed out of ${stored.url}: the token is revoked and removed` : `the token is removed here; the server at ${stored.url} could not revoke it (it expires on its own)`);
  return 0;
};

/** A token's id: `lapse_<id>_<secret>`. */
function tokenIdOf(token: string): string {
  return token.slice('lapse_'.length, 'lapse_'.length + 12);
}

function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(command, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  } catch {
    // No browser to open: the address is printed.
  }
}

/** Renewed once two thirds of the token's lifetime are over. */
function renewAfter(expiresAt: string | null, now: number): { renewAfter?: string } {
  if (!expiresAt) return {};
  return { renewAfter: new Date(now + ((Date.parse(expiresAt) - now) * 2) / 3).toISOString() };
}

/**
 * Before a client verb: the token `lapse login` stored is renewed at the server once two
 * thirds of its lifetime are over (the server renews only a token single sign-on made, while
 * the identity provider renews its person). Nothing is said, and nothing changes, when it
 * cannot be: the token works until its end, then the verbs say to sign in again.
 */
export async function renewStoredCredentialIfDue(v: Values, now = Date.now()): Promise<void> {
  if (v.token || process.env.LAPSE_TOKEN) return;
  const stored = readCredential();
  if (!stored?.renewAfter || now < Date.parse(stored.renewAfter)) return;
  if ((v.url || process.env.LAPSE_URL) && (v.url || process.env.LAPSE_URL)!.replace(/\/+$/, '') !== stored.url) return;
  const got = await new ApiClient(stored.url, stored.token).post<{ token: string; id: string; expiresAt: string | null }>('/api/v1/tokens/renew', {}).catch(() => null);
  if (!got) return;
  writeCredential({ ...stored, token: got.token, tokenId: got.id, expiresAt: got.expiresAt, ...renewAfter(got.expiresAt, now) });
}
