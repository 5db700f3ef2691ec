// Submitting requests: what a requester may ask for (flow, entitlements or bundle, duration,
// justification, start, MFA), checked before anything is written, and the new request's
// first commit, granted at once where it needs no approver.

import { uuidv7 } from '../domain/ids.ts';
import type { FlowConfig } from '../domain/config.ts';
import {
  entitlementKey, formatEntitlement,
  type Entitlement, type GrantRecord, type JobRecord, type RequestRecord, type RequestWithGrants,
} from '../domain/request.ts';
import { dedupe, MAX_BUNDLE_ENTITLEMENTS, type CompiledConfig } from '../domain/catalog.ts';
import { allApprovers, snapshotApprovers, unapprovableReason } from '../domain/approvals.ts';
import { userMatches } from '../domain/conditions.ts';
import { windowUnavailableReason } from '../domain/time-windows.ts';
import { stepUpProblem, type ProviderAuthentication } from '../domain/sign-in.ts';
import { parseDuration, formatDuration } from '../../../common/duration.ts';
import type { AuditInput, ChangeSet } from '../store/store.ts';
import { forbidden, invalid, LapseError, StepUpRequired } from './errors.ts';
import { groupByIntegration, type EngineContext } from './engine-context.ts';
import type { NewRequestInput } from './engine.ts';
import type { Grants } from './grants.ts';
import { waitingJobs } from './waiting.ts';
import { JUSTIFICATION_MAX } from '../../../common/api/schemas.ts';

const MAX_START_DELAY_MS = 90 * 24 * 3600_000;

export class Submission {
  constructor(private readonly ctx: EngineContext, private readonly grants: Grants) {}

  async createRequest(actor: string, input: NewRequestInput): Promise<RequestRecord> {
    return (await this.submitRequest(actor, input)).request;
  }

  /**
   * Creates a request; an automatically approved one is granted before this returns (or
   * after inlineWaitMs at most). Answers with the request and its grants as they are then.
   */
  async submitRequest(actor: string, input: NewRequestInput): Promise<RequestWithGrants> {
    const now = this.ctx.now();
    const cfg = this.ctx.config;
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

    const entitlements = resolveEntitlements(cfg, flow, input);
    const durationMs = resolveDuration(flow, input.duration, 'duration');
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
    await checkMfa(this.ctx, flow, actor, input, now);

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
    // Waiting for approval: it times out, and its approvers are reminded, unless decided first.
    if (!autoApproved) cs.insertJobs = waitingJobs(this.ctx, request, now);
    if (autoApproved) {
      if (request.breakGlass) audit.push({ at: now, actor, action: 'request.break_glass', requestId: request.id, data: { reason: justification, notified: allApprovers(approverGroups) } });
      // Created and approved in one step: the creation event records both.
      claimed = this.grants.approvedTransition(request, grants, cs, now, request.breakGlass ? 'break-glass' : 'automatic', false);
      Object.assign(audit[0]!.data, { approval: request.breakGlass ? 'break-glass' : 'automatic', status: request.status });
    }
    await this.ctx.commit(cs);
    const stored = request; // as inserted (version 1)
    for (const j of claimed) this.ctx.knownState.set(j.id, { request, grants });
    this.ctx.publish(stored, 'request.created');
    if (request.breakGlass) this.ctx.publish(stored, 'request.break_glass', { notify: allApprovers(approverGroups) });
    else if (!autoApproved) this.ctx.publish(stored, 'approval.requested', { approvers: allApprovers(approverGroups) });
    this.ctx.awaitingOutcome.add(request.id);
    try {
      await this.ctx.runInline(claimed);
      return this.ctx.outcomes.get(request.id) ?? { request: (await this.ctx.store.getRequest(request.id))!, grants: await this.ctx.store.getGrants(request.id) };
    } finally {
      this.ctx.awaitingOutcome.delete(request.id);
      this.ctx.outcomes.delete(request.id);
    }
  }
}

/** The entitlements asked for under `flow`: named ones it offers, or a bundle it offers (or part of it). */
export function resolveEntitlements(cfg: CompiledConfig, flow: FlowConfig, input: NewRequestInput): Entitlement[] {
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
      if (offered.has(entitlementKey(e))) return;
      // A resource the integration does not have (any more): say so, rather than blame the flow.
      if (cfg.integrations.has(e.integration) && !cfg.hasResource(e.integration, e.resourceType, e.resource)) {
        throw invalid(`flow "${flow.id}" does not offer ${formatEntitlement(e)}: integration "${e.integration}" has no ${e.resourceType} "${e.resource}" (it was never declared or discovered, or it is gone)`, `entitlements[${i}]`);
      }
      throw invalid(`flow "${flow.id}" does not offer ${formatEntitlement(e)}`, `entitlements[${i}]`);
    });
    entitlements = dedupe(input.entitlements);
  }
  if (entitlements.length === 0) throw invalid('the request covers no entitlement', 'entitlements');
  return entitlements;
}

/** A duration asked for under `flow` (its default when none is given), in ms; null: indefinite. */
export function resolveDuration(flow: FlowConfig, text: string | undefined, field: string): number | null {
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
 * A flow that requires MFA: with single sign-on, a step-up at the provider (the caller's
 * credential authenticated recently enough); else a valid TOTP code, each refused one
 * audited. Used for a new request and for an extension alike.
 */
export async function checkMfa(ctx: EngineContext, flow: FlowConfig, actor: string, input: { mfaCode?: string; authentication?: ProviderAuthentication | null }, now: number): Promise<void> {
  if (!flow.settings.requireMfa) return;
  const stepUp = ctx.stepUpFor?.(flow);
  if (stepUp) {
    const problem = stepUpProblem(stepUp, input.authentication ?? null, now);
    if (problem) {
      await ctx.store.appendAudit([{ at: now, actor, action: 'mfa.step_up_required', requestId: null, data: { flowId: flow.id, reason: problem } }]);
      throw new StepUpRequired(`flow "${flow.id}" requires a fresh sign-in at the identity provider (a step-up): ${problem}`, flow.id);
    }
    return;
  }
  if (!ctx.mfa || !(await ctx.mfa.isEnrolled(actor))) {
    throw forbidden(`flow "${flow.id}" requires MFA, and no MFA factor is configured for ${actor}: set up two-factor authentication first (the portal's Account view, or lapse mfa setup)`);
  }
  if (!input.mfaCode) throw invalid(`flow "${flow.id}" requires an MFA code`, 'mfaCode');
  const result = await ctx.mfa.verify(actor, input.mfaCode);
  if (!result.ok) {
    // Every refused code is audited: someone holding a stolen token and guessing shows up.
    await ctx.store.appendAudit([{
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
