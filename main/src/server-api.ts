// The server half of the renderer's API, called from main with ky: main holds the token
// (team mode: from the keychain; embedded mode: made at start) and the renderer never
// sees it. Failures become the renderer's ApiErrorData (problem+json fields).

import ky, { HTTPError, type KyInstance } from 'ky';
import { activityParams } from '../../common/lapse-api.ts';
import type {
  AccessRequest, ApiErrorData, AuditPage, ConfigStatus, IntegrationList, RequestTimeline, Catalog, CreatedToken, Favorite, Favorites, FavoriteRequestOptions, LapseApi, ListRequestsQuery, Me, MfaEnrolmentStarted, MfaStatusView, NotificationPreferencesView,
  NewApiToken, NewFavorite, NewRequest, TokenView,
} from '../../common/lapse-api.ts';

/**
 * The methods that go to the server (the rest are answered by main itself), and what only
 * the tray asks: everyone's requests in some statuses (admins; the stuck revocations).
 */
export type ServerMethods = Omit<LapseApi, 'host' | 'subscribe' | 'connectionState' | 'getSettings' | 'updateSettings' | 'setToken' | 'clearToken' | 'signInWithSso' | 'ssoAvailable'> & {
  listAllRequests(query: ListRequestsQuery): Promise<AccessRequest[]>;
};

/** The most rows a list read page by page gathers (the inbox). */
const MAX_FOLLOWED_ROWS = 5000;

/** A failure in the renderer's terms; crosses IPC as plain data. */
export class CallError extends Error {
  constructor(readonly data: ApiErrorData) {
    super(`${data.title}: ${data.detail}`);
    this.name = 'CallError';
  }
}

async function toCallError(err: unknown, baseUrl: string): Promise<CallError> {
  if (err instanceof HTTPError) {
    let p: { title?: string; detail?: string; field?: string } = {};
    try {
      p = (await err.response.clone().json()) as typeof p;
    } catch {
      // not JSON
    }
    return new CallError({ status: err.response.status, title: p.title ?? err.response.statusText ?? 'Error', detail: p.detail ?? `HTTP ${err.response.status}`, ...(typeof p.field === 'string' ? { field: p.field } : {}) });
  }
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
  return new CallError({ status: 0, title: 'Network error', detail: `the Lapse server at ${baseUrl} could not be reached (${cause})` });
}

