// Window hardening in one place: the web preferences every window gets, the
// Content-Security-Policy of the app's pages, and which navigations and external links
// are allowed. The checks are pure functions, tested without Electron.

/** The only origin the app's own pages load from (a custom protocol, see main.ts). */
export const APP_ORIGIN = 'lapse://app';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  // Inline styles only (dialogs set scroll locks through a <style> element); never inline scripts.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

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
