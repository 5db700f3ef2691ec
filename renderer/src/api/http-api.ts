// LapseApi over HTTP, for the web portal: same-origin calls to /api/v1 with the token the
// user pasted at sign-in (kept in sessionStorage, so it ends with the tab). The events
// stream is read with fetch (EventSource cannot send an Authorization header) and
// reconnects by itself.

import {
  ApiError, type AccessRequest, type Catalog, type ConnectionState, type DesktopSettings, type Favorite, type Favorites,
  type LapseApi, type LapseEvent, type ListRequestsQuery, type Me, type StreamMessage,
} from '../../../common/lapse-api.ts';

export const TOKEN_KEY = 'lapse.token';

export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function createHttpApi(opts: { baseUrl?: string; storage: TokenStorage; fetch?: typeof fetch }): LapseApi {
  const base = opts.baseUrl ?? '';
  const doFetch = opts.fetch ?? ((input, init) => fetch(input, init));
  const listeners = new Set<(m: StreamMessage) => void>();
  let state: ConnectionState = 'offline';
  let stream: { stop: () => void } | null = null;

  const token = () => opts.storage.getItem(TOKEN_KEY);

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const t = token();
    if (t) headers.authorization = `Bearer ${t}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (err) {
      throw new ApiError({ status: 0, title: 'Network error', detail: `the server could not be reached (${err instanceof Error ? err.message : String(err)})` });
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const p = (parsed ?? {}) as { title?: string; detail?: string; field?: string };
      throw new ApiError({
        status: res.status, title: p.title ?? res.statusText ?? 'Error', detail: p.detail ?? (text.slice(0, 200) || `HTTP ${res.status}`),
        ...(typeof p.field === 'string' ? { field: p.field } : {}),
      });
    }
    return parsed as T;
  }

  const setState = (next: ConnectionState, detail?: string) => {
    if (next === state) return;
    state = next;
    for (const l of listeners) l({ kind: 'connection', state: next, ...(detail ? { detail } : {}) });
  };

  function startStream(): { stop: () => void } {
    let stopped = false;
    let controller: AbortController | null = null;
    let failures = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const connect = async () => {
      if (stopped) return;
      if (state === 'offline' && failures === 0) setState('reconnecting');
      controller = new AbortController();
      const t = token();
      try {
        const res = await doFetch(base + '/api/v1/events', { headers: { accept: 'text/event-stream', ...(t ? { authorization: `Bearer ${t}` } : {}) }, signal: controller.signal });
        if (res.status === 401) {
          setState('offline', 'the token is not valid; sign in again');
          return; // no retry with a refused token
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        failures = 0;
        setState('online');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event = parseSseBlock(block);
            if (event) for (const l of listeners) l({ kind: 'event', event });
          }
        }
        throw new Error('the events stream ended');
      } catch (err) {
        if (stopped) return;
        failures += 1;
        setState(failures >= 3 ? 'offline' : 'reconnecting', err instanceof Error ? err.message : String(err));
        timer = setTimeout(connect, Math.min(10_000, 500 * 2 ** Math.min(failures, 5)));
      }
    };
    void connect();
    return {
      stop: () => {
        stopped = true;
        if (timer) clearTimeout(timer);
        controller?.abort();
      },
    };
  }

  const desktopOnly = async (): Promise<never> => {
    throw new ApiError({ status: 501, title: 'Not available', detail: 'desktop settings exist only in the desktop app' });
  };

  return {
    host: 'portal',
    me: () => call<Me>('GET', '/api/v1/me'),
    catalog: () => call<Catalog>('GET', '/api/v1/catalog'),
    listMyRequests: async (q: ListRequestsQuery = {}) => {
      const params = new URLSearchParams({ mine: 'true' });
      if (q.statuses?.length) params.set('status', q.statuses.join(','));
      if (q.limit !== undefined) params.set('limit', String(q.limit));
      return (await call<{ requests: AccessRequest[] }>('GET', `/api/v1/requests?${params}`)).requests;
    },
    getRequest: (id) => call<AccessRequest>('GET', `/api/v1/requests/${encodeURIComponent(id)}`),
    createRequest: (input) => call<AccessRequest>('POST', '/api/v1/requests', input),
    approve: (id, reason) => call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/approve`, reason ? { reason } : {}),
    deny: (id, reason) => call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/deny`, reason ? { reason } : {}),
    cancel: (id) => call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/cancel`),
    revoke: (id, reason) => call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/revoke`, reason ? { reason } : {}),
    extend: (id, duration, justification) =>
      call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/extend`, { duration, ...(justification ? { justification } : {}) }),
    approvals: async () => (await call<{ approvals: AccessRequest[] }>('GET', '/api/v1/approvals')).approvals,
    accessDetails: async (id) => {
      const r = await call<AccessRequest>('GET', `/api/v1/requests/${encodeURIComponent(id)}`);
      const out: Record<string, Record<string, string>> = {};
      for (const g of r.grants) if (g.accessDetails) out[g.integration] = g.accessDetails;
      return out;
    },
    listFavorites: () => call<Favorites>('GET', '/api/v1/favorites'),
    createFavorite: (input) => call<Favorite>('POST', '/api/v1/favorites', input),
    deleteFavorite: async (id) => {
      await call<void>('DELETE', `/api/v1/favorites/${encodeURIComponent(id)}`);
    },
    requestFromFavorite: (id, options = {}) => call<AccessRequest>('POST', `/api/v1/favorites/${encodeURIComponent(id)}/request`, options),
    subscribe: (onMessage) => {
      listeners.add(onMessage);
      if (!stream) stream = startStream();
      return () => {
        listeners.delete(onMessage);
        if (listeners.size === 0 && stream) {
          stream.stop();
          stream = null;
          state = 'offline';
        }
      };
    },
    connectionState: async () => state,
    getSettings: desktopOnly as () => Promise<DesktopSettings>,
    updateSettings: desktopOnly as () => Promise<DesktopSettings>,
    setToken: async (t) => {
      opts.storage.setItem(TOKEN_KEY, t.trim());
    },
    clearToken: async () => {
      opts.storage.removeItem(TOKEN_KEY);
      stream?.stop();
      stream = null;
      state = 'offline';
    },
  };
}

/** One server-sent event block (`id:`, `event:`, `data:` lines); comments and retry hints give null. */
export function parseSseBlock(block: string): LapseEvent | null {
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('data:')) data += line.slice(5).trimStart();
  }
  if (!data) return null;
  try {
    const e = JSON.parse(data) as LapseEvent;
    return typeof e.type === 'string' ? e : null;
  } catch {
    return null;
  }
}