export function createServerApi(baseUrl: string, token: string, opts: { timeoutMs?: number } = {}): ServerMethods {
  const http: KyInstance = ky.create({
    prefixUrl: baseUrl.replace(/\/+$/, ''),
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    timeout: opts.timeoutMs ?? 15_000,
    retry: { limit: 1, methods: ['get'] },
  });
  const call = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw await toCallError(err, baseUrl);
    }
  };
  const id = (v: string) => encodeURIComponent(v);
  const get = <T>(path: string, searchParams?: URLSearchParams) => call(() => http.get(path, searchParams ? { searchParams } : {}).json<T>());
  const post = <T>(path: string, json: unknown = {}) => call(() => http.post(path, { json }).json<T>());

  return {
    me: () => get<Me>('api/v1/me'),
    catalog: () => get<Catalog>('api/v1/catalog'),
    listMyRequests: async (q: ListRequestsQuery = {}) => {
      const params = new URLSearchParams({ mine: 'true' });
      if (q.statuses?.length) params.set('status', q.statuses.join(','));
      if (q.limit !== undefined) params.set('limit', String(q.limit));
      return (await get<{ requests: AccessRequest[] }>('api/v1/requests', params)).requests;
    },
    listAllRequests: async (q: ListRequestsQuery) => {
      // No scope: an admin's list is everyone's by default (and a server from before scopes refuses the parameter).
      const params = new URLSearchParams();
      if (q.statuses?.length) params.set('status', q.statuses.join(','));
      if (q.limit !== undefined) params.set('limit', String(q.limit));
      return (await get<{ requests: AccessRequest[] }>('api/v1/requests', params)).requests;
    },
    getRequest: (rid) => get<AccessRequest>(`api/v1/requests/${id(rid)}`),
    createRequest: (input: NewRequest) => post<AccessRequest>('api/v1/requests', input),
    approve: (rid, reason) => post<AccessRequest>(`api/v1/requests/${id(rid)}/approve`, reason ? { reason } : {}),
    deny: (rid, reason) => post<AccessRequest>(`api/v1/requests/${id(rid)}/deny`, reason ? { reason } : {}),
    cancel: (rid) => post<AccessRequest>(`api/v1/requests/${id(rid)}/cancel`),
    revoke: (rid, reason) => post<AccessRequest>(`api/v1/requests/${id(rid)}/revoke`, reason ? { reason } : {}),
    extend: (rid, duration, justification, mfaCode) => post<AccessRequest>(`api/v1/requests/${id(rid)}/extend`, { duration, ...(justification ? { justification } : {}), ...(mfaCode ? { mfaCode } : {}) }),
    approvals: async () => {
      // The inbox comes a page at a time: read every page (the count in the menu is all of it).
      const out: AccessRequest[] = [];
      let cursor: string | null = null;
      do {
        const page: { approvals: AccessRequest[]; nextCursor?: string | null } = await get('api/v1/approvals', cursor ? new URLSearchParams({ cursor }) : undefined);
        out.push(...page.approvals);
        cursor = page.nextCursor ?? null;
      } while (cursor && out.length < MAX_FOLLOWED_ROWS);
      return out;
    },
    accessDetails: async (rid) => {
      const r = await get<AccessRequest>(`api/v1/requests/${id(rid)}`);
      const out: Record<string, Record<string, string>> = {};
      for (const g of r.grants) if (g.accessDetails) out[g.integration] = g.accessDetails;
      return out;
    },
    listFavorites: () => get<Favorites>('api/v1/favorites'),
    createFavorite: (input: NewFavorite) => post<Favorite>('api/v1/favorites', input),
    deleteFavorite: async (fid) => {
      await call(() => http.delete(`api/v1/favorites/${id(fid)}`));
    },
    requestFromFavorite: (fid, options: FavoriteRequestOptions = {}) => post<AccessRequest>(`api/v1/favorites/${id(fid)}/request`, options),
    listTokens: async () => (await get<{ tokens: TokenView[] }>('api/v1/tokens')).tokens,
    createToken: (input: NewApiToken) => post<CreatedToken>('api/v1/tokens', { name: input.name, ...(input.expiresIn ? { expiresIn: input.expiresIn } : {}) }),
    revokeToken: async (tid) => {
      await call(() => http.delete(`api/v1/tokens/${id(tid)}`));
    },
    mfaStatus: () => get<MfaStatusView>('api/v1/mfa'),
    notificationPreferences: () => get<NotificationPreferencesView>('api/v1/me/notifications'),
    setNotifications: (choice) => call(() => http.put('api/v1/me/notifications', { json: choice }).json<NotificationPreferencesView>()),
    startMfaEnrolment: () => post<MfaEnrolmentStarted>('api/v1/mfa/enrolment'),
    confirmMfaEnrolment: (code) => post<MfaStatusView>('api/v1/mfa/enrolment/confirm', { code }),
    removeMfa: async (code) => {
      await call(() => http.delete('api/v1/mfa', { json: code === undefined ? {} : { code } }));
    },
    activity: (q) => get<AuditPage>('api/v1/audit', new URLSearchParams(activityParams(q))),
    activityCsv: (f) => call(() => http.get('api/v1/reports/activity.csv', { searchParams: new URLSearchParams(activityParams(f, true)), headers: { accept: 'text/csv' } }).text()),
    requestTimeline: (rid) => get<RequestTimeline>(`api/v1/requests/${id(rid)}/timeline`),
    integrations: async () => (await get<IntegrationList>('api/v1/integrations')).integrations,
    configStatus: () => get<ConfigStatus>('api/v1/admin/config'),
    reloadConfig: async () => {
      await post<unknown>('api/v1/admin/config/reload');
    },
  };
}

/** Access details as text for the clipboard: one "key: value" line each, by integration. */
export function accessDetailsText(details: Record<string, Record<string, string>>): string {
  const blocks = Object.entries(details).map(([integration, d]) => [`# ${integration}`, ...Object.entries(d).map(([k, v]) => `${k}: ${v}`)].join('\n'));
  return blocks.join('\n\n');
}
