// The window kind comes from the URL hash: #/inbox, #/request, #/request?favorite=<id>,
// #/access, #/access?extend=<id> (the extend dialog on that request), #/account,
// #/settings. The desktop app opens one window per kind with its hash.

import { useSyncExternalStore } from 'react';

export type Route = { view: 'inbox' | 'request' | 'access' | 'account' | 'settings'; params: URLSearchParams };

export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#\/?/, '').split('?');
  const view = (['inbox', 'request', 'access', 'account', 'settings'] as const).find((v) => v === path) ?? 'access';
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
