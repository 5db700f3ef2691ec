// The desktop Settings window in Chromium, on the in-memory API standing in for the preload
// (the portal has no desktop settings): embedded mode, server URL checked by main with the
// error at the field, extra reminders (on top of the server's warnings, which the window
// names) checked in the form, the token handed over and never shown again, or signing in with
// single sign-on where the saved server offers it, the keychain problem shown as is.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright';
import { buildInboxPage } from '../bench/renderer-bench.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';

let dir: string;
let url: string;
let browser: Browser;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  dir = mkdtempSync(join(tmpdir(), 'lapse-settings-window-'));
  [url, browser] = await Promise.all([buildInboxPage(dir), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(host: 'desktop' | 'portal', keychainProblem: string | null = null): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(10_000);
  await page.goto(url);
  await page.evaluate(([h, k]) => (window as unknown as { lapseMountApp(h: string, hash: string, k: string | null): Promise<void> }).lapseMountApp(h!, '#/settings', k ?? null), [host, keychainProblem]);
  return page;
}

const stored = (page: Page) => page.evaluate(() => {
  const api = (window as unknown as { lapseMemoryApi: { settings: object; tokenStored: boolean } }).lapseMemoryApi;
  return { settings: api.settings as Record<string, unknown>, tokenStored: api.tokenStored };
});

test('desktop settings: errors at their field, saved values, the token handed to main and never shown back', async () => {
  const page = await open('desktop');
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  const embedded = page.getByRole('checkbox', { name: /Embedded mode/ });
  assert.equal(await embedded.isChecked(), true);
  assert.equal(await page.getByLabel('Server URL').isDisabled(), true, 'no server in embedded mode');

  await embedded.uncheck();
  await page.getByLabel('Server URL').fill('lapse.example.com');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('alert').filter({ hasText: 'server URL must be an http(s) URL' }).waitFor();
  assert.equal((await stored(page)).settings.embedded, true, 'nothing saved');
  assert.equal(await page.getByLabel('Server URL').getAttribute('aria-invalid'), 'true');

  // No extra reminders by default: the server's warnings (10m and 1m for this user) come anyway.
  const reminders = page.getByLabel(/Extra reminders/);
  assert.equal(await reminders.inputValue(), '');
  await page.getByText('The server warns you 10 min and 1 min before your access expires').waitFor();
  assert.match(await page.locator(`[id="${await reminders.getAttribute('aria-describedby')}"]`).innerText(), /^The server warns you 10 min and 1 min before your access expires: its warnings come first\. The reminders here are extra, on top of them/);

  await page.getByLabel('Server URL').fill('https://lapse.example.com');
  await reminders.fill('15, soon');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('alert').filter({ hasText: 'Whole minutes above zero' }).waitFor();
  assert.equal(await reminders.getAttribute('aria-invalid'), 'true');

  await reminders.fill('15, 5');
  await page.getByRole('checkbox', { name: 'Do not disturb' }).check();
  await page.getByRole('checkbox', { name: 'Launch at login' }).check();
  await page.getByLabel('Token').fill('lapse_secret-token-value');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

  const after = await stored(page);
  assert.deepEqual(
    { serverUrl: after.settings.serverUrl, reminders: after.settings.extraReminderMinutes, dnd: after.settings.doNotDisturb, login: after.settings.launchAtLogin, embedded: after.settings.embedded },
    { serverUrl: 'https://lapse.example.com', reminders: [15, 5], dnd: true, login: true, embedded: false },
  );
  assert.equal(after.tokenStored, true);
  assert.equal(await page.getByLabel('Token').inputValue(), '', 'the field is emptied');
  assert.equal(await page.getByLabel('Token').getAttribute('placeholder'), 'stored in the OS keychain');
  assert.ok(!(await page.content()).includes('secret-token-value'), 'the token is nowhere in the page');

  await page.getByRole('button', { name: 'Forget the token' }).click();
  await page.getByLabel('Token').and(page.locator('[placeholder="paste a token"]')).waitFor();
  assert.equal((await stored(page)).tokenStored, false);
  await page.close();
});

test('desktop settings: "Sign in with SSO" where the saved server offers it; who signed in, or why not', async () => {
  const page = await open('desktop');
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  const button = page.getByRole('button', { name: 'Sign in with SSO' });
  assert.equal(await button.count(), 0, 'embedded: no server to sign in to');
  const set = (answer: { user: string; expiresAt: string | null } | string) => page.evaluate((a) => Object.assign((window as unknown as { lapseMemoryApi: object }).lapseMemoryApi, { singleSignOn: true, ssoAnswer: a }), answer);
  await set('the server refused the sign-in (401): the sign-in code is not valid');
  await page.getByRole('checkbox', { name: /Embedded mode/ }).uncheck();
  await page.getByLabel('Server URL').fill('https://lapse.example.com');
  assert.equal(await button.count(), 0, 'not before the server is saved');
  await page.getByRole('button', { name: 'Save settings' }).click();
  await button.waitFor();

  await button.click();
  await page.getByRole('alert').filter({ hasText: 'Not signed in: the server refused the sign-in (401): the sign-in code is not valid' }).waitFor();
  assert.equal((await stored(page)).tokenStored, false);

  await set({ user: 'frank@example.com', expiresAt: '2031-03-01T12:00:00Z' });
  await button.click();
  await page.getByRole('status').filter({ hasText: /^Signed in as frank@example\.com until / }).waitFor();
  assert.equal(await page.getByRole('alert').filter({ hasText: 'Not signed in' }).count(), 0, 'the earlier error is gone');
  assert.equal((await stored(page)).tokenStored, true);
  assert.equal(await page.getByLabel('Token').getAttribute('placeholder'), 'stored in the OS keychain');

  // Another URL typed but not saved: the button waits for it to be saved.
  await page.getByLabel('Server URL').fill('https://other.example.com');
  await button.waitFor({ state: 'detached' });
  await page.close();
});

test('desktop settings: where no keychain service is available, the message is shown', async () => {
  const page = await open('desktop', 'No OS keychain service is available (no Secret Service on D-Bus): the token cannot be stored.');
  await page.getByRole('alert').filter({ hasText: 'No OS keychain service is available' }).waitFor();
  await page.close();
});

test('in the portal the same window is the account: who is signed in, no desktop settings', async () => {
  const page = await open('portal');
  await page.getByRole('heading', { name: 'Account' }).waitFor();
  await page.getByText(/Signed in as\s+Bob/).waitFor();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  assert.equal(await page.getByLabel('Server URL').count(), 0);
  await page.close();
});

test('the connection state: a banner once the stream has been down for a second, gone when it is back', async () => {
  const page = await open('desktop');
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  const banner = page.getByRole('status').filter({ hasText: /Reconnecting|Offline/ });
  assert.equal(await banner.count(), 0);
  const push = (state: string, detail?: string) => page.evaluate(([s, d]) => (window as unknown as { lapseMemoryApi: { setConnection(s: string, d?: string): void } }).lapseMemoryApi.setConnection(s!, d), [state, detail]);
  await push('reconnecting', 'the events stream ended');
  await page.getByRole('status').filter({ hasText: 'Reconnecting to the server… (the events stream ended)' }).waitFor();
  await push('offline');
  await page.getByRole('status').filter({ hasText: 'Offline: changes are not shown live.' }).waitFor();
  await push('online');
  await banner.waitFor({ state: 'hidden' });
  // A drop shorter than a second shows nothing.
  await push('reconnecting');
  await push('online');
  await page.waitForTimeout(1300);
  assert.equal(await banner.count(), 0);
  await page.close();
});
