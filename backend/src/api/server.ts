// The HTTP API (/api/v1), health and metrics endpoints and the web portal. Each feature's
// routes live in routes/: a schema (validating the input, serializing the answer,
// documenting both) and a call to the engine or a read service. This file assembles them.

import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { Engine } from '../engine/engine.ts';
import type { EventBus } from '../engine/events.ts';
import type { EventLog } from '../services/event-log.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { Clock } from '../../../common/clock.ts';
import type { Store } from '../store/store.ts';
import type { Integration } from '../integrations/integration.ts';
import type { IntegrationHealth } from '../engine/integration-health.ts';
import type { ReconcileReport } from '../engine/reconcile.ts';
import type { Logger } from '../logger.ts';
import { Metrics } from '../metrics.ts';
import { BearerTokens } from '../auth/tokens.ts';
import { RequestQueries } from '../services/request-queries.ts';
import { IntegrationStatus } from '../services/integration-status.ts';
import { AuditService } from '../services/audit-service.ts';
import type { AuditStreamStatus } from '../audit/stream.ts';
import type { AccessDetailsOpener } from './views.ts';
import { enforceRouteAccess } from './route-access.ts';
import { Cursors } from './cursor.ts';
import { lazySchemaCompilers } from './lazy-schema-compilers.ts';
import { errorHandler, problem } from './problems.ts';
import { registerAuthentication } from './authentication.ts';
import { registerOpenApi } from './openapi.ts';
import { registerPortal } from './portal.ts';
import { PUBLIC, type RouteContext } from './routes/context.ts';
import { healthRoutes } from './routes/health.ts';
import { catalogRoutes } from './routes/catalog.ts';
import { requestRoutes } from './routes/requests.ts';
import { favoriteRoutes } from './routes/favorites.ts';
import { adminRoutes } from './routes/admin.ts';
import { auditRoutes } from './routes/audit.ts';
import { eventRoutes } from './routes/events.ts';
import { sessionCookieNames, signInRoutes } from './routes/sign-in.ts';
import { tokenRoutes } from './routes/tokens.ts';
import { mfaRoutes } from './routes/mfa.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { resourceRoutes } from './routes/resources.ts';
import type { Discovery } from '../services/discovery.ts';
import { NotificationAdmin } from '../services/notification-admin.ts';
import type { NotificationPreferences } from '../services/notification-preferences.ts';
import { DEFAULT_TOKEN_LIFETIMES } from '../domain/config.ts';
import { TokenService } from '../services/token-service.ts';
import cookie from '@fastify/cookie';
import type { SignInService } from '../services/sign-in.ts';
import type { MfaEnrolments } from '../services/mfa-enrolment.ts';
import type { ConfigStatus } from '../../../common/api/types.ts';
import type { ReloadResult } from '../services/integration-registry.ts';
import { WriteAdmission, registerWriteAdmission } from './write-admission.ts';

export interface ServerDeps {
  engine: Engine;
  store: Store;
  events: EventBus;
  /** The events stream's recent past, for replay (absent: a client that reconnects with Last-Event-ID is told to reload). */
  eventLog?: EventLog;
  scheduler: Scheduler;
  integrations: ReadonlyMap<string, Integration>;
  clock: Clock;
  reload: (opts?: { revokeRemoved?: boolean; by?: string }) => Promise<ReloadResult>;
  /** Which configuration file is in force, since when, and the last reload (GET /admin/config); absent: the route answers 503. */
  configStatus?: () => ConfigStatus;
  logger: Logger;
  /** The service's metrics (default: a registry of the server's own). */
  metrics?: Metrics;
  /** Last known health of the integrations (default: each call checks them). */
  health?: IntegrationHealth;
  /** Reconciliation (POST /api/v1/admin/reconcile); absent: the route answers 503. */
  reconcile?: (by: string) => Promise<ReconcileReport>;
  /** The inventory and its discovery (GET /api/v1/resources, POST /api/v1/admin/resources/sync); absent: declared resources only, and no sync. */
  discovery?: Discovery;
  /** Opens sealed access details for the requester (default: shown as stored). */
  openAccessDetails?: AccessDetailsOpener;
  bodyLimit?: number;
  /** The built renderer served as the web portal at `/` (default: renderer/dist). */
  portalDir?: string;
  /**
   * Which proxies to believe about the client's address (X-Forwarded-For), as Fastify's
   * `trustProxy`: false (default: the connection's address), true, a number of hops, or
   * addresses and CIDR ranges. The failed-authentication limiter counts per client address.
   */
  trustProxy?: boolean | number | string[];
  /** The audit chain's key and where its head is checkpointed (GET /audit/verify checks both). */
  audit: { key: Buffer; checkpointPath: string | null };
  /** The audit stream's subscribers, for GET /api/v1/audit/stream (absent: none configured). */
  auditStream?: { status(): Promise<AuditStreamStatus[]> };
  /** Single sign-on (settings.oidc), where it is configured. */
  signIn?: SignInService;
  /** TOTP self-enrolment (GET/POST/DELETE /api/v1/mfa…). */
  mfaEnrolments: MfaEnrolments;
  /** Each person's choice of email (read by the engine when it writes notifications). */
  notificationPreferences: NotificationPreferences;
  /** How state-changing calls take turns (default: WRITE_ADMISSION; tests). */
  writeAdmission?: Partial<typeof WRITE_ADMISSION>;
}

