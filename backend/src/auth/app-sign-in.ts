// Single sign-on for the apps on a person's machine, `lapse login` and the tray app (RFC
// 8252): a one-time loopback address on 127.0.0.1, the server's /auth/login opened in the
// system browser with a state and a PKCE challenge; the browser comes back to the loopback
// with a one-time code, which is exchanged with the verifier only this process knows for an
// API token of the person.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { hostname } from 'node:os';

/** How long the app waits for the browser to come back. */
export const SSO_TIMEOUT_MS = 5 * 60_000;

export interface SsoSignInOptions {
  /** The team server, e.g. https://lapse.example.com. */
  serverUrl: string;
  /** Opens an address in the system browser (the tray: Electron's `shell.openExternal`; the CLI prints it and tries xdg-open). */
  openBrowser(url: string): Promise<void> | void;
  /** Default 5 minutes. */
  timeoutMs?: number;
  /** What the token is called on the server. */
  name?: string;
  /** Ends the wait (a newer sign-in replaces this one). */
  signal?: AbortSignal;
  /** A flow that requires MFA: the provider is asked for a fresh authentication (a step-up), which the token carries. */
  stepUp?: string;
}

/** The token the server gave, and whose it is. */
export interface SsoSignInResult {
  token: string;
  user: string;
  /** ISO 8601; null for a token that does not expire. */
  expiresAt: string | null;
}

/** A sign-in that did not end with a token; the message is meant for the person. */
export class SsoSignInError extends Error {
  constructor(message: string, readonly reason: 'timeout' | 'state' | 'refused' | 'unreachable' | 'browser' | 'canceled') {
    super(message);
    this.name = 'SsoSignInError';
  }
}

const base = (serverUrl: string) => serverUrl.trim().replace(/\/+$/, '');

/** "5 minutes", "1 minute", "2 seconds": the wait, as the timeout message says it. */
function waitWords(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return ms === 60_000 ? '1 minute' : `${ms / 60_000} minutes`;
  const s = Math.max(1, Math.round(ms / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}

/** The `detail` of a problem+json answer, or its text. */
async function problemDetail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text) as { detail?: unknown };
    if (typeof p.detail === 'string' && p.detail) return p.detail;
  } catch {
    // not JSON: the text
  }
  return text.slice(0, 200) || `HTTP ${res.status}`;
}

/** Whether the server has people sign in through its identity provider; null when it cannot be asked. */
export async function singleSignOnOffered(serverUrl: string, timeoutMs = 5000): Promise<boolean | null> {
  try {
    const res = await fetch(`${base(serverUrl)}/auth/config`, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return null;
    const body = (await res.json()) as { singleSignOn?: unknown };
    return typeof body.singleSignOn === 'boolean' ? body.singleSignOn : null;
  } catch {
    return null;
  }
}

/** Signs the person in through the browser; resolves to their API token, or rejects with an SsoSignInError. */
export async function ssoSignIn(o: SsoSignInOptions): Promise<SsoSignInResult> {
  const url = base(o.serverUrl);
  const timeoutMs = o.timeoutMs ?? SSO_TIMEOUT_MS;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  const query = new URLSearchParams({ redirect_uri: `http://127.0.0.1:${port}/callback`, state, code_challenge: challenge, name: o.name ?? `Lapse on ${hostname()}`, ...(o.stepUp ? { stepUp: o.stepUp } : {}) });
  const start = `${url}/auth/login?${query}`;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const code = new Promise<string>((resolve, reject) => {
      timer = setTimeout(() => reject(new SsoSignInError(`no answer from the browser within ${waitWords(timeoutMs)}; sign in again`, 'timeout')), timeoutMs);
      onAbort = () => reject(new SsoSignInError('the sign-in was replaced by a newer one', 'canceled'));
      if (o.signal?.aborted) onAbort();
      o.signal?.addEventListener('abort', onAbort, { once: true });
      server.on('request', (req, res) => {
        const at = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        if (at.pathname !== '/callback') {
          res.writeHead(404).end();
          return;
        }
        const got = at.searchParams.get('code');
        const ok = at.searchParams.get('state') === state && !!got;
        res.writeHead(ok ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8' })
          .end(ok ? 'Signed in to Lapse: you can close this window.\n' : 'This sign-in does not match the one the Lapse app started.\n');
        if (ok) resolve(got);
        else reject(new SsoSignInError('the browser came back with a sign-in this app did not start (the state does not match); sign in again', 'state'));
      });
    });
    // The browser may come back (or the wait end) while it is still being opened.
    code.catch(() => undefined);
    try {
      await o.openBrowser(start);
    } catch (err) {
      throw new SsoSignInError(`the browser could not be opened (${(err as Error).message}); open ${start} yourself`, 'browser');
    }
    const oneTimeCode = await code;
    let res: Response;
    try {
      res = await fetch(`${url}/auth/token`, {
        method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ code: oneTimeCode, code_verifier: verifier }),
      });
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      throw new SsoSignInError(`the Lapse server at ${url} could not be reached (${cause})`, 'unreachable');
    }
    if (!res.ok) throw new SsoSignInError(`the server refused the sign-in (${res.status}): ${await problemDetail(res)}`, 'refused');
    const body = (await res.json()) as { token?: unknown; user?: unknown; expiresAt?: unknown };
    if (typeof body.token !== 'string' || typeof body.user !== 'string') throw new SsoSignInError('the server answered the sign-in without a token', 'refused');
    return { token: body.token, user: body.user, expiresAt: typeof body.expiresAt === 'string' ? body.expiresAt : null };
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    server.closeAllConnections();
    server.close();
  }
}
