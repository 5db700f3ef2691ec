// LapseApi held in memory: requests, favorites and an events stream, with the same rules
// the inbox and my-access views rely on (what awaits whom, status changes on decisions).
// Used by the renderer benchmark to drive the real views without a server.

import {
  ApiError, type AccessRequest, type ApiHost, type AuditPage, type ConfigStatus, type IntegrationList, type RequestTimeline, type DesktopSettingsUpdate, type Catalog, type ConnectionState, type CreatedToken, type DesktopSettings, type Favorite, type Favorites,
  type LapseApi, type LapseEvent, type Me, type MfaEnrolmentStarted, type MfaStatusView, type NewApiToken, type NotificationPreferencesView, type NewRequest, type StreamMessage, type TokenView,
} from '../../common/lapse-api.ts';

export class MemoryApi implements LapseApi {
  readonly host: ApiHost;
  /** Desktop settings as main would keep them (the token apart, never returned). */
  settings: DesktopSettings = {
    serverUrl: '', extraReminderMinutes: [], doNotDisturb: false, launchAtLogin: false, embedded: true, hasToken: false, keychainProblem: null,
  };
  /** What `ssoAvailable` says for a saved team server (null: not known). */
  singleSignOn: boolean | null = null;
  /** How `signInWithSso` ends: who signed in, or the detail of its failure. */
  ssoAnswer: { user: string; expiresAt: string | null } | string = { user: 'bob', expiresAt: null };
  private token: string | null = null;
  private readonly requests = new Map<string, AccessRequest>();
  private readonly favorites: Favorite[] = [];
  private readonly apiTokens: TokenView[] = [];
  /** The two-factor status as a server would keep it (any 6 digits confirm or remove it here). */
  private mfa: MfaStatusView = { status: 'none', startedAt: null, confirmedAt: null };
  private readonly listeners = new Set<(m: StreamMessage) => void>();
  private seq = 0;

  constructor(private readonly user: Me, private readonly catalogData: Catalog = { flows: [] }, private readonly now: () => number = Date.now, host: ApiHost = 'portal') {
    this.host = host;
  }

  /** Whether a token was handed over (the token itself stays here). */
  get tokenStored(): boolean {
    return this.token !== null;
  }

  /** Adds requests as they would exist on a server (no event). */
  seed(list: AccessRequest[]): void {
    for (const r of list) this.requests.set(r.id, r);
  }

  /** Replaces one request and tells subscribers, as the server's events stream would. */
  change(r: AccessRequest, type: string): void {
    this.requests.set(r.id, r);
    const event: LapseEvent = { id: `${r.id}:${++this.seq}:${type}`, type, at: new Date(this.now()).toISOString(), requestId: r.id, data: { status: r.status } };
    for (const l of this.listeners) l({ kind: 'event', event });
  }

  /** Tells subscribers the connection changed, as the stream would. */
  setConnection(state: ConnectionState, detail?: string): void {
    for (const l of this.listeners) l({ kind: 'connection', state, ...(detail ? { detail } : {}) });
  }

  private get(id: string): AccessRequest {
    const r = this.requests.get(id);
    if (!r) throw new ApiError({ status: 404, title: 'Not found', detail: `request ${id} not found` });
    return r;
  }

  private decide(id: string, decision: 'approve' | 'deny', reason?: string): AccessRequest {
    const r = this.get(id);
    if (r.status !== 'pending') throw new ApiError({ status: 409, title: 'Conflict', detail: `request ${id} is ${r.status}, not pending` });
    if (r.approverReasonRequired && !reason) throw new ApiError({ status: 422, title: 'Invalid request', detail: 'this flow requires a reason from the approver', field: 'reason' });
    const at = new Date(this.now()).toISOString();
    const next: AccessRequest = {
      ...r,
      status: decision === 'approve' ? 'active' : 'rejected',
      decisions: [...r.decisions, { approver: this.user.id, decision, reason: reason ?? null, at, subject: 'request' }],
      ...(decision === 'approve' ? { grantedAt: at } : { endedAt: at }),
    };
    this.change(next, decision === 'approve' ? 'request.approved' : 'request.rejected');
    return next;
  }

