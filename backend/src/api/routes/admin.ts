// Admin actions: the panic button, configuration reload and status, and reconciliation.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { LapseError } from '../../engine/errors.ts';
import { iso } from '../views.ts';
import { problem } from '../problems.ts';
import { optionalBody, requireAdmin, token, type Api, type RouteContext } from './context.ts';

export function adminRoutes(app: Api, { engine, reload, reconcile, configStatus }: RouteContext): void {
  app.post('/api/v1/admin/revoke-all', {
    schema: { summary: 'Admin: revoke everything active that matches a filter (the panic button)', body: S.revokeAllBody, response: { 200: R.revokeAllResult } },
    config: token(400, 403, 422),
    ...optionalBody,
  }, async (req) => {
    requireAdmin(req);
    const { reason, ...filter } = req.body ?? {};
    return engine.revokeAll(req.caller.id, filter, reason);
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
