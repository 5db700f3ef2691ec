// Assembles one Lapse backend: configuration, store, integrations, engine, scheduler and
// HTTP API. Used by `lapse server` (headless) and by the desktop app's embedded mode.

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_EVENT_RETENTION_MS, DEFAULT_HEALTH_CHECK_EVERY_MS, DEFAULT_RECONCILE_EVERY_MS, DEFAULT_TOKEN_LIFETIMES, type FlowConfig, type IntegrationConfig, type LapseConfig } from './domain/config.ts';
import { stepUpFor } from './domain/sign-in.ts';
import { ConfigInvalidError, loadConfigFile } from './config/load.ts';
import { SqliteStore } from './store/sqlite-store.ts';
import type { PostgresStore } from './store/postgres-store.ts';
import { PgReplicaRelay } from './store/postgres-notify.ts';
import type { OutboxRecord, Store } from './store/store.ts';
import { Engine } from './engine/engine.ts';
import { Scheduler } from './engine/scheduler.ts';
import { EventBus } from './engine/events.ts';
import { EventLog } from './services/event-log.ts';
import { systemClock, type Clock } from '../../common/clock.ts';
import { DemoIntegration } from './integrations/demo-integration.ts';
import type { Integration } from './integrations/integration.ts';
import { UnavailableIntegration } from './integrations/unavailable-integration.ts';
import { CredentialError, resolveSecret } from './integrations/credentials.ts';
import type { RedisConnection } from './integrations/redis.ts';
import type { PostgresConnection } from './integrations/postgresql.ts';
import type { MysqlConnection } from './integrations/mysql.ts';
import type { CommandConnection } from './integrations/command.ts';
import { TotpVerifier } from './auth/mfa.ts';
import { MfaSecretSealer } from './auth/secret-sealer.ts';
import { MfaEnrolments } from './services/mfa-enrolment.ts';
import { AccessSealer, loadSecretKey } from './engine/access-sealer.ts';
import { deriveAuditKey } from './audit/chain.ts';
import { AUDIT_CHECKPOINT_FILE, AuditCheckpointer } from './audit/checkpoint.ts';
import { resealLegacyChain } from './audit/verify.ts';
import { AuditStream } from './audit/stream.ts';
import type { Backoff } from './domain/audit-stream.ts';
import { IntegrationHealth } from './engine/integration-health.ts';
import { configChanges } from './domain/config-changes.ts';
import { IntegrationRegistry, type ReloadResult } from './services/integration-registry.ts';
import { ConfigStatusTracker } from './services/config-status.ts';
import { reconcile, type ReconcileReport } from './engine/reconcile.ts';
import { createToken } from './auth/tokens.ts';
import { buildServer } from './api/server.ts';
import { createLogger, type Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import { createSignIn, Identities } from './services/identities.ts';
import { Offboarder } from './services/offboarding.ts';
import type { RenewalReport } from './services/renewal.ts';
import { tellAdminsOfFailure, type DeliveryReport } from './services/outbox-delivery.ts';
import { DeliveryThread, eventLoopDelivery, type Deliverer } from './services/delivery-thread.ts';
import type { ApiLoad } from './services/api-load.ts';
import { NotificationPreferences } from './services/notification-preferences.ts';
import { Discovery, type SyncResult } from './services/discovery.ts';
import { TOKEN_LIFETIMES_KEY } from './services/token-service.ts';
import { ensurePrivateDir, prepareDataDir, writePrivateFile } from './data-dir.ts';

/** How often the audit chain's head is checkpointed outside the store (when it moved). */
const AUDIT_CHECKPOINT_EVERY_MS = 1000;

/** When the first periodic reconciliation runs after a start. */
const RECONCILE_FIRST_AFTER_MS = 60_000;
/** How often a replica reads the identities single sign-on keeps in the store. */
const IDENTITIES_REFRESH_MS = 30_000;
/** How often a replica looks for people due for renewal at the identity provider. */
const RENEWALS_CHECK_MS = 30_000;
/** How often a replica looks for notifications due for delivery (besides when it writes some). */
const NOTIFICATIONS_EVERY_MS = 500;
/** Delivered notifications are kept this long. */
const OUTBOX_KEEP_DELIVERED_MS = 30 * 86_400_000;
const OUTBOX_PRUNE_EVERY_MS = 3_600_000;
/** How often the events older than settings.eventRetention are deleted. */
const EVENT_PRUNE_EVERY_MS = 10 * 60_000;
/** How often integrations removed while requests held grants on them are looked at, to be dropped once those are revoked. */
const INTEGRATION_REMOVALS_EVERY_MS = 5_000;
/** How often a replica looks whether an integration's discovery is due, and reads the inventory back when another replica changed it. */
const DISCOVERY_CHECK_MS = 5_000;
/** How long a start waits for the first discovery before it listens anyway (the sync goes on). */
const FIRST_DISCOVERY_WAIT_MS = 30_000;
/** A job due for longer than this counts as overdue in the metrics. */
const OVERDUE_AFTER_MS = 60_000;

export interface ServiceOptions {
  configPath: string;
  dataDir: string;
  port: number;
  host?: string;
  clock?: Clock;
  logger?: Logger;
  /** Scheduler tuning (benchmarks, tests). */
  scheduler?: { idleMs?: number; batchSize?: number; concurrency?: number; leaseMs?: number };
  /** Audit stream tuning (tests): how often each subscriber's loop looks for new events, and the retry backoff. */
  auditStream?: { pollMs?: number; backoff?: Backoff };
  /** A failing revoke's retry backoff (tests; default 1 s doubling to 5 min). */
  revokeBackoff?: { baseMs: number; capMs: number };
  env?: NodeJS.ProcessEnv;
  /**
   * The outbox's deliveries. `in`: `thread` (default), a worker thread with its own store
   * connection, off the API's event loop; `event-loop`, beside the API (the desktop app's
   * embedded server; a SQLite store in memory always). `pollMs`: how often the deliverer
   * looks for due rows besides being woken when rows are written (default 500; tests).
   * `apiLoad`: what tells the thread how busy the API's thread is (default: its event loop
   * measured; null: the thread never gives way; tests).
   */
  delivery?: { in?: 'thread' | 'event-loop'; pollMs?: number; apiLoad?: ApiLoad | null };
  /** How the API's state-changing calls take turns (tests; see api/write-admission.ts). */
  writeAdmission?: { concurrency?: number; holdMs?: number; maxWaiting?: number };
  /**
   * The store: `postgres://…` for a PostgreSQL store shared by replicas, `sqlite:PATH` for
   * a SQLite file elsewhere; default LAPSE_DATABASE_URL, else SQLite in the data directory.
   */
  store?: string;
}

export interface Service {
  readonly url: string;
  readonly port: number;
  readonly engine: Engine;
  readonly store: Store;
  readonly scheduler: Scheduler;
  readonly events: EventBus;
  readonly integrations: Map<string, Integration>;
  readonly health: IntegrationHealth;
  readonly http: FastifyInstance;
  /** Removes what Lapse created on the targets that no request covers (see engine/reconcile.ts). */
  reconcile(by: string): Promise<ReconcileReport>;
  /** Renews, at the identity provider, everyone single sign-on knows whose renewal is due (nothing without single sign-on). */
  renewSignIns(): Promise<RenewalReport>;
  /** Delivers the notifications due now (the deliverer also looks every half second, and when rows are written). */
  deliverNotifications(): Promise<DeliveryReport>;
  /** Where the outbox's deliveries run (see ServiceOptions.delivery). */
  readonly delivery: Deliverer;
  /**
   * Re-reads the configuration file and applies it, integrations included (see
   * services/integration-registry.ts); a bad file, an integration that cannot be used, or
   * one removed while requests hold grants on it (unless `revokeRemoved`) is refused, and
   * the running configuration stays.
   */
  /** `by`: who asked (a user id, or "signal"), for GET /api/v1/admin/config. */
  reload(opts?: { revokeRemoved?: boolean; by?: string }): Promise<ReloadResult>;
  /** Discovery (services/discovery.ts): syncs now one integration's resources, or every one's that discovers. */
  syncResources(integration?: string): Promise<SyncResult[]>;
  readonly discovery: Discovery;
  stop(): Promise<void>;
}

export const STORE_FILE = 'lapse.db';

/**
 * The embedded store of a data directory, with the audit chain's key: `auditKey`, else from
 * the secret key (LAPSE_SECRET_KEY, else the data directory's secret.key, created on first use).
 */
export function openStore(dataDir: string, env: NodeJS.ProcessEnv = process.env, auditKey: Buffer = auditKeyFor(dataDir, env)): SqliteStore {
  return new SqliteStore(join(resolve(dataDir), STORE_FILE), { auditKey });
}

/** The audit chain's key: derived from the secret key (see loadSecretKey; `create`: false to only read one). */
export function auditKeyFor(dataDir: string, env: NodeJS.ProcessEnv = process.env, opts: { create?: boolean } = {}): Buffer {
  if (opts.create !== false) ensurePrivateDir(dataDir);
  return deriveAuditKey(loadSecretKey(dataDir, env, opts).key);
}

/** Whether a store spec names PostgreSQL. */
export function isPostgresUrl(spec: string | undefined): boolean {
  return spec !== undefined && /^postgres(ql)?:\/\//.test(spec);
}

/**
 * The store a spec names (see ServiceOptions.store); SQLite in the data directory without one.
 * The audit chain's key: `auditKey`, else from the secret key (a PostgreSQL store takes it
 * from LAPSE_SECRET_KEY only: without it, it opens unable to append audit events).
 */
export async function openStoreSpec(spec: string | undefined, dataDir: string, opts: { auditKey?: Buffer; env?: NodeJS.ProcessEnv } = {}): Promise<SqliteStore | PostgresStore> {
  const env = opts.env ?? process.env;
  if (spec === undefined || spec === '') return openStore(dataDir, env, opts.auditKey);
  if (isPostgresUrl(spec)) {
    // The PostgreSQL driver is loaded only for a PostgreSQL store (it takes time at start).
    const { PostgresStore } = await import('./store/postgres-store.ts');
    const auditKey = opts.auditKey ?? (env.LAPSE_SECRET_KEY ? auditKeyFor(dataDir, env) : undefined);
    return new PostgresStore(spec, { auditKey });
  }
  if (spec.startsWith('sqlite:')) {
    const path = resolve(spec.slice('sqlite:'.length));
    return new SqliteStore(path, { auditKey: opts.auditKey ?? auditKeyFor(dirname(path), env) });
  }
  throw new Error(`unknown store "${spec.split(':')[0]}": expected postgres://… or sqlite:PATH`);
}

/**
 * The integration a configuration entry describes. Its credentials are read here (from the
 * environment or the files the connection names); one that cannot be read leaves the
 * integration unavailable, with the reason as its health, rather than stopping the server.
 * The module of a type (and its client library) is loaded when a configuration first uses it.
 */
export async function createIntegration(cfg: IntegrationConfig, dataDir: string, clock: Clock, env: NodeJS.ProcessEnv = process.env): Promise<Integration> {
  const c = cfg.connection;
  const secret = (name: 'password' | 'secret', required = false) => resolveSecret(c, name, { integration: cfg.id, env, required });
  const { passwordEnv: _pe, passwordFile: _pf, secretEnv: _se, secretFile: _sf, ...plain } = c;
  try {
    switch (cfg.type) {
      case 'demo':
        // `connection.recordFile`: one record shared by several replicas (each in its own data dir).
        return new DemoIntegration(cfg.id, typeof c.recordFile === 'string' ? resolve(c.recordFile) : join(resolve(dataDir), `demo-${cfg.id}.db`), cfg.resources, () => clock.now(), typeof c.faultsFile === 'string' ? c.faultsFile : undefined);
      case 'postgresql': {
        const { PostgresIntegration } = await import('./integrations/postgresql.ts');
        return new PostgresIntegration(cfg.id, { ...(plain as unknown as PostgresConnection), password: secret('password') }, { clock: () => clock.now() });
      }
      case 'mysql': {
        const { MysqlIntegration } = await import('./integrations/mysql.ts');
        return new MysqlIntegration(cfg.id, { ...(plain as unknown as MysqlConnection), password: secret('password') }, { clock: () => clock.now() });
      }
      case 'redis': {
        const { RedisIntegration } = await import('./integrations/redis.ts');
        return new RedisIntegration(cfg.id, { host: '127.0.0.1', port: 6379, ...(plain as Partial<RedisConnection>), password: secret('password') }, { clock, resources: cfg.resources });
      }
      case 'webhook': {
        const { WebhookIntegration } = await import('./integrations/webhook.ts');
        return new WebhookIntegration(cfg.id, { ...(plain as { url: string; timeoutMs?: number }), secret: secret('secret', true)! }, { clock, resources: cfg.resources });
      }
      case 'command': {
        const { CommandIntegration } = await import('./integrations/command.ts');
        return new CommandIntegration(cfg.id, { ...(plain as Omit<CommandConnection, 'secret'>), secret: secret('secret') }, { clock, resources: cfg.resources, env });
      }
      default:
        return new UnavailableIntegration(cfg.id, cfg.type);
    }
  } catch (err) {
    if (err instanceof CredentialError) return new UnavailableIntegration(cfg.id, cfg.type, err.message);
    throw err;
  }
}

export async function startService(opts: ServiceOptions): Promise<Service> {
  const env = opts.env ?? process.env;
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createLogger();
  const dataDir = resolve(opts.dataDir);
  let config: LapseConfig = await loadConfigFile(opts.configPath);
  const configStatus = new ConfigStatusTracker(resolve(opts.configPath), clock.now());
  const storeSpec = opts.store ?? (env.LAPSE_DATABASE_URL || undefined);
  const shared = isPostgresUrl(storeSpec);
  // The SQLite store is single-process (one server per data directory); PostgreSQL replicas
  // coordinate through the database and may share nothing else.
  prepareDataDir(dataDir, log);
  // Access details are sealed before they are stored, and opened for the requester only.
  // Replicas on PostgreSQL open each other's: they need one key, from LAPSE_SECRET_KEY.
  if (shared && !env.LAPSE_SECRET_KEY) {
    throw new Error('the PostgreSQL store needs LAPSE_SECRET_KEY (the base64 encoding of 32 random bytes, e.g. `openssl rand -base64 32`), the same on every replica: access details are sealed with it');
  }
  const secretKey = loadSecretKey(dataDir, env).key;
  const sealer = new AccessSealer(secretKey);
  // The audit chain is keyed with a key derived from the same secret, which is not in the store.
  const auditKey = deriveAuditKey(secretKey);
  const releaseLock = shared ? () => undefined : acquireDataDirLock(dataDir);
  let store: SqliteStore | PostgresStore | undefined;
  try {
    store = await openStoreSpec(storeSpec, dataDir, { auditKey, env });
    if (store.kind === 'postgres') {
      const { redactStoreUrl } = await import('./store/postgres-connection.ts');
      store.onPoolError = (err) => log.warn({ error: err.message }, 'a database connection failed; it will be replaced');
      log.info({ url: redactStoreUrl(storeSpec!), pool: store.settings.max }, 'using the PostgreSQL store');
    }
    await store.migrate();
  } catch (err) {
    await store?.close().catch(() => undefined);
    releaseLock();
    throw err;
  }
  if (!shared) {
    // The SQLite store belongs to this one process (the lock above): leases left by a
    // predecessor that crashed are void, so its unfinished work runs right away. On
    // PostgreSQL another replica may be alive and holding them: they run out by themselves.
    const released = await store.releaseAllLeases();
    if (released > 0) log.info({ jobs: released }, 'resuming work left by a previous run');
  }
  // The audit chain's head is checkpointed outside the store (audit/checkpoint.ts). A data
  // directory without a checkpoint yet may hold a chain an older version wrote without a key:
  // it is checked and sealed with the key first.
  const checkpointPath = join(dataDir, AUDIT_CHECKPOINT_FILE);
  if (!existsSync(checkpointPath)) {
    try {
      const resealed = await resealLegacyChain(store, auditKey);
      if (resealed > 0) log.warn({ events: resealed }, 'the audit chain was written before it was keyed: checked, and sealed with this server\'s key');
    } catch (err) {
      log.error({ error: (err as Error).message }, 'the audit chain could not be sealed with this server\'s key; it is left as it is');
    }
  }
  const checkpointer = new AuditCheckpointer(store, checkpointPath, auditKey, log, () => clock.now());
  const checkpoint = () => checkpointer.update().catch((err: unknown) => log.error({ error: String(err) }, 'could not checkpoint the audit chain\'s head'));
  await checkpoint();
  const checkpointTimer = setInterval(() => void checkpoint(), AUDIT_CHECKPOINT_EVERY_MS);
  checkpointTimer.unref();
  // A revoke waiting out a backoff when the predecessor stopped is retried at once, not when
  // that backoff ends: the access should be gone already, and a restart is often what
  // follows a repair of the target. A revoke that fails again backs off from where it was.
  const expedited = await store.retryBackedOffRevokesNow(clock.now());
  if (expedited > 0) log.info({ jobs: expedited }, 'retrying revokes that were waiting in backoff');
  const metrics = new Metrics();
  // The integrations in force; a reload adds, replaces and removes them (engine and health are
  // only called on once the service is built).
  const registry = new IntegrationRegistry({
    create: async (cfg) => metrics.instrument(await createIntegration(cfg, dataDir, clock, env)),
    holdersOf: (id) => engine.holdersOf(id),
    revokeOnIntegration: (id, note) => engine.revokeOnIntegration(id, note),
    checked: (id) => void health.check(id),
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  await registry.start(config.integrations);
  const integrations: Map<string, Integration> = registry.integrations;

  const events = new EventBus();
  // Every event this replica's stream carries is kept for settings.eventRetention, for replay.
  const eventLog = new EventLog({
    store, bus: events, now: () => clock.now(), retentionMs: () => config.settings.eventRetention ?? DEFAULT_EVENT_RETENTION_MS,
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  eventLog.start();
  // Unique per process (and per service in a process): the owner of this replica's leases.
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const leaseMs = opts.scheduler?.leaseMs ?? leaseFromEnv(env) ?? 30_000;
  let scheduler: Scheduler | undefined;
  let engineWakesDelivery = () => undefined as void;
  const relay = store.kind === 'postgres'
    ? new PgReplicaRelay(store, events, { origin: owner, onWake: (at) => scheduler?.wake(at), log: (level, message, fields) => log[level](fields ?? {}, message) })
    : null;
  const identities = new Identities(store);
  await identities.load();
  /** Single sign-on is read at start (a reload does not change it). */
  const oidcAtStart = config.settings.oidc;
  /** The audit stream too. */
  const auditStreamAtStart = config.auditStream;
  // The inventory: what discovery found, shared by every replica through the store. A change
  // (here or on another replica) compiles the configuration again, which renews the catalog.
  let engineBuilt = false;
  const discovery: Discovery = new Discovery({
    store, integrations, config: () => config, now: () => clock.now(), owner,
    onChange: () => {
      if (!engineBuilt) return;
      compiled = identities.compile(config, discovery.discovered());
      engine.config = compiled;
      void engine.syncAutomaticFlows().catch((err: unknown) => log.error({ error: String(err) }, 'automatic flows could not be synced after an inventory change'));
    },
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  // What earlier syncs found is offered from the start.
  await discovery.refresh().catch((err: unknown) => log.error({ error: String(err) }, 'the inventory could not be read'));
  let compiled = identities.compile(config, discovery.discovered());
  // TOTP codes for flows that require MFA: against the secret the configuration names, else the
  // person's own confirmed enrolment, whose secret is sealed with a key derived from the secret key.
  const mfaSecrets = new MfaSecretSealer(secretKey);
  const totp = new TotpVerifier({ users: () => engine.config.users, store, clock, secrets: mfaSecrets, env });
  const mfaEnrolments = new MfaEnrolments({ store, verifier: totp, secrets: mfaSecrets, now: () => clock.now(), singleSignOn: oidcAtStart !== undefined });
  const engine: Engine = new Engine({
    store, clock, events, integrations, config: compiled, owner, leaseMs,
    ...(opts.revokeBackoff ? { revokeBackoff: opts.revokeBackoff } : {}),
    mfa: totp,
    // With single sign-on, a flow that requires MFA asks for a step-up at the provider instead of a TOTP code.
    ...(oidcAtStart ? { stepUpFor: (flow: FlowConfig) => stepUpFor(oidcAtStart, flow.settings) } : {}),
    onJobsScheduled: (at) => {
      scheduler?.wake(at);
      relay?.notifyWake(at);
    },
    // Notifications written: delivered now rather than at the deliverer's next look.
    onNotificationsWritten: () => engineWakesDelivery(),
    sealAccessDetails: (requestId, integration, details) => sealer.seal(requestId, integration, details),
    log: (level, message, fields) => log[level](fields ?? {}, message),
  });
  engineBuilt = true;
  const offboarder = new Offboarder({ engine, store, now: () => clock.now(), mode: () => config.settings.offboarding ?? 'revoke', logger: log });
  /** Reads the identities single sign-on keeps in the store; the running configuration follows a change. */
  const refreshIdentities = async () => {
    if (!(await identities.load())) return;
    compiled = identities.compile(config, discovery.discovered());
    engine.config = compiled;
    await offboarder.sweep();
  };
  const sso = createSignIn({
    config: () => config, env, store, now: () => clock.now(), isKnownUser: (id) => engine.config.users.has(id), identitiesChanged: refreshIdentities, secretKey, logger: log,
  });
  const signIn = sso?.signIn;
  const renewSignIns = async (): Promise<RenewalReport> => (sso ? sso.renewal.runDue() : { renewed: [], refused: [], failed: [] });
  const health = new IntegrationHealth(integrations, () => clock.now());
  const runReconcile = async (by: string): Promise<ReconcileReport> => {
    const report = await reconcile({
      store, integrations, now: () => clock.now(), withTargetLock: (user, integration, fn) => engine.withTargetLock(user, integration, fn), record: (audit) => engine.recordAudit(audit),
    }, by);
    const fixed = report.fixes.filter((f) => f.ok).length;
    if (report.fixes.length > 0) log.warn({ by, fixed, failed: report.fixes.length - fixed, accounts: report.fixes.map((f) => f.account ?? `${f.user}@${f.integration}`) }, 'reconciliation removed access no request covers');
    for (const i of report.integrations) if (i.error) log.error({ integration: i.integration, error: i.error }, 'reconciliation could not list an integration');
    return report;
  };
  // Each person's choice of email: read now, and every half minute (another replica may have taken a change).
  const notificationPreferences = new NotificationPreferences({ store, engine, now: () => clock.now() });
  await notificationPreferences.load();
  // The outbox's deliveries: in a thread of their own with its own store connection (see
  // services/delivery-thread.ts), or on this event loop where a thread cannot have one.
  const tellAdmins = async (row: OutboxRecord, error: string, at: number) => {
    await tellAdminsOfFailure(store!, engine.config, row, error, at);
    delivery.wake();
  };
  const deliveryLog = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => log[level](fields, message);
  const deliverIn = opts.delivery?.in ?? (store.kind === 'sqlite' && store.path === ':memory:' ? 'event-loop' : 'thread');
  const delivery: Deliverer = deliverIn === 'thread'
    ? new DeliveryThread({
      spec: store.kind === 'postgres' ? { kind: 'postgres', url: storeSpec! } : { kind: 'sqlite', path: store.path, writeLock: store.writeLock?.memory },
      owner, env, notifications: () => engine.config.config.notifications ?? null, now: () => clock.now(), log: deliveryLog,
      onOutcome: (channel, outcome) => metrics.observeDelivery(channel, outcome), onGaveUp: tellAdmins,
      ...(opts.delivery?.apiLoad !== undefined ? { apiLoad: opts.delivery.apiLoad } : {}),
    })
    : eventLoopDelivery({
      store, owner, env, notifications: () => engine.config.config.notifications ?? null, now: () => clock.now(), log: deliveryLog,
      onOutcome: (channel, outcome) => metrics.observeDelivery(channel, outcome), onGaveUp: tellAdmins,
    });
  engineWakesDelivery = () => delivery.wake();
  const reconcileEvery = config.settings.reconcileEvery === undefined ? DEFAULT_RECONCILE_EVERY_MS : config.settings.reconcileEvery;
  scheduler = new Scheduler(store, engine, clock, {
    owner, leaseMs, ...opts.scheduler,
    periodic: [
      { name: 'health', everyMs: config.settings.healthCheckEvery ?? DEFAULT_HEALTH_CHECK_EVERY_MS, run: () => health.checkAll() },
      // An integration a reload removed while requests held grants on it is dropped once their revokes are done.
      { name: 'integration-removals', everyMs: INTEGRATION_REMOVALS_EVERY_MS, run: () => registry.dropLeft() },
      { name: 'events', everyMs: EVENT_PRUNE_EVERY_MS, run: () => eventLog.prune() },
      // Each integration's sync is due every settings.discoverEvery (the store says when, and which replica runs it).
      { name: 'discovery', everyMs: DISCOVERY_CHECK_MS, firstAfterMs: DISCOVERY_CHECK_MS, run: () => discovery.runDue() },
      // The first sweep waits a minute: right after a start the overdue revokes come first.
      ...(reconcileEvery === null ? [] : [{ name: 'reconcile', everyMs: reconcileEvery, firstAfterMs: Math.min(reconcileEvery, RECONCILE_FIRST_AFTER_MS), run: () => runReconcile('system') }]),
      // Another replica may have signed someone in: their identity reaches this one within this time.
      ...(signIn ? [{ name: 'identities', everyMs: IDENTITIES_REFRESH_MS, run: refreshIdentities }] : []),
      // Each person is renewed at the provider every settings.oidc.renewEvery; this looks for who is due.
      ...(signIn ? [{ name: 'renewals', everyMs: RENEWALS_CHECK_MS, run: renewSignIns }] : []),
      // Notifications leave off the request path, from the outbox: the deliverer is woken when
      // rows are written, and besides looks this often (see services/delivery-thread.ts). A
      // wake-up does not wait for the pass; a pass that fails is logged where it runs.
      { name: 'notifications', everyMs: opts.delivery?.pollMs ?? NOTIFICATIONS_EVERY_MS, run: async () => delivery.wake() },
      { name: 'notification-preferences', everyMs: IDENTITIES_REFRESH_MS, run: () => notificationPreferences.load() },
      // Delivered notifications are kept a while for the admins to look at, then deleted (failed ones stay).
      { name: 'outbox-prune', everyMs: OUTBOX_PRUNE_EVERY_MS, run: () => store.pruneOutbox(clock.now() - OUTBOX_KEEP_DELIVERED_MS) },
    ],
    onError: (err) => log.error({ error: String(err) }, 'scheduler error'),
  });

  try {
    await relay?.start();
    await delivery.start();
    await bootstrapAdminToken(store, dataDir, config, env, log);
  } catch (err) {
    clearInterval(checkpointTimer);
    await delivery.stop();
    await relay?.stop();
    await registry.close();
    await store.close();
    releaseLock();
    throw err;
  }

  /** Applies the file; `by` (a user id, "signal" or "system") is the audit's actor, whether it is applied or refused. */
  const applyReload = async (reloadOpts: { revokeRemoved?: boolean; by: string }): Promise<ReloadResult> => {
    try {
      const next = await loadConfigFile(opts.configPath);
      if (JSON.stringify(next.auditStream ?? null) !== JSON.stringify(auditStreamAtStart ?? null)) log.warn({}, 'auditStream changed: it is read at start, so the change takes effect at the next start');
      const nextCompiled = identities.compile(next, discovery.discovered());
      const changes = configChanges(config, next);
      // New and changed integrations are made (and a changed one checked) before anything changes.
      const prepared = await registry.prepare(changes, next.integrations, { revokeRemoved: reloadOpts.revokeRemoved });
      if (!prepared.ok) {
        log.error({ errors: prepared.errors, ...(prepared.holding ? { holding: prepared.holding.map((h) => h.id) } : {}) }, 'configuration refused; the running configuration stays');
        await auditRefusal(reloadOpts.by, prepared.errors, prepared.holding?.map((h) => h.id));
        return prepared;
      }
      config = next;
      compiled = nextCompiled;
      engine.config = compiled;
      const applied = await prepared.apply();
      const result = { ...changes, ...applied };
      await store.appendAudit([{ at: clock.now(), actor: reloadOpts.by, action: 'config.reloaded', requestId: null, data: { file: opts.configPath, flows: next.flows.length, users: next.users.length, changes: result } }]);
      await engine.syncAutomaticFlows();
      await store.setMeta(TOKEN_LIFETIMES_KEY, JSON.stringify(next.settings.tokens ?? DEFAULT_TOKEN_LIFETIMES));
      await offboarder.sweep();
      log.info({ file: opts.configPath, integrations: changes.integrations, revoked: applied.revoked }, 'configuration reloaded');
      // An integration added or changed (its connection, its tag rules…) is discovered again now, not at the next interval.
      for (const id of [...changes.integrations.added, ...changes.integrations.changed.map((c) => c.id)]) {
        if (discovery.discovers(id)) void discovery.syncNow(id).catch((err: unknown) => log.error({ integration: id, error: String(err) }, 'discovery after a reload failed'));
      }
      return { ok: true, changes: result };
    } catch (err) {
      const errors = err instanceof ConfigInvalidError ? err.message : String(err);
      log.error({ errors }, 'configuration refused; the running configuration stays');
      await auditRefusal(reloadOpts.by, errors);
      return { ok: false, errors };
    }
  };
  /** A refused reload is audited with its errors (file:line and what is wrong; the loader never quotes a secret's value). */
  const auditRefusal = async (by: string, errors: string, holding?: string[]): Promise<void> => {
    const lines = errors.split('\n').map((l) => l.trim()).filter(Boolean);
    await store.appendAudit([{ at: clock.now(), actor: by, action: 'config.reload_refused', requestId: null, data: { file: opts.configPath, errors: lines, ...(holding ? { holding } : {}) } }])
      .catch((err: unknown) => log.error({ error: String(err) }, 'could not audit a refused reload'));
  };
  // One reload at a time: each one compares against what the one before it left in force.
  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (reloadOpts: { revokeRemoved?: boolean; by?: string } = {}): Promise<ReloadResult> => {
    const run = reloading.then(() => applyReload({ revokeRemoved: reloadOpts.revokeRemoved, by: reloadOpts.by ?? 'system' })).then((result) => {
      configStatus.record(clock.now(), reloadOpts.by ?? 'system', result);
      return result;
    });
    reloading = run.catch(() => undefined);
    return run;
  };

  // Every audit event to the subscribers of auditStream (read at start), in loops beside the
  // API; leases on the subscribers' cursors are in wall-clock time, like the lock rows'.
  const auditStream = config.auditStream && config.auditStream.subscribers.length > 0
    ? new AuditStream({
      store, subscribers: config.auditStream.subscribers, owner, leaseMs, now: () => Date.now(), env, ...opts.auditStream,
      log: (level, message, fields) => log[level](fields ?? {}, message),
    })
    : undefined;
  metrics.readFrom({
    countByStatus: () => store.countByStatus(),
    jobBacklog: () => store.jobBacklog(clock.now(), OVERDUE_AFTER_MS),
    failingRevokes: () => store.countFailingRevokes(),
    jobsCompleted: () => scheduler!.completed,
    eventSubscribers: () => events.size,
    outboxCounts: () => store.outboxCounts(),
    now: () => clock.now(),
    ...(auditStream ? { auditStreamLag: async () => (await auditStream.status()).map((s) => ({ subscriber: s.id, lag: s.lag })) } : {}),
  });

  // Work that fell due while the process was down is due now: the first pass runs it, while
  // the HTTP server is still being built (access that should be gone goes first).
  // Whoever stopped being a user while the server was down is offboarded now.
  await offboarder.sweep().catch((err: unknown) => log.error({ error: String(err) }, 'offboarding failed; it is tried again at the next reload'));
  // For `lapse token create` on this host: the lifetimes the configuration allows.
  await store.setMeta(TOKEN_LIFETIMES_KEY, JSON.stringify(config.settings.tokens ?? DEFAULT_TOKEN_LIFETIMES));
  // The first discovery finishes before the server listens (a target that does not answer in
  // time does not hold the start: its sync goes on, and the last inventory is offered meanwhile).
  const firstDiscovery = discovery.runDue().catch((err: unknown) => log.error({ error: String(err) }, 'the first discovery failed'));
  await Promise.race([firstDiscovery, new Promise((resolve) => setTimeout(resolve, FIRST_DISCOVERY_WAIT_MS).unref())]);
  scheduler.start();

  let http: FastifyInstance;
  try {
    http = await buildServer({
      engine, store, events, eventLog, scheduler, integrations, clock, reload, logger: log, metrics, health, reconcile: runReconcile, signIn, mfaEnrolments, notificationPreferences, discovery,
      configStatus: () => configStatus.view(),
      trustProxy: config.settings.trustProxy,
      audit: { key: auditKey, checkpointPath },
      auditStream,
      openAccessDetails: (g) => (g.accessDetails === null ? null : sealer.open(g.requestId, g.integration, g.accessDetails)),
      writeAdmission: opts.writeAdmission,
    });
    await http.listen({ port: opts.port, host: opts.host ?? '127.0.0.1' });
  } catch (err) {
    clearInterval(checkpointTimer);
    await scheduler.stop();
    await delivery.stop();
    await relay?.stop();
    await registry.close();
    await store.close();
    releaseLock();
    throw err;
  }
  const address = http.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const url = `http://${opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1'}:${port}`;

  auditStream?.start();
  let stopped = false;
  return {
    url, port, engine, store, scheduler, events, integrations, http, reload, health, reconcile: runReconcile, renewSignIns, deliverNotifications: () => delivery.runDue(), delivery,
    discovery, syncResources: (integration) => discovery.syncNow(integration),
    async stop() {
      if (stopped) return;
      stopped = true;
      await http.close();
      await scheduler!.stop();
      await firstDiscovery;
      await discovery.idle();
      await delivery.stop();
      await auditStream?.stop();
      clearInterval(checkpointTimer);
      await checkpoint();
      await relay?.stop();
      await eventLog.stop();
      // A replica stopping cleanly hands its unfinished work to the others at once.
      if (shared) await store.releaseAllLeases(owner).catch(() => undefined);
      await registry.close();
      await store.close();
      releaseLock();
    },
  };
}

/** LAPSE_LEASE_MS: how long a replica holds claimed work before another may take it over. */
function leaseFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  if (!env.LAPSE_LEASE_MS) return undefined;
  const ms = Number(env.LAPSE_LEASE_MS);
  if (!Number.isInteger(ms) || ms < 500) throw new Error(`LAPSE_LEASE_MS must be a whole number of milliseconds ≥ 500, got "${env.LAPSE_LEASE_MS}"`);
  return ms;
}

/**
 * On first start, writes an admin token to `<data-dir>/admin-token` (mode 0600) for the
 * first configured admin, unless LAPSE_ADMIN_TOKEN provides one.
 */
async function bootstrapAdminToken(store: Store, dataDir: string, config: LapseConfig, env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  const admin = config.settings.admins[0];
  if (!admin) {
    log.warn('no admin in settings.admins: no admin token was created');
    return;
  }
  if (env.LAPSE_ADMIN_TOKEN) {
    const { authenticate, hashToken } = await import('./auth/tokens.ts');
    if (!(await authenticate(store, env.LAPSE_ADMIN_TOKEN))) {
      if (!/^lapse_[a-z0-9]{12}_[A-Za-z0-9_-]{32,}$/.test(env.LAPSE_ADMIN_TOKEN)) {
        throw new Error('LAPSE_ADMIN_TOKEN must look like a token made by `lapse token create` (lapse_<12 chars>_<secret>)');
      }
      const id = env.LAPSE_ADMIN_TOKEN.slice(6, 18);
      // The operator's own token, living as long as they keep it in the environment.
      await store.insertToken({ id, userId: admin, name: 'admin (LAPSE_ADMIN_TOKEN)', createdAt: Date.now(), revokedAt: null, lastUsedAt: null, expiresAt: null, kind: 'service' }, hashToken(env.LAPSE_ADMIN_TOKEN));
    }
    return;
  }
  if (!(await store.setMetaIfAbsent('admin-token-created', new Date().toISOString()))) return;
  const path = join(dataDir, 'admin-token');
  const { token } = await createToken(store, admin, 'admin (first start)', Date.now(), { by: 'system' });
  writePrivateFile(path, token + '\n');
  log.info(`wrote an admin token for ${admin} to ${path}`);
  if (!existsSync(path)) throw new Error(`could not write ${path}`);
}

/**
 * One server per data directory: the SQLite store is single-process. A lock file holds the
 * owner's pid; a lock whose process is gone (a crash) is taken over.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  ensurePrivateDir(dataDir);
  const path = join(dataDir, 'server.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writePrivateFile(path, String(process.pid), { exclusive: true });
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (pid && (pid === process.pid || isAlive(pid))) {
        throw new Error(`another Lapse server (pid ${pid}${pid === process.pid ? ', this process' : ''}) is using ${dataDir}; stop it first, or use another --data-dir`);
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock ${dataDir}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
