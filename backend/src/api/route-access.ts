// Who may call each route. Every route declares it (`config.access`); one that does not is
// refused when it is registered, and the authentication hook reads it from the route that
// will run, never from the URL.

import type { FastifyInstance } from 'fastify';
import type { ProviderAuthentication } from '../domain/sign-in.ts';

/**
 * `public`: no token (health, metrics, the OpenAPI document, the portal's files);
 * `token`: a valid bearer token, or a session from single sign-on (its cookie, with the
 * CSRF token for a request that changes something).
 */
export type RouteAccess = 'public' | 'token';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * Who is calling, and how they proved it: a bearer token or a sign-in session (cookie),
     * and how the identity provider authenticated them when single sign-on made it (null: not).
     */
    caller: { id: string; admin: boolean; tokenId: string | null; sessionId: string | null; authentication: ProviderAuthentication | null };
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
    /** The error statuses the route answers besides those of authentication (for the OpenAPI document). */
    errors?: readonly number[];
  }
  interface FastifyInstance {
    /** Every route with the access it declared, in the order they were registered. */
    routeAccess: { method: string; url: string; access: RouteAccess }[];
  }
}

/**
 * Refuses, when it is registered, any route that does not declare its access, and keeps the
 * table of routes and their access (`app.routeAccess`). Call before registering routes.
 */
export function enforceRouteAccess(app: FastifyInstance): void {
  const table: FastifyInstance['routeAccess'] = [];
  app.decorate('routeAccess', table);
  app.addHook('onRoute', (opts) => {
    const access = (opts.config as { access?: unknown } | undefined)?.access;
    const methods = Array.isArray(opts.method) ? opts.method : [opts.method];
    if (access !== 'public' && access !== 'token') {
      throw new Error(`route ${methods.join(',')} ${opts.url} does not declare its access (config.access: 'public' or 'token'); got ${JSON.stringify(access)}`);
    }
    for (const method of methods) table.push({ method, url: opts.url, access });
  });
}
