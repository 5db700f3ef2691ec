// Debian's Chromium, driven by playwright (no browser download), and a check that every
// control of a page has an accessible name.

import type { Page } from 'playwright';

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
