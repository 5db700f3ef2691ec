// The window kind comes from the URL hash: #/inbox, #/request, #/request?favorite=<id>,
// #/request?again=<id> (pre-filled from that request), #/access, #/access?extend=<id> (the
// extend dialog on that request), #/requests?id=<id> (a request's own page), #/account,
// #/settings; in the portal, for admins and approvers, #/active-access; for admins
// #/stuck-revocations, #/activity (its filters in the query), #/integrations and
// #/configuration. The desktop app opens one window per kind with its hash.

import { useSyncExternalStore } from 'react';

const VIEW_NAMES = [
  'inbox', 'request', 'access', 'requests', 'account', 'settings',
  'active-access', 'stuck-revocations', 'activity', 'integrations', 'configuration',
] as const;

export type Route = { view: (typeof VIEW_NAMES)[number]; params: URLSearchParams };

/** The views only admins have (hidden from others, and refused by the API). */
export const ADMIN_VIEWS: readonly Route['view'][] = ['activity', 'integrations', 'configuration'];

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const view = VIEW_NAMES.find((v) => v === path) ?? 'access';
  return { view, params: new URLSearchParams(query) };
}

export function navigate(view: Route['view'], params: Record<string, string> = {}): void {
  const q = new URLSearchParams(params).toString();
  location.hash = `#/${view}${q ? `?${q}` : ''}`;
}

const subscribe = (cb: () => void) => {
  window.addEventListener('hashchange', cb);
  return () => window.removeEventListener('hashchange', cb);
};

export function useHash(): string {
  return useSyncExternalStore(subscribe, () => location.hash);
}
