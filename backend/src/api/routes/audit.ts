// The audit log, its verification and the activity report.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { iso } from '../views.ts';
import { parseTime, requireAdmin, token, type Api, type RouteContext } from './context.ts';

export function auditRoutes(app: Api, { queries, audit, auditStream }: RouteContext): void {
  app.get('/api/v1/audit', {
    schema: { summary: 'Audit events (admins: all; others: events of requests they can see, by requestId)', querystring: S.auditQuery, response: { 200: R.auditList } },
    config: token(400, 403, 404, 422),
  }, async (req) => {
    const q = req.query;
    const events = await queries.audit(req.caller, {
      requestId: q.requestId, actor: q.actor, action: q.action, since: parseTime(q.since, 'since'), until: parseTime(q.until, 'until'),
      afterSeq: q.afterSeq === undefined ? undefined : Number(q.afterSeq), limit: q.limit === undefined ? undefined : Number(q.limit),
    });
    return { events };
  });

  app.get('/api/v1/audit/verify', {
    schema: { summary: 'Admin: verify the audit hash chain', response: { 200: R.auditVerifyResult } },
    config: token(403),
  }, async (req) => {
    requireAdmin(req);
    const result = await audit.verify();
    return { ...result, checkpoint: result.checkpoint && { ...result.checkpoint, at: iso(result.checkpoint.at) } };
  });

  app.get('/api/v1/audit/stream', {
    schema: { summary: 'Admin: the audit stream\'s subscribers: last event delivered, lag, failures', response: { 200: R.auditStreamStatus } },
    config: token(403),
  }, async (req) => {
    requireAdmin(req);
    const subscribers = (await auditStream?.status()) ?? [];
    return {
      subscribers: subscribers.map((s) => ({
        ...s, deliveredAt: iso(s.deliveredAt), retryAt: iso(s.retryAt), lastErrorAt: iso(s.lastErrorAt), failing: s.attempts > 0,
      })),
    };
  });

  app.get('/api/v1/reports/activity.csv', {
    schema: {
      summary: 'Admin: activity report, one row per request and integration',
      querystring: S.reportQuery,
      produces: ['text/csv'],
      response: { 200: { description: 'RFC 4180 CSV: one row per request and integration', content: { 'text/csv': { schema: R.activityCsv } } } },
    },
    config: token(400, 403, 422),
  }, async (req, reply) => {
    requireAdmin(req);
    const since = parseTime(req.query.since, 'since') ?? 0;
    const until = parseTime(req.query.until, 'until') ?? Number.MAX_SAFE_INTEGER;
    reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="lapse-activity.csv"');
    return queries.activityCsv(since, until);
  });
}
