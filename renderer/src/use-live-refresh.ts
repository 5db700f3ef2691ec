// Reads a list again when the events stream says something changed: any event about a
// request (or a `reload`), at most once per `delayMs` however many arrive together. For the
// admin and approver views, whose lists are pages read from the server rather than stores.

import { useEffect, useRef } from 'react';
import { theApi } from './stores.ts';

export function useLiveRefresh(refresh: () => void, delayMs = 300): void {
  const latest = useRef(refresh);
  latest.current = refresh;
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const stop = theApi().subscribe((m) => {
      if (m.kind !== 'event' || (m.event.type !== 'reload' && !m.event.requestId)) return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        latest.current();
      }, delayMs);
    });
    return () => {
      stop();
      if (timer) clearTimeout(timer);
    };
  }, [delayMs]);
}
