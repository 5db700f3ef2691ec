// Single sign-on for the portal: whether it is on, the way out to the provider, the way
// back (a session cookie, HttpOnly and SameSite=Lax, and a CSRF token the portal can read),
// and signing out (here, and at the provider where it offers it).

import type { FastifyReply } from 'fastify';
import { appSignInProblem, SignInRefused, StepUpUnavailable, type AppSignIn, type NewSession, type SignInService } from '../../services/sign-in.ts';
import { LapseError } from '../../engine/errors.ts';
import { PUBLIC, token, type Api } from './context.ts';

export interface SignInRoutes {
  service: SignInService;
  publicUrl: string;
  cookies: { session: string; csrf: string; secure: boolean };
}

/** The cookie names: `__Host-` where they are Secure (bound to this host and path /, not settable by a subdomain). */
export function sessionCookieNames(publicUrl: string): SignInRoutes['cookies'] {
  const secure = publicUrl.startsWith('https:');
  return secure ? { session: '__Host-lapse_session', csrf: '__Host-lapse_csrf', secure } : { session: 'lapse_session', csrf: 'lapse_csrf', secure };
}

/** An API token an app receives from single sign-on. */
const tokenAnswer = {
  type: 'object', additionalProperties: false, required: ['token', 'user', 'tokenId', 'expiresAt'],
  properties: { token: { type: 'string' }, user: { type: 'string' }, tokenId: { type: 'string' }, expiresAt: { type: ['string', 'null'], format: 'date-time' } },
} as const;

const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['singleSignOn'],
  properties: { singleSignOn: { type: 'boolean', description: 'whether people sign in through the identity provider (else with a token)' } },
} as const;

