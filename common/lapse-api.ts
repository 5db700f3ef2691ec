// The one API the renderer uses. In the desktop app the preload exposes it over IPC (main
// holds the token and calls the server); in the web portal `http-api.ts` implements it over
// HTTP. Payloads are plain, serializable data; the only function crossing the boundary is
// the callback given to `subscribe`. Failures reject with an `ApiError`.

import type {
  AccessRequest, AuditPage, Catalog, ConfigStatus, CreatedToken, Favorite, FavoriteRequestOptions, Favorites, IntegrationList, LapseEvent, Me, MfaEnrolmentStarted, MfaStatusView,
  NewFavorite, NewRequest, NotificationChoice, NotificationPreferencesView, Problem, RequestStatus, RequestTimeline, TokenView,
} from './api/types.ts';

export type {
  AccessRequest, AuditEventView, AuditPage, Catalog, CatalogBundle, CatalogFlow, ConfigStatus, CreatedToken, Decision, Entitlement, Favorite, FavoriteRequestOptions, Favorites,
  GrantView, IntegrationList, LapseEvent, Me, MfaEnrolmentStarted, MfaStatusView, NewFavorite, NewRequest, NotificationChoice, NotificationPreferencesView, RequestStatus, RequestTimeline, Suggestion,
  TimelineEntry, TokenView,
  BulkMarkRevokeCanceledResult, BulkRetryResult, RevokeAllPreview, RevokeAllResult, StuckRevocation,
} from './api/types.ts';

/** The Activity view's filters (admins): each narrows the audit list and the activity report. */
export interface ActivityFilter {
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
  /** The audit list only (the report has one row per request and integration). */
  action?: string;
  /** ISO 8601 date-times: [since, until). */
  since?: string;
  until?: string;
}

/** One page of the Activity list, newest first: `cursor` is the nextCursor of the page before. */
export interface ActivityQuery extends ActivityFilter {
  cursor?: string;
  limit?: number;
}

/** The query of the audit list (newest first) or of the report for these filters, as name → value. */
export function activityParams(q: ActivityQuery, report = false): Record<string, string> {
  const params: Record<string, string> = report ? {} : { order: 'desc' };
  for (const key of ['user', 'flow', 'integration', 'label', 'action', 'since', 'until', 'cursor', 'limit'] as const) {
    const v = q[key];
    if (v === undefined || v === '' || (report && (key === 'action' || key === 'cursor' || key === 'limit'))) continue;
    params[key] = String(v);
  }
  return params;
}

export interface ListRequestsQuery {
  statuses?: RequestStatus[];
  limit?: number;
}

export type ConnectionState = 'online' | 'offline' | 'reconnecting';

/** What the renderer is told through `subscribe`: an event, or a change of connection state. */
export type StreamMessage =
  | { kind: 'event'; event: LapseEvent }
  | { kind: 'connection'; state: ConnectionState; detail?: string };

/** Desktop settings (the token is not among them: it goes to main and never comes back). */
export interface DesktopSettings {
  /** Empty in embedded mode. */
  serverUrl: string;
  /**
   * The person's own reminders, in minutes before expiry (e.g. [5, 2]; default none), on top
   * of the server's expiry warnings (`Me.expiryWarnings`), which always come. A reminder at
   * the same moment as one of the server's warnings is that warning, shown once.
   */
  extraReminderMinutes: number[];
  doNotDisturb: boolean;
  launchAtLogin: boolean;
  /** No server: the backend runs inside the app on a local file. */
  embedded: boolean;
  /** Whether a token is stored in the OS keychain (never the token itself). */
  hasToken: boolean;
  /** Set when no keychain service is available, to be shown as is. */
  keychainProblem: string | null;
}

export type DesktopSettingsUpdate = Partial<Omit<DesktopSettings, 'hasToken' | 'keychainProblem'>>;

/** Where the renderer runs: in the desktop app (settings available) or the web portal. */
export type ApiHost = 'desktop' | 'portal';

/** The failure of a call, as `application/problem+json` describes it. */
export type ApiErrorData = Pick<Problem, 'status' | 'title' | 'detail' | 'field' | 'stepUp'>;

export class ApiError extends Error implements ApiErrorData {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly field?: string;
  /** A flow that requires MFA needs a fresh sign-in at the identity provider first (single sign-on). */
  readonly stepUp?: { flowId: string; signIn: string };

