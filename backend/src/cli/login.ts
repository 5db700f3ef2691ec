// `lapse login` and `lapse logout`: single sign-on for the command line, through the same
// loopback flow as the tray app (auth/app-sign-in.ts), or with --device the device
// authorization grant (a code typed at the provider, on any device). The token that comes
// back is kept where only this user can read it (credentials.ts); logout revokes it at the
// server.

import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { ssoSignIn } from '../auth/app-sign-in.ts';
import { ApiClient, ApiError } from './client.ts';
import { credentialsPath, readCredential, removeCredential, writeCredential, type StoredCredential } from './credentials.ts';
import { serverUrl, UsageError, type Values, type Verb } from './args.ts';
import type { Output } from './format.ts';

export const login: Verb = async (_args, v, o) => {
  const url = serverUrl(v).replace(/\/+$/, '');
  const previous = readCredential();
  const name = `lapse login on ${hostname()}`;
  if (v.device && v['step-up']) throw new UsageError('--step-up needs the browser sign-in (the provider asks for a fresh sign-in there): leave out --device');
  const got = v.device ? await deviceSignIn(url, name, o) : await ssoSignIn({
    serverUrl: url,
    name,
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

/**
 * The device authorization grant through the server: the code to type at the provider's
 * address (on any device), then the server is asked every `interval` seconds until the person
 * approved, refused, or the code expired.
 */
async function deviceSignIn(url: string, name: string, o: Output): Promise<{ token: string; user: string; expiresAt: string | null }> {
  const call = async (path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      throw new ApiError(0, `cannot reach the Lapse server at ${url}: ${(err as Error).message}`);
    }
    const parsed = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (res.status >= 400) throw new ApiError(res.status, `${res.status} ${String(parsed.title ?? res.statusText)}: ${String(parsed.detail ?? '')}`);
    return { status: res.status, body: parsed };
  };
  const start = (await call('/auth/device', { name })).body as { deviceCode: string; userCode: string; verificationUri: string; verificationUriComplete: string | null; expiresIn: number; interval: number };
  o.line(`To sign in, open ${start.verificationUri} on any device and enter the code ${start.userCode}`);
  if (start.verificationUriComplete) o.line(`(or open ${start.verificationUriComplete})`);
  let interval = start.interval;
  const end = Date.now() + start.expiresIn * 1000;
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, interval * 1000));
    const answer = await call('/auth/device/token', { deviceCode: start.deviceCode });
    if (answer.status === 202) {
      interval = Number(answer.body.interval) || interval;
      continue;
    }
    const got = answer.body as { token: string; user: string; expiresAt: string | null };
    return { token: got.token, user: got.user, expiresAt: got.expiresAt };
  }
  throw new ApiError(0, 'the code expired before the sign-in was approved: run lapse login --device again');
}
