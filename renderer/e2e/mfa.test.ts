// End to end in real Chromium: two-factor authentication in the portal's Account view, on a
// server whose demo-auto flow requires MFA. dave sets it up: the QR code shows (an image from
// a data: URL, within the portal's CSP) beside the secret as text; a code computed from that
// secret confirms it; the secret is then gone from the page. He requests the flow with the
// next code from the request window and gets access.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Locator, type Page } from 'playwright';
import { EXAMPLE, startTestServer, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { base32Decode, totpAt } from '../../backend/src/auth/totp.ts';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';

const WAIT = 10_000;
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
let server: TestServer;
let browser: Browser;
let page: Page;
/** What the browser reported: refusals by the page's CSP, and uncaught errors (refused API calls are expected). */
const problems: string[] = [];

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT });

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  const dir = mkdtempSync(join(tmpdir(), 'lapse-'));
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, readFileSync(EXAMPLE, 'utf8').replace('settings: { labels: [demo], maxExtensions: 2 }', 'settings: { labels: [demo], maxExtensions: 2, requireMfa: true }'));
  const [, srv, b] = await Promise.all([buildRenderer(), startTestServer({ configPath, dir }), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
  server = srv;
  browser = b;
  const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1000, height: 1100 } });
  context.setDefaultTimeout(WAIT);
  page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(server.svc.url + '/');
  await page.getByLabel('Token').fill(server.tokens.dave);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor({ timeout: WAIT });
});

after(async () => {
  await browser?.close();
  await server?.svc.stop();
  if (server) rmSync(server.dir, { recursive: true, force: true });
});

const codeAt = (secret: string, step: number) => totpAt(base32Decode(secret), step);

test('Account: set up two-factor authentication from the QR code\'s secret, confirm it, then request a flow that requires MFA with a code', async () => {
  await page.getByRole('link', { name: 'Account' }).click();
  const section = page.getByRole('region', { name: 'Two-factor authentication' });
  await visible(section);
  await visible(section.getByText('Not set up.'));

  await section.getByRole('button', { name: 'Set up', exact: true }).click();
  const qr = section.getByRole('img', { name: /QR code of your two-factor secret/ });
  await visible(qr);
  assert.match((await qr.getAttribute('src'))!, /^data:image\/svg\+xml;base64,/);
  // The image really loaded (the CSP allows data: images): it has a size of its own.
  await page.waitForFunction(() => {
    const img = document.querySelector('img[alt^="QR code"]') as HTMLImageElement | null;
    return !!img && img.complete && img.naturalWidth > 0;
  }, undefined, { timeout: WAIT });
  const secretField = section.getByLabel('Secret');
  const secret = await secretField.inputValue();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.equal(await secretField.getAttribute('readonly'), '');
  await visible(section.getByText('Set up: confirm it with a code from the app.'));
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'account-two-factor.png'), fullPage: true });

  // The form's own check, then the server's refusal of a wrong code, each at the field.
  const codeField = section.getByLabel('Code from the app');
  await codeField.fill('12ab');
  await section.getByRole('button', { name: 'Confirm' }).click();
  await visible(section.getByRole('alert').filter({ hasText: 'Enter the 6-digit code' }));
  const step = Math.floor(Date.now() / 30_000);
  const near = new Set([-2, -1, 0, 1, 2].map((d) => codeAt(secret, step + d)));
  await codeField.fill(['000000', '111111', '222222', '333333'].find((c) => !near.has(c))!);
  await section.getByRole('button', { name: 'Confirm' }).click();
  await visible(section.getByRole('alert').filter({ hasText: /not valid/ }));
  assert.equal(await codeField.getAttribute('aria-invalid'), 'true');

  await codeField.fill(codeAt(secret, step));
  await section.getByRole('button', { name: 'Confirm' }).click();
  await visible(section.getByText(/^On since /));
  await hidden(qr);
  assert.ok(!(await page.content()).includes(secret), 'the secret is gone from the page once confirmed');
  await page.reload();
  await visible(section.getByText(/^On since /));
  assert.ok(!(await page.content()).includes(secret), 'and not back after a reload');
  assert.equal(await section.getByRole('button', { name: 'Set up', exact: true }).count(), 0);

  // Removing it asks for a code: a wrong one is refused and it stays on.
  await section.getByRole('button', { name: 'Remove…' }).click();
  await section.getByLabel('Code from the app, to remove it').fill(['000000', '111111', '222222', '333333'].find((c) => !near.has(c))!);
  await section.getByRole('button', { name: 'Remove two-factor authentication' }).click();
  await visible(section.getByRole('alert').filter({ hasText: /not valid/ }));
  await section.getByRole('button', { name: 'Cancel' }).click();
  await visible(section.getByText(/^On since /));

  // The flow that requires MFA, with the next code from the same secret.
  await page.goto(server.svc.url + '/#/request');
  await page.getByLabel('Search the catalog').fill('Read any database');
  await page.getByRole('radio', { name: /Read any database/ }).check();
  await page.getByRole('checkbox', { name: 'demo · database app · read' }).check();
  await page.getByLabel('MFA code').fill(codeAt(secret, step + 1));
  await page.getByRole('button', { name: 'Request access' }).click();
  await page.waitForFunction(() => location.hash.startsWith('#/access'), undefined, { timeout: WAIT });
  const mine = await server.as('dave', 'GET', '/api/v1/requests?mine=true&flow=demo-auto');
  assert.equal(mine.body.requests.length, 1);
  assert.equal(mine.body.requests[0].status, 'active');
  assert.deepEqual(problems, [], 'no CSP refusal, no uncaught error');

  const audit = await server.as('carol', 'GET', '/api/v1/audit?actor=dave&limit=1000');
  assert.ok(!audit.text.includes(secret), 'the secret is not in the audit');
});
