// LapseApi over HTTP, for the web portal: same-origin calls to /api/v1, with the token the
// user pasted at sign-in (kept in sessionStorage, so it ends with the tab) or, without one,
// the session cookie single sign-on set (HttpOnly: sent by the browser, never read here).
// With the cookie, every call that changes something carries the session's CSRF token,
// read from its cookie, in the x-csrf-token header. The events stream is read with fetch
// (EventSource cannot send an Authorization header) and reconnects by itself, with the last
// event's id as Last-Event-ID: the server sends what was missed first, or a `reload` event.

import {
  ApiError, activityParams, type AccessRequest, type AuditPage, type ConfigStatus, type IntegrationList, type RequestTimeline, type Catalog, type ConnectionState, type CreatedToken, type DesktopSettings, type Favorite, type Favorites,
  type LapseApi, type TokenView, type LapseEvent, type ListRequestsQuery, type Me, type MfaEnrolmentStarted, type MfaStatusView, type NotificationPreferencesView, type StreamMessage,
} from '../../../common/lapse-api.ts';
import type {
  BulkMarkRevokeCanceledResult, BulkRetryResult, RequestStatus, RevokeAllPreview, RevokeAllResult, StuckRevocation,
} from '../../../common/lapse-api.ts';

export const TOKEN_KEY = 'lapse.token';
/** The CSRF cookie, by the name the server gives it on https (`__Host-`, preferred) and on http. */
export const CSRF_COOKIES = ['__Host-lapse_csrf', 'lapse_csrf'] as const;
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * Signing in and out of the portal, beside the LapseApi (the desktop app has none of it):
 * whether the server signs people in through an identity provider, the way there, and
 * the end of a session.
 */
export interface PortalAuth {
  /** GET /auth/config: whether people sign in through the identity provider (else with a token). */
  config(): Promise<{ singleSignOn: boolean }>;
  /**
   * Where "Sign in with SSO" goes: the server's /auth/login, coming back to `returnTo` (a path
   * of the portal); with `stepUp`, a fresh sign-in for that flow (which requires MFA).
   */
  loginUrl(returnTo: string, stepUp?: string): string;
  /** Whether the calls carry a pasted token (else the session cookie, where there is one). */
  usesToken(): boolean;
  /**
   * POST /auth/logout (with the CSRF token): the session ends here; `logoutUrl`, when not
   * null, signs the person out at the provider too. The events stream stops.
   */
  endSession(): Promise<{ logoutUrl: string | null }>;
}

/** A page of a list and the cursor of the next (null: no more). */
export interface RequestPage {
  requests: AccessRequest[];
  nextCursor: string | null;
}

/** Which requests the active access view lists: `scope` and the filters (empty: any). */
export interface AccessListQuery {
  scope: 'all' | 'approved-by-me';
  statuses: RequestStatus[];
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
  resource?: string;
}

/** The panic button's filters. */
export type RevokeAllFilterInput = Pick<AccessListQuery, 'user' | 'flow' | 'integration' | 'label' | 'resource'>;

/**
 * The portal's admin and approver views, beside the LapseApi (the desktop app's windows do
 * not show them): everyone's or approved-by-me active access, the panic button with its
 * preview, and the stuck revocations. The server refuses each call to whoever lacks the role.
 */
export interface AdminApi {
  listRequests(q: AccessListQuery, page?: { cursor?: string | null; limit?: number }): Promise<RequestPage>;
  previewRevokeAll(filter: RevokeAllFilterInput): Promise<RevokeAllPreview>;
  revokeAll(filter: RevokeAllFilterInput, reason: string, expectRequests: number): Promise<RevokeAllResult>;
  stuckRevocations(cursor?: string | null): Promise<{ revocations: StuckRevocation[]; nextCursor: string | null }>;
  retryRevokes(ids: string[]): Promise<BulkRetryResult>;
  markRevokeCanceled(ids: string[], reason: string): Promise<BulkMarkRevokeCanceledResult>;
}

export type HttpApi = LapseApi & { readonly auth: PortalAuth; readonly admin: AdminApi };

/** The filters that are set, without empty ones. */
function setFilters(f: RevokeAllFilterInput): RevokeAllFilterInput {
  const out: RevokeAllFilterInput = {};
  for (const k of ['user', 'flow', 'integration', 'label', 'resource'] as const) {
    const v = f[k]?.trim();
    if (v) out[k] = v;
  }
  return out;
}

