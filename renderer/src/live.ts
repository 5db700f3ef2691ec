// Keeps the stores current from the events stream: each event about a request fetches that
// one request again and applies it (my requests, the inbox); favorites follow new requests.

import type { LapseApi, StreamMessage } from './api/lapse-api.ts';
import { useApprovals, useConnection, useFavorites, useRequests, useSession } from './stores.ts';

export function startLiveUpdates(api: LapseApi): () => void {
  let reloadAfterReconnect = false;
  return api.subscribe((m: StreamMessage) => {
    if (m.kind === 'connection') {
      useConnection.getState().set(m.state, m.detail);
      if (m.state !== 'online') reloadAfterReconnect = true;
      else if (reloadAfterReconnect) {
        // Events missed while away: read everything again.
        reloadAfterReconnect = false;
        void useRequests.getState().load().catch(() => undefined);
        void useApprovals.getState().load().catch(() => undefined);
      }
      return;
    }
    const id = m.event.requestId;
    const me = useSession.getState().me;
    if (!id || !me) return;
    api.getRequest(id).then((r) => {
      if (r.requester === me.id) {
        useRequests.getState().upsert(r);
        if (m.event.type === 'request.created') void useFavorites.getState().load().catch(() => undefined);
      }
      useApprovals.getState().apply(r, me.id);
    }, () => useApprovals.getState().remove(id));
  });
}
