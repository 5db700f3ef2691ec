// What the engine's parts share: the store, clock, events, integrations, configuration and
// settings, what this process knows of the jobs it claimed, events, job records, and the
// running of claimed jobs (each kind by the part that owns it).

import { applyRequestUpdate, entitlementKey, jobId, type Entitlement, type GrantRecord, type JobKind, type JobRecord, type RequestRecord, type RequestWithGrants } from '../domain/request.ts';
import { notificationsFor, type OptedOut, type OutboxInput } from '../domain/notifications.ts';
import type { CompiledConfig } from '../domain/catalog.ts';
import type { FlowConfig, StepUpPolicy } from '../domain/config.ts';
import { allApprovers } from '../domain/approvals.ts';
import type { Integration } from '../integrations/integration.ts';
import { ConflictError, type AuditInput, type ChangeSet, type Store } from '../store/store.ts';
import type { Clock } from '../../../common/clock.ts';
import type { EventBus } from './events.ts';
import { conflict, notFound } from './errors.ts';
import { KeyedMutex } from '../store/keyed-mutex.ts';
import type { EngineOptions, MfaVerifier } from './engine.ts';

/** What runs each kind of job. */
export type JobHandlers = Record<JobKind, (job: JobRecord) => Promise<void>>;

export class EngineContext {
  config: CompiledConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly events: EventBus;
  readonly integrations: ReadonlyMap<string, Integration>;
  readonly owner: string;
  readonly leaseMs: number;
  readonly mfa?: MfaVerifier;
  readonly stepUpFor?: (flow: FlowConfig) => StepUpPolicy;
  readonly backoff: { baseMs: number; capMs: number };
  readonly grantAttempts: number;
  readonly grantRetryMs: number;
  readonly inlineWaitMs: number;
  private readonly targetLock = new KeyedMutex();
  /**
   * The request and grants a job works on, by job id, where this process knows them: it has
   * just committed them with the job (a revoke it claimed in the same change set), or read
   * them for a batch of jobs the scheduler claimed (prepareJobs). Taken once; a stale entry
   * only costs a conflict and a re-read.
   */
  readonly knownState = new Map<string, RequestWithGrants>();
  /** Requests whose creator waits for the inline grant, and what the grant committed. */
  readonly awaitingOutcome = new Set<string>();
  readonly outcomes = new Map<string, RequestWithGrants>();
  readonly opts: EngineOptions;
  private readonly handlers: JobHandlers;

  constructor(opts: EngineOptions, handlers: JobHandlers) {
    this.opts = opts;
    this.store = opts.store;
    this.clock = opts.clock;
    this.events = opts.events;
    this.integrations = opts.integrations;
    this.config = opts.config;
    this.owner = opts.owner;
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.mfa = opts.mfa;
    this.stepUpFor = opts.stepUpFor;
    this.backoff = opts.revokeBackoff ?? { baseMs: 1000, capMs: 5 * 60_000 };
    this.grantAttempts = opts.grantAttempts ?? 3;
    this.grantRetryMs = opts.grantRetryMs ?? 1000;
    this.inlineWaitMs = opts.inlineWaitMs ?? 5000;
    this.handlers = handlers;
  }

  now(): number {
    return this.clock.now();
  }

