// Which page of the renderer a window shows: the hash routes the renderer reads
// (#/inbox, #/request?favorite=<id>, #/access, #/access?extend=<id>, #/settings), built
// from a menu or notification target.

import type { View } from './menu-model.ts';

export interface OpenOptions {
  requestId?: string;
  /** My access with the extend dialog open on this request (#/access?extend=<id>). */
  extendRequestId?: string;
  prefill?: { favoriteId?: string; flowId?: string; bundleId?: string } & Record<string, unknown>;
}

const ROUTE_OF: Record<View, string> = { inbox: 'inbox', 'my-access': 'access', request: 'request', settings: 'settings' };

export function windowHash(view: View, o: OpenOptions = {}): string {
  const q = new URLSearchParams();
  if (o.requestId) q.set('request', o.requestId);
  if (o.extendRequestId) q.set('extend', o.extendRequestId);
  if (o.prefill?.favoriteId) q.set('favorite', o.prefill.favoriteId);
  else {
    if (o.prefill?.flowId) q.set('flow', o.prefill.flowId);
    if (o.prefill?.bundleId) q.set('bundle', o.prefill.bundleId);
  }
  const qs = q.toString();
  return `#/${ROUTE_OF[view]}${qs ? `?${qs}` : ''}`;
}