  constructor(data: ApiErrorData) {
    super(`${data.title}: ${data.detail}`);
    this.name = 'ApiError';
    this.status = data.status;
    this.title = data.title;
    this.detail = data.detail;
    if (data.field !== undefined) this.field = data.field;
    if (data.stepUp !== undefined) this.stepUp = { flowId: data.stepUp.flowId, signIn: data.stepUp.signIn };
  }

  /** Plain data for crossing IPC (an Error does not survive structured clone with its fields). */
  toJSON(): ApiErrorData {
    return { status: this.status, title: this.title, detail: this.detail, ...(this.field !== undefined ? { field: this.field } : {}), ...(this.stepUp ? { stepUp: this.stepUp } : {}) };
  }

  static from(value: unknown): ApiError {
    if (value instanceof ApiError) return value;
    if (value && typeof value === 'object' && typeof (value as ApiErrorData).status === 'number' && typeof (value as ApiErrorData).detail === 'string') {
      const v = value as ApiErrorData;
      const stepUp = v.stepUp && typeof v.stepUp.flowId === 'string' && typeof v.stepUp.signIn === 'string' ? { stepUp: { flowId: v.stepUp.flowId, signIn: v.stepUp.signIn } } : {};
      return new ApiError({ status: v.status, title: String(v.title ?? 'Error'), detail: v.detail, ...(typeof v.field === 'string' ? { field: v.field } : {}), ...stepUp });
    }
    return new ApiError({ status: 0, title: 'Network error', detail: value instanceof Error ? value.message : String(value) });
  }
}

/** What to show for a failure, whatever shape it arrived in (ApiError, plain problem data over IPC, Error). */
export function errorDetail(err: unknown): string {
  return ApiError.from(err).detail;
}

/** What `createToken` takes: a name (1 to 200 characters) and a lifetime such as "30d". */
export interface NewApiToken {
  name: string;
  expiresIn?: string;
}

export interface LapseApi {
  readonly host: ApiHost;

  me(): Promise<Me>;
  catalog(): Promise<Catalog>;

  listMyRequests(query?: ListRequestsQuery): Promise<AccessRequest[]>;
  getRequest(id: string): Promise<AccessRequest>;
  createRequest(input: NewRequest): Promise<AccessRequest>;
  approve(id: string, reason?: string): Promise<AccessRequest>;
  deny(id: string, reason?: string): Promise<AccessRequest>;
  cancel(id: string): Promise<AccessRequest>;
  revoke(id: string, reason?: string): Promise<AccessRequest>;
  /** `mfaCode`: where the flow requires MFA without single sign-on (with it, the credential's step-up counts). */
  extend(id: string, duration: string, justification?: string, mfaCode?: string): Promise<AccessRequest>;
  /** Requests and extensions the caller may decide now. */
  approvals(): Promise<AccessRequest[]>;
  /** The access details of a request's active grants, by integration (requester only). */
  accessDetails(id: string): Promise<Record<string, Record<string, string>>>;

  listFavorites(): Promise<Favorites>;
  createFavorite(input: NewFavorite): Promise<Favorite>;
  deleteFavorite(id: string): Promise<void>;
  requestFromFavorite(id: string, options?: FavoriteRequestOptions): Promise<AccessRequest>;

  /** The caller's own API tokens (revoked ones too; never the secret). */
  listTokens(): Promise<TokenView[]>;
  /** Makes a personal API token: `expiresIn` such as "30d" (default 90d, at most 366d); the token is in the answer, this once. */
  createToken(input: NewApiToken): Promise<CreatedToken>;
  /** Revokes one of the caller's tokens. */
  revokeToken(id: string): Promise<void>;

  /** The caller's two-factor authentication (TOTP) for flows that require MFA: never its secret. */
  mfaStatus(): Promise<MfaStatusView>;
  /** Sets up (or sets up again, while not confirmed) the caller's factor: the secret and its QR code are in the answer, this once. */
  startMfaEnrolment(): Promise<MfaEnrolmentStarted>;
  /** Confirms the factor with a 6-digit code from it. */
  confirmMfaEnrolment(code: string): Promise<MfaStatusView>;
  /** Removes the caller's factor: a confirmed one needs a current 6-digit code from it. */
  removeMfa(code?: string): Promise<void>;

