// `lapse login` and `lapse logout`: single sign-on for the command line, through the same
// loopback flow as the tray app (auth/app-sign-in.ts). The token that comes back is kept
// where only this user can read it (credentials.ts); logout revokes it at the server.

import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { ssoSignIn } from '../auth/app-sign-in.ts';
import { ApiClient } from './client.ts';
import { credentialsPath, readCredential, removeCredential, writeCredential } from './credentials.ts';
import { serverUrl, type Verb } from './args.ts';

export const login: Verb = async (_args, v, o) => {
  const url = serverUrl(v).replace(/\/+$/, '');
  const got = await ssoSignIn({
    serverUrl: url,
    name: `lapse login on ${hostname()}`,
    openBrowser: (address) => {
      o.line('Sign in in your browser; if it does not open, open this address:');
      o.line(address);
      if (!v['no-browser']) openBrowser(address);
    },
  });
  const stored = { url, token: got.token, user: got.user, tokenId: tokenIdOf(got.token), expiresAt: got.expiresAt };
  const path = writeCredential(stored);
  o.line(`signed in to ${url} as ${got.user}${got.expiresAt ? ` until ${got.expiresAt}` : ''}; the token is kept in ${path}`);
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
