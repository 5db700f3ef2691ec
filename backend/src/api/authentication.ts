// Authentication, decided by the route that will run (its declared access), after routing:
// a path spelt any other way reaches either the same route, and the same check, or none.
// Requests that reach no route get the 404 answer and run nothing. A caller proves who they
// are with a bearer token (scripts, the CLI, the tray) or a session cookie from single
// sign-on (the portal); with the cookie, a request that changes something must also carry
// the session's CSRF token in a header, which another site cannot read or set.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { BearerTokens } from '../auth/tokens.ts';
import { csrfMatches, type SignInService } from '../services/sign-in.ts';
import { FailedAuthLimiter } from './rate-limit.ts';
import { problem } from './problems.ts';
import './route-access.ts';

/** The bearer token a request presents (undefined: none). */
export function bearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
}

/** The header a cookie-authenticated request that changes something carries the CSRF token in. */
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionCookies {
  service: SignInService;
  /** The session cookie's name. */
  name: string;
}

export function registerAuthentication(app: FastifyInstance, tokens: BearerTokens, users: { isAdmin(userId: string): boolean; isKnown(userId: string): boolean }, sessions?: SessionCookies): void {
  const limiter = new FailedAuthLimiter({ max: 10, windowMs: 60_000, now: () => Date.now() });
  app.addHook('onRequest', async (req, reply) => {
    if (req.is404 || req.routeOptions.config.access === 'public') return;
    const token = bearerToken(req);
    const cookie = sessions && token === undefined ? req.cookies?.[sessions.name] : undefined;
    if (sessions && cookie) {
      const session = await sessions.service.authenticate(cookie);
      if (!session) {
        return problem(reply, 401, 'Unauthorized', 'your session has ended (signed out, expired, or you are no longer a Lapse user): sign in again');
      }
      if (!SAFE_METHODS.has(req.method) && !csrfMatches(headerValue(req.headers[CSRF_HEADER]), session.csrfHash)) {
        return problem(reply, 403, 'Forbidden', `a change made with a session cookie needs the session's CSRF token in the ${CSRF_HEADER} header`);
      }
      req.caller = { id: session.userId, admin: users.isAdmin(session.userId), tokenId: null, sessionId: session.sessionId, authentication: session.authentication };
      return;
    }
    const record = token ? await tokens.authenticate(token) : null;
    if (!record) {
      reply.header('www-authenticate', 'Bearer');
      if (token === undefined) return problem(reply, 401, 'Unauthorized', sessions ? 'sign in, or send a token: Authorization: Bearer <token>' : 'send a token: Authorization: Bearer <token>');
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
    // A token outlives nothing: its person must still be a Lapse user.
    if (!users.isKnown(record.userId)) {
      reply.header('www-authenticate', 'Bearer');
      return problem(reply, 401, 'Unauthorized', 'the token\'s user is no longer a Lapse user');
    }
    req.caller = { id: record.userId, admin: users.isAdmin(record.userId), tokenId: record.id, sessionId: null, authentication: record.authentication ?? null };
    await tokens.touch(record);
  });
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
