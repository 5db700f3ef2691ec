// How each person is told (their choice of email and direct messages), and the notification outbox for admins:
// what was and will be sent, what failed and why, and a failed notification retried.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { token, type Api, type RouteContext } from './context.ts';

export function notificationRoutes(app: Api, { notifications, notificationPreferences }: RouteContext): void {
  app.get('/api/v1/me/notifications', {
    schema: { summary: 'How you are told of what concerns you (email, direct messages in chat: each on or off)', response: { 200: R.notificationPreferences } },
    config: token(),
  }, async (req) => notificationPreferences.view(req.caller.id));

  app.put('/api/v1/me/notifications', {
    schema: { summary: 'Choose how you are told: email, direct messages in chat, each on or off (where the admins let people turn it off); a channel not named keeps its choice', body: S.notificationPreferencesBody, response: { 200: R.notificationPreferences } },
    config: token(400, 403, 409),
  }, async (req) => notificationPreferences.set(req.caller.id, req.body));

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