export function signInRoutes(app: Api, sso: SignInRoutes | undefined): void {
  app.get('/auth/config', { schema: { summary: 'How people sign in here', response: { 200: configSchema } }, config: PUBLIC }, async () => ({ singleSignOn: sso !== undefined }));
  if (!sso) return;
  const { service, cookies } = sso;

  app.get('/auth/login', {
    schema: {
      summary: 'Start single sign-on: a redirect to the identity provider (for an app on this machine: with redirect_uri, state and code_challenge)',
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          returnTo: { type: 'string', maxLength: 2000, description: 'a path of the portal to come back to' },
          redirect_uri: { type: 'string', maxLength: 300, description: 'an app on the person\'s machine: its loopback address, e.g. http://127.0.0.1:53682/callback' },
          state: { type: 'string', maxLength: 200, description: 'the app\'s state, given back with its code' },
          code_challenge: { type: 'string', maxLength: 100, description: 'base64url(SHA-256(verifier)) (S256)' },
          name: { type: 'string', maxLength: 200, description: 'what the app\'s token will be called' },
          stepUp: { type: 'string', maxLength: 200, description: 'a flow that requires MFA: authenticate again at the provider as that flow asks (max_age, acr_values)' },
        },
      },
      response: { 302: { type: 'null', description: 'to the identity provider' } },
    },
    config: { ...PUBLIC, errors: [400, 422, 503] },
  }, async (req, reply) => {
    const q = req.query;
    let app: AppSignIn | undefined;
    if (q.redirect_uri !== undefined || q.code_challenge !== undefined) {
      app = { redirectUri: q.redirect_uri ?? '', state: q.state ?? '', challenge: q.code_challenge ?? '', name: q.name?.trim() || 'signed in from an app' };
      const problem = appSignInProblem(app);
      if (problem) throw new LapseError('invalid', problem, `query ${problem.split(' ')[0]}`);
    }
    let url: string;
    try {
      url = await service.begin(q.returnTo, app, q.stepUp);
    } catch (err) {
      if (err instanceof StepUpUnavailable) throw new LapseError('invalid', err.message, 'query stepUp');
      throw err instanceof SignInRefused ? new LapseError('unavailable', err.message) : err;
    }
    return reply.redirect(url, 302);
  });

  app.post('/auth/token', {
    schema: {
      summary: 'An app exchanges its one-time code and PKCE verifier for an API token of the person who signed in',
      body: {
        type: 'object', additionalProperties: false, required: ['code', 'code_verifier'],
        properties: { code: { type: 'string', minLength: 1, maxLength: 200 }, code_verifier: { type: 'string', minLength: 43, maxLength: 128 } },
      },
      response: { 200: tokenAnswer },
    },
    config: { ...PUBLIC, errors: [400, 401] },
  }, async (req) => {
    try {
      const got = await service.exchangeAppCode(req.body.code, req.body.code_verifier);
      return { token: got.token, user: got.userId, tokenId: got.tokenId, expiresAt: got.expiresAt === null ? null : new Date(got.expiresAt).toISOString() };
    } catch (err) {
      throw err instanceof SignInRefused ? new LapseError('unauthorized', err.message) : err;
    }
  });

  app.post('/auth/device', {
    schema: {
      summary: 'Start a sign-in for a machine without a browser (device authorization, where the provider offers it): the code to type and where',
      body: { type: 'object', additionalProperties: false, properties: { name: { type: 'string', maxLength: 200, description: 'what the token will be called' } } },
      response: {
        200: {
          type: 'object', additionalProperties: false, required: ['deviceCode', 'userCode', 'verificationUri', 'verificationUriComplete', 'expiresIn', 'interval'],
          properties: {
            deviceCode: { type: 'string', description: 'the app\'s handle for POST /auth/device/token (a secret)' },
            userCode: { type: 'string', description: 'what the person types at verificationUri' },
            verificationUri: { type: 'string' },
            verificationUriComplete: { type: ['string', 'null'], description: 'verificationUri with the code in it, where the provider gives one' },
            expiresIn: { type: 'integer', description: 'seconds' },
            interval: { type: 'integer', description: 'seconds between two polls' },
          },
        },
      },
    },
    config: { ...PUBLIC, errors: [400, 503] },
  }, async (req) => {
    try {
      const d = await service.beginDevice(req.body?.name?.trim() || 'signed in from a device');
      return { deviceCode: d.handle, userCode: d.userCode, verificationUri: d.verificationUri, verificationUriComplete: d.verificationUriComplete, expiresIn: d.expiresInSeconds, interval: d.intervalSeconds };
    } catch (err) {
      throw err instanceof SignInRefused ? new LapseError('unavailable', err.message) : err;
    }
  });

  app.post('/auth/device/token', {
    schema: {
      summary: 'Ask whether the person approved the device sign-in: 202 while waiting (ask again after interval seconds), then an API token of the person',
      body: { type: 'object', additionalProperties: false, required: ['deviceCode'], properties: { deviceCode: { type: 'string', minLength: 1, maxLength: 200 } } },
      response: {
        200: tokenAnswer,
        202: { type: 'object', additionalProperties: false, required: ['pending', 'interval'], properties: { pending: { type: 'boolean', const: true }, interval: { type: 'integer' } } },
      },
    },
    config: { ...PUBLIC, errors: [400, 401] },
  }, async (req, reply) => {
    let got: Awaited<ReturnType<SignInService['pollDevice']>>;
    try {
      got = await service.pollDevice(req.body.deviceCode);
    } catch (err) {
      throw err instanceof SignInRefused ? new LapseError('unauthorized', err.message) : err;
    }
    if ('pending' in got) return reply.code(202).send({ pending: true, interval: got.intervalSeconds });
    return { token: got.token, user: got.userId, tokenId: got.tokenId, expiresAt: got.expiresAt === null ? null : new Date(got.expiresAt).toISOString() };
  });

  app.get('/auth/callback', {
    schema: {
      summary: 'Where the identity provider sends people back: a session, then the portal',
      querystring: { type: 'object', additionalProperties: true, properties: { code: { type: 'string' }, state: { type: 'string' } } },
      response: { 303: { type: 'null', description: 'to the portal: signed in, or with sign_in_error saying why not' } },
    },
    config: PUBLIC,
  }, async (req, reply) => {
    const callback = new URL(req.url, `${sso.publicUrl}/`);
    let session: NewSession | { app: string };
    try {
      session = await service.complete(callback);
    } catch (err) {
      const reason = err instanceof SignInRefused ? err.message : 'the sign-in failed';
      return reply.redirect(`/?sign_in_error=${encodeURIComponent(reason)}`, 303);
    }
    // An app on the person's machine: back to its loopback address with the one-time code.
    if ('app' in session) return reply.redirect(session.app, 303);
    setSessionCookies(reply, cookies, session);
    return reply.redirect(session.returnTo, 303);
  });

  app.post('/auth/logout', {
    schema: {
      summary: 'Sign out: ends the session; logoutUrl signs out at the provider too, where it offers that',
      response: { 200: { type: 'object', additionalProperties: false, required: ['logoutUrl'], properties: { logoutUrl: { type: ['string', 'null'] } } } },
    },
    config: token(403),
  }, async (req, reply) => {
    const logoutUrl = req.caller.sessionId ? await service.signOut(req.caller.sessionId, req.caller.id, `${sso.publicUrl}/`) : null;
    reply.clearCookie(cookies.session, { path: '/' }).clearCookie(cookies.csrf, { path: '/' });
    return { logoutUrl };
  });
}

function setSessionCookies(reply: FastifyReply, cookies: SignInRoutes['cookies'], s: NewSession): void {
  const common = { path: '/', sameSite: 'lax' as const, secure: cookies.secure, expires: new Date(s.expiresAt) };
  reply.setCookie(cookies.session, s.secret, { ...common, httpOnly: true });
  // Read by the portal's script, sent back in the x-csrf-token header: another site can neither read it nor set it.
  reply.setCookie(cookies.csrf, s.csrfToken, { ...common, httpOnly: false });
}
