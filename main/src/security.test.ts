import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTENT_SECURITY_POLICY, appPage, isAllowedExternal, isAllowedNavigation, secureWebPreferences } from './security.ts';
import { CHROMIUM, CHROMIUM_ARGS } from '../../renderer/e2e/chromium.ts';

test('navigation stays inside the app', () => {
  assert.equal(isAllowedNavigation('lapse://app/index.html#/inbox'), true);
  assert.equal(isAllowedNavigation('lapse://app/'), true);
  for (const bad of ['https://evil.example.com/', 'lapse://other/index.html', 'file:///etc/passwd', 'http://127.0.0.1:5173/', 'javascript:alert(1)', 'data:text/html,hi', 'lapse://user:pw@app/', 'not a url']) {
    assert.equal(isAllowedNavigation(bad), false, bad);
  }
  // The renderer's dev server, only when given and only on the loopback interface.
  assert.equal(isAllowedNavigation('http://127.0.0.1:5173/#/inbox', 'http://127.0.0.1:5173'), true);
  assert.equal(isAllowedNavigation('http://127.0.0.1:5174/', 'http://127.0.0.1:5173'), false);
  assert.equal(isAllowedNavigation('http://evil.example.com:5173/', 'http://evil.example.com:5173'), false);
});

test('external links: https to the allowlist and the team’s own server only', () => {
  assert.equal(isAllowedExternal('https://docs.lapse.dev/flows'), true);
  assert.equal(isAllowedExternal('https://github.com/lapse/lapse/issues'), true);
  assert.equal(isAllowedExternal('https://lapse.example.com/requests/r1', 'https://lapse.example.com'), true);
  assert.equal(isAllowedExternal('http://lapse.internal:7420/', 'http://lapse.internal:7420'), true);
  for (const bad of ['http://docs.lapse.dev/', 'https://evil-lapse.dev/', 'https://lapse.dev.evil.com/', 'file:///etc/passwd', 'smb://share/x', 'javascript:alert(1)', 'https://user:pw@github.com/', 'https://lapse.example.com.evil.com/']) {
    assert.equal(isAllowedExternal(bad, 'https://lapse.example.com'), false, bad);
  }
});

test('windows are isolated and sandboxed; the CSP loads nothing from elsewhere', () => {
  const p = secureWebPreferences('/app/preload.cjs');
  assert.equal(p.contextIsolation, true);
  assert.equal(p.sandbox, true);
  assert.equal(p.nodeIntegration, false);
  assert.equal(p.webviewTag, false);
  assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'/);
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/);
  const script = CONTENT_SECURITY_POLICY.split('; ').find((d) => d.startsWith('script-src'));
  assert.equal(script, "script-src 'self'", 'no inline or eval scripts');
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-eval|unsafe-inline/);
  assert.match(CONTENT_SECURITY_POLICY, /style-src 'self'(;|$)/);
});

