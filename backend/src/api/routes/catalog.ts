// The caller, what they may request now, and the integrations' health.

import type { FastifyTypeProviderDefault } from 'fastify';
import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { CatalogCache } from '../catalog-cache.ts';
import { requireAdmin, token, type Api, type RouteContext } from './context.ts';

const JSON_TYPE = 'application/json; charset=utf-8';

export function catalogRoutes(app: Api, { engine, queries, integrations, clock }: RouteContext): void {
  app.get('/api/v1/me', {
    schema: { summary: 'The caller: identity and roles', response: { 200: R.me } },
    config: token(),
  }, async (req) => queries.me(req.caller));

  // A catalog is sent as the JSON text CatalogCache keeps (built from the schema's type,
  // checked by `satisfies Catalog` there), so this route's reply is text, not an object the
  // schema's serializer would write: the route is declared without the schema-typed reply.
  const catalogs = new CatalogCache();
  app.withTypeProvider<FastifyTypeProviderDefault>().get('/api/v1/catalog', {
    schema: { summary: 'What the caller may request now (flows, entitlements, bundles), with the reason where a flow is unavailable', response: { 200: R.catalog } },
    config: token(),
  }, async (req, reply) => reply.type(JSON_TYPE).send(catalogs.bodyFor(engine.config, req.caller.id, clock.now(), integrations.unhealthy())));

  app.get('/api/v1/integrations', {
    schema: { summary: 'Admin: integrations, their type, health (last check; check=true checks now) and discovery', querystring: S.integrationsQuery, response: { 200: R.integrationList } },
    config: token(400, 403),
  }, async (req) => {
    // The admins' view (requesters see an unhealthy integration in the catalog's flows); check=true calls every target.
    requireAdmin(req);
    return integrations.list(req.query.check === 'true');
  });
}
