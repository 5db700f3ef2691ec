// End to end in real Chromium: the portal of a server that signs people in through a real
// OpenID Provider (oidc-provider, its own login and consent pages). A person signs in with
// "Sign in with SSO", comes back to where they were, signed in (created from their claims),
// sees the catalog their provider groups allow, requests access and revokes it with the
// session cookie (and its CSRF token), and signs out here and at the provider; a reload
// then shows the sign-in view. A refused sign-in shows its reason, as text, once. A flow that
// requires MFA sends a person whose sign-in is too old back to the provider (a step-up).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';
import { startSsoServer, type SsoServer } from '../../backend/test/oidc-provider-support.ts';

const WAIT = 10_000;
const MINUTE = 60_000;
/** The server's clock: the real time, moved forward where a test says. */
const clock = { offset: 0, now() { return Date.now() + this.offset; } };

let server: SsoServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];
const pageErrors: string[] = [];

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT });

/** A fresh browser (its own cookies) on the portal. */
async function openPortal(path = '/'): Promise<Page> {
  const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1000, height: 900 } });
  context.setDefaultTimeout(WAIT);
  // The provider's pages import a web font: nothing leaves this machine.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  contexts.push(context);
  const page = await context.newPage();
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
  page.on('pageerror', (err) => pageErrors.push(err.message));
  await page.goto(server.url + path);
  return page;
}

