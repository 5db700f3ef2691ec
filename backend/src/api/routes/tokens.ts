// API tokens, self-service: make one (shown once), list them, revoke one; an app's token from
// single sign-on renews itself.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { token, type Api, type RouteContext } from './context.ts';

export function tokenRoutes(app: Api, { tokenService }: RouteContext): void {
  app.get('/api/v1/tokens', {
    schema: { summary: 'Your API tokens (admins: anyone\'s with user, everyone\'s with user=*)', querystring: S.listTokensQuery, response: { 200: R.tokenList } },
    config: token(400, 403),
  }, async (req) => ({ tokens: await tokenService.list(req.caller, req.query.user) }));

  app.post('/api/v1/tokens', {
    schema: { summary: 'Make an API token: shown once, expiring (default 90 days)', body: S.createTokenBody, response: { 201: R.createdToken } },
    config: token(400, 403, 422),
  }, async (req, reply) => {
    const created = await tokenService.create(req.caller, req.body);
    reply.code(201);
    return created;
  });

  app.post('/api/v1/tokens/renew', {
    schema: {
      summary: 'Renew the token this call is made with (an app\'s token from single sign-on, while the identity provider renews its person): a new token with a fresh expiry, shown once; the old one is revoked',
      response: { 201: R.createdToken },
    },
    config: token(400, 403),
  }, async (req, reply) => {
    const renewed = await tokenService.renew(req.caller);
    reply.code(201);
    return renewed;
  });

  app.delete('/api/v1/tokens/:id', {
    schema: { summary: 'Revoke one of your tokens (admins: anyone\'s)', params: S.idParams, response: { 204: { type: 'null', description: 'revoked' } } },
    config: token(400, 404),
  }, async (req, reply) => {
    await tokenService.revoke(req.caller, req.params.id);
    return reply.code(204).send(null);
  });
}
