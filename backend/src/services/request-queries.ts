// What the API reads: requests, the approver's inbox, access details, favorites, the audit
// log and the activity report, each shown to a caller as the views say. Writes go through
// the engine; this reads the store and never changes it.

import type { Engine } from '../engine/engine.ts';
import { LapseError } from '../engine/errors.ts';
import type { AuditFilter, Store } from '../store/store.ts';
import type { Logger } from '../logger.ts';
import { REQUEST_STATUSES, type GrantRecord, type RequestRecord, type RequestStatus } from '../domain/request.ts';
import { formatDuration } from '../../../common/duration.ts';
import type { AccessDetails, AccessRequest, AuditEventView, Favorites, Me, RequestTimeline } from '../../../common/api/types.ts';
import { encodeAuditCursor, type AuditCursor } from '../domain/audit-cursor.ts';
import { requestTimeline } from '../domain/timeline.ts';
import { cutPage, pageLimit, type Cursors } from '../api/cursor.ts';
import { activityCsvHeader, activityCsvRows, auditView, favoriteView, iso, requestView, type AccessDetailsOpener } from '../api/views.ts';

/** A row of a list that could not be shown: its id and status, and why not. */
export interface UnshownRow {
  id: string;
  status: string;
  error: string;
}

/** Whose requests a list shows: the caller's own, everyone's (admins), or what the caller approved (approvers). */
export type ListScope = 'mine' | 'all' | 'approved-by-me';

export interface RequestListQuery {
  /** Default: everyone's for an admin, else the caller's own. */
  scope?: ListScope;
  /** Only the caller's own requests, even for an admin (as scope "mine"; older clients send it). */
  mine?: boolean;
  /** Statuses separated by commas. */
  status?: string;
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
  resource?: string;
  /** The query's `limit` as it came (checked here: 1 to 1000). */
  limit?: string;
  /** The previous page's nextCursor. */
  cursor?: string;
}

/** A page of a list, and the cursor of the next (null: no more). */
export interface Page<T> {
  rows: T[];
  nextCursor: string | null;
}

/** A request stuck in revoking, as the stuck revocations list shows it. */
export interface StuckRevocationRow {
  request: AccessRequest | UnshownRow;
  attempts: number;
  lastError: string | null;
  nextRetryAt: string | null;
}

/** How many requests the activity report reads at a time. */
const REPORT_PAGE = 1000;
/** How many audit events a request's timeline reads at a time. */
const TIMELINE_PAGE = 1000;

/** One page of the audit log: the filters, where it starts (a cursor the route has read) and its size. */
export interface AuditPageQuery extends Omit<AuditFilter, 'beforeSeq' | 'order' | 'limit'> {
  order?: 'asc' | 'desc';
  cursor?: AuditCursor;
  limit: number;
}

/** The activity report's filters (the Activity view's, but for action). */
export interface ReportFilter {
  since: number;
  until: number;
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
}

