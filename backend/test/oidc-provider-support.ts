// A real OpenID Provider for the tests: the `oidc-provider` package (OpenID Certified) on
// 127.0.0.1, with a confidential client for Lapse and accounts whose claims a test sets; a
// Lapse server configured for it; and a driver that signs a person in through the
// provider's own login and consent endpoints, holding its cookies like a browser would.
// For the tests of what Lapse refuses, the provider can be given its signing keys, change
// them mid-run (rotation), and have the ID token of its token responses rewritten.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider, { type JWKS } from 'oidc-provider';
import { startService, type Service } from '../src/service.ts';
import { silentLogger } from '../src/logger.ts';
import { EXAMPLE } from '../src/api/api-test-support.ts';
import type { Clock } from '../../common/clock.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../renderer/e2e/chromium.ts';

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Accounts by subject: their claims (email, name, groups, …), changeable between sign-ins. */
  accounts: Map<string, Record<string, unknown>>;
  /**
   * When set, applied to the ID token of each token response before it leaves the provider
   * (e.g. claims changed and signed again); unset, the provider's token goes out as signed.
   */
  rewriteIdToken?: (idToken: string) => Promise<string> | string;
  /**
   * The provider starts signing with `jwks` (private keys; the first one signs) and publishes
   * their public parts in place of the previous keys: a new provider instance on the same
   * issuer and address, with the same client and accounts.
   */
  rotateKeys(jwks: JWKS): void;
  close(): Promise<void>;
}

export interface TestProviderOptions {
  redirectUri: string;
  postLogoutRedirectUri: string;
  clientId?: string;
  clientSecret?: string;
  /** The provider's signing keys (private JWKs); by default the library's development keys. */
  jwks?: JWKS;
}

export async function startTestProvider(opts: TestProviderOptions): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = opts.clientId ?? 'lapse';
  const clientSecret = opts.clientSecret ?? 'lapse-test-client-secret-0123456789';
  const accounts = new Map<string, Record<string, unknown>>();
  const create = (jwks: JWKS | undefined): Provider => new Provider(issuer, {
    ...(jwks ? { jwks } : {}),
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: [opts.redirectUri], post_logout_redirect_uris: [opts.postLogoutRedirectUri],
      grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    // A refresh token at every sign-in (as a provider does for offline_access), so Lapse can renew the person.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'], manager: ['manager'] },
    // The claims go in the ID token itself (as Lapse reads them from there).
    conformIdTokenClaims: false,
    findAccount: (_ctx, sub) => {
      const claims = accounts.get(sub);
      return claims ? { accountId: sub, claims: () => ({ sub, ...claims }) } : undefined;
    },
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true }, deviceFlow: { enabled: true } },
    cookies: { keys: ['lapse-test-provider-cookie-key'] },
  });
  const testProvider: TestProvider = {
    issuer, clientId, clientSecret, accounts,
    rotateKeys: (jwks) => { handler = serve(create(jwks)); },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  const serve = (provider: Provider): ReturnType<Provider['callback']> => {
    // The library warns about its development defaults (keys, interactions), as it should for a test provider.
    provider.on('server_error', () => undefined);
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (ctx.oidc?.route === 'token' && testProvider.rewriteIdToken && typeof body?.id_token === 'string') {
        body.id_token = await testProvider.rewriteIdToken(body.id_token);
      }
    });
    return provider.callback();
  };
  let handler = serve(create(opts.jwks));
  server.on('request', (req, res) => handler(req, res));
  return testProvider;
}

/** Cookies by name, as a browser keeps them for one site. */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/**
 * Follows a sign-in from Lapse's /auth/login through the provider's login and consent
 * (as `subject`), and returns the callback URL the provider redirects to (not yet followed).
 * `deny`: the person cancels at the provider instead; `startUrl`: an /auth/login address
 * with an app's parameters (as `lapse login` prints it).
 */
export async function signInAtProvider(lapseUrl: string, subject: string, opts: { returnTo?: string; deny?: boolean; startUrl?: string } = {}): Promise<URL> {
  const start = await fetch(opts.startUrl ?? `${lapseUrl}/auth/login${opts.returnTo ? `?returnTo=${encodeURIComponent(opts.returnTo)}` : ''}`, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`/auth/login answered ${start.status}: ${await start.text()}`);
  const jar = new CookieJar();
  let url = new URL(start.headers.get('location')!);
  const issuerOrigin = url.origin;
  for (let hop = 0; hop < 12; hop++) {
    if (url.origin !== issuerOrigin) return url; // back at Lapse: the callback
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: jar.header() } });
    jar.take(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location')!, url);
      continue;
    }
    const page = await res.text();
    if (res.status !== 200) throw new Error(`the provider answered ${res.status} at ${url.pathname}: ${page.slice(0, 300)}`);
    const prompt = /name="prompt" value="(\w+)"/.exec(page)?.[1];
    if (!prompt) throw new Error(`no form at ${url.pathname}: ${page.slice(0, 300)}`);
    const uid = url.pathname.split('/').pop()!;
    if (opts.deny) {
      const abort = await fetch(new URL(`/interaction/${uid}/abort`, issuerOrigin), { redirect: 'manual', headers: { cookie: jar.header() } });
      jar.take(abort);
      url = new URL(abort.headers.get('location')!, url);
      continue;
    }
    const body = new URLSearchParams(prompt === 'login' ? { prompt, login: subject, password: 'any' } : { prompt });
    const submitted = await fetch(new URL(`/interaction/${uid}`, issuerOrigin), {
      method: 'POST', redirect: 'manual', headers: { cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, body,
    });
    jar.take(submitted);
    url = new URL(submitted.headers.get('location')!, url);
  }
  throw new Error('the sign-in did not come back to Lapse');
}

