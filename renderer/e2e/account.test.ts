// End to end in real Chromium: the portal's Account view. alice signs in with a token, makes
// an API token named "laptop" (shown once, copied), sees it listed without the secret, and
// revokes it after a confirmation; the server no longer takes it. She turns direct messages
// off and keeps email (the server has both; nothing listens where they would be sent).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright';
import { EXAMPLE, startTestServer, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';

const WAIT = 10_000;
let server: TestServer;
let browser: Browser;
let page: Page;

const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT });

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  // Email and direct messages configured; port 9 on loopback takes nothing, so each delivery just waits for a retry.
  const dir = mkdtempSync(join(tmpdir(), 'lapse-account-'));
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, `${readFileSync(EXAMPLE, 'utf8')}\nnotifications:\n  email: { host: 127.0.0.1, port: 9, from: lapse@example.com }\n  directMessages: { type: slack, tokenEnv: SLACK_BOT, apiUrl: "http://127.0.0.1:9/api" }\n`);
  const [, srv, b] = await Promise.all([buildRenderer(), startTestServer({ dir, configPath, env: { SLACK_BOT: 'xoxb-e2e' } }), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
  server = srv;
  browser = b;
  const context = await browser.newContext({ colorScheme: 'light', viewport: { width: 1000, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.svc.url });
  context.setDefaultTimeout(WAIT);
  page = await context.newPage();
  await page.goto(server.svc.url + '/');
  await page.getByLabel('Token').fill(server.tokens.alice);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor({ timeout: WAIT });
});

after(async () => {
  await browser?.close();
  await server?.svc.stop();
  if (server) rmSync(server.dir, { recursive: true, force: true });
});

test('Account: notifications by email and in Slack, each a switch; turning Slack off is kept', async () => {
  await page.getByRole('link', { name: 'Account' }).click();
  const email = page.getByRole('checkbox', { name: /Email me at alice@example\.com/ });
  const slack = page.getByRole('checkbox', { name: /direct message in Slack/ });
  await visible(slack);
  assert.equal(await email.isChecked(), true, 'on by default');
  assert.equal(await slack.isChecked(), true, 'on by default');
  // The switch shows what the server stored: it turns off once the choice is saved (not at the click).
  await slack.click();
  await visible(page.getByRole('checkbox', { name: /direct message in Slack/, checked: false, disabled: false }));
  await page.waitForFunction(() => !(document.querySelector('input[type=checkbox]:disabled')));
  const stored = await server.as('alice', 'GET', '/api/v1/me/notifications');
  assert.deepEqual([stored.body.email.on, stored.body.chat.on], [true, false]);
  await page.reload();
  await page.getByRole('link', { name: 'Account' }).click();
  await visible(slack);
  assert.equal(await slack.isChecked(), false, 'kept');
  assert.equal(await email.isChecked(), true);
});

test('Account: make a token "laptop", shown once and listed; revoke it', async () => {
  await page.getByRole('link', { name: 'Account' }).click();
  await visible(page.getByRole('heading', { name: 'Account', level: 2 }));
  await visible(page.getByRole('heading', { name: 'API tokens' }));
  assert.equal(await page.getByLabel('Lifetime').inputValue(), '90d');

  // A name is needed: said at the field, nothing made.
  await page.getByRole('button', { name: 'Make token' }).click();
  await visible(page.getByRole('alert').filter({ hasText: 'Give the token a name' }));
  // The server's refusal is shown with its detail.
  await page.getByLabel('Token name').fill('laptop');
  await page.getByLabel('Lifetime').fill('400d');
  await page.getByRole('button', { name: 'Make token' }).click();
  await visible(page.getByRole('alert').filter({ hasText: /at most/ }));
  assert.equal(await page.getByLabel('Lifetime').getAttribute('aria-invalid'), 'true');

  await page.getByLabel('Lifetime').fill('30d');
  await page.getByRole('button', { name: 'Make token' }).click();
  const shown = page.getByLabel('New token');
  await visible(shown);
  await visible(page.getByText('Copy it now: it is not shown again.'));
  const secret = await shown.inputValue();
  assert.ok(secret.length > 10);
  assert.equal(await shown.getAttribute('readonly'), '');
  await page.getByRole('button', { name: 'Copy', exact: true }).click();
  await visible(page.getByRole('status').filter({ hasText: 'Copied' }));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  // The new token works against the server.
  const me = await fetch(`${server.svc.url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(me.status, 200);

  const table = page.getByRole('table', { name: 'API tokens' });
  const row = table.getByRole('row').filter({ hasText: 'laptop' });
  await visible(row);
  await visible(row.getByText('never used'));
  await visible(row.getByText('Active'));
  assert.ok(!(await table.innerText()).includes(secret), 'the list does not show the secret');

  // Shown once: gone when dismissed, and not back after a reload.
  await page.getByRole('button', { name: 'Done' }).click();
  await hidden(shown);
  await page.reload();
  await visible(row);
  assert.equal(await page.getByLabel('New token').count(), 0);
  assert.ok(!(await page.content()).includes(secret));

  // Revoke, with a confirmation (Cancel first leaves it active); focusable from the keyboard.
  await row.getByRole('button', { name: 'Revoke token laptop' }).click();
  const dialog = page.getByRole('dialog', { name: 'Revoke this token?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await hidden(dialog);
  await visible(row.getByText('Active'));
  await row.getByRole('button', { name: 'Revoke token laptop' }).focus();
  await page.keyboard.press('Enter');
  await dialog.getByRole('button', { name: 'Revoke token' }).click();
  await hidden(dialog);
  await visible(row.getByText(/^Revoked /));
  assert.equal(await row.getByRole('button', { name: 'Revoke token laptop' }).count(), 0);
  const after = await fetch(`${server.svc.url}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(after.status, 401);
});
