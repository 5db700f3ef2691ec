// What the API reads: requests, the approver's inbox, access details, favorites, the audit
// log and the activity report, each shown to a caller as the views say. Writes go through
// the engine; this reads the store and never changes it.

import type { Engine } from '../engine/engine.ts';
import { LapseError } from '../engine/errors.ts';
import type { AuditFilter, Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';
import { REQUEST_STATUSES, type GrantRecord, type RequestRecord, type RequestStatus } from '../domain/request.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { AccessDetails, AccessRequest, AuditEventView, Favorites, Me } from '../../../common/api/types.ts';
import { activityCsvHeader, activityCsvRows, auditView, favoriteView, iso, requestView, type AccessDetailsOpener } from '../api/views.ts';

/** A row of a list that could not be shown: its id and status, and why not. */
export interface UnshownRow {
  id: string;
  status: string;
  error: string;
}

export interface RequestListQuery {
  /** Only the caller's own requests, even for an admin. */
  mine?: boolean;
  /** Statuses separated by commas. */
  status?: string;
  user?: string;
  flow?: string;
  limit?: number;
}

/** How many requests the activity report reads at a time. */
const REPORT_PAGE = 1000;

export class RequestQueries {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly logger: Logger,
    private readonly openAccessDetails?: AccessDetailsOpener,
  ) {}

  /** Sealed access details opened for the requester; a grant whose details cannot be opened shows none (and is logged). */
  readonly openDetails: AccessDetailsOpener = (g) => {
    if (g.accessDetails === null) return null;
    if (!this.openAccessDetails) return g.accessDetails;
    try {
      return this.openAccessDetails(g);
    } catch (err) {
      this.logger.error({ request: g.requestId, integration: g.integration, error: (err as Error).message }, 'cannot open the access details of a grant (was the secret key changed?)');
      return null;
    }
  };

  async me(caller: { id: string; admin: boolean }): Promise<Me> {
    const user = this.engine.config.users.get(caller.id);
    const inbox = await this.store.listAwaitingDecisionBy(caller.id);
    const approver = inbox.length > 0 || isApproverSomewhere(this.engine, caller.id);
    return {
      id: caller.id, email: user?.email ?? null, name: user?.name ?? null, groups: user?.groups ?? [],
      roles: ['requester', ...(approver ? ['approver' as const] : []), ...(caller.admin ? ['admin' as const] : [])],
      // The server's warnings, so that clients warn at the same moments (latest first).
      expiryWarnings: [...this.engine.config.config.settings.expiryWarnings].sort((a, b) => b - a).map((ms) => formatDuration(ms)),
    };
  }

  /** One request as `viewer` sees it, once the engine has said they may. */
  async view(id: string, viewer: string): Promise<AccessRequest> {
    const r = await this.engine.getVisible(viewer, id);
    return this.show(r, await this.store.getGrants(id), viewer);
  }

  /** A request and its grants, as the engine returned them, shown to `viewer`. */
  show(r: RequestRecord, grants: GrantRecord[], viewer: string): AccessRequest {
    return requestView(r, grants, this.engine.config, viewer, this.openDetails);
  }

  /** A request just written by the engine, as `viewer` sees it. */
  async viewOf(id: string, viewer: string): Promise<AccessRequest> {
    const r = (await this.store.getRequest(id))!;
    return requestView(r, await this.store.getGrants(id), this.engine.config, viewer, this.openDetails);
  }

  /** The caller's own requests, or for an admin everyone's (or one user's). */
  async list(caller: { id: string; admin: boolean }, q: RequestListQuery): Promise<(AccessRequest | UnshownRow)[]> {
    const statuses = q.status?.split(',').map((s) => s.trim()).filter(Boolean);
    for (const s of statuses ?? []) {
      if (!(REQUEST_STATUSES as readonly string[]).includes(s)) throw new LapseError('invalid', `unknown status "${s}"; expected ${REQUEST_STATUSES.join(', ')}`, 'query status');
    }
    const everyone = caller.admin && !q.mine;
    const list = await this.store.listRequests({
      requester: everyone ? q.user : caller.id, statuses: statuses as RequestStatus[] | undefined, flowId: q.flow, limit: Math.min(q.limit ?? 100, 1000),
    });
    return this.views(list, caller.id);
  }

  /** Requests and extensions the caller may decide now. */
  async approvals(caller: string): Promise<(AccessRequest | UnshownRow)[]> {
    const list = await this.store.listAwaitingDecisionBy(caller);
    const decided = (r: RequestRecord) => r.decisions.some((d) => d.approver === caller && d.subject === (r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request'));
    const ownForbidden = (r: RequestRecord) => r.requester === caller && (this.engine.config.flows.get(r.flowId)?.settings.requesterCannotApproveOwn ?? true);
    return this.views(list.filter((r) => !ownForbidden(r) && !decided(r)), caller);
  }

  /** The access details of an active request, per integration: the requester only. */
  async accessDetails(caller: string, id: string): Promise<AccessDetails> {
    const r = await this.engine.getVisible(caller, id);
    if (r.requester !== caller) throw new LapseError('forbidden', 'access details are shown to the requester only');
    if (r.status !== 'active') throw new LapseError('conflict', `the request is ${r.status}; access details are available while it is active`);
    const grants = await this.store.getGrants(id);
    return {
      requestId: id,
      expiresAt: iso(r.expiresAt),
      grants: grants.filter((g) => g.status === 'active').map((g) => ({ integration: g.integration, accessDetails: this.openDetails(g) })),
    };
  }

  async favorites(owner: string): Promise<Favorites> {
    const favorites = await this.store.listFavorites(owner);
    const suggestions = await this.engine.suggestions(owner);
    return {
      favorites: favorites.map(favoriteView),
      suggestions: suggestions.map((r) => ({
        requestId: r.id, flowId: r.flowId, bundleId: r.bundleId, entitlements: r.entitlements,
        duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs), justification: r.justification, createdAt: iso(r.createdAt),
      })),
    };
  }

  async deleteFavorite(owner: string, id: string): Promise<void> {
    if (!(await this.store.deleteFavorite(owner, id))) throw new LapseError('not-found', `favorite ${id} not found`);
  }

  /** Audit events: admins query the whole log; others only the events of a request they can see. */
  async audit(caller: { id: string; admin: boolean }, q: AuditFilter): Promise<AuditEventView[]> {
    if (!caller.admin) {
      if (!q.requestId) throw new LapseError('forbidden', 'only admins can query the whole audit log; pass requestId for one of your requests');
      await this.engine.getVisible(caller.id, q.requestId);
    }
    const list = await this.store.listAudit({ ...q, limit: q.limit ?? 100 });
    return list.map(auditView);
  }

  /** The activity report as CSV, one row per request and integration, newest first, read a page at a time. */
  async activityCsv(since: number, until: number): Promise<string> {
    let out = activityCsvHeader();
    let before = until;
    for (;;) {
      const page = await this.store.listRequests({ createdBefore: before, limit: REPORT_PAGE });
      const inRange = page.filter((r) => r.createdAt >= since);
      const grants = await this.store.getGrantsOf(inRange.map((r) => r.id));
      for (const r of inRange) out += this.row(r, () => activityCsvRows(r, grants.get(r.id) ?? [], this.engine.config), () => '');
      if (page.length < REPORT_PAGE || inRange.length < page.length) return out;
      before = page[page.length - 1]!.createdAt;
    }
  }

  private async views(list: RequestRecord[], viewer: string): Promise<(AccessRequest | UnshownRow)[]> {
    const grants = await this.store.getGrantsOf(list.map((r) => r.id));
    return list.map((r) => this.row<AccessRequest | UnshownRow>(r, () => requestView(r, grants.get(r.id) ?? [], this.engine.config, viewer, this.openDetails)));
  }

  /**
   * One row of a list: a row that cannot be shown (a record no view expects) is logged and
   * stands as its id and status, so that one row never fails a list as a whole.
   */
  private row<T>(r: { id: string; status: string }, render: () => T, fallback?: () => T): T {
    try {
      return render();
    } catch (err) {
      this.logger.error({ request: r.id, error: String(err) }, 'a request could not be shown in a list');
      return fallback ? fallback() : ({ id: r.id, status: r.status, error: 'this request could not be shown; the server log says why' } as T);
    }
  }
}

/** Whether a person is an approver of some flow (the approver role). */
export function isApproverSomewhere(engine: Engine, userId: string): boolean {
  const user = engine.config.users.get(userId);
  if (!user) return false;
  return engine.config.config.flows.some((f) => f.approval.mode !== 'automatic' && f.approval.groups.some((g) =>
    g.conditions.some((c) => (c.attribute === 'user' && c.value.includes(userId)) || (c.attribute === 'group' && user.groups.some((gr) => c.value.includes(gr)))
      || c.attribute === 'manager' && engine.config.config.users.some((u) => u.manager === userId))));
}