export interface SsoServer {
  svc: Service;
  /** Lapse's public URL (http://127.0.0.1:<port>). */
  url: string;
  provider: TestProvider;
  /** The server's folder: its configuration (lapse.yaml) and data directory (data/). */
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * A Lapse server on the example configuration with `settings.publicUrl` and `settings.oidc`
 * naming a fresh test provider, plus `oidcExtra` (YAML lines, e.g. `provisionUsers: true`).
 * It serves the built portal (renderer/dist) like any other. `providerOpts.jwks`: the
 * provider's signing keys.
 */
export async function startSsoServer(
  oidcExtra: string,
  providerOpts: { jwks?: JWKS } = {},
  /** The store (a PostgreSQL URL; default SQLite), the clock, and a change to the configuration's text. */
  serviceOpts: { store?: string; clock?: Clock; editConfig?: (yaml: string) => string; env?: NodeJS.ProcessEnv } = {},
): Promise<SsoServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-sso-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const provider = await startTestProvider({ redirectUri: `${url}/auth/callback`, postLogoutRedirectUri: `${url}/`, ...providerOpts });
  const oidc = `issuer: ${provider.issuer}\nclientId: ${provider.clientId}\nclientSecretEnv: LAPSE_TEST_OIDC_SECRET\nscopes: [openid, email, profile, groups]\n${oidcExtra}`;
  const configPath = join(dir, 'lapse.yaml');
  const yaml = readFileSync(EXAMPLE, 'utf8').replace('settings:\n', `settings:\n  publicUrl: ${url}\n  oidc:\n${oidc.replace(/^/gm, '    ')}\n`);
  writeFileSync(configPath, serviceOpts.editConfig ? serviceOpts.editConfig(yaml) : yaml);
  let svc: Service;
  try {
    svc = await startService({
      configPath, dataDir: join(dir, 'data'), port, logger: silentLogger, env: { LAPSE_TEST_OIDC_SECRET: provider.clientSecret, ...serviceOpts.env },
      ...(serviceOpts.store ? { store: serviceOpts.store } : {}), ...(serviceOpts.clock ? { clock: serviceOpts.clock } : {}),
    });
  } catch (err) {
    await provider.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    svc, url, provider, dir,
    stop: async () => {
      await svc.stop();
      await provider.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Signs `subject` in through the provider (its login and consent) and returns the cookies Lapse set, by name. */
export async function signInCookies(server: SsoServer, subject: string): Promise<Record<string, string>> {
  const res = await fetch(await signInAtProvider(server.url, subject), { redirect: 'manual' });
  const cookies = Object.fromEntries(res.headers.getSetCookie().map((line) => {
    const [pair = ''] = line.split(';');
    const eq = pair.indexOf('=');
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  }));
  if (res.status !== 303 || !cookies.lapse_session) throw new Error(`the sign-in of ${subject} was refused: ${res.headers.get('location')}`);
  return cookies;
}

/**
 * Follows `url` (a Lapse /auth/login address, as the CLI prints it or the tray opens it) in
 * Debian's Chromium as a person would: the provider's own login and consent pages as
 * `subject`, then wherever Lapse sends the browser. The address and text of the page it ends
 * on, and the names of the cookies the browser then holds for `cookiesFor` (an origin).
 */
export async function signInWithChromium(url: string, subject: string, issuer: string, cookiesFor: string): Promise<{ url: string; text: string; cookies: string[] }> {
  const { chromium } = await import('playwright');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    // The provider's pages import a web font: nothing leaves this machine.
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
    await page.locator('input[name="login"]').fill(subject);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => !u.href.startsWith(issuer) && !u.pathname.startsWith('/auth/'));
    await page.waitForLoadState();
    return { url: page.url(), text: await page.locator('body').innerText(), cookies: (await context.cookies(cookiesFor)).map((c) => c.name) };
  } finally {
    await browser.close();
  }
}

/**
 * Approves a device sign-in (RFC 8628) in Debian's Chromium as a person would on their phone:
 * the provider's page for `url` (its verification address with the code), then its login
 * and consent as `subject`, to its "Sign-in Success" page; or, with `abort`, refuses it there.
 */
export async function approveDeviceInChromium(url: string, subject: string, issuer: string, opts: { abort?: boolean } = {}): Promise<void> {
  const { chromium } = await import('playwright');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
    const page = await context.newPage();
    await page.goto(url);
    if (opts.abort) {
      await page.getByRole('button', { name: '[ Abort ]' }).click();
      await page.waitForLoadState();
      return;
    }
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/interaction/`));
    await page.locator('input[name="login"]').fill(subject);
    await page.locator('input[name="password"]').fill('any password');
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Sign-in Success' }).waitFor();
  } finally {
    await browser.close();
  }
}
