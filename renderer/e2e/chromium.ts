// Debian's Chromium, driven by playwright (no browser download), a portal sign-in with a
// token in a browser context of its own, and a check that every control of a page has an
// accessible name.

import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright';

export const CHROMIUM = process.env.LAPSE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Controls on the page without an accessible name (label, aria-label(ledby) or text). Kept as
 * text: the test's transpiler would add helpers the page does not have. */
const UNNAMED_CONTROLS = `(() => {
  const text = (el) => ((el && el.textContent) || '').trim();
  const out = [];
  for (const el of document.querySelectorAll('button, input, textarea, select, a[href], [role="button"], [role="timer"], [role="feed"], [role="dialog"], article')) {
    const named = (el.getAttribute('aria-label') || '').trim()
      || (el.getAttribute('aria-labelledby') || '').split(/\s+/).map((id) => text(document.getElementById(id))).join('')
      || (el.id ? Array.from(document.querySelectorAll('label[for="' + CSS.escape(el.id) + '"]')).map(text).join('') : '')
      || text(el.closest('label'))
      || (/^(BUTTON|A)$/.test(el.tagName) ? text(el) : '');
    if (!named) out.push(el.outerHTML.slice(0, 120));
  }
  return out;
})()`;
export const unnamedControls = (page: Page): Promise<string[]> => page.evaluate(UNNAMED_CONTROLS);

/**
 * A browser context of its own (added to `contexts` at once, for the test to close), signed in
 * to the portal at `url` with `token`. `setUp` prepares the context before the page opens;
 * each Content-Security-Policy violation the page's console reports goes into `cspViolations`.
 */
export async function signInWithToken(browser: Browser, url: string, token: string, opts: {
  options: BrowserContextOptions; timeoutMs: number; contexts: BrowserContext[]; cspViolations?: string[]; setUp?: (context: BrowserContext) => Promise<void>;
}): Promise<Page> {
  const context = await browser.newContext(opts.options);
  await opts.setUp?.(context);
  context.setDefaultTimeout(opts.timeoutMs);
  opts.contexts.push(context);
  const page = await context.newPage();
  const violations = opts.cspViolations;
  if (violations) {
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
  }
  await page.goto(url + '/');
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Views' }).waitFor({ timeout: opts.timeoutMs });
  return page;
}