export class RequestQueries {
  constructor(
    private readonly store: Store,
    private readonly engine: Engine,
    private readonly logger: Logger,
    private readonly cursors: Cursors,
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
    const approver = await this.isApprover(caller.id);
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

  /** Whether the person is an approver: someone may ask them now, or a flow names them (as GET /me's roles say). */
  async isApprover(userId: string): Promise<boolean> {
    if (isApproverSomewhere(this.engine, userId)) return true;
    return (await this.store.listAwaitingDecisionBy(userId)).length > 0;
  }

  /**
   * A page of requests, newest first: the caller's own; everyone's (admins); or those the
   * caller approved (approvers; an admin too). Filters by user, flow, integration, label,
   * resource and status; the cursor is bound to the scope and the filters.
   */
  async list(caller: { id: string; admin: boolean }, q: RequestListQuery): Promise<Page<AccessRequest | UnshownRow>> {
    const statuses = q.status?.split(',').map((s) => s.trim()).filter(Boolean);
    for (const s of statuses ?? []) {
      if (!(REQUEST_STATUSES as readonly string[]).includes(s)) throw new LapseError('invalid', `unknown status "${s}"; expected ${REQUEST_STATUSES.join(', ')}`, 'query status');
    }
    if (q.mine && q.scope !== undefined && q.scope !== 'mine') throw new LapseError('invalid', `mine=true asks for your own requests; it cannot go with scope=${q.scope}`, 'query mine');
    const scope: ListScope = q.scope ?? (q.mine ? 'mine' : caller.admin ? 'all' : 'mine');
    if (scope === 'all' && !caller.admin) throw new LapseError('forbidden', 'only admins list everyone\'s requests (scope=all); use scope=mine, or scope=approved-by-me for what you approved');
    if (scope === 'approved-by-me' && !caller.admin && !(await this.isApprover(caller.id))) throw new LapseError('forbidden', 'scope=approved-by-me is for approvers: no flow names you as one');
    const limit = pageLimit(q.limit);
    // Your own list is yours whatever `user` says (as before scopes existed).
    const user = scope === 'mine' ? caller.id : q.user;
    const filters = { scope, statuses, user, flow: q.flow, integration: q.integration, label: q.label, resource: q.resource };
    const after = this.cursors.decode('requests', filters, q.cursor);
    const list = await this.store.listRequests({
      requester: user,
      approvedBy: scope === 'approved-by-me' ? caller.id : undefined,
      statuses: statuses as RequestStatus[] | undefined, flowId: q.flow, integration: q.integration, label: q.label, resource: q.resource,
      after: after ?? undefined, limit: limit + 1,
    });
    const { page, nextCursor } = cutPage(this.cursors, 'requests', filters, list, limit);
    return { rows: await this.views(page, caller.id), nextCursor };
  }

  /** Requests and extensions the caller may decide now, oldest first, a page at a time. */
  async approvals(caller: string, page: { limit?: string; cursor?: string } = {}): Promise<Page<AccessRequest | UnshownRow>> {
    const limit = pageLimit(page.limit);
    const after = this.cursors.decode('approvals', { caller }, page.cursor);
    const list = await this.store.listAwaitingDecisionBy(caller);
    const decided = (r: RequestRecord) => r.decisions.some((d) => d.approver === caller && d.subject === (r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request'));
    const ownForbidden = (r: RequestRecord) => r.requester === caller && (this.engine.config.flows.get(r.flowId)?.settings.requesterCannotApproveOwn ?? true);
    // The inbox is what waits for one person (small): ordered and cut here, oldest first.
    const ordered = list.filter((r) => !ownForbidden(r) && !decided(r))
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .filter((r) => !after || r.createdAt > after.createdAt || (r.createdAt === after.createdAt && r.id > after.id));
    const { page: rows, nextCursor } = cutPage(this.cursors, 'approvals', { caller }, ordered, limit);
    return { rows: await this.views(rows, caller), nextCursor };
  }

  /** Admins: requests in revoking, newest first, with their failed attempts, last error and next try. */
  async stuckRevocations(caller: { id: string; admin: boolean }, page: { limit?: string; cursor?: string }): Promise<Page<StuckRevocationRow>> {
    if (!caller.admin) throw new LapseError('forbidden', 'this needs the admin role');
    const limit = pageLimit(page.limit);
    const after = this.cursors.decode('stuck-revocations', {}, page.cursor);
    const read = await this.store.listRequests({ statuses: ['revoking'], after: after ?? undefined, limit: limit + 1 });
    const { page: list, nextCursor } = cutPage(this.cursors, 'stuck-revocations', {}, read, limit);
    const views = await this.views(list, caller.id);
    const grants = await this.store.getGrantsOf(list.map((r) => r.id));
    // Each request's jobs, read side by side (a page holds at most the limit's worth).
    const jobsOf = await Promise.all(list.map((r) => this.store.jobsOfRequest(r.id)));
    const rows: StuckRevocationRow[] = [];
    for (const [i, r] of list.entries()) {
      const revoking = (grants.get(r.id) ?? []).filter((g) => g.status === 'revoking');
      const jobs = jobsOf[i]!.filter((j) => j.kind === 'revoke');
      const waiting = jobs.filter((j) => j.leaseOwner === null).map((j) => j.dueAt);
      const failing = revoking.filter((g) => g.lastError !== null).sort((a, b) => b.attempts - a.attempts);
      rows.push({
        request: views[i]!,
        attempts: Math.max(0, ...revoking.map((g) => g.attempts)),
        lastError: failing[0]?.lastError ?? null,
        nextRetryAt: waiting.length ? iso(Math.min(...waiting)) : null,
      });
    }
    return { rows, nextCursor };
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

  /**
   * A page of audit events: admins query the whole log; others only the events of a request
   * they can see. The next page starts after this one's last event (`nextCursor`).
   */
  async audit(caller: { id: string; admin: boolean }, q: AuditPageQuery): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
    if (!caller.admin) {
      if (!q.requestId) throw new LapseError('forbidden', 'only admins can query the whole audit log; pass requestId for one of your requests');
      await this.engine.getVisible(caller.id, q.requestId);
    }
    const { cursor, order: asked, limit, ...filter } = q;
    const order = cursor?.order ?? asked ?? 'asc';
    const from = cursor ? (order === 'asc' ? { afterSeq: Math.max(cursor.seq, filter.afterSeq ?? 0) } : { beforeSeq: cursor.seq }) : {};
    // One more than asked: whether there is a next page.
    const list = await this.store.listAudit({ ...filter, ...from, order, limit: limit + 1 });
    const page = list.slice(0, limit);
    const last = page[page.length - 1];
    return { events: page.map(auditView), nextCursor: list.length > limit && last ? encodeAuditCursor({ order, seq: last.seq }) : null };
  }

  /**
   * A request's story from its audit events, with the request as the caller sees it (who
   * could approve it is in its approverGroups and waitingFor). The requester, its approvers
   * and admins; anyone else is refused.
   */
  async timeline(caller: string, id: string): Promise<RequestTimeline> {
    const r = await this.store.getRequest(id);
    if (!r) throw new LapseError('not-found', `request ${id} not found`);
    if (!this.engine.canSee(caller, r)) throw new LapseError('forbidden', 'a request\'s timeline is shown to its requester, its approvers and admins');
    const events = [];
    for (let afterSeq = -1; ;) {
      const page = await this.store.listAudit({ requestId: id, afterSeq, limit: TIMELINE_PAGE });
      events.push(...page);
      if (page.length < TIMELINE_PAGE) break;
      afterSeq = page[page.length - 1]!.seq;
    }
    return {
      request: this.show(r, await this.store.getGrants(id), caller),
      entries: requestTimeline(events).map((e) => ({ ...e, at: iso(e.at) })),
    };
  }

  /**
   * The activity report as CSV, one row per request and integration, newest first, read a
   * page at a time: requests created in [since, until) that match the filters (integration:
   * that integration's rows only).
   */
  async activityCsv(f: ReportFilter): Promise<string> {
    let out = activityCsvHeader();
    let before = f.until;
    for (;;) {
      const page = await this.store.listRequests({ createdBefore: before, requester: f.user, flowId: f.flow, limit: REPORT_PAGE });
      const inRange = page.filter((r) => r.createdAt >= f.since);
      const shown = inRange.filter((r) => (f.label === undefined || r.labels.includes(f.label))
        && (f.integration === undefined || r.entitlements.some((e) => e.integration === f.integration)));
      const grants = await this.store.getGrantsOf(shown.map((r) => r.id));
      for (const r of shown) {
        const rows = (grants.get(r.id) ?? []).filter((g) => f.integration === undefined || g.integration === f.integration);
        out += this.row(r, () => activityCsvRows(r, rows, this.engine.config), () => '');
      }
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
