// The inventory: every resource the integrations offer (declared ∪ discovered), with where
// each came from, for admins and approvers; and a sync of discovery on demand (admin).

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { LapseError, invalid } from '../../engine/errors.ts';
import { filterInventory, inventoryList, type ResourceFilter } from '../../services/discovery.ts';
import { isApproverSomewhere } from '../../services/request-queries.ts';
import { iso } from '../views.ts';
import { optionalBody, requireAdmin, token, type Api, type RouteContext } from './context.ts';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;

export function resourceRoutes(app: Api, { engine, discovery }: RouteContext): void {

  app.get('/api/v1/resources', {
    schema: {
      summary: 'Admins and approvers: the inventory, declared and discovered resources with their tags and where each came from (filters: integration, type, tag key=value, path prefix; a page at a time)',
      querystring: S.resourcesQuery,
      response: { 200: R.resourceList },
    },
    // 422: a cursor nextCursor did not give, or a limit out of range.
    config: token(400, 403, 422),
  }, async (req) => {
    if (!req.caller.admin && !isApproverSomewhere(engine, req.caller.id)) throw new LapseError('forbidden', 'the inventory is for admins and approvers');
    const q = req.query;
    const limit = q.limit === undefined ? DEFAULT_LIMIT : Number(q.limit);
    if (limit < 1 || limit > MAX_LIMIT) throw invalid(`limit must be from 1 to ${MAX_LIMIT}; got ${q.limit}`, 'query limit');
    const filter: ResourceFilter = { limit: limit + 1 };
    if (q.integration !== undefined) filter.integration = q.integration;
    if (q.type !== undefined) filter.type = q.type;
    if (q.prefix !== undefined) filter.pathPrefix = q.prefix;
    if (q.tag !== undefined) {
      const at = q.tag.indexOf('=');
      filter.tag = { key: q.tag.slice(0, at), value: q.tag.slice(at + 1) };
    }
    if (q.cursor !== undefined) filter.after = readCursor(q.cursor);
    // Without discovery (a server built without it), the declared resources alone.
    const page = discovery ? discovery.list(filter) : filterInventory(inventoryList(engine.config.config, new Map()), filter);
    const more = page.length > limit;
    const shown = more ? page.slice(0, limit) : page;
    const last = shown.at(-1);
    return {
      resources: shown.map((r) => ({
        integration: r.integration, type: r.type, path: r.path, name: r.name, parent: r.parent ?? null, tags: r.tags, origin: r.origin,
        firstSeenAt: iso(r.firstSeen), lastSeenAt: iso(r.lastSeen),
      })),
      nextCursor: more && last ? Buffer.from(JSON.stringify([last.integration, last.type, last.path])).toString('base64url') : null,
    };
  });

  app.post('/api/v1/admin/resources/sync', {
    schema: {
      summary: 'Admin: discover the resources of one integration, or of every one that discovers, now; answers what each sync found',
      body: S.resourceSyncBody,
      response: { 200: R.resourceSyncResult },
    },
    // 404: no such integration; 422: it does not discover; 503: no discovery on this server.
    config: token(400, 403, 404, 422, 503),
    ...optionalBody,
  }, async (req) => {
    requireAdmin(req);
    if (!discovery) throw new LapseError('unavailable', 'discovery is not available on this server');
    const id = req.body?.integration;
    if (id !== undefined) {
      if (!engine.config.integrations.has(id)) throw new LapseError('not-found', `no integration "${id}"`);
      if (!discovery.discovers(id)) throw invalid(`integration "${id}" does not discover resources; it offers its declared ones`, 'integration');
    }
    const results = await discovery.syncNow(id);
    return { results };
  });
}

/** A cursor as nextCursor gave it; a clear error for anything else. */
function readCursor(text: string): [string, string, string] {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'string')) return v as [string, string, string];
  } catch {
    // falls through to the error below
  }
  throw invalid('cursor is not one that nextCursor gave', 'query cursor');
}
