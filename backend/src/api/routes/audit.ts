// The audit log, its verification and the activity report.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { iso } from '../views.ts';
import { problem } from '../problems.ts';
import { decodeAuditCursor, type AuditCursor } from '../../domain/audit-cursor.ts';
import { parseTime, requireAdmin, token, type Api, type RouteContext } from './context.ts';

/** The query's cursor read back, or the reason it cannot be (a 400 naming the field). */
function readCursor(q: { cursor?: string; order?: 'asc' | 'desc'; afterSeq?: string }): AuditCursor | undefined | { error: string; field: string } {
  if (q.cursor === undefined) return undefined;
  let c: AuditCursor;
  try {
    c = decodeAuditCursor(q.cursor);
  } catch (err) {
    return { error: `${(err as Error).message}: start again without it`, field: 'query cursor' };
  }
  if (q.order !== undefined && q.order !== c.order) return { error: `the cursor continues a list in ${c.order} order, not ${q.order}`, field: 'query order' };
  if (q.afterSeq !== undefined && c.order === 'desc') return { error: 'afterSeq bounds a newest-first list from below only without a cursor', field: 'query afterSeq' };
  return c;
}

export function auditRoutes(app: Api, { queries, audit, auditStream }: RouteContext): void {
  app.get('/api/v1/audit', {
    schema: {
      summary: 'Audit events, a page at a time (admins: all, with the Activity filters; others: the events of a request they can see, by requestId)',
      querystring: S.auditQuery,
      response: { 200: R.auditList },
    },
    config: token(400, 403, 404, 422),
  }, async (req, reply) => {
    const q = req.query;
    const cursor = readCursor(q);
    if (cursor && 'error' in cursor) return problem(reply, 400, 'Invalid request', cursor.error, { field: cursor.field });
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (limit < 1 || limit > S.AUDIT_PAGE_MAX) return problem(reply, 400, 'Invalid request', `limit must be between 1 and ${S.AUDIT_PAGE_MAX}`, { field: 'query limit' });
    return queries.audit(req.caller, {
      requestId: q.requestId, actor: q.actor, action: q.action, user: q.user, flowId: q.flow, integration: q.integration, label: q.label,
      since: parseTime(q.since, 'since'), until: parseTime(q.until, 'until'),
      afterSeq: q.afterSeq === undefined ? undefined : Number(q.afterSeq), order: q.order, cursor, limit,
    });
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
      summary: 'Admin: activity report, one row per request and integration, for the Activity filters (user, flow, integration, label, time)',
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
    const { user, flow, integration, label } = req.query;
    return queries.activityCsv({ since, until, user, flow, integration, label });
  });
}
