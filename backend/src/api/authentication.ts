// Authentication, decided by the route that will run (its declared access), after routing:
// a path spelt any other way reaches either the same route, and the same check, or none.
// Requests that reach no route get the 404 answer and run nothing.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BearerTokens } from '../auth/tokens.ts';
import { FailedAuthLimiter } from './rate-limit.ts';
import { problem } from './problems.ts';
import './route-access.ts';

/** The bearer token a request presents (undefined: none). */
export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

export function registerAuthentication(app: FastifyInstance, tokens: BearerTokens, isAdmin: (userId: string) => boolean): void {
  const limiter = new FailedAuthLimiter({ max: 10, windowMs: 60_000, now: () => Date.now() });
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404 || req.routeOptions.config.access === 'public') return;
    const token = bearerToken(req);
    const record = token ? await tokens.authenticate(token) : null;
    if (!record) {
      reply.header('www-authenticate', 'Bearer');
      if (token === undefined) return problem(reply, 401, 'Unauthorized', 'send a token: Authorization: Bearer <token>');
      // Only presented tokens that fail count: a guess. A valid token is never refused
      // because others failed from the same address.
      const retry = limiter.blockedFor(req.ip);
      if (retry > 0) {
        reply.header('retry-after', Math.ceil(retry / 1000));
        return problem(reply, 429, 'Too many failed sign-ins', `too many failed authentications from this address; retry in ${Math.ceil(retry / 1000)} s`);
      }
      limiter.fail(req.ip);
      return problem(reply, 401, 'Unauthorized', 'the token is not valid (unknown, malformed or revoked)');
    }
    req.caller = { id: record.userId, admin: isAdmin(record.userId), tokenId: record.id };
    await tokens.touch(record);
  });
}
