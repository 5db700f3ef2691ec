// Window hardening in one place: the web preferences every window gets, the
// Content-Security-Policy of the app's pages, and which navigations and external links
// are allowed. The checks are pure functions, tested without Electron.

import { randomBytes } from 'node:crypto';

/** The only origin the app's own pages load from (a custom protocol, see main.ts). */
export const APP_ORIGIN = 'lapse://app';

/**
 * The Content-Security-Policy of the app's answers. Styles come from the bundle's own files;
 * `styleNonce` (pages only) admits the one <style> element the dialogs' scroll lock inserts.
 * No inline script or style attribute, ever.
 */
export function contentSecurityPolicy(styleNonce?: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    styleNonce ? `style-src 'self' 'nonce-${styleNonce}'` : "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** The policy of every answer that is not a page (scripts, styles, images). */
export const CONTENT_SECURITY_POLICY = contentSecurityPolicy();

/**
 * One answer of an HTML page: a fresh nonce, in the policy and in a
 * `<meta property="csp-nonce">` in the page's head, where the renderer reads it
 * (renderer/src/main.tsx) for the scroll lock's <style> element. The web portal does the same.
 */
export function appPage(html: string): { html: string; csp: string } {
  const head = /<\/head>/i.exec(html);
  if (!head) throw new Error('the page has no </head> to carry the style nonce');
  const nonce = randomBytes(16).toString('base64');
  return {
    html: `${html.slice(0, head.index)}  <meta property="csp-nonce" content="${nonce}">\n${html.slice(head.index)}`,
    csp: contentSecurityPolicy(nonce),
  };
}

export function secureWebPreferences(preload: string) {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    spellcheck: false,
    navigateOnDragDrop: false,
  } as const;
}

/** Hosts whose pages the app may open in the person's browser (documentation, the product site). */
export const EXTERNAL_ALLOWLIST = ['lapse.dev', 'docs.lapse.dev', 'github.com'];

/**
 * A window may only move within the app itself: the app's origin (or, when developing,
 * the renderer dev server's origin given by `devOrigin`). Everything else is refused.
 */
export function isAllowedNavigation(url: string, devOrigin?: string | null): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  if (`${u.protocol}//${u.host}` === APP_ORIGIN) return true;
  if (devOrigin) {
    try {
      const d = new URL(devOrigin);
      return (d.hostname === '127.0.0.1' || d.hostname === 'localhost') && u.origin === d.origin;
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * A link the app may hand to the operating system: https only, to an allowlisted host (or
 * a subdomain of one), or to the team's own Lapse server (its web portal).
 */
export function isAllowedExternal(url: string, serverUrl?: string | null, allowlist: readonly string[] = EXTERNAL_ALLOWLIST): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.username || u.password) return false;
  if (serverUrl) {
    try {
      const s = new URL(serverUrl);
      if (u.origin === s.origin && (u.protocol === 'https:' || u.protocol === 'http:')) return true;
    } catch {
      // not a URL: no server origin allowed
    }
  }
  if (u.protocol !== 'https:') return false;
  const host = u.hostname.toLowerCase();
  return allowlist.some((h) => host === h || host.endsWith(`.${h}`));
}
