// The notification outbox for admins: what was and will be sent, what failed and why, and a
// failed notification retried.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { token, type Api, type RouteContext } from './context.ts';

export function notificationRoutes(app: Api, { notifications }: RouteContext): void {
  app.get('/api/v1/notifications', {
    schema: { summary: 'Notifications in the outbox, newest first (admins): pending, delivered or failed, with the last error', querystring: S.listNotificationsQuery, response: { 200: R.notificationList } },
    config: token(400, 403),
  }, async (req) => ({
    notifications: await notifications.list(req.caller, req.query.status, Math.min(1000, req.query.limit === undefined ? 100 : Number(req.query.limit) || 100)),
  }));

  app.post('/api/v1/notifications/:key/retry', {
    schema: { summary: 'Deliver a failed notification again (admins): pending, due now, its attempts counted afresh', params: S.notificationKeyParams, response: { 204: { type: 'null', description: 'pending again' } } },
    config: token(400, 403, 404),
  }, async (req, reply) => {
    await notifications.retry(req.caller, req.params.key);
    return reply.code(204).send(null);
  });
}
