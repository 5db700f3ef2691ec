// End to end in real Chromium: the renderer as the web portal of a real started backend.
// alice requests, bob approves and denies in his inbox, alice's page follows live, revokes
// her own access, and bad input is shown at the field. Screenshots of the inbox and the
// request window go to test-artifacts/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright';
import { startTestServer, type TestServer } from '../../backend/src/api/api-test-support.ts';
import { buildRenderer } from '../build.ts';
import { CHROMIUM, CHROMIUM_ARGS, signInWithToken, unnamedControls } from './chromium.ts';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const WAIT = 10_000;

let server: TestServer;
let browser: Browser;
let alice: Page;
let bob: Page;
const contexts: BrowserContext[] = [];
const cspViolations: string[] = [];

const signIn = (token: string): Promise<Page> => signInWithToken(browser, server.svc.url, token, {
  options: { colorScheme: 'light', viewport: { width: 1000, height: 900 } }, timeoutMs: WAIT, contexts, cspViolations,
  setUp: (context) => context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.svc.url }),
});

/** The card of one request (an article named by its title) on `page`. */
const card = (page: Page, name: RegExp) => page.getByRole('article', { name });
const visible = (l: Locator) => l.waitFor({ state: 'visible', timeout: WAIT });
const hidden = (l: Locator) => l.waitFor({ state: 'hidden', timeout: WAIT });
/**
 * A card's text as shown. Inbox rows are `content-visibility: auto`: until a rendering update
 * finds a new row near the viewport, its contents are skipped and innerText is empty.
 */
async function shownText(l: Locator): Promise<string> {
  const end = Date.now() + WAIT;
  let text = await l.innerText();
  while (text.trim() === '' && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 25));
    text = await l.innerText();
  }
  return text;
}

async function apiStatus(id: string): Promise<string> {
  const res = await server.as('alice', 'GET', `/api/v1/requests/${id}`);
  return res.body.status;
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const [, srv, b] = await Promise.all([
    buildRenderer(),
    startTestServer(),
    chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
  ]);
  server = srv;
  browser = b;
  [alice, bob] = await Promise.all([signIn(server.tokens.alice), signIn(server.tokens.bob)]);
});

after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
  await browser?.close();
  await server?.svc.stop();
  if (server) rmSync(server.dir, { recursive: true, force: true });
});