test('each answer of a page carries a fresh style nonce, in its CSP and in the page the renderer reads it from', () => {
  // The renderer's own index.html, as the build copies it.
  const html = readFileSync(new URL('../../renderer/index.html', import.meta.url), 'utf8');
  const nonceOf = (page: { html: string; csp: string }) => {
    const inPage = /<meta property="csp-nonce" content="([A-Za-z0-9+/=]+)">/.exec(page.html)?.[1];
    assert.ok(inPage, page.html);
    // The meta element is inside <head>, where renderer/src/main.tsx looks for it.
    assert.ok(page.html.indexOf(inPage) < page.html.indexOf('</head>'));
    const style = page.csp.split('; ').find((d) => d.startsWith('style-src'));
    assert.equal(style, `style-src 'self' 'nonce-${inPage}'`);
    assert.doesNotMatch(page.csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.csp.split('; ').find((d) => d.startsWith('script-src')), "script-src 'self'", 'the nonce admits no script');
    return inPage;
  };
  const nonces = new Set(Array.from({ length: 20 }, () => nonceOf(appPage(html))));
  assert.equal(nonces.size, 20, 'a new nonce for every answer');
  for (const n of nonces) assert.ok(Buffer.from(n, 'base64').length >= 16, `${n} has at least 128 bits`);
  // Apart from the nonce the page is unchanged, and the rest of the policy is the same as everywhere else.
  const page = appPage(html);
  assert.equal(page.html.replace(/\s*<meta property="csp-nonce" content="[^"]*">/, ''), html);
  assert.equal(page.csp.replace(/ 'nonce-[^']*'/, ''), CONTENT_SECURITY_POLICY);
  assert.throws(() => appPage('<p>no head</p>'), /head/);
});

test('in Chromium, under the app’s policy, a dialog’s scroll lock applies with the page’s nonce and is blocked without it', { skip: !existsSync(CHROMIUM) && `Chromium is needed at ${CHROMIUM} (Debian: apt-get install chromium; or set LAPSE_CHROMIUM)` }, async () => {
  const { chromium } = await import('playwright');
  const { buildInboxPage } = await import('../../renderer/bench/renderer-bench.ts');
  const dir = mkdtempSync(join(tmpdir(), 'lapse-app-csp-'));
  // The renderer's inbox on the in-memory API, served the way main serves lapse://app/.
  await buildInboxPage(dir);
  const server = createServer((req, res) => {
    const name = req.url === '/' ? 'index.html' : req.url!.slice(1);
    if (!/^[a-z]+\.(html|js|css)$/.test(name) || !existsSync(join(dir, name))) return void res.writeHead(404).end();
    const body = readFileSync(join(dir, name));
    if (name.endsWith('.html')) {
      const page = appPage(body.toString('utf8'));
      return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': page.csp }).end(page.html);
    }
    res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/css', 'content-security-policy': CONTENT_SECURITY_POLICY }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const openDialog = async (withNonce: boolean) => {
      const page = await browser.newPage();
      page.setDefaultTimeout(10_000);
      const violations: string[] = [];
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
      });
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      // What renderer/src/main.tsx does with the page's meta element.
      if (withNonce) await page.evaluate(() => {
        (globalThis as { __webpack_nonce__?: string }).__webpack_nonce__ = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]')?.content;
      });
      await page.evaluate(() => (window as unknown as { lapseMountInbox(n: number): Promise<void> }).lapseMountInbox(3));
      await page.getByRole('button', { name: /^Deny request by/ }).first().click();
      await page.getByRole('dialog', { name: 'Deny request' }).waitFor();
      await page.waitForTimeout(200);
      const locked = await page.evaluate(() => getComputedStyle(document.body).overflow === 'hidden');
      await page.close();
      return { locked, violations };
    };
    assert.deepEqual(await openDialog(true), { locked: true, violations: [] });
    const without = await openDialog(false);
    assert.equal(without.locked, false, 'without the nonce the <style> element is refused');
    assert.match(without.violations.join('\n'), /style-src 'self' 'nonce-/);
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('window routes: the renderer’s hash for each view and target', async () => {
  const { windowHash } = await import('./routes.ts');
  assert.equal(windowHash('inbox', { requestId: 'r 1' }), '#/inbox?request=r+1');
  assert.equal(windowHash('my-access'), '#/access');
  assert.equal(windowHash('my-access', { extendRequestId: 'r2' }), '#/access?extend=r2', 'the extend window');
  assert.equal(windowHash('request', { prefill: { favoriteId: 'fav1', flowId: 'f' } }), '#/request?favorite=fav1');
  assert.equal(windowHash('request', { prefill: { flowId: 'demo-bundle-flow', bundleId: 'demo-bundle' } }), '#/request?flow=demo-bundle-flow&bundle=demo-bundle');
  assert.equal(windowHash('settings'), '#/settings');
});