/** The value of the session's CSRF cookie in a `document.cookie` string (null: none). */
export function csrfTokenFrom(cookieHeader: string): string | null {
  const found = new Map<string, string>();
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(CSRF_COOKIES as readonly string[]).includes(name) || found.has(name)) continue;
    const raw = part.slice(eq + 1).trim();
    let value = raw;
    try {
      value = decodeURIComponent(raw);
    } catch {
      value = raw;
    }
    if (value) found.set(name, value);
  }
  for (const name of CSRF_COOKIES) if (found.has(name)) return found.get(name)!;
  return null;
}

/** The page's cookies, where there is a page (a script reads only those not HttpOnly). */
const documentCookies = (): string => (typeof document === 'undefined' ? '' : document.cookie);

/**
 * `cookies`: the cookies a script may read (default the page's `document.cookie`), for the
 * CSRF token; `fetch`: how calls are sent (same-origin credentials: the session cookie goes along).
 */
export function createHttpApi(opts: { baseUrl?: string; storage: TokenStorage; fetch?: typeof fetch; cookies?: () => string }): HttpApi {
  const base = opts.baseUrl ?? '';
  const doFetch = opts.fetch ?? ((input, init) => fetch(input, init));
  const cookies = opts.cookies ?? documentCookies;
  const listeners = new Set<(m: StreamMessage) => void>();
  let state: ConnectionState = 'offline';
  let stream: { stop: () => void } | null = null;

  const token = () => opts.storage.getItem(TOKEN_KEY);

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const t = token();
    if (t) headers.authorization = `Bearer ${t}`;
    else if (!SAFE_METHODS.has(method)) {
      // A change made with the session cookie: the session's CSRF token, which another site can neither read nor set.
      const csrf = csrfTokenFrom(cookies());
      if (csrf) headers[CSRF_HEADER] = csrf;
    }
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await doFetch(base + path, { method, headers, credentials: 'same-origin', body: body === undefined ? undefined : JSON.stringify(body) });
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
      const p = (parsed ?? {}) as { title?: string; detail?: string; field?: string; stepUp?: { flowId?: unknown; signIn?: unknown } };
      throw ApiError.from({
        status: res.status, title: p.title ?? res.statusText ?? 'Error', detail: p.detail ?? (text.slice(0, 200) || `HTTP ${res.status}`),
        ...(typeof p.field === 'string' ? { field: p.field } : {}),
        ...(typeof p.stepUp?.flowId === 'string' && typeof p.stepUp.signIn === 'string' ? { stepUp: { flowId: p.stepUp.flowId, signIn: p.stepUp.signIn } } : {}),
      });
    }
    return parsed as T;
  }

  /** A GET whose answer is text (the CSV report), with the same authentication and errors as `call`. */
  async function callText(path: string): Promise<string> {
    const t = token();
    let res: Response;
    try {
      res = await doFetch(base + path, { method: 'GET', headers: { accept: 'text/csv, application/problem+json', ...(t ? { authorization: `Bearer ${t}` } : {}) }, credentials: 'same-origin' });
    } catch (err) {
      throw new ApiError({ status: 0, title: 'Network error', detail: `the server could not be reached (${err instanceof Error ? err.message : String(err)})` });
    }
    const text = await res.text();
    if (res.ok) return text;
    let p: { title?: string; detail?: string; field?: string } = {};
    try {
      p = JSON.parse(text) as typeof p;
    } catch {
      // not JSON
    }
    throw ApiError.from({ status: res.status, title: p.title ?? 'Error', detail: p.detail ?? `HTTP ${res.status}`, ...(typeof p.field === 'string' ? { field: p.field } : {}) });
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
    /** The last event's id, where the stream resumes (a reload event has none). */
    let lastEventId: string | null = null;

    const connect = async () => {
      if (stopped) return;
      if (state === 'offline' && failures === 0) setState('reconnecting');
      controller = new AbortController();
      const t = token();
      try {
        const res = await doFetch(base + '/api/v1/events', {
          headers: { accept: 'text/event-stream', ...(t ? { authorization: `Bearer ${t}` } : {}), ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
          credentials: 'same-origin', signal: controller.signal,
        });
        if (res.status === 401) {
          setState('offline', t ? 'the token is not valid; sign in again' : 'your session has ended; sign in again');
          return; // no retry with a refused token or an ended session
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
            if (event && event.type !== 'reload') lastEventId = event.id;
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

  const stopStream = () => {
    stream?.stop();
    stream = null;
    state = 'offline';
  };

  const auth: PortalAuth = {
    config: () => call<{ singleSignOn: boolean }>('GET', '/auth/config'),
    loginUrl: (returnTo, stepUp) => `${base}/auth/login?${new URLSearchParams({ returnTo, ...(stepUp ? { stepUp } : {}) })}`,
    usesToken: () => !!token(),
    endSession: async () => {
      const out = await call<{ logoutUrl: string | null }>('POST', '/auth/logout');
      stopStream();
      return { logoutUrl: typeof out?.logoutUrl === 'string' ? out.logoutUrl : null };
    },
  };

  const admin: AdminApi = {
    listRequests: async (q, page = {}) => {
      const params = new URLSearchParams({ scope: q.scope, ...setFilters(q) });
      if (q.statuses.length) params.set('status', q.statuses.join(','));
      if (page.limit !== undefined) params.set('limit', String(page.limit));
      if (page.cursor) params.set('cursor', page.cursor);
      return call<RequestPage>('GET', `/api/v1/requests?${params}`);
    },
    previewRevokeAll: (filter) => call<RevokeAllPreview>('POST', '/api/v1/admin/revoke-all/preview', setFilters(filter)),
    revokeAll: (filter, reason, expectRequests) => call<RevokeAllResult>('POST', '/api/v1/admin/revoke-all', { ...setFilters(filter), reason, expectRequests }),
    stuckRevocations: (cursor) => call('GET', `/api/v1/admin/stuck-revocations${cursor ? `?${new URLSearchParams({ cursor })}` : ''}`),
    retryRevokes: (ids) => call<BulkRetryResult>('POST', '/api/v1/admin/retry-revoke', { ids }),
    markRevokeCanceled: (ids, reason) => call<BulkMarkRevokeCanceledResult>('POST', '/api/v1/admin/mark-revoke-canceled', { ids, reason }),
  };

  const desktopOnly = async (): Promise<never> => {
    throw new ApiError({ status: 501, title: 'Not available', detail: 'desktop settings exist only in the desktop app' });
  };

  return {
    host: 'portal',
    auth,
    admin,
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
    extend: (id, duration, justification, mfaCode) =>
      call<AccessRequest>('POST', `/api/v1/requests/${encodeURIComponent(id)}/extend`, { duration, ...(justification ? { justification } : {}), ...(mfaCode ? { mfaCode } : {}) }),
    approvals: async () => {
      // The inbox comes a page at a time: read every page (the count in the navigation is all of it).
      const out: AccessRequest[] = [];
      let cursor: string | null = null;
      do {
        const page: { approvals: AccessRequest[]; nextCursor?: string | null } = await call('GET', `/api/v1/approvals${cursor ? `?${new URLSearchParams({ cursor })}` : ''}`);
        out.push(...page.approvals);
        cursor = page.nextCursor ?? null;
      } while (cursor && out.length < 5000);
      return out;
    },
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
    listTokens: async () => (await call<{ tokens: TokenView[] }>('GET', '/api/v1/tokens')).tokens,
    createToken: (input) => call<CreatedToken>('POST', '/api/v1/tokens', { name: input.name, ...(input.expiresIn ? { expiresIn: input.expiresIn } : {}) }),
    revokeToken: async (id) => {
      await call<void>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
    },
    mfaStatus: () => call<MfaStatusView>('GET', '/api/v1/mfa'),
    notificationPreferences: () => call<NotificationPreferencesView>('GET', '/api/v1/me/notifications'),
    setNotifications: (choice) => call<NotificationPreferencesView>('PUT', '/api/v1/me/notifications', choice),
    startMfaEnrolment: () => call<MfaEnrolmentStarted>('POST', '/api/v1/mfa/enrolment'),
    confirmMfaEnrolment: (code) => call<MfaStatusView>('POST', '/api/v1/mfa/enrolment/confirm', { code }),
    removeMfa: async (code) => {
      await call<void>('DELETE', '/api/v1/mfa', code === undefined ? {} : { code });
    },
    activity: (q) => call<AuditPage>('GET', `/api/v1/audit?${new URLSearchParams(activityParams(q))}`),
    activityCsv: (f) => callText(`/api/v1/reports/activity.csv?${new URLSearchParams(activityParams(f, true))}`),
    requestTimeline: (id) => call<RequestTimeline>('GET', `/api/v1/requests/${encodeURIComponent(id)}/timeline`),
    integrations: async () => (await call<IntegrationList>('GET', '/api/v1/integrations')).integrations,
    configStatus: () => call<ConfigStatus>('GET', '/api/v1/admin/config'),
    reloadConfig: async () => {
      await call<unknown>('POST', '/api/v1/admin/config/reload', {});
    },
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
      stopStream();
    },
    signInWithSso: desktopOnly as () => Promise<{ user: string; expiresAt: string | null }>,
    ssoAvailable: desktopOnly as () => Promise<boolean | null>,
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
