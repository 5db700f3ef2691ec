// The flow engine: the request lifecycle (README, "Request lifecycle") as durable transitions.
//
// Every transition is committed (with its audit events and the jobs it implies) before any
// call to a target. Target calls happen only inside jobs: a job is claimed with a lease, its
// effect on the target is idempotent, and it is completed only by its lease holder. A crash
// at any point therefore leaves either a job to claim again (the call is repeated, harmlessly)
// or a finished state — never access without a job that will remove it.
//
// Engine is what the service, the API and the scheduler call; each concern is in a file of
// its own beside this one, and what they share is an EngineContext (engine-context.ts).

import type { Entitlement, Favorite, JobRecord, RequestRecord, RequestWithGrants } from '../domain/request.ts';
import type { CompiledConfig } from '../domain/catalog.ts';
import type { FlowConfig, StepUpPolicy } from '../domain/config.ts';
import type { ProviderAuthentication } from '../domain/sign-in.ts';
import type { OptedOut } from '../domain/notifications.ts';
import type { Integration } from '../integrations/integration.ts';
import type { AuditInput, Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { EventBus } from './events.ts';
import { EngineContext } from './engine-context.ts';
import { Submission } from './submission.ts';
import { Decisions } from './decisions.ts';
import { Grants } from './grants.ts';
import { Revokes } from './revokes.ts';
import { Extension } from './extension.ts';
import { Expiry } from './expiry.ts';
import { Waiting } from './waiting.ts';
import { AutomaticFlows } from './automatic-flows.ts';
import { Favorites } from './favorites.ts';
import { RevokeAll, type BulkFailure, type IntegrationHolder, type RevokeAllPreview } from './revoke-all.ts';
import { Offboarding, type OffboardingReport } from './offboarding.ts';

export { AUTOMATIC_PREFIX } from './automatic-flows.ts';
export { backoffDelay } from './revokes.ts';

/**
 * The outcome of one MFA code: accepted, or why not (`wrong`; `used`: right but used already;
 * `locked`: too many wrong codes lately, not looked at) with the user's count of failed
 * attempts in the current window.
 */
export type MfaResult = { ok: true } | { ok: false; reason: 'wrong' | 'used' | 'locked'; failures: number; retryAfterMs?: number };

export interface MfaVerifier {
  /** Whether `code` is a valid, unused one-time code for the user (each attempt is counted). */
  verify(userId: string, code: string): Promise<MfaResult>;
  /** Whether the user has a factor codes are checked against (a pending enrolment is none). */
  isEnrolled(userId: string): Promise<boolean>;
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
  /** How the identity provider authenticated the caller's credential (from the credential, never from a body). */
  authentication?: ProviderAuthentication | null;
}

export interface RevokeAllFilter {
  user?: string;
  flow?: string;
  integration?: string;
  label?: string;
  /** A resource's path inside its integration. */
  resource?: string;
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
  /** With single sign-on: the step-up a flow that requires MFA asks of the provider (instead of a TOTP code). */
  stepUpFor?: (flow: FlowConfig) => StepUpPolicy;
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
  /** Called once notifications were written to the outbox (their deliverer need not wait for its next look). */
  onNotificationsWritten?: () => void;
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

export class Engine {
  private readonly ctx: EngineContext;
  private readonly submission: Submission;
  private readonly decisions: Decisions;
  private readonly grants: Grants;
  private readonly revokes: Revokes;
  private readonly extension: Extension;
  private readonly expiry: Expiry;
  private readonly waiting: Waiting;
  private readonly automaticFlows: AutomaticFlows;
  private readonly favorites: Favorites;
  private readonly revokeAllAccess: RevokeAll;
  private readonly offboarding: Offboarding;

  /** Ids of the jobs this process is running now (the scheduler renews their leases). */
  readonly runningJobs: Set<string>;

  constructor(opts: EngineOptions) {
    this.ctx = new EngineContext(opts, {
      grant: (job) => this.grants.runGrant(job),
      revoke: (job) => this.revokes.runRevoke(job),
      expire: (job) => this.expiry.runExpire(job),
      start: (job) => this.grants.runStart(job),
      timeout: (job) => this.waiting.runTimeout(job),
      remind: (job) => this.waiting.runRemind(job),
    });
    this.waiting = new Waiting(this.ctx);
    this.runningJobs = this.ctx.runningJobs;
    this.grants = new Grants(this.ctx);
    this.extension = new Extension(this.ctx);
    this.decisions = new Decisions(this.ctx, this.grants, this.extension);
    this.revokes = new Revokes(this.ctx, this.decisions);
    this.expiry = new Expiry(this.ctx, this.revokes);
    this.submission = new Submission(this.ctx, this.grants);
    this.automaticFlows = new AutomaticFlows(this.ctx, this.revokes);
    this.favorites = new Favorites(this.ctx, this.submission);
    this.revokeAllAccess = new RevokeAll(this.ctx, this.revokes);
    this.offboarding = new Offboarding(this.ctx, this.revokes);
  }

  /** The configuration in force; replaced on a reload. */
  get config(): CompiledConfig {
    return this.ctx.config;
  }

  set config(config: CompiledConfig) {
    this.ctx.config = config;
  }

  // ── reading ────────────────────────────────────────────────────────────────────────

  getVisible(actor: string, id: string): Promise<RequestRecord> {
    return this.ctx.getVisible(actor, id);
  }

  canSee(actor: string, r: RequestRecord): boolean {
    return this.ctx.canSee(actor, r);
  }

  // ── creating (submission.ts) ───────────────────────────────────────────────────────

  createRequest(actor: string, input: NewRequestInput): Promise<RequestRecord> {
    return this.submission.createRequest(actor, input);
  }

  /**
   * Creates a request; an automatically approved one is granted before this returns (or
   * after inlineWaitMs at most). Answers with the request and its grants as they are then.
   */
  submitRequest(actor: string, input: NewRequestInput): Promise<RequestWithGrants> {
    return this.submission.submitRequest(actor, input);
  }

  // ── deciding (decisions.ts) ────────────────────────────────────────────────────────

  approve(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decisions.approve(actor, id, reason);
  }

  deny(actor: string, id: string, reason?: string): Promise<RequestRecord> {
    return this.decisions.deny(actor, id, reason);
  }

  cancel(actor: string, id: string): Promise<RequestRecord> {
    return this.decisions.cancel(actor, id);
  }

  // ── extending (extension.ts) ───────────────────────────────────────────────────────

  extend(actor: string, id: string, input: { duration?: string; justification?: string; mfaCode?: string; authentication?: ProviderAuthentication | null }): Promise<RequestRecord> {
    return this.extension.extend(actor, id, input);
  }

  // ── revoking (revokes.ts, revoke-all.ts) ───────────────────────────────────────────

  revoke(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    return this.revokes.revoke(actor, id, reasonInput);
  }

  markRevokeCanceled(actor: string, id: string, reasonInput?: string): Promise<RequestRecord> {
    return this.revokes.markRevokeCanceled(actor, id, reasonInput);
  }

  /** The panic button: revokes everything scheduled, granting or active that matches (refused when `expectRequests` is given and another number matches). */
  revokeAll(actor: string, filter: RevokeAllFilter, reasonInput?: string, expectRequests?: number): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    return this.revokeAllAccess.revokeAll(actor, filter, reasonInput, expectRequests);
  }

  /** What the panic button would end with this filter now (admins). */
  previewRevokeAll(actor: string, filter: RevokeAllFilter): Promise<RevokeAllPreview> {
    return this.revokeAllAccess.preview(actor, filter);
  }

  /** An admin's "retry now" on requests stuck in revoking; each id retried or said why not. */
  retryRevokesNow(actor: string, ids: string[]): Promise<{ retried: string[]; failed: BulkFailure[] }> {
    return this.revokeAllAccess.retryRevokesNow(actor, ids);
  }

  /** Marks several revokes canceled with one reason; each id done or said why not. */
  markRevokesCanceled(actor: string, ids: string[], reason: string | undefined): Promise<{ canceled: string[]; failed: BulkFailure[] }> {
    return this.revokeAllAccess.markRevokeCanceled(actor, ids, reason);
  }

  /** The requests granting, active or revoking with a grant on this integration (see RevokeAll.holdersOf). */
  holdersOf(integration: string): Promise<IntegrationHolder[]> {
    return this.revokeAllAccess.holdersOf(integration);
  }

  /** Revokes what is held on an integration removed from the configuration, with `note` as the reason. */
  revokeOnIntegration(integration: string, note: string): Promise<{ revoked: string[]; failed: { id: string; error: string }[] }> {
    return this.revokeAllAccess.revokeOnIntegration(integration, note);
  }

  /** A person is no longer a Lapse user: revokes what they hold and cancels what they asked for. */
  offboard(userId: string, reason: string): Promise<OffboardingReport> {
    return this.offboarding.offboard(userId, reason);
  }

  // ── automatic flows (automatic-flows.ts) ───────────────────────────────────────────

  /**
   * Grants each automatic flow to every user for whom its condition holds now, and
   * revokes it from those for whom it stopped holding. Safe to call repeatedly.
   */
  syncAutomaticFlows(): Promise<{ granted: number; revoked: number }> {
    return this.automaticFlows.syncAutomaticFlows();
  }

  // ── jobs (engine-context.ts; each kind in grants.ts, revokes.ts, expiry.ts) ────────

  /**
   * Runs `fn` while no other grant or revoke of this person on this integration runs (see
   * EngineContext.withTargetLock).
   */
  withTargetLock<T>(user: string, integration: string, fn: () => Promise<T>): Promise<T> {
    return this.ctx.withTargetLock(user, integration, fn);
  }

  /** The people who turned email or direct messages off, for the notifications written from now on. */
  setOptedOut(people: OptedOut): void {
    this.ctx.optedOut = people;
  }

  optedOut(): OptedOut {
    return this.ctx.optedOut;
  }

  /** Writes audit entries that are no request's transition (reconciliation) with the notifications they cause. */
  recordAudit(audit: AuditInput[]): Promise<void> {
    return this.ctx.commit({ audit });
  }

  runJob(job: JobRecord): Promise<void> {
    return this.ctx.runJob(job);
  }

  /**
   * Reads the requests and grants of jobs the scheduler claimed, one read for the batch
   * instead of two per job, for runJob to take.
   */
  prepareJobs(jobs: JobRecord[]): Promise<void> {
    return this.ctx.prepareJobs(jobs);
  }

  // ── favorites (favorites.ts) ───────────────────────────────────────────────────────

  saveFavorite(actor: string, input: { name: string; flowId: string; bundleId?: string; entitlements?: Entitlement[]; duration?: string; justification?: string }, existingId?: string): Promise<Favorite> {
    return this.favorites.saveFavorite(actor, input, existingId);
  }

  favoriteFromRequest(actor: string, requestId: string, name?: string): Promise<Favorite> {
    return this.favorites.favoriteFromRequest(actor, requestId, name);
  }

  requestFromFavorite(actor: string, favoriteId: string, overrides: { justification?: string; mfaCode?: string; startAt?: number; duration?: string; authentication?: ProviderAuthentication | null }): Promise<RequestWithGrants> {
    return this.favorites.requestFromFavorite(actor, favoriteId, overrides);
  }

  /** The 3 most recent distinct requests of the user, as suggestions to request again. */
  suggestions(actor: string): Promise<RequestRecord[]> {
    return this.favorites.suggestions(actor);
  }
}
