// The HTTP API (/api/v1), health and metrics endpoints. Routes declare their access and
// validate their input against a schema, then call the engine and the store; errors are
// application/problem+json naming the field at fault.

import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Engine } from '../engine/engine.ts';
import { LapseError } from '../engine/errors.ts';
import type { EventBus, LapseEvent } from '../engine/events.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { Clock } from '../../../common/clock.ts';
import type { Store } from '../store/store.ts';
import type { HealthReport, Integration } from '../integrations/integration.ts';
import type { IntegrationHealth } from '../engine/integration-health.ts';
import type { ReconcileReport } from '../engine/reconcile.ts';
import type { Logger } from '../logger.ts';
import { REQUEST_STATUSES, type RequestStatus, type Entitlement } from '../domain/request.ts';
import { catalogFor, catalogStableUntil, type CompiledConfig } from '../domain/catalog.ts';
import { formatDuration } from '../../../common/duration.ts';
import { authenticate } from '../auth/tokens.ts';
import { readCheckpoint } from '../audit/checkpoint.ts';
import { verifyAuditChain } from '../audit/verify.ts';
import { activityCsvHeader, activityCsvRows, auditView, favoriteView, iso, requestView, type AccessDetailsOpener } from './views.ts';
import * as S from '../../../common/api/schemas.ts';
import { buildOpenApi, type RouteDoc } from './openapi.ts';
import { FailedAuthLimiter } from './rate-limit.ts';
import { registerPortal } from './portal.ts';

export interface ServerDeps {
  engine: Engine;
  store: Store;
  events: EventBus;
  scheduler: Scheduler;
  integrations: ReadonlyMap<string, Integration>;
  clock: Clock;
  reload: () => Promise<{ ok: true } | { ok: false; errors: string }>;
  logger: Logger;
  /** Last known health of the integrations (default: each call checks them). */
  health?: IntegrationHealth;
  /** Reconciliation (POST /api/v1/admin/reconcile); absent: the route answers 503. */
  reconcile?: (by: string) => Promise<ReconcileReport>;
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
}

/**
 * Who may call a route: `public` (no token: health, metrics, the OpenAPI document, the
 * portal's files) or `token` (a valid bearer token). Every route declares it; the
 * authentication hook reads it from the route that will run, never from the URL.
 */
export type RouteAccess = 'public' | 'token';

declare module 'fastify' {
  interface FastifyRequest {
    caller: { id: string; admin: boolean; tokenId: string };
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every route with the access it declared, in the order they were registered. */
    routeAccess: { method: string; url: string; access: RouteAccess }[];
  }
}

/**
 * Refuses, when it is registered, any route that does not declare its access, and keeps the
 * table of routes and their access (`app.routeAccess`). Call before registering routes.
 */
export function enforceRouteAccess(app: FastifyInstance): void {
  const table: FastifyInstance['routeAccess'] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (opts) => {
    const access = (opts.config as { access?: unknown } | undefined)?.access;
    const methods = Array.isArray(opts.method) ? opts.method : [opts.method];
    if (access !== 'public' && access !== 'token') {
      throw new Error(`route ${methods.join(',')} ${opts.url} does not declare its access (config.access: 'public' or 'token'); got ${JSON.stringify(access)}`);
    }
    for (const method of methods) table.push({ method, url: opts.url, access });
  });
}

const PROBLEM = 'application/problem+json';
/** How often the token of every open event stream is looked up again. */
const STREAM_RECHECK_MS = 500;
const JSON_TYPE = 'application/json; charset=utf-8';
const STATUS_BY_KIND: Record<LapseError['kind'], number> = {
  invalid: 422, unauthorized: 401, forbidden: 403, 'not-found': 404, conflict: 409, unavailable: 503, 'too-many': 429,
};

function problem(reply: FastifyReply, status: number, title: string, detail: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type(PROBLEM).send({ type: 'about:blank', title, status, detail, ...extra });
}

