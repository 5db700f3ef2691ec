// Requests: create, list, read, decide, cancel, revoke, extend, and the approver's inbox.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { parseTime, optionalBody, token, type Api, type RouteContext } from './context.ts';

const DECISIONS = {
  approve: 'Approve a pending request (or its pending extension)',
  deny: 'Deny a pending request (or its pending extension)',
  revoke: 'Revoke access now: the requester, an approver who approved it, or an admin',
  'mark-revoke-canceled': 'Admin: stop retrying a revoke the target cannot complete (after removing the access by hand)',
} as const;

export function requestRoutes(app: Api, { engine, queries }: RouteContext): void {
  app.post('/api/v1/requests', {
    schema: { summary: 'Request access', body: S.createRequestBody, response: { 201: R.requestView } },
    config: token(400, 403, 404, 409, 422, 503),
  }, async (req, reply) => {
    const { request, grants } = await engine.submitRequest(req.caller.id, { ...req.body, startAt: parseTime(req.body.startAt, 'startAt'), authentication: req.caller.authentication });
    reply.code(201).header('location', `/api/v1/requests/${request.id}`);
    return queries.show(request, grants, req.caller.id);
  });

  app.get('/api/v1/requests', {
    schema: {
      summary: 'List requests a page at a time, newest first: your own (scope=mine), everyone\'s (scope=all, admins) or what you approved (scope=approved-by-me, approvers)',
      querystring: S.listRequestsQuery,
      response: { 200: R.requestList },
    },
    config: token(400, 403, 422),
  }, async (req) => {
    const q = req.query;
    const page = await queries.list(req.caller, { ...q, mine: q.mine === 'true' });
    return { requests: page.rows, nextCursor: page.nextCursor };
  });

  app.get('/api/v1/requests/:id', {
    schema: { summary: 'One request, with its grants (access details for the requester)', params: S.idParams, response: { 200: R.requestView } },
    config: token(400, 404),
  }, async (req) => queries.view(req.params.id, req.caller.id));

  app.get('/api/v1/requests/:id/timeline', {
    schema: {
      summary: 'A request\'s story from its audit events: created, who could approve, decisions with their reasons, grants per integration, warnings, extensions, the revoke and who did it (its requester, its approvers and admins)',
      params: S.idParams,
      response: { 200: R.requestTimeline },
    },
    config: token(400, 403, 404),
  }, async (req) => queries.timeline(req.caller.id, req.params.id));

  app.get('/api/v1/requests/:id/access', {
    schema: { summary: 'The access details of your active request, per integration (the requester only)', params: S.idParams, response: { 200: R.accessDetails } },
    config: token(400, 403, 404, 409),
  }, async (req) => queries.accessDetails(req.caller.id, req.params.id));

  for (const [verb, summary] of Object.entries(DECISIONS) as [keyof typeof DECISIONS, string][]) {
    app.post(`/api/v1/requests/:id/${verb}`, {
      schema: { summary, params: S.idParams, body: S.decisionBody, response: { 200: R.requestView } },
      config: token(400, 403, 404, 409, 422),
      ...optionalBody,
    }, async (req) => {
      const { id } = req.params;
      const reason = req.body?.reason;
      const actor = req.caller.id;
      if (verb === 'approve') await engine.approve(actor, id, reason);
      else if (verb === 'deny') await engine.deny(actor, id, reason);
      else if (verb === 'revoke') await engine.revoke(actor, id, reason);
      else await engine.markRevokeCanceled(actor, id, reason);
      return queries.viewOf(id, actor);
    });
  }

  app.post('/api/v1/requests/:id/cancel', {
    schema: { summary: 'Cancel your pending or scheduled request', params: S.idParams, response: { 200: R.requestView } },
    config: token(400, 403, 404, 409),
  }, async (req) => {
    await engine.cancel(req.caller.id, req.params.id);
    return queries.viewOf(req.params.id, req.caller.id);
  });

  app.post('/api/v1/requests/:id/extend', {
    schema: { summary: 'Extend active access through the flow\'s approval policy', params: S.idParams, body: S.extendBody, response: { 200: R.requestView } },
    config: token(400, 403, 404, 409, 422),
  }, async (req) => {
    await engine.extend(req.caller.id, req.params.id, { ...req.body, authentication: req.caller.authentication });
    return queries.viewOf(req.params.id, req.caller.id);
  });

  app.get('/api/v1/approvals', {
    schema: { summary: 'The caller\'s inbox: requests and extensions they may decide now, oldest first, a page at a time', querystring: S.pageOnlyQuery, response: { 200: R.approvalList } },
    config: token(400),
  }, async (req) => {
    const page = await queries.approvals(req.caller.id, req.query);
    return { approvals: page.rows, nextCursor: page.nextCursor };
  });
}