  async me(): Promise<Me> { return this.user; }
  async catalog(): Promise<Catalog> { return this.catalogData; }
  async listMyRequests(): Promise<AccessRequest[]> {
    return [...this.requests.values()].filter((r) => r.requester === this.user.id).reverse();
  }
  async getRequest(id: string): Promise<AccessRequest> { return this.get(id); }
  async createRequest(input: NewRequest): Promise<AccessRequest> {
    throw new ApiError({ status: 501, title: 'Not available', detail: `creating requests (${input.flowId}) is not part of the in-memory API` });
  }
  async approve(id: string, reason?: string): Promise<AccessRequest> { return this.decide(id, 'approve', reason); }
  async deny(id: string, reason?: string): Promise<AccessRequest> { return this.decide(id, 'deny', reason); }
  async cancel(id: string): Promise<AccessRequest> {
    const next = { ...this.get(id), status: 'canceled' as const };
    this.change(next, 'request.canceled');
    return next;
  }
  async revoke(id: string): Promise<AccessRequest> {
    const next = { ...this.get(id), status: 'revoked' as const, endReason: 'self', endedBy: this.user.id };
    this.change(next, 'request.revoked');
    return next;
  }
  async extend(id: string): Promise<AccessRequest> { return this.get(id); }
  async approvals(): Promise<AccessRequest[]> {
    return [...this.requests.values()].filter((r) => r.status === 'pending' && r.yourApproverRoles.length > 0 && r.requester !== this.user.id);
  }
  async accessDetails(id: string): Promise<Record<string, Record<string, string>>> {
    const out: Record<string, Record<string, string>> = {};
    for (const g of this.get(id).grants) if (g.accessDetails) out[g.integration] = g.accessDetails;
    return out;
  }
  async listFavorites(): Promise<Favorites> { return { favorites: this.favorites, suggestions: [] }; }
  async createFavorite(): Promise<Favorite> { throw new ApiError({ status: 501, title: 'Not available', detail: 'favorites are not part of the in-memory API' }); }
  async deleteFavorite(): Promise<void> {}
  async requestFromFavorite(id: string): Promise<AccessRequest> {
    throw new ApiError({ status: 404, title: 'Not found', detail: `favorite ${id} not found` });
  }
  async listTokens(): Promise<TokenView[]> { return this.apiTokens.map((t) => ({ ...t })); }
  async createToken(input: NewApiToken): Promise<CreatedToken> {
    const days = Number(/^(\d+)d$/.exec(input.expiresIn ?? '90d')?.[1] ?? NaN);
    if (!(days > 0 && days <= 366)) throw new ApiError({ status: 422, title: 'Invalid', detail: `lifetime in days from 1d to 366d, got "${input.expiresIn}"`, field: 'expiresIn' });
    const now = this.now();
    const t: TokenView = {
      id: `tok${++this.seq}`, user: this.user.id, name: input.name, kind: 'personal', createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + days * 86_400_000).toISOString(), lastUsedAt: null, revokedAt: null,
    };
    this.apiTokens.push(t);
    return { ...t, token: `lapse_memory_${t.id}` };
  }
  async revokeToken(id: string): Promise<void> {
    const t = this.apiTokens.find((x) => x.id === id && x.revokedAt === null);
    if (!t) throw new ApiError({ status: 404, title: 'Not found', detail: `no active token ${id}` });
    t.revokedAt = new Date(this.now()).toISOString();
  }
  async mfaStatus(): Promise<MfaStatusView> { return { ...this.mfa }; }
  async activity(): Promise<AuditPage> { return { events: [], nextCursor: null }; }
  async activityCsv(): Promise<string> { throw new ApiError({ status: 501, title: 'Not available', detail: 'the activity report is not part of the in-memory API' }); }
  async requestTimeline(id: string): Promise<RequestTimeline> { return { request: this.get(id), entries: [] }; }
  async integrations(): Promise<IntegrationList['integrations']> { return []; }
  async configStatus(): Promise<ConfigStatus> { throw new ApiError({ status: 501, title: 'Not available', detail: 'the configuration status is not part of the in-memory API' }); }
  async reloadConfig(): Promise<void> { throw new ApiError({ status: 501, title: 'Not available', detail: 'reloading is not part of the in-memory API' }); }
  async startMfaEnrolment(): Promise<MfaEnrolmentStarted> {
    if (this.mfa.status === 'enrolled') throw new ApiError({ status: 409, title: 'Conflict', detail: 'you are enrolled already' });
    this.mfa = { status: 'pending', startedAt: new Date(this.now()).toISOString(), confirmedAt: null };
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><path d="M0 0h1v1H0z"/></svg>';
    return { ...this.mfa, secret, otpauthUri: `otpauth://totp/Lapse:${encodeURIComponent(this.user.id)}?secret=${secret}&issuer=Lapse`, qrCode: `data:image/svg+xml;base64,${btoa(svg)}` };
  }
  async confirmMfaEnrolment(code: string): Promise<MfaStatusView> {
    if (this.mfa.status !== 'pending') throw new ApiError({ status: 409, title: 'Conflict', detail: 'there is no enrolment to confirm: set one up first' });
    if (!/^\d{6}$/.test(code)) throw new ApiError({ status: 400, title: 'Invalid request', detail: 'code: must be 6 digits', field: 'code' });
    this.mfa = { ...this.mfa, status: 'enrolled', confirmedAt: new Date(this.now()).toISOString() };
    return { ...this.mfa };
  }
  async notificationPreferences(): Promise<NotificationPreferencesView> {
    return { email: { available: false, address: null, on: false, mayTurnOff: false }, chat: { available: false, service: null, on: false, mayTurnOff: false } };
  }
  async setNotifications(): Promise<NotificationPreferencesView> { throw new ApiError({ status: 409, title: 'Conflict', detail: 'this server sends no email and no direct messages' }); }

  async removeMfa(code?: string): Promise<void> {
    if (this.mfa.status === 'none') throw new ApiError({ status: 404, title: 'Not found', detail: 'you have no MFA enrolment' });
    if (this.mfa.status === 'enrolled' && code === undefined) throw new ApiError({ status: 422, title: 'Invalid request', detail: 'removing your factor needs a current code from it', field: 'code' });
    this.mfa = { status: 'none', startedAt: null, confirmedAt: null };
  }
  subscribe(onMessage: (m: StreamMessage) => void): () => void {
    this.listeners.add(onMessage);
    onMessage({ kind: 'connection', state: 'online' });
    return () => this.listeners.delete(onMessage);
  }
  async connectionState(): Promise<ConnectionState> { return 'online'; }
  async getSettings(): Promise<DesktopSettings> {
    if (this.host !== 'desktop') throw new ApiError({ status: 501, title: 'Not available', detail: 'desktop settings exist only in the desktop app' });
    return { ...this.settings, hasToken: this.token !== null };
  }
  async updateSettings(update: DesktopSettingsUpdate): Promise<DesktopSettings> {
    await this.getSettings();
    const next = { ...this.settings, ...update };
    if (!next.embedded && !/^https?:\/\/[^\s/]+/.test(next.serverUrl)) {
      throw new ApiError({ status: 422, title: 'Invalid settings', detail: `server URL must be an http(s) URL, got ${JSON.stringify(next.serverUrl)}`, field: 'serverUrl' });
    }
    this.settings = next;
    return this.getSettings();
  }
  async setToken(token: string): Promise<void> {
    this.token = token;
  }
  async clearToken(): Promise<void> {
    this.token = null;
  }
  async ssoAvailable(): Promise<boolean | null> {
    const s = await this.getSettings();
    return s.embedded || !s.serverUrl ? null : this.singleSignOn;
  }
  async signInWithSso(): Promise<{ user: string; expiresAt: string | null }> {
    await this.getSettings();
    const a = this.ssoAnswer;
    if (typeof a === 'string') throw new ApiError({ status: 401, title: 'Not signed in', detail: a });
    this.token = `sso-token-of-${a.user}`;
    return a;
  }
}

