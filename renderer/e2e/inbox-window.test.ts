// The inbox with hundreds of rows in real Chromium: only the rows near the viewport are in
// the DOM, scrolling brings the others, each says its place in the list, and deciding a
// row far down works and removes it. The real views and stores, fed by the in-memory API.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright';
import { buildInboxPage } from '../bench/renderer-bench.ts';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.ts';

const ROWS = 400;
let dir: string;
let browser: Browser;
let page: Page;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  dir = mkdtempSync(join(tmpdir(), 'lapse-inbox-window-'));
  const [url, b] = await Promise.all([buildInboxPage(dir), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
  browser = b;
  page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  page.setDefaultTimeout(10_000);
  await page.goto(url);
  await page.evaluate((n) => (window as unknown as { lapseMountInbox(n: number): Promise<void> }).lapseMountInbox(n), ROWS);
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('hundreds of pending requests: a window of rows in the DOM, the rest reached by scrolling, decided far down', async () => {
  await page.getByRole('heading', { name: `Approvals (${ROWS})` }).waitFor();
  const feed = page.getByRole('feed', { name: 'Pending approvals' });
  const first = feed.getByRole('article').first();
  await first.waitFor();
  assert.equal(await first.getAttribute('aria-posinset'), '1');
  assert.equal(await first.getAttribute('aria-setsize'), String(ROWS));
  const inDom = await feed.getByRole('article').count();
  assert.ok(inDom > 0 && inDom < 40, `only rows near the viewport are rendered (${inDom})`);

  // Scroll to the end: the last request is rendered, at its place.
  const last = feed.locator(`article[aria-posinset="${ROWS}"]`);
  for (let i = 0; i < 20 && (await last.count()) === 0; i++) {
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    await page.waitForTimeout(50);
  }
  await last.waitFor();
  const lastId = await last.getAttribute('data-request-id');
  assert.equal(lastId, `req-${String(ROWS - 1).padStart(5, '0')}`);
  assert.equal(await feed.locator('article[aria-posinset="1"]').count(), 0, 'the top rows left the DOM');

  // Deny it with a reason, by keyboard from the Deny button.
  await last.getByRole('button', { name: /^Deny request by/ }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Deny request' });
  await dialog.waitFor();
  await page.keyboard.type('not needed any more');
  await dialog.getByText('19 / 124').waitFor();
  await dialog.getByRole('button', { name: 'Deny' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.getByRole('heading', { name: `Approvals (${ROWS - 1})` }).waitFor();
  assert.equal(await page.locator(`article[data-request-id="${lastId}"]`).count(), 0);
  const status = await page.evaluate((id) => (window as unknown as { lapseMemoryApi: { getRequest(id: string): Promise<{ status: string }> } }).lapseMemoryApi.getRequest(id!).then((r) => r.status), lastId);
  assert.equal(status, 'rejected');

  // A live event from the stream adds a row at the end without a reload.
  await page.evaluate(() => {
    const api = (window as unknown as { lapseMemoryApi: { getRequest(id: string): Promise<object>; change(r: object, type: string): void } }).lapseMemoryApi;
    return api.getRequest('req-00000').then((r) => api.change({ ...r, id: 'req-live' }, 'approval.requested'));
  });
  await page.getByRole('heading', { name: `Approvals (${ROWS})` }).waitFor();
});