  log(level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void {
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

  // ── writing ────────────────────────────────────────────────────────────────────────

  job(kind: JobKind, requestId: string, integration: string | null, dueAt: number, leaseUntil: number | null): JobRecord {
    return {
      id: jobId(kind, requestId, integration ?? ''), kind, requestId, integration, warningOffsetsMs: null, dueAt, attempts: leaseUntil === null ? 0 : 1, lastError: null,
      leaseOwner: leaseUntil === null ? null : this.owner, leaseUntil,
    };
  }

  /**
   * Commits a change set with the notifications its transitions cause (its audit entries: see
   * domain/notifications.ts), in the same transaction: a notification is written exactly when
   * its transition is.
   */
  async commit(cs: ChangeSet): Promise<void> {
    const full = await this.withNotifications(cs);
    await this.store.commit(full);
    if (full.outbox?.length) this.opts.onNotificationsWritten?.();
  }

  /** Writes the notifications of a moment that is no transition (an expiry warning) on their own; written once per key. */
  async notify(entry: AuditInput, r: RequestRecord, suffix: string): Promise<void> {
    const outbox = this.notificationsOf(entry, r, suffix);
    if (!outbox.length) return;
    await this.store.commit({ outbox });
    this.opts.onNotificationsWritten?.();
  }

  private async withNotifications(cs: ChangeSet): Promise<ChangeSet> {
    if (!this.config.config.notifications || !cs.audit?.length) return cs;
    const rows: OutboxInput[] = [];
    for (const entry of cs.audit) {
      const r = entry.requestId === null ? null : await this.requestAfter(cs, entry.requestId);
      const suffix = ['integration', 'attempt', 'extension', 'account', 'reminder'].map((k) => entry.data[k]).filter((v) => v !== undefined && v !== null).join(':');
      rows.push(...this.notificationsOf(entry, r, suffix));
    }
    return rows.length ? { ...cs, outbox: [...(cs.outbox ?? []), ...rows] } : cs;
  }

  private notificationsOf(entry: AuditInput, r: RequestRecord | null, suffix: string): OutboxInput[] {
    const notifications = this.config.config.notifications;
    if (!notifications) return [];
    // Deterministic: the same transition (a retried commit, a rerun job) makes the same keys.
    const eventId = `${entry.requestId ?? 'lapse'}:${r?.version ?? entry.at}:${entry.action}${suffix ? `:${suffix}` : ''}`;
    return notificationsFor(entry, r, eventId, { compiled: this.config, notifications, publicUrl: this.config.config.settings.publicUrl, optedOut: this.optedOut });
  }

  /** The request as the change set leaves it. */
  private async requestAfter(cs: ChangeSet, id: string): Promise<RequestRecord | null> {
    const inserted = cs.insertRequests?.find((r) => r.id === id);
    if (inserted) return inserted;
    const update = cs.updateRequests?.find((u) => u.id === id);
    const base = update?.base ?? (await this.store.getRequest(id));
    return update && base ? applyRequestUpdate(base, update.set) : base;
  }

  async commitOrConflict(cs: ChangeSet, id: string): Promise<void> {
    try {
      await this.commit(cs);
    } catch (err) {
      if (err instanceof ConflictError) {
        const now = await this.store.getRequest(id);
        throw conflict(`request ${id} was changed at the same time (it is now ${now?.status ?? 'gone'}); reload and try again`);
      }
      throw err;
    }
  }

  // ── events ─────────────────────────────────────────────────────────────────────────

  /**
   * Tells the event streams of a change of a request, and writes it to the log as one line
   * with its ids (the request lifecycle: created, approved, granted, revoked, failed…).
   */
  publish(r: RequestRecord, type: string, extra: Record<string, unknown> = {}, idSuffix = ''): void {
    if (type !== 'request.expiring') {
      const by = typeof extra.by === 'string' ? { by: extra.by } : {};
      this.log(type.endsWith('failed') ? 'warn' : 'info', type, { request: r.id, requester: r.requester, flow: r.flowId, status: r.status, ...by });
    }
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

  // ── jobs ───────────────────────────────────────────────────────────────────────────

  /** Runs jobs this process claimed, waiting at most `inlineWaitMs` for them. */
  async runInline(jobs: JobRecord[]): Promise<void> {
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

  /** People who turned email or direct messages off (kept current by services/notification-preferences.ts). */
  optedOut: OptedOut = { email: new Set(), chat: new Set() };

  /** Executes one claimed job. Completion is conditional on still holding its lease. */
  async runJob(job: JobRecord): Promise<void> {
    this.runningJobs.add(job.id);
    try {
      return await this.handlers[job.kind](job);
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
  takeKnownState(job: JobRecord): RequestWithGrants | undefined {
    const known = this.knownState.get(job.id);
    this.knownState.delete(job.id);
    return known;
  }

  async finishStale(job: JobRecord): Promise<void> {
    await this.store.commit({ deleteJobs: [{ id: job.id, owner: this.owner }] }).catch(() => undefined);
  }

  subject(r: RequestRecord) {
    return { id: r.requester, email: this.config.users.get(r.requester)?.email ?? '' };
  }

  /**
   * The request and grant a grant or revoke job works on: what this process knows of them
   * (knownState), else read from the store.
   */
  async jobTarget(job: JobRecord): Promise<{ known?: RequestWithGrants; r: RequestRecord | null; grant?: GrantRecord }> {
    const known = this.takeKnownState(job);
    const r = known ? known.request : await this.store.getRequest(job.requestId);
    const grant = r ? (known ? known.grants : await this.store.getGrants(r.id)).find((g) => g.integration === job.integration) : undefined;
    return { known, r, grant };
  }

  /** Entitlements among `entitlements` that another holding request of the same person covers. */
  async coveredElsewhere(r: RequestRecord, entitlements: Entitlement[]): Promise<Entitlement[]> {
    const covered = await this.store.coveredByOthers(r.requester, r.id, entitlements.map(entitlementKey));
    return entitlements.filter((e) => covered.has(entitlementKey(e)));
  }
}

export function groupByIntegration(entitlements: Entitlement[]): Map<string, Entitlement[]> {
  const out = new Map<string, Entitlement[]>();
  for (const e of entitlements) {
    const list = out.get(e.integration) ?? [];
    list.push(e);
    out.set(e.integration, list);
  }
  return out;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
