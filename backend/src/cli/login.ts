// `lapse login` and `lapse logout`: single sign-on for the command line (RFC 8252). The
// browser signs the person in at the identity provider through the server, which sends it
// back to a one-time loopback address here with a code; the code and the PKCE verifier only
// this process knows are exchanged for an API token, kept where only this user can read it.

import { createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { ApiClient } from './client.ts';
import { readCredential, removeCredential, writeCredential, credentialsPath } from './credentials.ts';
import { serverUrl, UsageError, type Verb } from './args.ts';

/** How long `lapse login` waits for the browser to come back. */
const LOGIN_TIMEOUT_MS = 5 * 60_000;

export const login: Verb = async (_args, v, o) => {
  const url = serverUrl(v);
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  const start = new URL('/auth/login', url);
  start.search = new URLSearchParams({ redirect_uri: `http://127.0.0.1:${port}/callback`, state, code_challenge: challenge, name: `lapse login on ${hostname()}` }).toString();
  try {
    const code = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new UsageError('no answer from the browser within 5 minutes; run lapse login again')), LOGIN_TIMEOUT_MS);
      server.on('request', (req, res) => {
        const at = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        if (at.pathname !== '/callback') {
          res.writeHead(404).end();
          return;
        }
        const ok = at.searchParams.get('state') === state && at.searchParams.get('code');
        res.writeHead(ok ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8' }).end(ok ? 'Signed in to Lapse: you can close this window and go back to the terminal.\n' : 'This sign-in does not match the one lapse login started.\n');
        if (!ok) return;
        clearTimeout(timer);
        resolve(at.searchParams.get('code')!);
      });
    });
    o.line('Sign in in your browser; if it does not open, open this address:');
    o.line(start.href);
    if (!v['no-browser']) openBrowser(start.href);
    const got = await ApiClient.exchangeSignInCode(url, await code, verifier);
    const path = writeCredential({ url, token: got.token, user: got.user, tokenId: got.tokenId, expiresAt: got.expiresAt });
    o.line(`signed in to ${url} as ${got.user}${got.expiresAt ? ` until ${got.expiresAt}` : ''}; the token is kept in ${path}`);
    return 0;
  } finally {
    server.closeAllConnections();
    server.close();
  }
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

function openBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    spawn(command, [url], { stdio: 'ignore', detached: true }).on('error', () => undefined).unref();
  } catch {
    // No browser to open: the address is printed.
  }
}
