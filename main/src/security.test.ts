import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONTENT_SECURITY_POLICY, isAllowedExternal, isAllowedNavigation, secureWebPreferences } from './security.ts';

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
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-eval/);
});

test('window routes: the renderer’s hash for each view and target', async () => {
  const { windowHash } = await import('./routes.ts');
  assert.equal(windowHash('inbox', { requestId: 'r 1' }), '#/inbox?request=r+1');
  assert.equal(windowHash('my-access'), '#/access');
  assert.equal(windowHash('request', { prefill: { favoriteId: 'fav1', flowId: 'f' } }), '#/request?favorite=fav1');
  assert.equal(windowHash('request', { prefill: { flowId: 'demo-bundle-flow', bundleId: 'demo-bundle' } }), '#/request?flow=demo-bundle-flow&bundle=demo-bundle');
  assert.equal(windowHash('settings'), '#/settings');
});
