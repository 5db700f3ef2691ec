// Two-factor authentication (TOTP) for flows that require MFA: the caller's status, setting
// it up (the secret shown once) and confirming it with a code, removing their own (with a
// code), and an admin's reset of another person's.

import * as S from '../../../../common/api/schemas.ts';
import * as R from '../../../../common/api/responses.ts';
import { optionalBody, token, type Api, type RouteContext } from './context.ts';

export function mfaRoutes(app: Api, { mfaEnrolments }: RouteContext): void {
  app.get('/api/v1/mfa', {
    schema: { summary: 'Your two-factor authentication: none, pending (set up, not confirmed), enrolled, or configured by the admin', response: { 200: R.mfaStatus } },
    config: token(),
  }, async (req) => mfaEnrolments.status(req.caller.id));

  app.post('/api/v1/mfa/enrolment', {
    schema: { summary: 'Set up your TOTP factor (replacing one not yet confirmed): the secret, its otpauth URI and a QR code, shown this once', response: { 201: R.mfaEnrolmentStarted } },
    config: token(409),
  }, async (req, reply) => {
    const started = await mfaEnrolments.start(req.caller.id);
    reply.code(201).header('cache-control', 'no-store');
    return started;
  });

  app.post('/api/v1/mfa/enrolment/confirm', {
    schema: { summary: 'Confirm your factor with a code from it; from then on flows that require MFA take its codes', body: S.mfaConfirmBody, response: { 200: R.mfaStatus } },
    config: token(400, 409, 422),
  }, async (req) => mfaEnrolments.confirm(req.caller.id, req.body.code));

  app.delete('/api/v1/mfa', {
    schema: { summary: 'Remove your own factor: a confirmed one needs a current code from it', body: S.mfaRemoveBody, response: { 204: { type: 'null', description: 'removed' } } },
    config: token(400, 404, 409, 422),
    ...optionalBody,
  }, async (req, reply) => {
    await mfaEnrolments.removeOwn(req.caller.id, req.body?.code);
    return reply.code(204).send(null);
  });

  app.delete('/api/v1/users/:id/mfa', {
    schema: { summary: 'Admin: reset a person\'s factor (they set up a new one)', params: S.idParams, response: { 204: { type: 'null', description: 'reset' } } },
    config: token(400, 403, 404, 409),
  }, async (req, reply) => {
    await mfaEnrolments.reset(req.caller, req.params.id);
    return reply.code(204).send(null);
  });
}