/** From the portal's sign-in view through the provider's own login and consent pages, as `subject`. */
async function signInAtProvider(page: Page, subject: string): Promise<void> {
  await visible(page.getByRole('heading', { name: 'Sign in to Lapse' }));
  await page.getByRole('button', { name: 'Sign in with SSO' }).click();
  await page.waitForURL((u) => u.href.startsWith(`${server.provider.issuer}/interaction/`));
  await page.locator('input[name="login"]').fill(subject);
  await page.locator('input[name="password"]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  // Consent, the first time this person signs in to Lapse.
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** Signs in and waits for the portal, back at `path`, to have loaded the person's catalog; returns the flows' ids. */
async function signInAndLoadCatalog(page: Page, subject: string, name: string, path: string): Promise<string[]> {
  const catalog = page.waitForResponse((r) => r.url() === `${server.url}/api/v1/catalog` && r.request().method() === 'GET', { timeout: WAIT });
  await signInAtProvider(page, subject);
  await page.waitForURL(server.url + path);
  await visible(page.getByRole('navigation', { name: 'Views' }));
  await visible(page.locator('header .who').filter({ hasText: name }));
  const res = await catalog;
  assert.equal(res.status(), 200);
  return ((await res.json()) as { flows: { id: string }[] }).flows.map((f) => f.id);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  // Whatever started is stopped in after(), even where another part failed.
  const [built, srv, b] = await Promise.allSettled([
    buildRenderer(),
    startSsoServer('provisionUsers: true\nallowedEmailDomains: [example.com]', {}, {
      clock,
      // The bundle flow requires MFA: with single sign-on, a sign-in at the provider at most 5 minutes old.
      editConfig: (yaml) => yaml.replace('    description: Read on both databases at once.\n', '    description: Read on both databases at once.\n    settings: { requireMfa: true, stepUp: { maxAge: 5m } }\n'),
    }),
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
  ]);
  if (srv.status === 'fulfilled') server = srv.value;
  if (b.status === 'fulfilled') browser = b.value;
  for (const r of [built, srv, b]) if (r.status === 'rejected') throw r.reason;
  server.provider.accounts.set('frank-sub', { email: 'frank@example.com', email_verified: true, name: 'Frank', groups: ['engineering'] });
  server.provider.accounts.set('gina-sub', { email: 'gina@example.com', email_verified: true, name: 'Gina', groups: ['marketing'] });
  server.provider.accounts.set('mallory-sub', { email: 'mallory@elsewhere.test', email_verified: true, name: 'Mallory', groups: ['engineering'] });
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.stop();
});

describe('the portal with single sign-on, in Chromium', { concurrency: false }, () => {
  let frank: Page;
  /** The step-up test's page and the bundle request it made, which the next test extends. */
  let stepUpPage: Page | undefined;
  let bundleRequest: string | undefined;

  test('the sign-in view offers single sign-on only (no token to paste)', async () => {
    frank = await openPortal('/#/request');
    await visible(frank.getByRole('button', { name: 'Sign in with SSO' }));
    assert.equal(await frank.getByLabel('Token').count(), 0);
    assert.equal(await frank.getByRole('button', { name: 'Sign in', exact: true }).count(), 0);
    assert.equal(await frank.getByRole('alert').count(), 0);
  });

  test('a new person signs in at the provider, comes back where they were, signed in, and sees the engineering catalog', async () => {
    const flows = await signInAndLoadCatalog(frank, 'frank-sub', 'Frank', '/#/request');
    assert.ok(flows.includes('demo-auto'), flows.join(', '));
    await visible(frank.getByRole('radio', { name: /Read any database/ }));
    // The session cookie is HttpOnly: the page reads only the CSRF token; no token is kept.
    const seen = await frank.evaluate(() => ({ cookie: document.cookie, token: sessionStorage.getItem('lapse.token') }));
    assert.match(seen.cookie, /(^|; )lapse_csrf=/);
    assert.doesNotMatch(seen.cookie, /lapse_session/);
    assert.equal(seen.token, null);
    await frank.getByRole('link', { name: 'Account' }).click();
    await visible(frank.getByText(/Signed in as\s+Frank\s+\(frank@example\.com/));
  });

  test('with the session: request access (approved automatically) and revoke it', async () => {
    await frank.getByRole('link', { name: 'Request access' }).click();
    await frank.getByRole('radio', { name: /Read any database/ }).check();
    await frank.getByRole('checkbox', { name: 'demo · database app · read' }).check();
    await frank.getByRole('button', { name: 'Request access' }).click();
    await frank.waitForURL(`${server.url}/#/access`);
    const card = frank.getByRole('article', { name: /Read any database/ });
    await visible(card.getByText('Active', { exact: true }));
    await visible(card.getByRole('timer'));
    const id = (await card.getAttribute('data-request-id'))!;
    const stored = await server.svc.store.getRequest(id);
    assert.equal(stored?.requester, 'frank@example.com');

    await card.getByRole('button', { name: 'Revoke Read any database now' }).click();
    const dialog = frank.getByRole('dialog', { name: 'Revoke access now?' });
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await hidden(dialog);
    await hidden(card);
    await visible(frank.getByRole('table', { name: 'History' }).getByRole('row').filter({ hasText: 'Revoked by you' }));
    for (let i = 0; i < 50 && (await server.svc.store.getRequest(id))?.status !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await server.svc.store.getRequest(id))?.status, 'revoked');
  });

  test('a person in another group at the provider does not see the engineering flows (a stale token in the tab is no hindrance)', async () => {
    const gina = await openPortal('/');
    await gina.evaluate(() => sessionStorage.setItem('lapse.token', 'lapse_stale-token'));
    await gina.reload();
    const flows = await signInAndLoadCatalog(gina, 'gina-sub', 'Gina', '/');
    assert.ok(!flows.includes('demo-auto'), flows.join(', '));
    await gina.getByRole('link', { name: 'Request access' }).click();
    await visible(gina.getByRole('heading', { name: 'Request access' }));
    assert.equal(await gina.getByRole('radio', { name: /Read any database/ }).count(), 0);
    assert.equal(await gina.evaluate(() => sessionStorage.getItem('lapse.token')), null);
  });

  test('sign out: the session ends here and at the provider (confirmed on its page); a reload shows the sign-in view', async () => {
    await frank.getByRole('link', { name: 'Account' }).click();
    await frank.getByRole('button', { name: 'Sign out' }).click();
    await frank.waitForURL((u) => u.href.startsWith(`${server.provider.issuer}/session/end`));
    await frank.getByRole('button', { name: 'Yes, sign me out' }).click();
    // The provider sends the person back to the portal.
    await frank.waitForURL(`${server.url}/`);
    await visible(frank.getByRole('button', { name: 'Sign in with SSO' }));
    await frank.reload();
    await visible(frank.getByRole('heading', { name: 'Sign in to Lapse' }));
    await visible(frank.getByRole('button', { name: 'Sign in with SSO' }));
    assert.equal(await frank.getByRole('navigation', { name: 'Views' }).count(), 0);
    const after = await frank.evaluate(async () => ({ cookie: document.cookie, me: (await fetch('/api/v1/me')).status }));
    assert.equal(after.me, 401, 'the session has ended on the server');
    assert.doesNotMatch(after.cookie, /lapse_csrf/);
    const audit = await server.svc.store.listAudit({ limit: 1000 });
    assert.ok(audit.some((e) => e.action === 'auth.sign_out' && e.actor === 'frank@example.com'));
  });

  test('a refused sign-in (an email domain not allowed) shows the reason on the sign-in view, once', async () => {
    const mallory = await openPortal('/');
    await signInAtProvider(mallory, 'mallory-sub');
    const alert = mallory.getByRole('alert');
    await visible(alert.filter({ hasText: 'the email domain elsewhere.test is not allowed to sign in' }));
    await visible(mallory.getByRole('button', { name: 'Sign in with SSO' }));
    // Taken out of the address bar: a reload does not show it again.
    assert.equal(mallory.url(), `${server.url}/`);
    await mallory.reload();
    await visible(mallory.getByRole('button', { name: 'Sign in with SSO' }));
    assert.equal(await mallory.getByRole('alert').count(), 0);
    assert.equal(await server.svc.store.findProvisionedUser('mallory@elsewhere.test'), null);
  });

  test('the reason is shown as text, never as HTML; the rest of the address stays', async () => {
    const reason = '<img src=x id=injected onerror="document.title=1"> & <b>bold</b>';
    const page = await openPortal(`/?lang=en&sign_in_error=${encodeURIComponent(reason)}#/inbox`);
    const alert = page.getByRole('alert');
    await visible(alert);
    assert.equal(await alert.innerText(), `Sign-in failed: ${reason}`);
    assert.equal(await page.locator('#injected, .sign-in b').count(), 0);
    assert.equal(page.url(), `${server.url}/?lang=en#/inbox`);
  });

  test('step-up: a sign-in too old for a flow that requires MFA; "Sign in again" goes to the provider and back to the flow, and the request goes through', async () => {
    const path = '/#/request?flow=demo-bundle-flow';
    const page = await openPortal(path);
    await signInAndLoadCatalog(page, 'frank-sub', 'Frank', path);
    await visible(page.getByText('This flow asks you to have signed in at your identity provider recently'));
    assert.equal(await page.getByLabel('MFA code').count(), 0, 'no code to type: the provider is the second factor');
    await page.getByLabel(/Bundle: Demo bundle/).check();
    clock.offset = 6 * MINUTE;
    try {
      await page.getByRole('button', { name: 'Request access' }).click();
      await visible(page.getByText(/requires a fresh sign-in at the identity provider \(a step-up\): you last authenticated there 6 min ago/));
    } finally {
      // The provider keeps the real time: Lapse's is put back before the step-up.
      clock.offset = 0;
    }
    await page.getByRole('button', { name: 'Sign in again at your identity provider' }).click();
    await page.waitForURL((u) => u.origin === server.url && u.hash === '#/request?flow=demo-bundle-flow');
    await visible(page.getByText('This flow asks you to have signed in at your identity provider recently'));
    await page.getByLabel(/Bundle: Demo bundle/).check();
    const created = page.waitForResponse((r) => r.url() === `${server.url}/api/v1/requests` && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Request access' }).click();
    assert.equal((await created).status(), 201);
    bundleRequest = ((await (await created).json()) as { id: string }).id;
    stepUpPage = page;
    const signIns = (await server.svc.store.listAudit({ limit: 1000 })).filter((e) => e.action === 'auth.sign_in' && e.actor === 'frank@example.com');
    assert.equal(signIns.at(-1)?.data.stepUp, true, 'the last sign-in was a step-up');
  });

  test('step-up on an extension: the extend window offers "Sign in again", comes back to it, and the extension is asked', async () => {
    const page = stepUpPage!;
    await server.svc.engine.approve('bob', bundleRequest!, 'for the step-up test');
    for (let i = 0; i < 100 && (await server.svc.store.getRequest(bundleRequest!))?.status !== 'active'; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal((await server.svc.store.getRequest(bundleRequest!))?.status, 'active');
    const extendPath = `/#/access?extend=${bundleRequest}`;
    await page.goto(server.url + extendPath);
    const dialog = page.getByRole('dialog', { name: 'Extend access' });
    await visible(dialog);
    clock.offset = 6 * MINUTE;
    try {
      await dialog.getByRole('button', { name: 'Extend' }).click();
      await visible(dialog.getByText(/requires a fresh sign-in at the identity provider \(a step-up\)/));
    } finally {
      clock.offset = 0;
    }
    assert.equal((await server.svc.store.getRequest(bundleRequest!))?.pendingExtension, null, 'nothing asked while the sign-in was too old');
    await dialog.getByRole('button', { name: 'Sign in again at your identity provider' }).click();
    await page.waitForURL((u) => u.origin === server.url && u.hash === `#/access?extend=${bundleRequest}`);
    await visible(dialog);
    const extended = page.waitForResponse((r) => r.url() === `${server.url}/api/v1/requests/${bundleRequest}/extend` && r.request().method() === 'POST');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    assert.equal((await extended).status(), 200);
    assert.notEqual((await server.svc.store.getRequest(bundleRequest!))?.pendingExtension, null, 'the extension waits for the SRE leads');
  });

  test('no page error and no Content-Security-Policy violation in the portal', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(cspViolations, []);
  });
});

