// The one API the renderer uses. In the desktop app the preload exposes it over IPC (main
// holds the token and calls the server); in the web portal `http-api.ts` implements it over
// HTTP. Payloads are plain, serializable data; the only function crossing the boundary is
// the callback given to `subscribe`. Failures reject with an `ApiError`.

export type RequestStatus =
  | 'pending' | 'scheduled' | 'granting' | 'active' | 'revoking'
  | 'expired' | 'revoked' | 'rejected' | 'canceled' | 'failed' | 'revoke_canceled';

export interface Entitlement {
  integration: string;
  resourceType: string;
  /** The resource's path inside its integration: `name`, or `parent/name`. */
  resource: string;
  permission: string;
}

export interface Me {
  id: string;
  email: string | null;
  name: string | null;
  groups: string[];
  roles: ('requester' | 'approver' | 'admin')[];
}

export interface CatalogBundle {
  id: string;
  name: string;
  entitlements: Entitlement[];
}

export interface CatalogFlow {
  id: string;
  name: string;
  description: string;
  kind: 'self-serve' | 'automatic' | string;
  /** False outside the flow's time window (or for automatic flows); `reason` says why. */
  available: boolean;
  reason: string | null;
  entitlements: Entitlement[];
  bundles: CatalogBundle[];
  /** Durations as text: "1h", "1h30m", "2d" or "indefinite". */
  defaultDuration: string;
  maxDuration: string;
  approval: 'automatic' | 'anyOf' | 'allOf';
  requireJustification: boolean;
  requireMfa: boolean;
  breakGlass: boolean;
  labels: string[];
}

export interface Catalog {
  flows: CatalogFlow[];
}

export interface GrantView {
  integration: string;
  status: string;
  entitlements: Entitlement[];
  attempts: number;
  lastError: string | null;
  grantedAt: string | null;
  revokedAt: string | null;
  /** Present only for the requester, and only while the grant is active. */
  accessDetails?: Record<string, string> | null;
}

export interface Decision {
  approver: string;
  decision: string;
  reason: string | null;
  at: string;
  subject: string;
}

/** A request as the server shows it to the caller (times are ISO 8601 strings). */
export interface AccessRequest {
  id: string;
  requester: string;
  flowId: string;
  flowName: string;
  bundleId: string | null;
  bundleName: string | null;
  status: RequestStatus;
  entitlements: Entitlement[];
  duration: string;
  justification: string | null;
  labels: string[];
  breakGlass: boolean;
  createdAt: string;
  startAt: string | null;
  grantedAt: string | null;
  expiresAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  endedBy: string | null;
  endNote: string | null;
  approvalMode: 'automatic' | 'anyOf' | 'allOf';
  approverGroups: { description: string; users: string[] }[];
  decisions: Decision[];
  /** Whether the flow requires a reason from whoever approves or denies. */
  approverReasonRequired: boolean;
  /** Why the caller may decide this request (empty when they may not). */
  yourApproverRoles: string[];
  extensions: number;
  maxExtensions: number;
  pendingExtension: { number: number; duration: string; justification: string | null; requestedAt: string } | null;
  error: string | null;
  grants: GrantView[];
}

export interface NewRequest {
  flowId: string;
  entitlements?: Entitlement[];
  bundleId?: string;
  duration?: string;
  justification?: string;
  /** ISO 8601 date-time; absent to start as soon as approved. */
  startAt?: string;
  /** Six digits, where the flow requires MFA. */
  mfaCode?: string;
  breakGlass?: boolean;
}

export interface Favorite {
  id: string;
  name: string;
  flowId: string;
  bundleId: string | null;
  entitlements: Entitlement[];
  duration: string;
  justification: string | null;
  createdAt: string | null;
}

export interface Suggestion {
  requestId: string;
  flowId: string;
  bundleId: string | null;
  entitlements: Entitlement[];
  duration: string;
  justification: string | null;
  createdAt: string | null;
}

export interface Favorites {
  favorites: Favorite[];
  /** The caller's most recent requests, offered as starting points. */
  suggestions: Suggestion[];
}