  /** How the caller is told of what concerns them (email, direct messages in chat: each on or off). */
  notificationPreferences(): Promise<NotificationPreferencesView>;
  /** Turns email or direct messages on or off, where the admins let people turn them off; a channel not named keeps its choice. */
  setNotifications(choice: NotificationChoice): Promise<NotificationPreferencesView>;

  /** Admins: a page of the audit log, newest first, for the Activity filters. */
  activity(query: ActivityQuery): Promise<AuditPage>;
  /** Admins: the activity report (CSV text) for the Activity filters. */
  activityCsv(filter: ActivityFilter): Promise<string>;
  /** A request's story (its requester, its approvers and admins). */
  requestTimeline(id: string): Promise<RequestTimeline>;
  /** The integrations with their health (and discovery, where the server has it). */
  integrations(): Promise<IntegrationList['integrations']>;
  /** Admins: which configuration file is in force, since when, and the last reload. */
  configStatus(): Promise<ConfigStatus>;
  /** Admins: re-reads the configuration file; a refusal rejects with its errors. */
  reloadConfig(): Promise<void>;

  /** Live events and connection state; returns the function that ends the subscription. */
  subscribe(onMessage: (message: StreamMessage) => void): () => void;
  connectionState(): Promise<ConnectionState>;

  /** Desktop only (the portal rejects with status 501). */
  getSettings(): Promise<DesktopSettings>;
  updateSettings(update: DesktopSettingsUpdate): Promise<DesktopSettings>;
  /** Store the token in the OS keychain (desktop) or the session (portal); it is never read back. */
  setToken(token: string): Promise<void>;
  clearToken(): Promise<void>;
  /**
   * Desktop only: signs in through the server's single sign-on in the system browser, keeps
   * the token it gives in the OS keychain (as `setToken` does) and reconnects; resolves to
   * who signed in and until when (ISO 8601, null when the token does not expire).
   */
  /** Desktop only: sign in through the team server's single sign-on; with `stepUp`, a fresh sign-in for that flow (which requires MFA). */
  signInWithSso(stepUp?: string): Promise<{ user: string; expiresAt: string | null }>;
  /** Desktop only: whether the configured server offers single sign-on; null in embedded mode, with no server, or when it cannot be asked. */
  ssoAvailable(): Promise<boolean | null>;
}

/** Every method that crosses the IPC boundary as a request/response call, for channel validation. */
export const LAPSE_API_METHODS = [
  'me', 'catalog',
  'listMyRequests', 'getRequest', 'createRequest', 'approve', 'deny', 'cancel', 'revoke', 'extend', 'approvals', 'accessDetails',
  'listFavorites', 'createFavorite', 'deleteFavorite', 'requestFromFavorite',
  'listTokens', 'createToken', 'revokeToken',
  'mfaStatus', 'startMfaEnrolment', 'confirmMfaEnrolment', 'removeMfa', 'notificationPreferences', 'setNotifications',
  'activity', 'activityCsv', 'requestTimeline', 'integrations', 'configStatus', 'reloadConfig',
  'connectionState',
  'getSettings', 'updateSettings', 'setToken', 'clearToken', 'signInWithSso', 'ssoAvailable',
] as const satisfies readonly Exclude<keyof LapseApi, 'host' | 'subscribe'>[];

export type LapseApiMethod = (typeof LAPSE_API_METHODS)[number];
// Fails to compile when a method of LapseApi is missing from the list above.
const everyMethodListed: [Exclude<Exclude<keyof LapseApi, 'host' | 'subscribe'>, LapseApiMethod>] extends [never] ? true : never = true;
void everyMethodListed;

const METHOD_SET: ReadonlySet<string> = new Set(LAPSE_API_METHODS);

export function isLapseApiMethod(name: unknown): name is LapseApiMethod {
  return typeof name === 'string' && METHOD_SET.has(name);
}

/** The IPC channel of the events stream (main → renderer), separate from the method calls. */
export const LAPSE_EVENTS_CHANNEL = 'lapse:stream';
/** The IPC channel prefix of method calls: `lapse:call:<method>`. */
export const LAPSE_CALL_CHANNEL_PREFIX = 'lapse:call:';

/** The global name under which the preload exposes the API in the desktop app. */
export const LAPSE_API_GLOBAL = 'lapse';

/** The approver reason limit the backend enforces. */
export { APPROVER_REASON_MAX } from './api/schemas.ts';
