// The flow engine: the request lifecycle (README, "Request lifecycle") as durable transitions.
//
// Every transition is committed (with its audit events and the jobs it implies) before any
// call to a target. Target calls happen only inside jobs: a job is claimed with a lease, its
// effect on the target is idempotent, and it is completed only by its lease holder. A crash
// at any point therefore leaves either a job to claim again (the call is repeated, harmlessly)
// or a finished state — never access without a job that will remove it.

import { randomUUID } from 'node:crypto';
import { uuidv7 } from '../domain/ids.ts';
import type { FlowConfig } from '../domain/config.ts';
import {
  applyRequestUpdate, entitlementKey, formatEntitlement, jobId,
  type Decision, type EndReason, type Entitlement, type Favorite, type GrantRecord, type JobKind, type JobRecord, type RequestRecord, type RequestStatus, type RequestWithGrants,
} from '../domain/request.ts';
import { CompiledConfig, dedupe, MAX_BUNDLE_ENTITLEMENTS } from '../domain/catalog.ts';
import { allApprovers, approvalsSatisfied, snapshotApprovers, unapprovableReason } from '../domain/approvals.ts';
import { userMatches } from '../domain/conditions.ts';
import { isWithinWindow, windowUnavailableReason } from '../domain/time-windows.ts';
import { parseDuration, formatDuration, MAX_DURATION_MS } from '../../../common/duration.ts';
import type { Integration } from '../integrations/integration.ts';
import { ConflictError, type AuditInput, type ChangeSet, type Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { EventBus } from './events.ts';
import { conflict, forbidden, invalid, LapseError, notFound } from './errors.ts';
import { KeyedMutex } from '../store/keyed-mutex.ts';

export const APPROVER_REASON_MAX = 124;
export const JUSTIFICATION_MAX = 2000;
const MAX_START_DELAY_MS = 90 * 24 * 3600_000;

/**
 * The outcome of one MFA code: accepted, or why not (`wrong`; `used`: right but used already;
 * `locked`: too many wrong codes lately, not looked at) with the user's count of failed
 * attempts in the current window.
 */
export type MfaResult = { ok: true } | { ok: false; reason: 'wrong' | 'used' | 'locked'; failures: number; retryAfterMs?: number };

export interface MfaVerifier {
  /** Whether `code` is a valid, unused one-time code for the user (each attempt is counted). */
  verify(userId: string, code: string): Promise<MfaResult>;
  isEnrolled(userId: string): boolean;
}

export interface NewRequestInput {
  flowId: string;
  entitlements?: Entitlement[];
  bundleId?: string;
  duration?: string;
  justification?: string;
  startAt?: number;
  mfaCode?: string;
  breakGlass?: boolean;
}

export interface RevokeAllFilter {
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
}

export interface EngineOptions {
  store: Store;
  clock: Clock;
  events: EventBus;
  integrations: ReadonlyMap<string, Integration>;
  config: CompiledConfig;
  /** Identifies this process as a lease holder. */
  owner: string;
  leaseMs?: number;
  mfa?: MfaVerifier;
  /** Revoke retry backoff: base * 2^(attempt-1), capped, with ±20 % jitter. */
  revokeBackoff?: { baseMs: number; capMs: number };
  /** Grant attempts before the request fails. */
  grantAttempts?: number;
  grantRetryMs?: number;
  /** How long an API call waits for the grant it started before answering with `granting`. */
  inlineWaitMs?: number;
  /** Seals access details before they are stored (encryption at rest); default: stored as they are. */
  sealAccessDetails?: (requestId: string, integration: string, details: Record<string, string>) => Record<string, string>;
  /** Called whenever jobs were created that fall due before the scheduler's next look. */
  onJobsScheduled?: (earliestDueAt: number) => void;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/** Ids of requests made by automatic flows start with this. */
export const AUTOMATIC_PREFIX = 'auto-';

export class Engine {
  config: CompiledConfig;
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly events: EventBus;
  private readonly integrations: ReadonlyMap<string, Integration>;
  private readonly owner: string;
  private readonly leaseMs: number;
  private readonly mfa?: MfaVerifier;
  private readonly backoff: { baseMs: number; capMs: number };
  private readonly grantAttempts: number;
  private readonly grantRetryMs: number;
  private readonly inlineWaitMs: number;
  private readonly targetLock = new KeyedMutex();
  /**
   * The request and grants a job works on, by job id, where this process knows them: it has
   * just committed them with the job (a revoke it claimed in the same change set), or read
   * them for a batch of jobs the scheduler claimed (prepareJobs). Taken once; a stale entry
   * only costs a conflict and a re-read.
   */
  private readonly knownState = new Map<string, RequestWithGrants>();
  /** Requests whose creator waits for the inline grant, and what the grant committed. */
  private readonly awaitingOutcome = new Set<string>();
  private readonly outcomes = new Map<string, RequestWithGrants>();
  private readonly opts: EngineOptions;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.store = opts.store;
    this.clock = opts.clock;
    this.events = opts.events;
    this.integrations = opts.integrations;
    this.config = opts.config;
    this.owner = opts.owner;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.mfa = opts.mfa;
    this.backoff = opts.revokeBackoff ?? { baseMs: 1000, capMs: 5 * 60_000 };
    this.grantAttempts = opts.grantAttempts ?? 3;
    this.grantRetryMs = opts.grantRetryMs ?? 1000;
    this.inlineWaitMs = opts.inlineWaitMs ?? 5000;
  }

  private now(): number {
    return this.clock.now();
  }

  private log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(level, message, fields);
  }

  // ── reading ────────────────────────────────────────────────────────────────────────

  async getVisible(actor: string, id: string): Promise<RequestRecord> {
    const r = await this.store.getRequest(id);
    if (!r || !this.canSee(actor, r)) throw notFound(`request ${id} not found`);
    return r;
  }

  canSee(actor: string, r: RequestRecord): boolean {
    return r.requester === actor
      || this.config.isAdmin(actor)
      || r.approverGroups.some((g) => g.users.includes(actor))
      || r.decisions.some((d) => d.approver === actor);
  }

  // ── creating ───────────────────────────────────────────────────────────────────────

  async createRequest(actor: string, input: NewRequestInput): Promise<RequestRecord> {
    return (await this.submitRequest(actor, input)).request;
  }

  /**
   * Creates a request; an automatically approved one is granted before this returns (or
   * after inlineWaitMs at most). Answers with the request and its grants as they are then.
   */
  async submitRequest(actor: string, input: NewRequestInput): Promise<RequestWithGrants> {
    const now = this.now();
    const cfg = this.config;
    const user = cfg.users.get(actor);
    if (!user) throw forbidden(`user ${actor} is not in the configuration and cannot request access`);
    const flow = cfg.flows.get(input.flowId);
    if (!flow) throw invalid(`unknown flow "${input.flowId}"`, 'flowId');
    if (flow.kind !== 'self-serve') throw invalid(`flow "${flow.id}" is automatic: access is granted while its condition holds and cannot be requested`, 'flowId');
    if (!userMatches(flow.requesters, user, cfg.conditionContext(now))) throw forbidden(`you do not meet the requester conditions of flow "${flow.id}"`);
    if (flow.when) {
      const reason = windowUnavailableReason(flow.when, now);
      if (reason) throw invalid(`flow "${flow.id}" is ${reason}`, 'flowId');
    }

    const entitlements = this.resolveEntitlements(flow, input);
    const durationMs = this.resolveDuration(flow, input.duration, 'duration');
    const justification = input.justification?.trim() || null;
    if (justification && justification.length > JUSTIFICATION_MAX) throw invalid(`justification is longer than ${JUSTIFICATION_MAX} characters`, 'justification');
    if (flow.settings.requireJustification && !justification) throw invalid(`flow "${flow.id}" requires a justification`, 'justification');
    if (input.breakGlass) {
      if (!flow.settings.breakGlass) throw invalid(`flow "${flow.id}" does not allow break-glass access`, 'breakGlass');
      if (!justification) throw invalid('break-glass access requires a reason in justification', 'justification');
    }
    let startAt: number | null = null;
    if (input.startAt !== undefined) {
      if (!Number.isFinite(input.startAt)) throw invalid('startAt must be a date-time', 'startAt');
      if (input.startAt > now + MAX_START_DELAY_MS) throw invalid('startAt is more than 90 days ahead', 'startAt');
      startAt = input.startAt > now ? input.startAt : null;
    }
    if (flow.settings.requireMfa) {
      if (!this.mfa || !this.mfa.isEnrolled(actor)) throw forbidden(`flow "${flow.id}" requires MFA, and no MFA factor is configured for ${actor}`);
      if (!input.mfaCode) throw invalid(`flow "${flow.id}" requires an MFA code`, 'mfaCode');
      const result = await this.mfa.verify(actor, input.mfaCode);
      if (!result.ok) {
        // Every refused code is audited: someone holding a stolen token and guessing shows up.
        await this.store.appendAudit([{
          at: now, actor, action: result.reason === 'locked' ? 'mfa.refused' : 'mfa.failed', requestId: null,
          data: { flowId: flow.id, reason: result.reason, failures: result.failures },
        }]);
        if (result.reason === 'locked') {
          const minutes = Math.ceil((result.retryAfterMs ?? 60_000) / 60_000);
          throw new LapseError('too-many', `too many wrong MFA codes lately: try again in ${minutes} min`, 'mfaCode', result.retryAfterMs);
        }
        throw invalid('the MFA code is not valid (wrong, expired or already used)', 'mfaCode');
      }
    }

    const approverGroups = snapshotApprovers(cfg, flow, actor, entitlements, now);
    const mode = flow.approval.mode;
    const autoApproved = mode === 'automatic' || !!input.breakGlass;
    if (!autoApproved) {
      const reason = unapprovableReason(mode, approverGroups);
      if (reason) throw invalid(`flow "${flow.id}" cannot be requested: ${reason}`, 'flowId');
    }

    const request: RequestRecord = {
      id: uuidv7(),
      requester: actor,
      flowId: flow.id,
      bundleId: input.bundleId ?? null,
      status: 'pending',
      entitlements,
      durationMs,
      justification,
      labels: flow.settings.labels,
      breakGlass: !!input.breakGlass,
      createdAt: now,
      updatedAt: now,
      startAt,
      grantedAt: null,
      expiresAt: null,
      endedAt: null,
      endReason: null,
      endedBy: null,
      endNote: null,
      approverGroups,
      approvalMode: mode,
      decisions: input.breakGlass ? [{ approver: actor, decision: 'approve', reason: justification, at: now, subject: 'request' }] : [],
      extensions: 0,
      pendingExtension: null,
      error: null,
      version: 1,
    };
    const grants: GrantRecord[] = [...groupByIntegration(entitlements)].map(([integration, ents]) => ({
      requestId: request.id, integration, status: 'pending', entitlements: ents, accessDetails: null, attempts: 0, lastError: null, grantedAt: null, revokedAt: null,
    }));
    const audit: AuditInput[] = [{
      at: now, actor, action: 'request.created', requestId: request.id,
      data: {
        flowId: flow.id, bundleId: request.bundleId, entitlements: entitlements.map(formatEntitlement), duration: durationMs === null ? 'indefinite' : formatDuration(durationMs),
        justification, startAt, breakGlass: request.breakGlass, labels: request.labels,
      },
    }];
    const cs: ChangeSet = { insertRequests: [request], insertGrants: grants, audit };
    let claimed: JobRecord[] = [];
    if (autoApproved) {
      if (request.breakGlass) audit.push({ at: now, actor, action: 'request.break_glass', requestId: request.id, data: { reason: justification, notified: allApprovers(approverGroups) } });
      // Created and approved in one step: the creation event records both.
      claimed = this.approvedTransition(request, grants, cs, now, request.breakGlass ? 'break-glass' : 'automatic', false);
      Object.assign(audit[0]!.data, { approval: request.breakGlass ? 'break-glass' : 'automatic', status: request.status });
    }
    await this.store.commit(cs);
    const stored = request; // as inserted (version 1)
    for (const j of claimed) this.knownState.set(j.id, { request, grants });
    this.publish(stored, 'request.created');
    if (request.breakGlass) this.publish(stored, 'request.break_glass', { notify: allApprovers(approverGroups) });
    else if (!autoApproved) this.publish(stored, 'approval.requested', { approvers: allApprovers(approverGroups) });
    this.awaitingOutcome.add(request.id);
    try {
      await this.runInline(claimed);
      return this.outcomes.get(request.id) ?? { request: (await this.store.getRequest(request.id))!, grants: await this.store.getGrants(request.id) };
    } finally {
      this.awaitingOutcome.delete(request.id);
      this.outcomes.delete(request.id);
    }
  }

  private resolveEntitlements(flow: FlowConfig, input: NewRequestInput): Entitlement[] {
    const cfg = this.config;
    let entitlements: Entitlement[];
    if (input.bundleId !== undefined) {
      if (!cfg.flowBundles(flow).some((b) => b.id === input.bundleId)) throw invalid(`bundle "${input.bundleId}" is not offered by flow "${flow.id}"`, 'bundleId');
      const whole = cfg.bundleEntitlements(input.bundleId);
      if (input.entitlements?.length) {
        const inBundle = new Set(whole.map(entitlementKey));
        input.entitlements.forEach((e, i) => {
          if (!inBundle.has(entitlementKey(e))) throw invalid(`${formatEntitlement(e)} is not part of bundle "${input.bundleId}"`, `entitlements[${i}]`);
        });
        entitlements = dedupe(input.entitlements);
      } else {
        entitlements = whole;
      }
      if (entitlements.length > MAX_BUNDLE_ENTITLEMENTS) throw invalid(`a bundle request may hold at most ${MAX_BUNDLE_ENTITLEMENTS} entitlements; this one has ${entitlements.length}: request a part of it`, 'entitlements');
    } else {
      if (!input.entitlements?.length) throw invalid('name the entitlements to request, or a bundleId', 'entitlements');
      if (input.entitlements.length > MAX_BUNDLE_ENTITLEMENTS) throw invalid(`at most ${MAX_BUNDLE_ENTITLEMENTS} entitlements in one request`, 'entitlements');
      const offered = cfg.flowEntitlementKeys(flow);
      input.entitlements.forEach((e, i) => {
        if (!offered.has(entitlementKey(e))) throw invalid(`flow "${flow.id}" does not offer ${formatEntitlement(e)}`, `entitlements[${i}]`);
      });
      entitlements = dedupe(input.entitlements);
    }
    if (entitlements.length === 0) throw invalid('the request covers no entitlement', 'entitlements');
    return entitlements;
  }

  private resolveDuration(flow: FlowConfig, text: string | undefined, field: string): number | null {
    if (text === undefined) return flow.grantFor;
    if (text === 'indefinite') {
      if (flow.maxDuration !== null) throw invalid(`flow "${flow.id}" does not allow indefinite access (maximum ${formatDuration(flow.maxDuration)})`, field);
      return null;
    }
    let ms: number;
    try {
      ms = parseDuration(text);
    } catch (err) {
      throw invalid((err as Error).message, field);
    }
    if (flow.maxDuration !== null && ms > flow.maxDuration) throw invalid(`${text} is longer than the maximum of flow "${flow.id}" (${formatDuration(flow.maxDuration)})`, field);
    return ms;
  }

  /**
   * Adds to `cs` the move of an approved request to `granting` (or `scheduled` for a later
   * start), with grant jobs claimed by this process so the caller can run them at once.
   */
  private approvedTransition(
    r: RequestRecord, grants: GrantRecord[], cs: ChangeSet, now: number,
    approval: 'automatic' | 'break-glass' | 'approvers' | 'scheduled-start' = 'approvers', audited = true,
  ): JobRecord[] {
    const scheduled = r.startAt !== null && r.startAt > now;
    const status: RequestStatus = scheduled ? 'scheduled' : 'granting';
    if (cs.insertRequests?.includes(r)) {
      r.status = status;
      for (const g of grants) g.status = scheduled ? 'pending' : 'granting';
    } else {
      (cs.updateRequests ??= []).push({ id: r.id, expectVersion: r.version, set: { status, updatedAt: now } });
      if (!scheduled) {
        for (const g of grants) (cs.updateGrants ??= []).push({ requestId: r.id, integration: g.integration, expectStatus: ['pending'], set: { status: 'granting' } });
      }
    }
    if (audited) (cs.audit ??= []).push({ at: now, actor: 'system', action: scheduled ? 'request.scheduled' : 'request.granting', requestId: r.id, data: scheduled ? { startAt: r.startAt, approval } : { approval } });
    if (scheduled) {
      (cs.insertJobs ??= []).push(this.job('start', r.id, '', r.startAt!, null));
      return [];
    }
    const jobs = grants.map((g) => this.job('grant', r.id, g.integration, now, now + this.leaseMs));
    (cs.insertJobs ??= []).push(...jobs);
    return jobs;
  }

  private job(kind: JobKind, requestId: string, target: string, dueAt: number, leaseUntil: number | null): JobRecord {
    return {
      id: jobId(kind, requestId, target), kind, requestId, target, dueAt, attempts: leaseUntil === null ? 0 : 1, lastError: null,
      leaseOwner: leaseUntil === null ? null : this.owner, leaseUntil,
    };
  }

  // ── deciding ───────────────────────────────────────────────────────────────────────

  async approve(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decide(actor, id, 'approve', reason);
  }

  async deny(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decide(actor, id, 'deny', reason);
  }

  private async decide(actor: string, id: string, decision: 'approve' | 'deny', reasonInput?: string): Promise<RequestRecord> {
    const now = this.now();
    const r = await this.getVisible(actor, id);
    const flow = this.config.flows.get(r.flowId);
    const subject: Decision['subject'] = r.status === 'pending' ? 'request' : r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request';
    // Before the status check: the first approval of an any-of request moves it out of
    // `pending`, and a replay of that very decision must still answer, not conflict.
    const previous = r.decisions.find((d) => d.approver === actor && d.subject === subject);
    if (previous) {
      if (previous.decision === decision) return r; // replaying the same decision changes nothing
      throw conflict(`you already decided to ${previous.decision} this request`);
    }
    if (r.status !== 'pending' && !(r.status === 'active' && r.pendingExtension)) {
      throw conflict(`request ${id} is ${r.status}: there is nothing to ${decision}`);
    }
    const cannotOwn = flow?.settings.requesterCannotApproveOwn ?? true;
    if (actor === r.requester && cannotOwn) throw forbidden('you cannot approve or deny your own request under this flow');
    if (!r.approverGroups.some((g) => g.users.includes(actor))) throw forbidden(`you are not an approver of request ${id}`);
    const reason = reasonInput?.trim() || null;
    if (reason && reason.length > APPROVER_REASON_MAX) throw invalid(`reason is ${reason.length} characters; at most ${APPROVER_REASON_MAX}`, 'reason');
    if (flow?.settings.requireApproverReason && !reason) throw invalid(`flow "${r.flowId}" requires a reason from the approver`, 'reason');

    const decisions = [...r.decisions, { approver: actor, decision, reason, at: now, subject }];
    const cs: ChangeSet = { audit: [] };
    let claimed: JobRecord[] = [];
    let eventType: string;
    if (subject === 'request') {
      cs.audit!.push({ at: now, actor, action: decision === 'approve' ? 'request.approved' : 'request.denied', requestId: id, data: { reason } });
      if (decision === 'deny') {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, status: 'rejected', updatedAt: now, endedAt: now, endedBy: actor, endNote: reason } }];
        eventType = 'request.denied';
      } else if (approvalsSatisfied(r.approvalMode, r.approverGroups, decisions, subject)) {
        const approved = { ...r, decisions };
        const grants = await this.store.getGrants(id);
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions } }];
        // approvedTransition adds a second update on the same row: fold both into one.
        const tmp: ChangeSet = { audit: cs.audit };
        claimed = this.approvedTransition(approved, grants, tmp, now);
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, ...tmp.updateRequests![0]!.set } }];
        cs.updateGrants = tmp.updateGrants;
        cs.insertJobs = tmp.insertJobs;
        eventType = 'request.approved';
      } else {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, updatedAt: now } }];
        eventType = 'request.approval_recorded';
      }
    } else {
      const ext = r.pendingExtension!;
      cs.audit!.push({ at: now, actor, action: decision === 'approve' ? 'extension.approved' : 'extension.denied', requestId: id, data: { extension: ext.number, reason } });
      if (decision === 'deny') {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, pendingExtension: null, updatedAt: now } }];
        eventType = 'extension.denied';
      } else if (approvalsSatisfied(r.approvalMode, r.approverGroups, decisions, subject)) {
        this.applyExtension({ ...r, decisions }, ext.durationMs, cs, now, actor);
        cs.updateRequests![0]!.set.decisions = decisions;
        eventType = 'request.extended';
      } else {
        cs.updateRequests = [{ id, expectVersion: r.version, set: { decisions, updatedAt: now } }];
        eventType = 'extension.approval_recorded';
      }
    }
    await this.commitOrConflict(cs, id);
    const stored = (await this.store.getRequest(id))!;
    this.publish(stored, eventType, { by: actor, reason });
    await this.runInline(claimed);
    return (await this.store.getRequest(id))!;
  }

  private async commitOrConflict(cs: ChangeSet, id: string): Promise<void> {
    try {
      await this.store.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) {
        const now = await this.store.getRequest(id);
        throw conflict(`request ${id} was changed at the same time (it is now ${now?.status ?? 'gone'}); reload and try again`);
      }
      throw err;
    }
  }

  async cancel(actor: string, id: string): Promise<RequestRecord> {
    const now = this.now();
    const r = await this.getVisible(actor, id);
    if (r.requester !== actor) throw forbidden('only the requester can cancel a request');
    if (r.status !== 'pending' && r.status !== 'scheduled') throw conflict(`request ${id} is ${r.status}; only pending or scheduled requests can be canceled (revoke active access instead)`);
    const cs: ChangeSet = {
      updateRequests: [{ id, expectVersion: r.version, set: { status: 'canceled', updatedAt: now, endedAt: now, endedBy: actor, endReason: 'self' } }],
      deleteJobsOfRequest: [{ requestId: id, kinds: ['start'] }],
      audit: [{ at: now, actor, action: 'request.canceled', requestId: id, data: {} }],
    };
    await this.commitOrConflict(cs, id);
    const stored = (await this.store.getRequest(id))!;
    this.publish(stored, 'request.canceled');
    return stored;
  }

  // ── extending ──────────────────────────────────────────────────────────────────────

  async extend(actor: string, id: string, input: { duration?: string; justification?: string }): Promise<RequestRecord> {
    const now = this.now();
    const r = await this.getVisible(actor, id);
    if (r.requester !== actor) throw forbidden('only the requester can extend their access');
    if (r.status !== 'active') throw conflict(`request ${id} is ${r.status}; only active access can be extended`);
    if (r.expiresAt === null) throw conflict(`request ${id} does not expire; there is nothing to extend`);
    if (r.pendingExtension) throw conflict(`an extension of request ${id} is already waiting for approval`);
    const flow = this.config.flows.get(r.flowId);
    if (!flow) throw conflict(`flow "${r.flowId}" no longer exists; access under it cannot be extended`);
    if (r.extensions >= flow.settings.maxExtensions) throw conflict(`request ${id} was extended ${r.extensions} time(s); flow "${flow.id}" allows ${flow.settings.maxExtensions}`);
    const durationMs = this.resolveDuration(flow, input.duration, 'duration');
    if (durationMs === null) throw invalid('an extension needs a finite duration', 'duration');
    if (r.expiresAt + durationMs > now + MAX_DURATION_MS) {
      throw invalid(`extended by ${formatDuration(durationMs)}, the access would last more than 3650d (about ten years) from now; that is "indefinite", which an extension cannot give`, 'duration');
    }
    const justification = input.justification?.trim() || null;
    if (flow.settings.requireJustification && !justification) throw invalid(`flow "${flow.id}" requires a justification`, 'justification');
    const cs: ChangeSet = { audit: [{ at: now, actor, action: 'extension.requested', requestId: id, data: { duration: formatDuration(durationMs), justification } }] };
    let eventType: string;
    if (flow.approval.mode === 'automatic') {
      this.applyExtension(r, durationMs, cs, now, 'system');
      eventType = 'request.extended';
    } else {
      const approverGroups = snapshotApprovers(this.config, flow, r.requester, r.entitlements, now);
      const reason = unapprovableReason(flow.approval.mode, approverGroups);
      if (reason) throw conflict(`the extension cannot be approved: ${reason}`);
      cs.updateRequests = [{
        id, expectVersion: r.version,
        set: { approverGroups, pendingExtension: { number: r.extensions + 1, durationMs, justification, requestedAt: now }, updatedAt: now },
      }];
      eventType = 'extension.requested';
    }
    await this.commitOrConflict(cs, id);
    const stored = (await this.store.getRequest(id))!;
    this.publish(stored, eventType, eventType === 'extension.requested' ? { approvers: allApprovers(stored.approverGroups) } : {});
    return stored;
  }

  private applyExtension(r: RequestRecord, durationMs: number, cs: ChangeSet, now: number, actor: string): void {
    const expiresAt = r.expiresAt! + durationMs;
    (cs.updateRequests ??= []).push({ id: r.id, expectVersion: r.version, set: { expiresAt, extensions: r.extensions + 1, pendingExtension: null, updatedAt: now } });
    (cs.insertJobs ??= []).push(this.expiryJob(r.id, expiresAt, now));
    (cs.audit ??= []).push({ at: now, actor, action: 'request.extended', requestId: r.id, data: { expiresAt, extension: r.extensions + 1 } });
  }

  /**
   * A request's expiry job, which also gives its expiry warnings: it falls due at the first
   * warning still ahead, moves itself to the next one after each, and last to the expiry
   * (its target lists the warnings' offsets; its id leaves them out, so a request has one).
   */
  private expiryJob(requestId: string, expiresAt: number, now: number): JobRecord {
    const offsets = this.config.config.settings.expiryWarnings.filter((offset) => expiresAt - offset > now).sort((a, b) => b - a);
    return { ...this.job('expire', requestId, '', offsets.length ? expiresAt - offsets[0]! : expiresAt, null), target: offsets.join(',') };
  }

  // ── revoking ───────────────────────────────────────────────────────────────────────

  async revoke(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    const r = await this.getVisible(actor, id);
    let endReason: EndReason;
    if (r.requester === actor) endReason = 'self';
    else if (r.decisions.some((d) => d.approver === actor && d.decision === 'approve')) endReason = 'approver';
    else if (this.config.isAdmin(actor)) endReason = 'admin';
    else throw forbidden('only the requester, an approver who approved it, or an admin can revoke this access');
    if (r.status === 'pending') {
      if (r.requester === actor) return this.cancel(actor, id);
      throw conflict(`request ${id} is pending; deny it instead of revoking`);
    }
    const reason = reasonInput?.trim() || null;
    const claimed = await this.beginRevoke(r, endReason, actor, reason);
    if (claimed === null) throw conflict(`request ${id} is ${r.status}; only scheduled, granting or active access can be revoked`);
    await this.runInline(claimed);
    return (await this.store.getRequest(id))!;
  }

  /**
   * Moves a holding request to `revoking` (or a scheduled one straight to `revoked`) and
   * creates its revoke jobs, claimed by this process. Returns null if the request is not in
   * a state that can be revoked.
   */
  private async beginRevoke(r: RequestRecord, endReason: EndReason, actor: string, note: string | null, knownGrants?: GrantRecord[]): Promise<JobRecord[] | null> {
    const now = this.now();
    if (r.status === 'scheduled') {
      await this.commitOrConflict({
        updateRequests: [{ id: r.id, expectVersion: r.version, set: { status: 'revoked', updatedAt: now, endedAt: now, endReason, endedBy: actor, endNote: note } }],
        deleteJobsOfRequest: [{ requestId: r.id, kinds: ['start'] }],
        audit: [{ at: now, actor, action: 'request.revoked', requestId: r.id, data: { reason: note, by: endReason, granted: false } }],
      }, r.id);
      this.publish((await this.store.getRequest(r.id))!, 'request.revoked', { by: actor, reason: note });
      return [];
    }
    if (r.status !== 'active' && r.status !== 'granting') return null;
    const grants = knownGrants ?? await this.store.getGrants(r.id);
    const live = grants.filter((g) => g.status === 'active' || g.status === 'granting' || g.status === 'pending');
    const jobs = live.map((g) => this.job('revoke', r.id, g.integration, now, now + this.leaseMs));
    const cs: ChangeSet = {
      updateRequests: [{ id: r.id, expectVersion: r.version, base: r, set: { status: 'revoking', updatedAt: now, endReason, endedBy: actor, endNote: note, pendingExtension: null } }],
      updateGrants: live.map((g) => ({ requestId: r.id, integration: g.integration, set: { status: 'revoking' as const, attempts: 0, lastError: null } })),
      deleteJobsOfRequest: [{ requestId: r.id, kinds: ['grant', 'expire'] }],
      insertJobs: jobs,
      audit: [{ at: now, actor, action: 'request.revoking', requestId: r.id, data: { by: endReason, reason: note } }],
    };
    if (live.length === 0) {
      // Nothing reached a target: the request ends here.
      cs.updateRequests![0]!.set = { ...cs.updateRequests![0]!.set, status: finalStatusFor(endReason), endedAt: now };
    }
    await this.commitOrConflict(cs, r.id);
    const after = applyRequestUpdate(r, cs.updateRequests![0]!.set);
    const grantsAfter = grants.map((g) => (live.includes(g) ? { ...g, status: 'revoking' as const, attempts: 0, lastError: null } : g));
    for (const j of jobs) this.knownState.set(j.id, { request: after, grants: grantsAfter });
    this.publish(after, 'request.revoking', { by: actor, reason: note });
    return jobs;
  }

  async markRevokeCanceled(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    if (!this.config.isAdmin(actor)) throw forbidden('only an admin can mark a revoke canceled');
    const now = this.now();
    const r = await this.getVisible(actor, id);
    const reason = reasonInput?.trim();
    if (!reason) throw invalid('say why (for example: "access removed by hand on the target")', 'reason');
    if (r.status !== 'revoking') throw conflict(`request ${id} is ${r.status}; only a revoke in progress can be marked canceled`);
    const grants = await this.store.getGrants(id);
    await this.commitOrConflict({
      updateRequests: [{ id, expectVersion: r.version, set: { status: 'revoke_canceled', updatedAt: now, endedAt: now, endedBy: actor, endNote: reason } }],
      updateGrants: grants.filter((g) => g.status === 'revoking').map((g) => ({ requestId: id, integration: g.integration, set: { status: 'revoke_canceled' as const } })),
      deleteJobsOfRequest: [{ requestId: id, kinds: ['revoke'] }],
      audit: [{ at: now, actor, action: 'request.revoke_canceled', requestId: id, data: { reason } }],
    }, id);
    const stored = (await this.store.getRequest(id))!;
    this.publish(stored, 'request.revoke_canceled', { by: actor, reason });
    return stored;
  }

  /** The panic button: revokes everything scheduled, granting or active that matches. */
  async revokeAll(actor: string, filter: RevokeAllFilter, reasonInput?: string): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    if (!this.config.isAdmin(actor)) throw forbidden('only an admin can revoke all access');
    const reason = reasonInput?.trim() || null;
    const now = this.now();
    const candidates = await this.store.listRequests({ statuses: ['scheduled', 'granting', 'active'], requester: filter.user, flowId: filter.flow });
    const matching = candidates.filter((r) =>
      (filter.integration === undefined || r.entitlements.some((e) => e.integration === filter.integration))
      && (filter.label === undefined || r.labels.includes(filter.label)));
    await this.store.appendAudit([{ at: now, actor, action: 'admin.revoke_all', requestId: null, data: { filter: { ...filter }, reason, matched: matching.length } }]);
    const revoked: string[] = [];
    const failed: { id: string; error: string }[] = [];
    const claimed: JobRecord[] = [];
    for (const r of matching) {
      try {
        const jobs = await this.beginRevoke(r, 'revoke-all', actor, reason);
        if (jobs) { claimed.push(...jobs); revoked.push(r.id); }
      } catch (err) {
        failed.push({ id: r.id, error: (err as Error).message });
      }
    }
    await this.runInline(claimed);
    return { revoked, failed };
  }

  // ── automatic flows ────────────────────────────────────────────────────────────────

  /**
   * Grants each automatic flow to every user for whom its condition holds now, and
   * revokes it from those for whom it stopped holding. Safe to call repeatedly.
   */
  async syncAutomaticFlows(): Promise<{ granted: number; revoked: number }> {
    const now = this.now();
    const cfg = this.config;
    let granted = 0;
    let revoked = 0;
    const holding = await this.store.listRequests({ statuses: ['granting', 'active'], idPrefix: AUTOMATIC_PREFIX });
    const ctx = cfg.conditionContext(now);
    const claimed: JobRecord[] = [];
    const automaticIds = new Set(cfg.config.flows.filter((f) => f.kind === 'automatic').map((f) => f.id));
    for (const r of holding) {
      if (r.approvalMode !== 'automatic' || r.durationMs !== null) continue;
      const flow = cfg.flows.get(r.flowId);
      const user = cfg.users.get(r.requester);
      const stillHolds = flow && automaticIds.has(flow.id) && user && userMatches(flow.requesters, user, ctx) && (!flow.when || isWithinWindow(flow.when, now));
      if (!stillHolds && (automaticIds.has(r.flowId) || !flow)) {
        const jobs = await this.beginRevoke(r, 'condition', 'system', 'the flow condition no longer holds').catch(() => null);
        if (jobs) { claimed.push(...jobs); revoked++; }
      }
    }
    for (const flow of cfg.config.flows) {
      if (flow.kind !== 'automatic') continue;
      const entitlements = cfg.flowEntitlements(flow);
      if (entitlements.length === 0) continue;
      for (const user of cfg.config.users) {
        if (!userMatches(flow.requesters, user, ctx) || (flow.when && !isWithinWindow(flow.when, now))) continue;
        if (holding.some((r) => r.flowId === flow.id && r.requester === user.id)) continue;
        const id = `${AUTOMATIC_PREFIX}${flow.id}-${user.id}-${now}`;
        const request: RequestRecord = {
          id, requester: user.id, flowId: flow.id, bundleId: null, status: 'granting', entitlements, durationMs: null, justification: null,
          labels: flow.settings.labels, breakGlass: false, createdAt: now, updatedAt: now, startAt: null, grantedAt: null, expiresAt: null,
          endedAt: null, endReason: null, endedBy: null, endNote: null, approverGroups: [], approvalMode: 'automatic', decisions: [],
          extensions: 0, pendingExtension: null, error: null, version: 1,
        };
        const grants: GrantRecord[] = [...groupByIntegration(entitlements)].map(([integration, ents]) => ({
          requestId: id, integration, status: 'granting', entitlements: ents, accessDetails: null, attempts: 0, lastError: null, grantedAt: null, revokedAt: null,
        }));
        const jobs = grants.map((g) => this.job('grant', id, g.integration, now, now + this.leaseMs));
        try {
          await this.store.commit({
            insertRequests: [request], insertGrants: grants, insertJobs: jobs,
            audit: [{ at: now, actor: 'system', action: 'request.created', requestId: id, data: { flowId: flow.id, automatic: true, entitlements: entitlements.map(formatEntitlement) } },
              { at: now, actor: 'system', action: 'request.granting', requestId: id, data: { reason: 'the flow condition holds' } }],
          });
        } catch (err) {
          if (err instanceof ConflictError) continue;
          throw err;
        }
        this.publish(request, 'request.created');
        claimed.push(...jobs);
        granted++;
      }
    }
    await this.runInline(claimed);
    return { granted, revoked };
  }

  // ── jobs ───────────────────────────────────────────────────────────────────────────

  /** Runs jobs this process claimed, waiting at most `inlineWaitMs` for them. */
  private async runInline(jobs: JobRecord[]): Promise<void> {
    if (jobs.length === 0) return;
    const all = Promise.all(jobs.map((j) => this.runJob(j).catch((err) => this.log('error', 'job failed', { job: j.id, error: String(err) }))));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((resolve) => { timer = setTimeout(resolve, this.inlineWaitMs); })]);
    clearTimeout(timer);
  }

  /**
   * Runs `fn` while no other grant or revoke of this person on this integration runs. On an
   * integration that keeps one account per request (accountOf), requests never share what
   * the target holds, and calls are only ordered within this process. On one that holds
   * access per person (demo, webhook, command), overlapping requests share it: then the lock
   * is the store's, held across every replica, so that a revoke's "still covered" is read and
   * acted on before any other call of that person on that target (reconciliation removes
   * entries under it too).
   */
  withTargetLock<T>(user: string, integration: string, fn: () => Promise<T>): Promise<T> {
    const key = `${user}\u0000${integration}`;
    if (this.integrations.get(integration)?.accountOf) return this.targetLock.run(key, fn);
    // The store's lock is taken first come, first served within this process too.
    return this.store.withLock(`target:${integration}:${user}`, this.leaseMs, fn);
  }

  /** Ids of the jobs this process is running now (the scheduler renews their leases). */
  readonly runningJobs = new Set<string>();

  /** Executes one claimed job. Completion is conditional on still holding its lease. */
  async runJob(job: JobRecord): Promise<void> {
    this.runningJobs.add(job.id);
    try {
      switch (job.kind) {
        case 'grant': return await this.runGrant(job);
        case 'revoke': return await this.runRevoke(job);
        case 'expire': return await this.runExpire(job);
        case 'start': return await this.runStart(job);
      }
    } finally {
      this.runningJobs.delete(job.id);
      this.knownState.delete(job.id);
    }
  }

  /**
   * Reads the requests and grants of jobs the scheduler claimed, one read for the batch
   * instead of two per job, for runJob to take.
   */
  async prepareJobs(jobs: JobRecord[]): Promise<void> {
    const ids = [...new Set(jobs.filter((j) => j.kind === 'expire' || j.kind === 'revoke' || j.kind === 'grant').map((j) => j.requestId))];
    if (ids.length < 2) return;
    const requests = await this.store.getRequestsWithGrants(ids);
    for (const j of jobs) {
      const known = requests.get(j.requestId);
      if (known && !this.knownState.has(j.id)) this.knownState.set(j.id, known);
    }
  }

  /** What this process knows of a job's request and grants, taken once (see knownState). */
  private takeKnownState(job: JobRecord): RequestWithGrants | undefined {
    const known = this.knownState.get(job.id);
    this.knownState.delete(job.id);
    return known;
  }

  private async finishStale(job: JobRecord): Promise<void> {
    await this.store.commit({ deleteJobs: [{ id: job.id, owner: this.owner }] }).catch(() => undefined);
  }

  private subject(r: RequestRecord) {
    return { id: r.requester, email: this.config.users.get(r.requester)?.email ?? '' };
  }

  /**
   * The request and grant a grant or revoke job works on: what this process knows of them
   * (knownState), else read from the store.
   */
  private async jobTarget(job: JobRecord): Promise<{ known?: RequestWithGrants; r: RequestRecord | null; grant?: GrantRecord }> {
    const known = this.takeKnownState(job);
    const r = known ? known.request : await this.store.getRequest(job.requestId);
    const grant = r ? (known ? known.grants : await this.store.getGrants(r.id)).find((g) => g.integration === job.target) : undefined;
    return { known, r, grant };
  }

  private async runStart(job: JobRecord): Promise<void> {
    const r = await this.store.getRequest(job.requestId);
    if (!r || r.status !== 'scheduled') return this.finishStale(job);
    const now = this.now();
    const grants = await this.store.getGrants(r.id);
    const cs: ChangeSet = { deleteJobs: [{ id: job.id, owner: this.owner }] };
    const claimed = this.approvedTransition({ ...r, startAt: null }, grants, cs, now, 'scheduled-start');
    try {
      await this.store.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) return;
      throw err;
    }
    this.publish((await this.store.getRequest(r.id))!, 'request.granting');
    await Promise.all(claimed.map((j) => this.runJob(j)));
  }

  private async runGrant(job: JobRecord): Promise<void> {
    const { known, r, grant } = await this.jobTarget(job);
    if (!r || !grant) return this.finishStale(job);
    if (r.status !== 'granting' || grant.status !== 'granting') {
      // Its request ended (or moved on) while this job waited: a call it made before its
      // holder died may have reached the target, so it is undone where nothing covers it.
      if (r.status !== 'granting' && r.status !== 'active') await this.compensate(r, grant);
      return this.finishStale(job);
    }
    const integration = this.integrations.get(grant.integration);
    const expiresAt = r.durationMs === null ? null : this.now() + r.durationMs;
    let accessDetails: Record<string, string> | null = null;
    let error: string | null = null;
    let cleanupError: string | null = null;
    let ended = false;
    let failure: { jobs: JobRecord[]; message: string } | null = null;
    // Past its last attempt, a job only cleans up (its cleanup failed before).
    const cleanupOnly = job.attempts > this.grantAttempts;
    await this.withTargetLock(r.requester, grant.integration, async () => {
      // On a per-person target, the request is looked at again once it is this grant's turn:
      // revoked while it waited, its revoke may have run already, and a grant now would
      // outlive it should this process die before undoing it.
      if (integration && !integration.accountOf && (await this.store.getRequest(r.id))?.status !== 'granting') {
        ended = true;
        return;
      }
      try {
        if (!integration) throw new Error(`integration "${grant.integration}" is not configured`);
        if (cleanupOnly) throw new Error(grant.lastError ?? 'the grant failed');
        const details = (await integration.grant({ requestId: r.id, user: this.subject(r), entitlements: grant.entitlements, expiresAt })).accessDetails;
        const seal = this.opts.sealAccessDetails;
        accessDetails = details && seal ? seal(r.id, grant.integration, details) : details;
      } catch (err) {
        error = cleanupOnly ? (grant.lastError ?? errorMessage(err)) : errorMessage(err);
        // The last attempt failed: what the target may have applied of it is revoked, and the
        // failure recorded, in the same hold of the lock. Until then the request covers its
        // entitlements, so overlapping requests keep them; after, nothing of it remains that
        // no other request covers. On a per-person target that revoke must succeed first
        // (nothing else would find what is left: a webhook target lists nothing), so the
        // request stays granting while it is retried; where each request has an account of
        // its own, a leftover account is reconciliation's to remove, and the failure stands.
        if (job.attempts >= this.grantAttempts) {
          try {
            if (integration) {
              const stillCovered = await this.coveredElsewhere(r, grant.entitlements);
              await integration.revoke({ requestId: r.id, user: this.subject(r), entitlements: grant.entitlements, stillCovered });
            }
          } catch (cleanupErr) {
            if (!integration?.accountOf) {
              cleanupError = errorMessage(cleanupErr);
              return;
            }
            this.log('warn', 'a failed grant could not be undone on its target; reconciliation will remove what is left', { request: r.id, integration: grant.integration, error: errorMessage(cleanupErr) });
          }
          failure = await this.recordGrantFailure(r, grant, job, error);
        }
      }
    });
    if (ended) return this.finishStale(job);
    const now = this.now();
    if (error !== null) {
      if (job.attempts < this.grantAttempts || cleanupError !== null) {
        const lastError = cleanupError === null ? error : `${error}; removing what it may have left failed: ${cleanupError}`;
        await this.store.commit({
          updateGrants: [{ requestId: r.id, integration: grant.integration, expectStatus: ['granting'], set: { attempts: Math.min(job.attempts, this.grantAttempts), lastError: error } }],
          audit: [{ at: now, actor: 'system', action: 'grant.attempt_failed', requestId: r.id, data: { integration: grant.integration, attempt: job.attempts, error: lastError } }],
        }).catch(() => undefined);
        const retryAt = cleanupError === null
          ? now + this.grantRetryMs * 2 ** (job.attempts - 1)
          : now + backoffDelay(job.attempts - this.grantAttempts, this.backoff.baseMs, this.backoff.capMs);
        await this.store.rescheduleJob(job.id, this.owner, retryAt, lastError);
        this.opts.onJobsScheduled?.(retryAt);
        return;
      }
      const recorded = failure as { jobs: JobRecord[]; message: string } | null;
      if (recorded) {
        this.publish((await this.store.getRequest(r.id))!, 'request.failed', { error: recorded.message });
        await Promise.all(recorded.jobs.map((j) => this.runJob(j)));
      }
      return;
    }
    // Grants of one request may complete at the same moment. Each completion is conditional
    // on the other grants still being as it saw them, so two cannot both conclude that the
    // other is unfinished (leaving the request `granting`, with no expiry, for ever): the one
    // that commits second conflicts, reads again, and activates the request.
    let activated: RequestWithGrants | null = null;
    for (let attempt = 1; ; attempt++) {
      // First try with what this process committed a moment ago; after a conflict, re-read.
      const fresh = attempt === 1 && known ? known.request : (await this.store.getRequest(r.id))!;
      const grants = attempt === 1 && known ? known.grants : await this.store.getGrants(r.id);
      const others = grants.filter((g) => g.integration !== grant.integration);
      const othersActive = others.every((g) => g.status === 'active');
      const cs: ChangeSet = {
        updateGrants: [
          { requestId: r.id, integration: grant.integration, expectStatus: ['granting'], set: { status: 'active', accessDetails, grantedAt: now, attempts: job.attempts, lastError: null } },
          ...others.map((g) => ({ requestId: r.id, integration: g.integration, expectStatus: [g.status], set: {} })),
        ],
        deleteJobs: [{ id: job.id, owner: this.owner }],
        audit: [{ at: now, actor: 'system', action: 'grant.active', requestId: r.id, data: { integration: grant.integration, entitlements: grant.entitlements.map(formatEntitlement) } }],
      };
      if (othersActive && fresh.status === 'granting') {
        const exp = fresh.durationMs === null ? null : now + fresh.durationMs;
        cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, base: fresh, set: { status: 'active', grantedAt: now, expiresAt: exp, updatedAt: now, error: null } }];
        if (exp !== null) cs.insertJobs = [this.expiryJob(r.id, exp, now)];
        // The last grant activates the request: one event says both.
        cs.audit = [{ at: now, actor: 'system', action: 'request.active', requestId: r.id, data: { integration: grant.integration, entitlements: grant.entitlements.map(formatEntitlement), expiresAt: exp } }];
      }
      try {
        await this.store.commit(cs);
        if (cs.updateRequests) {
          const mine = cs.updateGrants![0]!.set;
          activated = { request: applyRequestUpdate(fresh, cs.updateRequests[0]!.set), grants: grants.map((g) => (g.integration === grant.integration ? { ...g, ...mine } : g)) };
        }
        break;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
      const current = await this.store.getRequest(r.id);
      const mine = (await this.store.getGrants(r.id)).find((g) => g.integration === grant.integration);
      if (attempt < 5 && current?.status === 'granting' && mine?.status === 'granting') continue; // another grant of it moved on: look again
      // Revoked (or re-claimed) while the grant call was in flight: make sure the access we
      // may just have created does not outlive the request.
      await this.compensate(r, grant);
      return;
    }
    if (activated) {
      const stored = activated.request;
      if (this.awaitingOutcome.has(r.id)) this.outcomes.set(r.id, activated);
      this.publish(stored, 'request.granted');
      if (stored.expiresAt !== null) this.opts.onJobsScheduled?.(stored.expiresAt);
    }
  }

  private async compensate(r: RequestRecord, grant: GrantRecord): Promise<void> {
    const current = await this.store.getRequest(r.id);
    if (current && (current.status === 'granting' || current.status === 'active')) return; // lease lost to another holder that will finish
    const integration = this.integrations.get(grant.integration);
    if (!integration) return;
    await this.withTargetLock(r.requester, grant.integration, async () => {
      const stillCovered = await this.coveredElsewhere(r, grant.entitlements);
      await integration.revoke({ requestId: r.id, user: this.subject(r), entitlements: grant.entitlements, stillCovered });
    }).catch((err) => this.log('warn', 'compensating revoke failed; reconciliation will remove it', { request: r.id, error: errorMessage(err) }));
  }

  /**
   * Records that a grant failed for good: the request fails, and what its other grants hold
   * is to be revoked (the jobs returned, claimed by this process). Called with the target
   * lock still held after the failed grant's own cleanup, so that no other call on this
   * target sees the request covering its entitlements once that cleanup has run. Null when
   * the request moved on meanwhile (whoever moved it owns what follows).
   */
  private async recordGrantFailure(r: RequestRecord, grant: GrantRecord, job: JobRecord, error: string): Promise<{ jobs: JobRecord[]; message: string } | null> {
    const now = this.now();
    const fresh = await this.store.getRequest(r.id);
    if (!fresh || fresh.status !== 'granting') return null;
    const grants = await this.store.getGrants(r.id);
    const others = grants.filter((g) => g.integration !== grant.integration && (g.status === 'active' || g.status === 'granting'));
    const revokeJobs = others.map((g) => this.job('revoke', r.id, g.integration, now, now + this.leaseMs));
    const attempts = Math.min(job.attempts, this.grantAttempts);
    const message = `grant on ${grant.integration} failed after ${attempts} attempt(s): ${error}`;
    const cs: ChangeSet = {
      updateRequests: [{
        id: r.id, expectVersion: fresh.version,
        set: others.length
          ? { status: 'revoking', endReason: 'grant-failed', endedBy: 'system', error: message, updatedAt: now }
          : { status: 'failed', endReason: 'grant-failed', endedBy: 'system', error: message, updatedAt: now, endedAt: now },
      }],
      updateGrants: [
        { requestId: r.id, integration: grant.integration, set: { status: 'failed', attempts, lastError: error } },
        ...others.map((g) => ({ requestId: r.id, integration: g.integration, set: { status: 'revoking' as const } })),
      ],
      deleteJobs: [{ id: job.id, owner: this.owner }],
      deleteJobsOfRequest: [{ requestId: r.id, kinds: ['grant'] }],
      insertJobs: revokeJobs,
      audit: [{ at: now, actor: 'system', action: others.length ? 'request.revoking' : 'request.failed', requestId: r.id, data: { error: message } }],
    };
    try {
      await this.store.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) return null;
      throw err;
    }
    return { jobs: revokeJobs, message };
  }

  private async runExpire(job: JobRecord): Promise<void> {
    const known = this.takeKnownState(job);
    const r = known ? known.request : await this.store.getRequest(job.requestId);
    if (!r || r.status !== 'active' || r.expiresAt === null) return this.finishStale(job);
    if (r.expiresAt > this.now()) return this.warnOfExpiry(job, r, r.expiresAt);
    let claimed: JobRecord[] | null;
    try {
      claimed = await this.beginRevoke(r, 'expiry', 'system', null, known?.grants);
    } catch (err) {
      // Changed meanwhile: look again at the request as it is now (when what was known of it
      // may be what changed); otherwise whoever changed it owns what follows.
      if (err instanceof LapseError) return known ? this.runExpire(job) : undefined;
      throw err;
    }
    // beginRevoke's change set deleted this expire job with the request's other timers.
    if (claimed) await Promise.all(claimed.map((j) => this.runJob(j)));
  }

  /** The expiry job ran before the expiry: it gives the warning due now and moves on to the next moment. */
  private async warnOfExpiry(job: JobRecord, r: RequestRecord, expiresAt: number): Promise<void> {
    const now = this.now();
    const offsets = job.target ? job.target.split(',').map(Number) : [];
    const offset = expiresAt - job.dueAt;
    // The next warning, even if its moment has passed (a late run still gives it); after the last, the expiry.
    const next = offsets.filter((o) => o < offset).sort((a, b) => b - a)[0];
    if (!(await this.store.rescheduleJob(job.id, this.owner, next === undefined ? expiresAt : expiresAt - next, null))) return;
    // A moment that is not one of the warnings (the expiry moved since it was planned) says nothing.
    if (offsets.includes(offset)) {
      this.publish(r, 'request.expiring', { expiresAt: expiresAt, warningOffsetMs: offset, msLeft: expiresAt - now }, `warn-${offset}`);
    }
  }

  /** Entitlements among `entitlements` that another holding request of the same person covers. */
  private async coveredElsewhere(r: RequestRecord, entitlements: Entitlement[]): Promise<Entitlement[]> {
    const covered = await this.store.coveredByOthers(r.requester, r.id, entitlements.map(entitlementKey));
    return entitlements.filter((e) => covered.has(entitlementKey(e)));
  }

  private async runRevoke(job: JobRecord): Promise<void> {
    const { known, r, grant } = await this.jobTarget(job);
    if (!r || !grant || grant.status !== 'revoking') return this.finishStale(job);
    const integration = this.integrations.get(grant.integration);
    let error: string | null = null;
    await this.withTargetLock(r.requester, grant.integration, async () => {
      try {
        if (!integration) throw new Error(`integration "${grant.integration}" is not configured`);
        const stillCovered = await this.coveredElsewhere(r, grant.entitlements);
        await integration.revoke({ requestId: r.id, user: this.subject(r), entitlements: grant.entitlements, stillCovered });
      } catch (err) {
        error = errorMessage(err);
      }
    });
    const now = this.now();
    if (error !== null) {
      const delay = backoffDelay(job.attempts, this.backoff.baseMs, this.backoff.capMs);
      const fresh = await this.store.getRequest(r.id);
      const cs: ChangeSet = {
        updateGrants: [{ requestId: r.id, integration: grant.integration, expectStatus: ['revoking'], set: { attempts: job.attempts, lastError: error } }],
        audit: [{ at: now, actor: 'system', action: 'grant.revoke_failed', requestId: r.id, data: { integration: grant.integration, attempt: job.attempts, error, retryInMs: delay } }],
      };
      if (fresh && fresh.status === 'revoking') cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, set: { error: `revoke on ${grant.integration} failed (attempt ${job.attempts}): ${error}`, updatedAt: now } }];
      try {
        await this.store.commit(cs);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
      await this.store.rescheduleJob(job.id, this.owner, now + delay, error);
      this.opts.onJobsScheduled?.(now + delay);
      if (fresh) this.publish((await this.store.getRequest(r.id)) ?? fresh, 'request.revoke_failed', { integration: grant.integration, attempt: job.attempts, error });
      return;
    }
    // As for grants: conditional on the other grants still being as seen, so that of two
    // revokes of one request completing at once, the second to commit ends the request.
    for (let attempt = 1; ; attempt++) {
      // First try with what this process committed a moment ago; after a conflict, re-read.
      const grants = attempt === 1 && known ? known.grants : await this.store.getGrants(r.id);
      const others = grants.filter((g) => g.integration !== grant.integration);
      const remaining = others.filter((g) => g.status === 'revoking');
      const fresh = attempt === 1 && known ? known.request : (await this.store.getRequest(r.id))!;
      const cs: ChangeSet = {
        updateGrants: [
          { requestId: r.id, integration: grant.integration, expectStatus: ['revoking'], set: { status: 'revoked', revokedAt: now, attempts: job.attempts, lastError: null } },
          ...others.map((g) => ({ requestId: r.id, integration: g.integration, expectStatus: [g.status], set: {} })),
        ],
        deleteJobs: [{ id: job.id, owner: this.owner }],
        audit: [{ at: now, actor: 'system', action: 'grant.revoked', requestId: r.id, data: { integration: grant.integration } }],
      };
      let finished: RequestStatus | null = null;
      if (remaining.length === 0 && fresh.status === 'revoking') {
        finished = fresh.endReason === 'grant-failed' ? 'failed' : finalStatusFor(fresh.endReason ?? 'admin');
        cs.updateRequests = [{ id: r.id, expectVersion: fresh.version, base: fresh, set: { status: finished, endedAt: now, updatedAt: now, error: finished === 'failed' ? fresh.error : null } }];
        // The last revoke ends the request: one event says both.
        cs.audit = [{ at: now, actor: 'system', action: `request.${finished}`, requestId: r.id, data: { integration: grant.integration, by: fresh.endReason, lagMs: fresh.expiresAt !== null && fresh.endReason === 'expiry' ? now - fresh.expiresAt : undefined } }];
      }
      try {
        await this.store.commit(cs);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        const mine = (await this.store.getGrants(r.id)).find((g) => g.integration === grant.integration);
        if (attempt < 5 && mine?.status === 'revoking') continue; // another grant of it moved on: look again
        return;
      }
      if (finished) this.publish(applyRequestUpdate(fresh, cs.updateRequests![0]!.set), `request.${finished}`, { by: fresh.endedBy, reason: fresh.endNote });
      return;
    }
  }

  // ── favorites ──────────────────────────────────────────────────────────────────────

  async saveFavorite(actor: string, input: { name: string; flowId: string; bundleId?: string; entitlements?: Entitlement[]; duration?: string; justification?: string }, existingId?: string): Promise<Favorite> {
    const flow = this.config.flows.get(input.flowId);
    if (!flow) throw invalid(`unknown flow "${input.flowId}"`, 'flowId');
    if (!this.config.users.has(actor)) throw forbidden(`user ${actor} is not in the configuration`);
    const entitlements = this.resolveEntitlements(flow, { flowId: flow.id, bundleId: input.bundleId, entitlements: input.entitlements });
    const durationMs = this.resolveDuration(flow, input.duration, 'duration');
    const name = input.name.trim();
    if (!name) throw invalid('a favorite needs a name', 'name');
    const favorite: Favorite = {
      id: existingId ?? randomUUID(), owner: actor, name, flowId: flow.id, bundleId: input.bundleId ?? null,
      entitlements: input.bundleId && !input.entitlements?.length ? [] : entitlements, durationMs,
      justification: input.justification?.trim() || null, createdAt: this.now(),
    };
    if (existingId) {
      const old = await this.store.getFavorite(actor, existingId);
      if (!old) throw notFound(`favorite ${existingId} not found`);
      favorite.createdAt = old.createdAt;
      await this.store.updateFavorite(favorite);
    } else {
      await this.store.insertFavorite(favorite);
    }
    return favorite;
  }

  async favoriteFromRequest(actor: string, requestId: string, name?: string): Promise<Favorite> {
    const r = await this.getVisible(actor, requestId);
    if (r.requester !== actor) throw forbidden('you can only save your own requests as favorites');
    return this.saveFavorite(actor, {
      name: name ?? `${r.flowId} (${r.entitlements.length} entitlement${r.entitlements.length === 1 ? '' : 's'})`,
      flowId: r.flowId, bundleId: r.bundleId ?? undefined, entitlements: r.entitlements,
      duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs), justification: r.justification ?? undefined,
    });
  }

  async requestFromFavorite(actor: string, favoriteId: string, overrides: { justification?: string; mfaCode?: string; startAt?: number; duration?: string }): Promise<RequestWithGrants> {
    const f = await this.store.getFavorite(actor, favoriteId);
    if (!f) throw notFound(`favorite ${favoriteId} not found`);
    return this.submitRequest(actor, {
      flowId: f.flowId,
      bundleId: f.bundleId ?? undefined,
      entitlements: f.entitlements.length ? f.entitlements : undefined,
      duration: overrides.duration ?? (f.durationMs === null ? 'indefinite' : formatDuration(f.durationMs)),
      justification: overrides.justification ?? f.justification ?? undefined,
      mfaCode: overrides.mfaCode,
      startAt: overrides.startAt,
    });
  }

  /** The 3 most recent distinct requests of the user, as suggestions to request again. */
  async suggestions(actor: string): Promise<RequestRecord[]> {
    const recent = await this.store.listRequests({ requester: actor, limit: 50 });
    const seen = new Set<string>();
    const out: RequestRecord[] = [];
    for (const r of recent) {
      if (r.id.startsWith(AUTOMATIC_PREFIX)) continue;
      const key = `${r.flowId}|${r.bundleId}|${r.entitlements.map(entitlementKey).sort().join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(r);
      if (out.length === 3) break;
    }
    return out;
  }

  // ── events ─────────────────────────────────────────────────────────────────────────

  private publish(r: RequestRecord, type: string, extra: Record<string, unknown> = {}, idSuffix = ''): void {
    const audience = new Set<string>([r.requester, ...allApprovers(r.approverGroups), ...r.decisions.map((d) => d.approver)]);
    this.events.publish({
      id: `${r.id}:${r.version}:${type}${idSuffix ? ':' + idSuffix : ''}`,
      type,
      at: this.now(),
      requestId: r.id,
      audience: [...audience],
      data: { status: r.status, requester: r.requester, flowId: r.flowId, expiresAt: r.expiresAt, ...extra },
    });
  }
}

function groupByIntegration(entitlements: Entitlement[]): Map<string, Entitlement[]> {
  const out = new Map<string, Entitlement[]>();
  for (const e of entitlements) {
    const list = out.get(e.integration) ?? [];
    list.push(e);
    out.set(e.integration, list);
  }
  return out;
}

function finalStatusFor(reason: EndReason): RequestStatus {
  return reason === 'expiry' ? 'expired' : reason === 'grant-failed' ? 'failed' : 'revoked';
}

/** Capped exponential backoff with ±20 % jitter, so retries of one outage spread out. */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const raw = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + 0.4 * random()));
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
