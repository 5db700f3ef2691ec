// Liveness, readiness and Prometheus metrics: public, for load balancers and scrapers.

import * as R from '../../../../common/api/responses.ts';
import { problem } from '../problems.ts';
import { PUBLIC, type Api, type RouteContext } from './context.ts';

export function healthRoutes(app: Api, { ping, metrics }: RouteContext): void {
  app.get('/healthz', { schema: { summary: 'The process answers', response: { 200: R.health } }, config: PUBLIC }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { summary: 'The store answers', response: { 200: R.health } }, config: { ...PUBLIC, errors: [503] } }, async (_req, reply) => {
    try {
      await ping();
      return { status: 'ready' as const };
    } catch (err) {
      return problem(reply, 503, 'Not ready', `the store is unreachable: ${String(err)}`);
    }
  });

  app.get('/metrics', {
    schema: {
      summary: 'Prometheus metrics (text exposition format)',
      produces: ['text/plain'],
      response: { 200: { description: 'the Prometheus text format, version 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
    config: PUBLIC,
  }, async (_req, reply) => {
    reply.type(metrics.contentType);
    return metrics.text();
  });
}