describe('web portal in Chromium', { concurrency: false }, () => {
  test('the signed-in portal keeps the token in this tab only and shows who is signed in', async () => {
    await alice.goto(server.svc.url + '/#/settings');
    await visible(alice.getByText(/Signed in as\s+Alice/));
    assert.deepEqual(await unnamedControls(alice), []);
    const storage = await alice.evaluate(() => ({ session: sessionStorage.getItem('lapse.token'), local: Object.keys(localStorage).length }));
    assert.equal(storage.session, server.tokens.alice);
    assert.equal(storage.local, 0);
  });

  test('sign-in refuses a bad token at the field; sign out forgets the token', async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(WAIT);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(server.svc.url + '/');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('alert').filter({ hasText: 'Paste your token.' }));
    await page.getByLabel('Token').fill('lapse_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await visible(page.getByRole('alert').filter({ hasText: 'This token is not valid' }));
    assert.equal(await page.getByLabel('Token').getAttribute('aria-invalid'), 'true');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('lapse.token')), null);
    await page.getByLabel('Token').fill(server.tokens.dave);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Account' }).click();
    await visible(page.getByText(/Signed in as\s+Dave/));
    await page.getByRole('button', { name: 'Sign out' }).click();
    await visible(page.getByRole('heading', { name: 'Sign in to Lapse' }));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('lapse.token')), null);
    await page.reload();
    await visible(page.getByRole('heading', { name: 'Sign in to Lapse' }));
    await context.close();
  });

  test('bad input in the request window is shown at the field (from the form and from the API)', async () => {
    await alice.goto(server.svc.url + '/#/request');
    await alice.getByLabel('Search the catalog').fill('app tables');
    // The search leaves only the matching flow; outside-window flows would be disabled.
    await visible(alice.getByRole('radio', { name: /Write app tables/ }));
    assert.equal(await alice.getByRole('radio', { name: /Read any database/ }).count(), 0);
    await alice.getByRole('radio', { name: /Write app tables/ }).check();
    await alice.getByRole('checkbox', { name: 'demo · table app/users · write' }).check();
    await alice.getByRole('button', { name: 'Request access' }).click();

    // The form's own check: this flow requires a justification.
    const justification = alice.getByLabel('Justification (required)');
    assert.equal(await justification.getAttribute('aria-invalid'), 'true');
    await visible(alice.getByRole('alert').filter({ hasText: 'This flow requires a justification.' }));
    const describedBy = (await justification.getAttribute('aria-describedby')) ?? '';
    assert.match(await alice.locator(`[id="${describedBy.split(' ')[0]}"]`).innerText(), /requires a justification/);

    // The API's check, shown at the field its problem+json names: a start 120 days ahead.
    await justification.fill('INC-7: fix the users table');
    const start = new Date(Date.now() + 120 * 86_400_000);
    const local = new Date(start.getTime() - start.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await alice.getByLabel('Start at (optional)').fill(local);
    await alice.getByRole('button', { name: 'Request access' }).click();
    const startField = alice.getByLabel('Start at (optional)');
    await visible(alice.getByRole('alert').filter({ hasText: 'startAt is more than 90 days ahead' }));
    assert.equal(await startField.getAttribute('aria-invalid'), 'true');
    assert.equal(await justification.getAttribute('aria-invalid'), null, 'the fixed field is no longer marked');

    // A duration beyond the flow's maximum, caught before sending.
    await startField.fill('');
    await alice.getByLabel('Duration').fill('9h');
    await alice.getByRole('button', { name: 'Request access' }).click();
    await visible(alice.getByRole('alert').filter({ hasText: 'At most 4h for this flow.' }));
    await alice.screenshot({ path: join(ARTIFACTS, 'request-window.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(alice), [], 'every control of the request window has a name');
    await alice.getByLabel('Duration').fill('1h');
    await hidden(alice.getByRole('alert').filter({ hasText: 'At most 4h for this flow.' }));

    // Nothing was created by the refused attempts.
    const mine = await server.as('alice', 'GET', '/api/v1/requests?mine=true&flow=demo-approval');
    assert.equal(mine.body.requests.length, 0);

    await alice.getByLabel('Favorite name').fill('users write');
    await alice.getByRole('button', { name: 'Save as favorite' }).click();
    await visible(alice.getByRole('status').filter({ hasText: 'Saved as favorite “users write”.' }));
  });

  test('a favorite request reaches the inbox live; bob approves with a reason; alice sees it active with a countdown, live', async () => {
    await bob.goto(server.svc.url + '/#/inbox');
    await visible(bob.getByText('Nothing waits for your decision.'));
    await alice.goto(server.svc.url + '/#/access');
    await alice.getByRole('button', { name: 'Request users write', exact: true }).click();
    const aliceCard = card(alice, /Write app tables/);
    await visible(aliceCard.getByText('Pending approval'));

    // bob's inbox follows the events stream: no reload.
    const row = card(bob, /^alice · Write app tables/);
    await visible(row.getByText('INC-7: fix the users table'));
    const facts = await shownText(row);
    for (const text of ['Requester', 'alice', 'Integrations', 'demo', 'Resources', 'table app/users', 'Permissions', 'write', 'Duration', '1h', 'INC-7: fix the users table', 'You approve as']) {
      assert.ok(facts.includes(text), `the inbox row shows ${text}: ${facts}`);
    }
    assert.match(facts, /You approve as\s+\S/, 'why bob is an approver');
    await bob.screenshot({ path: join(ARTIFACTS, 'inbox.png'), fullPage: true });
    assert.deepEqual(await unnamedControls(bob), [], 'every control of the inbox has a name');

    await row.getByRole('button', { name: /^Approve request by alice/ }).click();
    const dialog = bob.getByRole('dialog', { name: 'Approve request' });
    await visible(dialog);
    // This flow requires the approver's reason.
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await visible(dialog.getByRole('alert').filter({ hasText: 'A reason is required' }));
    await dialog.getByLabel('Reason (required)').fill('ok for INC-7');
    await visible(dialog.getByText('12 / 124'));
    await dialog.getByLabel('Reason (required)').press('Enter'); // a textarea: Enter is a new line, not a submit
    await visible(dialog.getByText('13 / 124'));
    assert.deepEqual(await unnamedControls(bob), [], 'every control of the reason dialog has a name');
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await hidden(dialog);
    await hidden(row);

    // alice's page was not reloaded: the events stream brought the change.
    const timer = aliceCard.getByRole('timer');
    await visible(timer);
    await visible(aliceCard.getByText('Active', { exact: true }));
    assert.match(await timer.innerText(), /^(1 h left|59 min left)$/);
    const id = await aliceCard.getAttribute('data-request-id');
    assert.equal(await apiStatus(id!), 'active');

    // Access details: revealed on demand.
    await aliceCard.getByRole('button', { name: 'Reveal access details' }).click();
    await visible(aliceCard.getByLabel('Access details'));
    assert.match(await aliceCard.getByLabel('Access details').innerText(), /# demo/);
    assert.deepEqual(await unnamedControls(alice), [], 'every control of my access has a name');
    await aliceCard.getByRole('button', { name: 'Copy access details' }).click();
    await visible(aliceCard.getByRole('status').filter({ hasText: 'Copied' }));
    assert.equal(await alice.evaluate(() => navigator.clipboard.readText()), await aliceCard.getByLabel('Access details').innerText());
  });

  test('self-revoke: confirmed in a dialog, ended in the backend, shown in the history', async () => {
    const aliceCard = card(alice, /Write app tables/);
    const id = (await aliceCard.getAttribute('data-request-id'))!;
    await aliceCard.getByRole('button', { name: 'Revoke Write app tables now' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Revoke access now?' });
    await visible(dialog);
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await hidden(dialog);
    await hidden(aliceCard);
    const history = alice.getByRole('table', { name: 'History' });
    await visible(history.getByRole('row').filter({ hasText: 'Revoked by you' }));
    for (let i = 0; i < 50 && (await apiStatus(id)) !== 'revoked'; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(await apiStatus(id), 'revoked');
  });

  test('a denial shows the approver\'s reason to the requester, live', async () => {
    await alice.getByRole('button', { name: 'Request users write', exact: true }).click();
    await visible(card(alice, /Write app tables/).getByText('Pending approval'));
    const row = card(bob, /^alice · Write app tables/);
    await visible(row);
    await row.getByRole('button', { name: /^Deny request by alice/ }).click();
    const dialog = bob.getByRole('dialog', { name: 'Deny request' });
    await dialog.getByLabel('Reason (required)').fill('change freeze until Monday');
    await dialog.getByRole('button', { name: 'Deny' }).click();
    await hidden(dialog);
    await hidden(row);
    await visible(alice.getByRole('table', { name: 'History' }).getByRole('row').filter({ hasText: 'Denied by bob: change freeze until Monday' }));
    await hidden(card(alice, /Write app tables/));
  });

  test('a favorite that needs more (here a justification) opens the request window pre-filled; a pending request can be canceled', async () => {
    const fav = await server.as('alice', 'POST', '/api/v1/favorites', { name: 'orders write', flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/orders', permission: 'write' }], duration: '2h' });
    assert.equal(fav.status, 201, fav.text);
    await alice.goto(server.svc.url + '/#/request');
    await alice.goto(server.svc.url + '/#/access');
    await alice.getByRole('button', { name: 'Request orders write', exact: true }).click();
    await visible(alice.getByText('From favorite “orders write”.'));
    assert.equal(new URL(alice.url()).hash, `#/request?favorite=${fav.body.id}`);
    assert.equal(await alice.getByRole('radio', { name: /Write app tables/ }).isChecked(), true);
    assert.equal(await alice.getByRole('checkbox', { name: 'demo · table app/orders · write' }).isChecked(), true);
    assert.equal(await alice.getByRole('checkbox', { name: 'demo · table app/users · write' }).isChecked(), false);
    assert.equal(await alice.getByLabel('Duration').inputValue(), '2h');
    await alice.getByLabel('Justification (required)').fill('INC-9: orders stuck');
    await alice.getByRole('button', { name: 'Request access' }).click();
    const pendingCard = card(alice, /Write app tables · table app\/orders/);
    await visible(pendingCard.getByText('Pending approval'));
    assert.equal(new URL(alice.url()).hash, '#/access');

    await pendingCard.getByRole('button', { name: 'Cancel request for Write app tables' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Cancel this request?' });
    await dialog.getByRole('button', { name: 'Cancel request' }).click();
    await hidden(pendingCard);
    await visible(alice.getByRole('table', { name: 'History' }).getByRole('row').filter({ hasText: 'Canceled' }));
    await hidden(card(bob, /^alice · Write app tables/));
  });

  test('extend: active access gets longer through a dialog, the countdown follows', async () => {
    const created = await server.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [{ integration: 'demo', resourceType: 'database', resource: 'analytics', permission: 'read' }], duration: '30m' });
    assert.equal(created.status, 201, created.text);
    const c = alice.locator(`article[data-request-id="${created.body.id}"]`);
    await visible(c.getByRole('timer'));
    assert.match(await c.getByRole('timer').innerText(), /^(30|29) min left$/);
    await c.getByRole('button', { name: 'Extend' }).click();
    const dialog = alice.getByRole('dialog', { name: 'Extend access' });
    await dialog.getByLabel('Extend by').fill('9h');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    await visible(dialog.getByRole('alert').filter({ hasText: /duration: .*maximum/ }));
    await dialog.getByLabel('Extend by').fill('1h');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    await hidden(dialog);
    await visible(c.getByRole('timer').filter({ hasText: /^1 h (29|30) min left$/ }));
    await server.as('alice', 'POST', `/api/v1/requests/${created.body.id}/revoke`, {});
  });

  test('the extend window the tray opens (#/access?extend=<id>): the dialog on that request, with its duration and the justification its flow requires', async () => {
    const created = await server.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource: 'app/users', permission: 'write' }], justification: 'INC-12', duration: '45m' });
    assert.equal(created.status, 201, created.text);
    const approved = await server.as('bob', 'POST', `/api/v1/requests/${created.body.id}/approve`, { reason: 'ok' });
    assert.equal(approved.status, 200, approved.text);
    await alice.goto(`${server.svc.url}/#/access?extend=${created.body.id}`);
    const dialog = alice.getByRole('dialog', { name: 'Extend access' });
    await visible(dialog);
    assert.equal(await dialog.getByLabel('Extend by').inputValue(), '45m');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    await visible(dialog.getByRole('alert').filter({ hasText: 'justification: This flow requires a justification.' }));
    await dialog.getByLabel('Justification (required)').fill('INC-12 still open');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    await hidden(dialog);
    const c = alice.locator(`article[data-request-id="${created.body.id}"]`);
    await visible(c.getByText(/^Extension by 45m waiting for/));
    // A request that cannot be extended: said, and no dialog.
    await alice.goto(`${server.svc.url}/#/access`);
    await alice.goto(`${server.svc.url}/#/access?extend=${created.body.id}`);
    await visible(alice.getByRole('alert').filter({ hasText: 'cannot be extended now: an extension is already waiting for approval' }));
    assert.equal(await dialog.count(), 0);
    await server.as('alice', 'POST', `/api/v1/requests/${created.body.id}/revoke`, {});
    await alice.goto(server.svc.url + '/#/access');
  });

  test('windows opened by the tray: the inbox on one request, the request window on a flow and bundle', async () => {
    const ids: string[] = [];
    for (const resource of ['app/users', 'app/orders']) {
      const r = await server.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-approval', entitlements: [{ integration: 'demo', resourceType: 'table', resource, permission: 'write' }], justification: 'INC-11' });
      assert.equal(r.status, 201, r.text);
      ids.push(r.body.id);
    }
    await bob.goto(`${server.svc.url}/#/inbox?request=${ids[1]}`);
    const first = bob.getByRole('feed', { name: 'Pending approvals' }).getByRole('article').first();
    // The inbox may show the first request (from the events stream) before the second arrives.
    await visible(bob.locator(`article[data-request-id="${ids[1]}"][aria-current="true"]`));
    assert.equal(await first.getAttribute('data-request-id'), ids[1]);
    assert.equal(await first.getAttribute('aria-current'), 'true');
    await visible(first.getByText('table app/orders', { exact: true }));

    await alice.goto(`${server.svc.url}/#/request?flow=demo-bundle-flow&bundle=demo-bundle`);
    await visible(alice.getByRole('checkbox', { name: /Bundle: Demo bundle/ }));
    assert.equal(await alice.getByRole('radio', { name: /^Demo bundle/ }).isChecked(), true);
    assert.equal(await alice.getByRole('checkbox', { name: /Bundle: Demo bundle/ }).isChecked(), true);
    assert.equal(await alice.getByLabel('Duration').inputValue(), '2h');
    for (const id of ids) assert.equal((await server.as('alice', 'POST', `/api/v1/requests/${id}/cancel`)).status, 200);
    await alice.goto(server.svc.url + '/#/access');
  });

  test('the page follows the OS light/dark theme', async () => {
    const background = () => alice.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await alice.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    await alice.emulateMedia({ colorScheme: 'dark' });
    const dark = await background();
    assert.notEqual(light, dark);
    const luminance = (rgb: string) => rgb.match(/\d+/g)!.slice(0, 3).map(Number).reduce((a, b) => a + b, 0);
    assert.ok(luminance(dark) < luminance(light), `${dark} is darker than ${light}`);
    await alice.emulateMedia({ colorScheme: 'light' });
  });

  test('the strict Content-Security-Policy held: no violation in any page', () => {
    assert.deepEqual(cspViolations, []);
  });
});
