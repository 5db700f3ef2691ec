// Favorites: saved requests, suggestions from recent ones, and requesting from a favorite.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import type { NewFavorite } from '../../../../common/api/types.ts';
import { LapseError } from '../../engine/errors.ts';
import { favoriteView } from '../views.ts';
import { optionalBody, parseTime, token, type Api, type RouteContext } from './context.ts';

const favoriteInput = (b: NewFavorite) => {
  if (!b.flowId) throw new LapseError('invalid', 'flowId is required (or fromRequestId)', 'flowId');
  if (!b.name) throw new LapseError('invalid', 'name is required', 'name');
  return { name: b.name, flowId: b.flowId, bundleId: b.bundleId, entitlements: b.entitlements, duration: b.duration, justification: b.justification };
};

export function favoriteRoutes(app: Api, { engine, queries }: RouteContext): void {
  app.get('/api/v1/favorites', {
    schema: { summary: 'Your favorites and the 3 most recent requests as suggestions', response: { 200: R.favorites } },
    config: token(),
  }, async (req) => queries.favorites(req.caller.id));

  app.post('/api/v1/favorites', {
    schema: { summary: 'Save a favorite, from scratch or from one of your requests (fromRequestId)', body: S.favoriteBody, response: { 201: R.favorite } },
    config: token(400, 403, 404, 422),
  }, async (req, reply) => {
    const b = req.body;
    const f = b.fromRequestId ? await engine.favoriteFromRequest(req.caller.id, b.fromRequestId, b.name) : await engine.saveFavorite(req.caller.id, favoriteInput(b));
    reply.code(201);
    return favoriteView(f);
  });

  app.put('/api/v1/favorites/:id', {
    schema: { summary: 'Replace a favorite', params: S.idParams, body: S.favoriteBody, response: { 200: R.favorite } },
    config: token(400, 404, 422),
  }, async (req) => favoriteView(await engine.saveFavorite(req.caller.id, favoriteInput(req.body), req.params.id)));

  app.delete('/api/v1/favorites/:id', {
    schema: { summary: 'Delete a favorite', params: S.idParams, response: { 204: { type: 'null', description: 'deleted' } } },
    config: token(400, 404),
  }, async (req, reply) => {
    await queries.deleteFavorite(req.caller.id, req.params.id);
    return reply.code(204).send(null);
  });

  app.post('/api/v1/favorites/:id/request', {
    schema: { summary: 'Request access from a favorite in one call', params: S.idParams, body: S.favoriteRequestBody, response: { 201: R.requestView } },
    config: token(400, 403, 404, 409, 422, 503),
    ...optionalBody,
  }, async (req, reply) => {
    const b = req.body ?? {};
    const { request, grants } = await engine.requestFromFavorite(req.caller.id, req.params.id, { ...b, startAt: parseTime(b.startAt, 'startAt'), authentication: req.caller.authentication });
    reply.code(201).header('location', `/api/v1/requests/${request.id}`);
    return queries.show(request, grants, req.caller.id);
  });
}