export interface NewFavorite {
  name: string;
  flowId?: string;
  bundleId?: string;
  entitlements?: Entitlement[];
  duration?: string;
  justification?: string;
  /** Save one of the caller's requests as a favorite instead of the fields above. */
  fromRequestId?: string;
}

export interface FavoriteRequestOptions {
  justification?: string;
  mfaCode?: string;
  startAt?: string;
  duration?: string;
}

export interface ListRequestsQuery {
  statuses?: RequestStatus[];
  limit?: number;
}

/** One change from the server's events stream (`GET /api/v1/events`). */
export interface LapseEvent {
  id: string;
  /** e.g. request.created, approval.requested, request.approved, request.granted, request.expiring, request.revoked */
  type: string;
  at: string;
  requestId: string | null;
  data: Record<string, unknown>;
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
  /** Minutes before expiry at which to warn, e.g. [10, 1]. */
  notificationOffsetsMinutes: number[];
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
export interface ApiErrorData {
  status: number;
  title: string;
  detail: string;
  /** The field at fault, as the API names it: `justification`, `entitlements[0].permission`. */
  field?: string;
}

export class ApiError extends Error implements ApiErrorData {
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly field?: string;

  constructor(data: ApiErrorData) {
    super(`${data.title}: ${data.detail}`);
    this.name = 'ApiError';
    this.status = data.status;
    this.title = data.title;
    this.detail = data.detail;
    if (data.field !== undefined) this.field = data.field;
  }

  /** Plain data for crossing IPC (an Error does not survive structured clone with its fields). */
  toJSON(): ApiErrorData {
    return { status: this.status, title: this.title, detail: this.detail, ...(this.field !== undefined ? { field: this.field } : {}) };
  }

  static from(value: unknown): ApiError {
    if (value instanceof ApiError) return value;
    if (value && typeof value === 'object' && typeof (value as ApiErrorData).status === 'number' && typeof (value as ApiErrorData).detail === 'string') {
      const v = value as ApiErrorData;
      return new ApiError({ status: v.status, title: String(v.title ?? 'Error'), detail: v.detail, ...(typeof v.field === 'string' ? { field: v.field } : {}) });
    }
    return new ApiError({ status: 0, title: 'Network error', detail: value instanceof Error ? value.message : String(value) });
  }
}

/** What to show for a failure, whatever shape it arrived in (ApiError, plain problem data over IPC, Error). */
export function errorDetail(err: unknown): string {
  return ApiError.from(err).detail;
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
  extend(id: string, duration: string, justification?: string): Promise<AccessRequest>;
  /** Requests and extensions the caller may decide now. */
  approvals(): Promise<AccessRequest[]>;
  /** The access details of a request's active grants, by integration (requester only). */
  accessDetails(id: string): Promise<Record<string, Record<string, string>>>;

  listFavorites(): Promise<Favorites>;
  createFavorite(input: NewFavorite): Promise<Favorite>;
  deleteFavorite(id: string): Promise<void>;
  requestFromFavorite(id: string, options?: FavoriteRequestOptions): Promise<AccessRequest>;

  /** Live events and connection state; returns the function that ends the subscription. */
  subscribe(onMessage: (message: StreamMessage) => void): () => void;
  connectionState(): Promise<ConnectionState>;

  /** Desktop only (the portal rejects with status 501). */
  getSettings(): Promise<DesktopSettings>;
  updateSettings(update: DesktopSettingsUpdate): Promise<DesktopSettings>;
  /** Store the token in the OS keychain (desktop) or the session (portal); it is never read back. */
  setToken(token: string): Promise<void>;
  clearToken(): Promise<void>;
}

/** Every method that crosses the IPC boundary as a request/response call, for channel validation. */
export const LAPSE_API_METHODS = [
  'me', 'catalog',
  'listMyRequests', 'getRequest', 'createRequest', 'approve', 'deny', 'cancel', 'revoke', 'extend', 'approvals', 'accessDetails',
  'listFavorites', 'createFavorite', 'deleteFavorite', 'requestFromFavorite',
  'connectionState',
  'getSettings', 'updateSettings', 'setToken', 'clearToken',
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
export const APPROVER_REASON_MAX = 124;