/** `n` pending requests from varied requesters, flows and entitlements, awaiting `approver`. */
export function generatePendingRequests(n: number, approver: string, now = Date.parse('2026-06-01T10:00:00Z')): AccessRequest[] {
  const flows = ['Write app tables', 'Read any database', 'Demo bundle', 'Admin on analytics', 'Deploy rights'];
  return Array.from({ length: n }, (_, i) => {
    const entitlements = Array.from({ length: 1 + (i % 4) }, (_, j) => ({
      integration: ['demo', 'pg-prod', 'redis-cache'][(i + j) % 3]!, resourceType: j % 2 ? 'table' : 'database', resource: `db${i % 37}/t${j}`, permission: ['read', 'write', 'admin'][(i + j) % 3]!,
    }));
    return {
      id: `req-${String(i).padStart(5, '0')}`, requester: `user${i % 113}`, flowId: `flow${i % 5}`, flowName: flows[i % 5]!,
      bundleId: i % 7 === 0 ? 'b1' : null, bundleName: i % 7 === 0 ? 'Payments read bundle' : null,
      status: 'pending', entitlements, duration: `${1 + (i % 8)}h`,
      justification: `INC-${1000 + i}: investigate the ${['orders', 'users', 'billing'][i % 3]} backlog reported by support`,
      labels: [], breakGlass: i % 97 === 0, createdAt: new Date(now - i * 60_000).toISOString(), startAt: null, grantedAt: null,
      expiresAt: null, endedAt: null, endReason: null, endedBy: null, endNote: null, approvalMode: 'anyOf',
      approverGroups: [{ description: 'group is sre-leads', users: [approver] }], decisions: [], approverReasonRequired: i % 2 === 0,
      yourApproverRoles: i % 3 === 0 ? ['group is sre-leads', 'manager'] : ['group is sre-leads'],
      extensions: 0, maxExtensions: 2, pendingExtension: null, error: null,
      grants: [{ integration: 'demo', status: 'pending', entitlements, attempts: 0, lastError: null, grantedAt: null, revokedAt: null }],
    };
  });
}
