// Admin actions: the panic button, configuration reload and status, and reconciliation.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { LapseError } from '../../engine/errors.ts';
import type { BulkFailure } from '../../engine/revoke-all.ts';
import { iso } from '../views.ts';
import { problem, STATUS_BY_KIND } from '../problems.ts';
import { optionalBody, requireAdmin, token, type Api, type RouteContext } from './context.ts';

/** A bulk action's failures, each with the status a call for that id alone would have answered. */
const withStatus = (failed: BulkFailure[]) => failed.map((f) => ({ id: f.id, error: f.error, status: STATUS_BY_KIND[f.kind] }));

export function adminRoutes(app: Api, { engine, queries, reload, reconcile, configStatus }: RouteContext): void {
  app.post('/api/v1/admin/revoke-all', {
    schema: {
      summary: 'Admin: revoke everything scheduled, granting or active that matches a filter (the panic button); with expectRequests, refused (409) when the preview\'s count no longer holds',
      body: S.revokeAllBody,
      response: { 200: R.revokeAllResult },
    },
    config: token(400, 403, 409, 422),
    ...optionalBody,
  }, async (req) => {
    requireAdmin(req);
    const { reason, expectRequests, ...filter } = req.body ?? {};
    return engine.revokeAll(req.caller.id, filter, reason, expectRequests);
  });

  app.post('/api/v1/admin/revoke-all/preview', {
    schema: { summary: 'Admin: how many requests, grants and people the panic button would end with this filter now (nothing is revoked)', body: S.revokeAllPreviewBody, response: { 200: R.revokeAllPreview } },
    config: token(400, 403),
    ...optionalBody,
  }, async (req) => {
    requireAdmin(req);
    return engine.previewRevokeAll(req.caller.id, req.body ?? {});
  });

  app.get('/api/v1/admin/stuck-revocations', {
    schema: { summary: 'Admin: requests in revoking, newest first, with failed attempts, last error and next retry, a page at a time', querystring: S.pageOnlyQuery, response: { 200: R.stuckRevocationList } },
    config: token(400, 403),
  }, async (req) => {
    requireAdmin(req);
    const page = await queries.stuckRevocations(req.caller, req.query);
    return { revocations: page.rows, nextCursor: page.nextCursor };
  });

  app.post('/api/v1/admin/retry-revoke', {
    schema: { summary: 'Admin: retry now the revokes of these requests stuck in revoking; each id retried or listed in failed with why', body: S.bulkIdsBody, response: { 200: R.bulkRetryResult } },
    config: token(400, 403, 422),
  }, async (req) => {
    requireAdmin(req);
    const out = await engine.retryRevokesNow(req.caller.id, req.body.ids);
    return { retried: out.retried, failed: withStatus(out.failed) };
  });

  app.post('/api/v1/admin/mark-revoke-canceled', {
    schema: {
      summary: 'Admin: mark these revokes canceled (access removed by hand on the target), with one reason; each id marked or listed in failed with why',
      body: S.bulkMarkRevokeCanceledBody,
      response: { 200: R.bulkMarkRevokeCanceledResult },
    },
    config: token(400, 403, 422),
  }, async (req) => {
    requireAdmin(req);
    const out = await engine.markRevokesCanceled(req.caller.id, req.body.ids, req.body.reason);
    return { canceled: out.canceled, failed: withStatus(out.failed) };
  });

  app.post('/api/v1/admin/config/reload', {
    schema: {
      summary: 'Admin: re-read the configuration file and apply it (integrations added, changed and removed); answers what changed',
      body: S.reloadBody,
      response: { 200: R.reloadResult },
    },
    // 409: an integration removed while requests hold grants on it (listed in `requests`); 422: a bad file, or an integration that cannot be used.
    config: token(400, 403, 409, 422),
    ...optionalBody,
  }, async (req, reply) => {
    requireAdmin(req);
    const result = await reload({ revokeRemoved: req.body?.revokeRemoved === true, by: req.caller.id });
    if (!result.ok) {
      if (result.holding) return problem(reply, 409, 'Configuration refused', result.errors, { requests: result.holding });
      return problem(reply, 422, 'Configuration refused', result.errors, { errors: result.errors.split('\n') });
    }
    return { status: 'reloaded' as const, ...result.changes };
  });

  app.get('/api/v1/admin/config', {
    schema: { summary: 'Admin: which configuration file is in force, since when, and the last reload (when, who, refused with which errors or what it changed); never the file\'s values', response: { 200: R.configStatus } },
    config: token(403, 503),
  }, async (req) => {
    requireAdmin(req);
    if (!configStatus) throw new LapseError('unavailable', 'the configuration status is not available on this server');
    return configStatus();
  });

  app.post('/api/v1/admin/reconcile', {
    schema: { summary: 'Admin: remove what Lapse created on the targets that no active request covers, and report it', response: { 200: R.reconcileReport } },
    config: token(403, 503),
  }, async (req) => {
    requireAdmin(req);
    if (!reconcile) throw new LapseError('unavailable', 'reconciliation is not available on this server');
    const report = await reconcile(req.caller.id);
    return { ...report, at: iso(report.at) };
  });
}