/** `/entitlements/0/permission` → `entitlements[0].permission` */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const { engine, store, events, scheduler, clock, logger } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimit ?? 256 * 1024,
    // A number of hops: the client is that many addresses back from the connection's.
    trustProxy: typeof deps.trustProxy === 'number' ? ((_address: string, hop: number) => hop < (deps.trustProxy as number)) : (deps.trustProxy ?? false),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: true } },
  });
  enforceRouteAccess(app);
  const docs: RouteDoc[] = [];
  const limiter = new FailedAuthLimiter({ max: 10, windowMs: 60_000, now: () => Date.now() });
  const PUBLIC = { config: { access: 'public' as const } };
  const metrics = { httpRequests: new Map<string, number>() };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof LapseError) {
      if (err.retryAfterMs !== undefined) reply.header('retry-after', Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
      return problem(reply, STATUS_BY_KIND[err.kind], titleOf(err.kind), err.message, err.field ? { field: err.field } : {});
    }
    if (err.validation) {
      const errors = err.validation.map((v) => {
        const params = v.params as Record<string, unknown>;
        const field = fieldPath(v.instancePath, typeof params.missingProperty === 'string' ? params.missingProperty : typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined);
        const where = err.validationContext === 'body' ? '' : `${err.validationContext} `;
        let message = v.message ?? 'is invalid';
        if (v.keyword === 'additionalProperties') message = 'is not a known field';
        if (v.keyword === 'required') message = 'is required';
        if (v.keyword === 'enum') message = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
        return { field: `${where}${field || '(body)'}`, message };
      });
      return problem(reply, 400, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { field: errors[0]?.field, errors });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(reply, 413, 'Body too large', `the body is larger than ${deps.bodyLimit ?? 256 * 1024} bytes`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return problem(reply, 415, 'Unsupported media type', 'send application/json');
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.statusCode === 400) return problem(reply, 400, 'Invalid request', err.message);
    logger.error('unhandled error', { url: req.url, error: String(err) });
    return problem(reply, 500, 'Internal error', 'the server failed to handle this request; it has been logged');
  });
  app.setNotFoundHandler((req, reply) => problem(reply, 404, 'Not found', `no route ${req.method} ${req.url.split('?')[0]}`));

  app.addHook('onResponse', async (req, reply) => {
    const key = `${req.method} ${req.routeOptions.url ?? 'unknown'} ${reply.statusCode}`;
    metrics.httpRequests.set(key, (metrics.httpRequests.get(key) ?? 0) + 1);
  });

  // Authentication, decided by the route that will run (its declared access), after routing:
  // a path spelt any other way reaches either the same route, and the same check, or none.
  // Requests that reach no route get the 404 answer and run nothing.
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404 || req.routeOptions.config.access === 'public') return;
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const record = token ? await authenticate(store, token) : null;
    if (!record) {
      reply.header('www-authenticate', 'Bearer');
      if (token === undefined) return problem(reply, 401, 'Unauthorized', 'send a token: Authorization: Bearer <token>');
      // Only presented tokens that fail count: a guess. A valid token is never refused
      // because others failed from the same address.
      const retry = limiter.blockedFor(req.ip);
      if (retry > 0) {
        reply.header('retry-after', Math.ceil(retry / 1000));
        return problem(reply, 429, 'Too many failed sign-ins', `too many failed authentications from this address; retry in ${Math.ceil(retry / 1000)} s`);
      }
      limiter.fail(req.ip);
      return problem(reply, 401, 'Unauthorized', 'the token is not valid (unknown, malformed or revoked)');
    }
    req.caller = { id: record.userId, admin: engine.config.isAdmin(record.userId), tokenId: record.id };
    // "Last used" at minute precision: one write per token per minute, not per call.
    const now = clock.now();
    if (record.lastUsedAt === null || now - record.lastUsedAt >= 60_000) await store.touchToken(record.id, now);
  });

  type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  const route = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, doc: Omit<RouteDoc, 'method' | 'url'>, handler: Handler) => {
    docs.push({ method, url, ...doc });
    const schema: Record<string, unknown> = {};
    if (doc.body) schema.body = doc.body;
    if (doc.params) schema.params = doc.params;
    if (doc.query) schema.querystring = doc.query;
    // A body whose fields are all optional may be left out altogether (`POST …/revoke`).
    const optionalBody = doc.body !== undefined && !(doc.body as { required?: readonly string[] }).required?.length;
    const preValidation = async (req: FastifyRequest) => {
      if (req.body === undefined) req.body = {};
    };
    app.route({ method, url, schema, handler, config: { access: 'token' }, ...(optionalBody ? { preValidation } : {}) });
  };
  const requireAdmin = (req: FastifyRequest) => {
    if (!req.caller.admin) throw new LapseError('forbidden', 'this needs the admin role');
  };
  const openDetails: AccessDetailsOpener = (g) => {
    if (g.accessDetails === null) return null;
    if (!deps.openAccessDetails) return g.accessDetails;
    try {
      return deps.openAccessDetails(g);
    } catch (err) {
      logger.error('cannot open the access details of a grant (was the secret key changed?)', { request: g.requestId, integration: g.integration, error: (err as Error).message });
      return null;
    }
  };
  const view = async (id: string, viewer: string) => {
    const r = (await store.getRequest(id))!;
    return requestView(r, await store.getGrants(id), engine.config, viewer, openDetails);
  };
  /**
   * One row of a list: a row that cannot be shown (a record no view expects) is logged and
   * stands as its id and status, so that one row never fails a list as a whole.
   */
  const rowView = <T>(r: { id: string; status: string }, render: () => T, fallback?: () => T): T => {
    try {
      return render();
    } catch (err) {
      logger.error('a request could not be shown in a list', { request: r.id, error: String(err) });
      return fallback ? fallback() : ({ id: r.id, status: r.status, error: 'this request could not be shown; the server log says why' } as T);
    }
  };
  const parseTime = (text: string | undefined, field: string): number | undefined => {
    if (text === undefined) return undefined;
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new LapseError('invalid', `${text} is not a date-time`, field);
    return t;
  };

  // ── health and metrics ──
  app.get('/healthz', PUBLIC, async () => ({ status: 'ok' }));
  app.get('/readyz', PUBLIC, async (_req, reply) => {
    try {
      await store.ping();
      return { status: 'ready' };
    } catch (err) {
      return problem(reply, 503, 'Not ready', `the store is unreachable: ${String(err)}`);
    }
  });
  app.get('/metrics', PUBLIC, async (_req, reply) => {
    const lines: string[] = [];
    lines.push('# HELP lapse_requests Requests by status.', '# TYPE lapse_requests gauge');
    const counts = await store.countByStatus();
    for (const s of REQUEST_STATUSES) lines.push(`lapse_requests{status="${s}"} ${counts[s] ?? 0}`);
    lines.push('# HELP lapse_scheduler_jobs_completed_total Jobs run by this process.', '# TYPE lapse_scheduler_jobs_completed_total counter');
    lines.push(`lapse_scheduler_jobs_completed_total ${scheduler.completed}`);
    const next = await store.nextDueAt();
    lines.push('# HELP lapse_scheduler_overdue_seconds How late the oldest due job is.', '# TYPE lapse_scheduler_overdue_seconds gauge');
    lines.push(`lapse_scheduler_overdue_seconds ${next === null ? 0 : Math.max(0, (clock.now() - next) / 1000)}`);
    lines.push('# HELP lapse_events_subscribers Open event streams.', '# TYPE lapse_events_subscribers gauge', `lapse_events_subscribers ${events.size}`);
    lines.push('# HELP lapse_http_requests_total HTTP requests by route and status.', '# TYPE lapse_http_requests_total counter');
    for (const [key, n] of metrics.httpRequests) {
      const [method, url, status] = key.split(' ');
      lines.push(`lapse_http_requests_total{method="${method}",route="${url}",status="${status}"} ${n}`);
    }
    reply.type('text/plain; version=0.0.4');
    return lines.join('\n') + '\n';
  });

  // ── me and catalog ──
  route('GET', '/api/v1/me', { summary: 'The caller: identity and roles' }, async (req) => {
    const user = engine.config.users.get(req.caller.id);
    const inbox = await store.listAwaitingDecisionBy(req.caller.id);
    return {
      id: req.caller.id, email: user?.email ?? null, name: user?.name ?? null, groups: user?.groups ?? [],
      roles: ['requester', ...(inbox.length || isApproverSomewhere(engine, req.caller.id) ? ['approver'] : []), ...(req.caller.admin ? ['admin'] : [])],
    };
  });

  // A user's catalog changes with time only at known instants (catalogStableUntil): it is
  // kept, as sent, until the next of them, a new configuration or a change in which
  // integrations are unhealthy.
  const catalogs = new Map<string, { body: string; health: string }>();
  let catalogsValid: { config: CompiledConfig; until: number } | null = null;
  route('GET', '/api/v1/catalog', { summary: 'What the caller may request now (flows, entitlements, bundles), with the reason where a flow is unavailable' }, async (req, reply) => {
    const user = engine.config.users.get(req.caller.id);
    if (!user) return { flows: [] };
    const unhealthy = await unhealthyIntegrations();
    const health = JSON.stringify([...unhealthy]);
    const now = clock.now();
    if (!catalogsValid || catalogsValid.config !== engine.config || now >= catalogsValid.until) {
      catalogs.clear();
      catalogsValid = { config: engine.config, until: catalogStableUntil(engine.config, now) };
    }
    const cached = catalogs.get(user.id);
    if (cached && cached.health === health) return reply.type(JSON_TYPE).send(cached.body);
    const flows = catalogFor(engine.config, user, now).map((f) => ({
      ...f,
      // Integrations of this flow whose last health check failed: a grant there would fail.
      integrationHealth: [...new Set([...f.entitlements, ...f.bundles.flatMap((b) => b.entitlements)].map((e) => e.integration))]
        .flatMap((id) => {
          const h = unhealthy.get(id);
          return h ? [{ integration: id, ok: false, error: h.error, checkedAt: iso(h.checkedAt) }] : [];
        }),
      defaultDuration: f.defaultDuration === null ? 'indefinite' : formatDuration(f.defaultDuration),
      maxDuration: f.maxDuration === null ? 'indefinite' : formatDuration(f.maxDuration),
    }));
    const body = JSON.stringify({ flows });
    catalogs.set(user.id, { body, health });
    return reply.type(JSON_TYPE).send(body);
  });

  /** The last health report of an integration (checked now when there is none yet, or without a monitor). */
  const healthOf = async (id: string, checkNow: boolean): Promise<HealthReport> => {
    const integration = deps.integrations.get(id)!;
    if (!deps.health) return integration.health();
    const known = checkNow ? undefined : deps.health.get(id);
    return known ?? (await (checkNow ? deps.health.checkOnDemand(id) : deps.health.check(id)))!;
  };
  const unhealthyIntegrations = async (): Promise<Map<string, HealthReport>> => {
    const out = new Map<string, HealthReport>();
    if (!deps.health) return out;
    for (const id of deps.integrations.keys()) {
      const h = deps.health.get(id);
      if (h && !h.ok) out.set(id, h);
    }
    return out;
  };

  route('GET', '/api/v1/integrations', { summary: 'Integrations, their type and health (last check; check=true checks now)', query: S.integrationsQuery }, async (req) => {
    const checkNow = (req.query as { check?: string }).check === 'true';
    const out = [];
    for (const [id, integration] of deps.integrations) {
      const cfg = engine.config.integrations.get(id);
      const h = await healthOf(id, checkNow);
      out.push({ id, type: integration.type, name: cfg?.name ?? id, health: { ok: h.ok, checkedAt: iso(h.checkedAt), error: h.error } });
    }
    return { integrations: out };
  });

  route('POST', '/api/v1/admin/reconcile', { summary: 'Admin: remove what Lapse created on the targets that no active request covers, and report it' }, async (req) => {
    requireAdmin(req);
    if (!deps.reconcile) throw new LapseError('unavailable', 'reconciliation is not available on this server');
    const report = await deps.reconcile(req.caller.id);
    return { ...report, at: iso(report.at) };
  });

  // ── requests ──
  route('POST', '/api/v1/requests', { summary: 'Request access', body: S.createRequestBody }, async (req, reply) => {
    const b = req.body as { flowId: string; entitlements?: Entitlement[]; bundleId?: string; duration?: string; justification?: string; startAt?: string; mfaCode?: string; breakGlass?: boolean };
    const { request, grants } = await engine.submitRequest(req.caller.id, { ...b, startAt: parseTime(b.startAt, 'startAt') });
    reply.code(201).header('location', `/api/v1/requests/${request.id}`);
    return requestView(request, grants, engine.config, req.caller.id, openDetails);
  });

  route('GET', '/api/v1/requests', { summary: 'List requests: your own (mine=true), or for admins everyone\'s', query: S.listRequestsQuery }, async (req) => {
    const q = req.query as { mine?: string; status?: string; user?: string; flow?: string; limit?: string };
    const statuses = q.status?.split(',').map((s) => s.trim()).filter(Boolean) as RequestStatus[] | undefined;
    for (const s of statuses ?? []) if (!REQUEST_STATUSES.includes(s)) throw new LapseError('invalid', `unknown status "${s}"; expected ${REQUEST_STATUSES.join(', ')}`, 'query status');
    const everyone = req.caller.admin && q.mine !== 'true';
    const requester = everyone ? q.user : req.caller.id;
    const list = await store.listRequests({ requester, statuses, flowId: q.flow, limit: Math.min(Number(q.limit ?? 100), 1000) });
    const grants = await store.getGrantsOf(list.map((r) => r.id));
    return { requests: list.map((r) => rowView(r, () => requestView(r, grants.get(r.id) ?? [], engine.config, req.caller.id, openDetails))) };
  });

  route('GET', '/api/v1/requests/:id', { summary: 'One request, with its grants (access details for the requester)', params: S.idParams }, async (req) => {
    const { id } = req.params as { id: string };
    await engine.getVisible(req.caller.id, id);
    return view(id, req.caller.id);
  });

  route('GET', '/api/v1/requests/:id/access', { summary: 'The access details of your active request, per integration (the requester only)', params: S.idParams }, async (req) => {
    const { id } = req.params as { id: string };
    const r = await engine.getVisible(req.caller.id, id);
    if (r.requester !== req.caller.id) throw new LapseError('forbidden', 'access details are shown to the requester only');
    if (r.status !== 'active') throw new LapseError('conflict', `the request is ${r.status}; access details are available while it is active`);
    const grants = await store.getGrants(id);
    return {
      requestId: id,
      expiresAt: iso(r.expiresAt),
      grants: grants.filter((g) => g.status === 'active').map((g) => ({ integration: g.integration, accessDetails: openDetails(g) })),
    };
  });

  const decision = (verb: 'approve' | 'deny' | 'revoke' | 'mark-revoke-canceled', summary: string) =>
    route('POST', `/api/v1/requests/:id/${verb}`, { summary, params: S.idParams, body: S.decisionBody }, async (req) => {
      const { id } = req.params as { id: string };
      const reason = (req.body as { reason?: string } | undefined)?.reason;
      const actor = req.caller.id;
      if (verb === 'approve') await engine.approve(actor, id, reason);
      else if (verb === 'deny') await engine.deny(actor, id, reason);
      else if (verb === 'revoke') await engine.revoke(actor, id, reason);
      else await engine.markRevokeCanceled(actor, id, reason);
      return view(id, actor);
    });
  decision('approve', 'Approve a pending request (or its pending extension)');
  decision('deny', 'Deny a pending request (or its pending extension)');
  decision('revoke', 'Revoke access now: the requester, an approver who approved it, or an admin');
  decision('mark-revoke-canceled', 'Admin: stop retrying a revoke the target cannot complete (after removing the access by hand)');

  route('POST', '/api/v1/requests/:id/cancel', { summary: 'Cancel your pending or scheduled request', params: S.idParams }, async (req) => {
    const { id } = req.params as { id: string };
    await engine.cancel(req.caller.id, id);
    return view(id, req.caller.id);
  });

  route('POST', '/api/v1/requests/:id/extend', { summary: 'Extend active access through the flow\'s approval policy', params: S.idParams, body: S.extendBody }, async (req) => {
    const { id } = req.params as { id: string };
    await engine.extend(req.caller.id, id, req.body as { duration: string; justification?: string });
    return view(id, req.caller.id);
  });

  route('GET', '/api/v1/approvals', { summary: 'The caller\'s inbox: requests and extensions they may decide now' }, async (req) => {
    const list = await store.listAwaitingDecisionBy(req.caller.id);
    const grants = await store.getGrantsOf(list.map((r) => r.id));
    const decided = (r: (typeof list)[number]) => r.decisions.some((d) => d.approver === req.caller.id && d.subject === (r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request'));
    return {
      approvals: list
        .filter((r) => !(r.requester === req.caller.id && (engine.config.flows.get(r.flowId)?.settings.requesterCannotApproveOwn ?? true)) && !decided(r))
        .map((r) => rowView(r, () => requestView(r, grants.get(r.id) ?? [], engine.config, req.caller.id, openDetails))),
    };
  });

  route('POST', '/api/v1/admin/revoke-all', { summary: 'Admin: revoke everything active that matches a filter (the panic button)', body: S.revokeAllBody }, async (req) => {
    requireAdmin(req);
    const { reason, ...filter } = (req.body ?? {}) as { user?: string; flow?: string; integration?: string; label?: string; reason?: string };
    return engine.revokeAll(req.caller.id, filter, reason);
  });

  route('POST', '/api/v1/admin/config/reload', { summary: 'Admin: re-read the configuration file' }, async (req, reply) => {
    requireAdmin(req);
    const result = await deps.reload();
    if (!result.ok) return problem(reply, 422, 'Configuration refused', result.errors, { errors: result.errors.split('\n') });
    return { status: 'reloaded' };
  });

  // ── favorites ──
  route('GET', '/api/v1/favorites', { summary: 'Your favorites and the 3 most recent requests as suggestions' }, async (req) => {
    const favorites = await store.listFavorites(req.caller.id);
    const suggestions = await engine.suggestions(req.caller.id);
    return {
      favorites: favorites.map(favoriteView),
      suggestions: suggestions.map((r) => ({
        requestId: r.id, flowId: r.flowId, bundleId: r.bundleId, entitlements: r.entitlements,
        duration: r.durationMs === null ? 'indefinite' : formatDuration(r.durationMs), justification: r.justification, createdAt: iso(r.createdAt),
      })),
    };
  });

  type FavoriteBody = { name?: string; flowId?: string; bundleId?: string; entitlements?: Entitlement[]; duration?: string; justification?: string; fromRequestId?: string };
  const favoriteInput = (b: FavoriteBody) => {
    if (!b.flowId) throw new LapseError('invalid', 'flowId is required (or fromRequestId)', 'flowId');
    if (!b.name) throw new LapseError('invalid', 'name is required', 'name');
    return { name: b.name, flowId: b.flowId, bundleId: b.bundleId, entitlements: b.entitlements, duration: b.duration, justification: b.justification };
  };
  route('POST', '/api/v1/favorites', { summary: 'Save a favorite, from scratch or from one of your requests (fromRequestId)', body: S.favoriteBody }, async (req, reply) => {
    const b = req.body as FavoriteBody;
    const f = b.fromRequestId ? await engine.favoriteFromRequest(req.caller.id, b.fromRequestId, b.name) : await engine.saveFavorite(req.caller.id, favoriteInput(b));
    reply.code(201);
    return favoriteView(f);
  });
  route('PUT', '/api/v1/favorites/:id', { summary: 'Replace a favorite', params: S.idParams, body: S.favoriteBody }, async (req) => {
    const { id } = req.params as { id: string };
    return favoriteView(await engine.saveFavorite(req.caller.id, favoriteInput(req.body as FavoriteBody), id));
  });
  route('DELETE', '/api/v1/favorites/:id', { summary: 'Delete a favorite', params: S.idParams }, async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!(await store.deleteFavorite(req.caller.id, id))) throw new LapseError('not-found', `favorite ${id} not found`);
    return reply.code(204).send();
  });
  route('POST', '/api/v1/favorites/:id/request', { summary: 'Request access from a favorite in one call', params: S.idParams, body: S.favoriteRequestBody }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const b = (req.body ?? {}) as { justification?: string; mfaCode?: string; startAt?: string; duration?: string };
    const { request, grants } = await engine.requestFromFavorite(req.caller.id, id, { ...b, startAt: parseTime(b.startAt, 'startAt') });
    reply.code(201).header('location', `/api/v1/requests/${request.id}`);
    return requestView(request, grants, engine.config, req.caller.id, openDetails);
  });

  // ── audit and reports ──
  route('GET', '/api/v1/audit', { summary: 'Audit events (admins: all; others: events of requests they can see, by requestId)', query: S.auditQuery }, async (req) => {
    const q = req.query as { requestId?: string; actor?: string; action?: string; since?: string; until?: string; afterSeq?: string; limit?: string };
    if (!req.caller.admin) {
      if (!q.requestId) throw new LapseError('forbidden', 'only admins can query the whole audit log; pass requestId for one of your requests');
      await engine.getVisible(req.caller.id, q.requestId);
    }
    const list = await store.listAudit({
      requestId: q.requestId, actor: q.actor, action: q.action, since: parseTime(q.since, 'since'), until: parseTime(q.until, 'until'),
      afterSeq: q.afterSeq === undefined ? undefined : Number(q.afterSeq), limit: q.limit === undefined ? 100 : Number(q.limit),
    });
    return { events: list.map(auditView) };
  });

  route('GET', '/api/v1/audit/verify', { summary: 'Admin: verify the audit hash chain' }, async (req) => {
    requireAdmin(req);
    const checkpoint = deps.audit.checkpointPath ? readCheckpoint(deps.audit.checkpointPath, deps.audit.key) : undefined;
    const result = await verifyAuditChain(store, deps.audit.key, checkpoint);
    return { ...result, checkpoint: result.checkpoint && { ...result.checkpoint, at: iso(result.checkpoint.at) } };
  });

  route('GET', '/api/v1/reports/activity.csv', { summary: 'Admin: activity report, one row per request and integration', query: S.reportQuery }, async (req, reply) => {
    requireAdmin(req);
    const q = req.query as { since?: string; until?: string };
    const since = parseTime(q.since, 'since') ?? 0;
    const until = parseTime(q.until, 'until') ?? Number.MAX_SAFE_INTEGER;
    reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="lapse-activity.csv"');
    let out = activityCsvHeader();
    let before: number | undefined;
    for (;;) {
      const page = await store.listRequests({ createdBefore: before ?? until, limit: 1000 });
      const inRange = page.filter((r) => r.createdAt >= since);
      const grants = await store.getGrantsOf(inRange.map((r) => r.id));
      for (const r of inRange) out += rowView(r, () => activityCsvRows(r, grants.get(r.id) ?? [], engine.config), () => '');
      if (page.length < 1000 || inRange.length < page.length) break;
      before = page[page.length - 1]!.createdAt;
    }
    return out;
  });

  // ── events ──
  // A stream is authorized at every delivery, not once: each event is filtered by the
  // caller's rights as they are then (a reload may have taken the admin role away), and the
  // token of every open stream is looked up again every STREAM_RECHECK_MS, so a stream ends
  // within about a second of its token being revoked, here or by another process.
  const openStreams = new Map<() => void, string>();
  let recheck: NodeJS.Timeout | null = null;
  const recheckStreams = async () => {
    const byToken = new Map<string, (() => void)[]>();
    for (const [close, token] of openStreams) byToken.set(token, [...(byToken.get(token) ?? []), close]);
    for (const [token, closes] of byToken) {
      const record = await authenticate(store, token).catch(() => undefined);
      if (record === null) for (const close of closes) close();
    }
  };
  route('GET', '/api/v1/events', { summary: 'Server-sent events of every change that concerns the caller' }, async (req, reply) => {
    const caller = req.caller;
    const token = req.headers.authorization!.slice(7).trim();
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n: connected as ${caller.id}\n\n`);
    const send = (e: LapseEvent) => {
      if (!openStreams.has(close)) return;
      if (!e.audience.includes(caller.id) && !engine.config.isAdmin(caller.id)) return;
      res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify({ ...e, at: iso(e.at), audience: undefined })}\n\n`);
    };
    const unsubscribe = events.subscribe(send);
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    // Ends the stream when the client goes away, its token is revoked or the server shuts
    // down: a response left open keeps its connection busy, and the server from closing.
    const close = () => {
      if (!openStreams.delete(close)) return;
      clearInterval(heartbeat);
      unsubscribe();
      if (!res.writableEnded) res.end();
      if (openStreams.size === 0 && recheck) {
        clearInterval(recheck);
        recheck = null;
      }
    };
    openStreams.set(close, token);
    recheck ??= setInterval(() => void recheckStreams(), STREAM_RECHECK_MS);
    req.raw.on('close', close);
    res.on('close', close);
  });
  app.addHook('preClose', async () => {
    for (const close of [...openStreams.keys()]) close();
  });

  app.get('/api/v1/openapi.json', PUBLIC, async () => buildOpenApi(docs));
  registerPortal(app, { dir: deps.portalDir });

  return app;
}

function isApproverSomewhere(engine: Engine, userId: string): boolean {
  const user = engine.config.users.get(userId);
  if (!user) return false;
  return engine.config.config.flows.some((f) => f.approval.mode !== 'automatic' && f.approval.groups.some((g) =>
    g.conditions.some((c) => (c.attribute === 'user' && c.value.includes(userId)) || (c.attribute === 'group' && user.groups.some((gr) => c.value.includes(gr)))
      || c.attribute === 'manager' && engine.config.config.users.some((u) => u.manager === userId))));
}

function titleOf(kind: LapseError['kind']): string {
  return { invalid: 'Invalid request', unauthorized: 'Unauthorized', forbidden: 'Forbidden', 'not-found': 'Not found', conflict: 'Conflict', unavailable: 'Unavailable', 'too-many': 'Too many attempts' }[kind];
}