/**
 * State-changing calls in progress at once, how long one keeps its turn, and how many may
 * wait (see write-admission.ts). Eight at a time keep the store's group commits as full as
 * an unbounded number did (the throughput benchmark, 8 clients, is unchanged; two at a time
 * cost it a third), while a flood of a thousand calls within a second no longer puts a read
 * behind all of them (see Benchmarks: notifications).
 */
export const WRITE_ADMISSION = { concurrency: 8, holdMs: 100, maxWaiting: 10_000 };

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { engine, store, clock, logger } = deps;
  const bodyLimit = deps.bodyLimit ?? 256 * 1024;
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One line per request, written below with the route and the caller (never the token).
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit,
    // A number of hops: the client is that many addresses back from the connection's.
    trustProxy: typeof deps.trustProxy === 'number' ? ((_address: string, hop: number) => hop < (deps.trustProxy as number)) : (deps.trustProxy ?? false),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
    schemaController: { compilersFactory: lazySchemaCompilers },
  }).withTypeProvider<JsonSchemaToTsProvider>();
  enforceRouteAccess(app);
  await registerOpenApi(app);

  const metrics = deps.metrics ?? new Metrics();
  const tokens = new BearerTokens(store, () => clock.now());
  app.setErrorHandler(errorHandler(logger, bodyLimit));
  app.setNotFoundHandler((req, reply) => problem(reply, 404, 'Not found', `no route ${req.method} ${req.url.split('?')[0]}`));
  await app.register(cookie);
  const publicUrl = engine.config.config.settings.publicUrl;
  const sso = deps.signIn && publicUrl ? { service: deps.signIn, publicUrl, cookies: sessionCookieNames(publicUrl) } : undefined;
  const users = { isAdmin: (userId: string) => engine.config.isAdmin(userId), isKnown: (userId: string) => engine.config.users.has(userId) };
  registerAuthentication(app, tokens, users, sso && { service: sso.service, name: sso.cookies.session });
  const admission = new WriteAdmission({ ...WRITE_ADMISSION, ...deps.writeAdmission, timers: globalThis });
  registerWriteAdmission(app, admission);
  metrics.readWriteAdmission(() => ({ waiting: admission.queued, running: admission.running }));
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    metrics.observeHttp(req.method, route, reply.statusCode, reply.elapsedTime / 1000);
    logger.info({ method: req.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10, user: req.caller?.id }, 'request');
  });

  const ctx: RouteContext = {
    engine,
    queries: new RequestQueries(store, engine, logger, new Cursors(deps.audit.key), deps.openAccessDetails),
    integrations: new IntegrationStatus(deps.integrations, () => engine.config, deps.health, deps.discovery),
    audit: new AuditService(store, deps.audit.key, deps.audit.checkpointPath),
    auditStream: deps.auditStream,
    tokenService: new TokenService({ store, now: () => clock.now(), isKnownUser: users.isKnown, lifetimes: () => engine.config.config.settings.tokens ?? DEFAULT_TOKEN_LIFETIMES }),
    mfaEnrolments: deps.mfaEnrolments,
    notifications: new NotificationAdmin({ store, now: () => clock.now() }),
    notificationPreferences: deps.notificationPreferences,
    clock,
    events: deps.events,
    eventLog: deps.eventLog,
    tokens,
    metrics,
    logger,
    ping: () => store.ping(),
    reload: deps.reload,
    configStatus: deps.configStatus,
    reconcile: deps.reconcile,
    discovery: deps.discovery,
  };
  healthRoutes(app, ctx);
  catalogRoutes(app, ctx);
  requestRoutes(app, ctx);
  favoriteRoutes(app, ctx);
  adminRoutes(app, ctx);
  auditRoutes(app, ctx);
  eventRoutes(app, ctx);
  tokenRoutes(app, ctx);
  mfaRoutes(app, ctx);
  notificationRoutes(app, ctx);
  resourceRoutes(app, ctx);
  signInRoutes(app, sso);
  app.get('/api/v1/openapi.json', { schema: { hide: true }, config: PUBLIC }, async () => app.swagger());
  registerPortal(app, { dir: deps.portalDir });
  return app;
}
