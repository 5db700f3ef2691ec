// Keeps the stores current from the events stream: each event about a request fetches that
// one request again and applies it (my requests, the inbox); favorites follow new requests.
// A reconnect resumes where the stream stopped (the server replays what was missed); where it
// cannot, its `reload` event reads everything again.

import type { LapseApi, StreamMessage } from '../../common/lapse-api.ts';
import { useApprovals, useConnection, useFavorites, useRequests, useSession } from './stores.ts';

export function startLiveUpdates(api: LapseApi): () => void {
  let reloadAfterReconnect = false;
  const reloadAll = () => {
    void useRequests.getState().load().catch(() => undefined);
    void useApprovals.getState().load().catch(() => undefined);
  };
  // Several events about one request in a row start several reads, whose answers may come
  // back in any order: only the answer to the latest read is applied.
  let reads = 0;
  const latestRead = new Map<string, number>();
  const stop = api.subscribe((m: StreamMessage) => {
    if (m.kind === 'connection') {
      useConnection.getState().set(m.state, m.detail);
      if (m.state !== 'online') reloadAfterReconnect = true;
      else if (reloadAfterReconnect) {
        // Events missed while away: read everything again.
        reloadAfterReconnect = false;
        reloadAll();
      }
      return;
    }
    if (m.event.type === 'reload') {
      reloadAll();
      return;
    }
    const id = m.event.requestId;
    const me = useSession.getState().me;
    if (!id || !me) return;
    const read = ++reads;
    latestRead.set(id, read);
    const current = () => {
      if (latestRead.get(id) !== read) return false;
      latestRead.delete(id);
      return true;
    };
    api.getRequest(id).then((r) => {
      if (!current()) return;
      if (r.requester === me.id) {
        useRequests.getState().upsert(r);
        if (m.event.type === 'request.created') void useFavorites.getState().load().catch(() => undefined);
      }
      useApprovals.getState().apply(r, me.id);
    }, () => {
      if (current()) useApprovals.getState().remove(id);
    });
  });
  // Where the stream was already up (main keeps it in the desktop app), say so now.
  api.connectionState().then((state) => useConnection.getState().set(state), () => undefined);
  return stop;
}
