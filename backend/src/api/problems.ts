// Errors as application/problem+json: the engine's errors by kind, schema validation
// failures naming each field at fault, and everything else as a logged 500.

import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LapseError, StepUpRequired } from '../engine/errors.ts';
import type { Logger } from '../logger.ts';
import { BadCursor } from './cursor.ts';

const PROBLEM = 'application/problem+json';

export const STATUS_BY_KIND: Record<LapseError['kind'], number> = {
  invalid: 422, unauthorized: 401, forbidden: 403, 'not-found': 404, conflict: 409, unavailable: 503, 'too-many': 429,
};

const TITLE_BY_KIND: Record<LapseError['kind'], string> = {
  invalid: 'Invalid request', unauthorized: 'Unauthorized', forbidden: 'Forbidden', 'not-found': 'Not found', conflict: 'Conflict', unavailable: 'Unavailable', 'too-many': 'Too many attempts',
};

export function problem(reply: FastifyReply, status: number, title: string, detail: string, extra: Record<string, unknown> = {}) {
  return reply.code(status).type(PROBLEM).send({ type: 'about:blank', title, status, detail, ...extra });
}

/** `/entitlements/0/permission` → `entitlements[0].permission` */
export function fieldPath(instancePath: string, extra?: string): string {
  const parts = instancePath.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function errorHandler(logger: Logger, bodyLimit: number) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof LapseError) {
      if (err.retryAfterMs !== undefined) reply.header('retry-after', Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
      // A step-up names the flow and where the person signs in again for it (see GET /auth/login).
      const stepUp = err instanceof StepUpRequired ? { stepUp: { flowId: err.flowId, signIn: `/auth/login?stepUp=${encodeURIComponent(err.flowId)}` } } : {};
      return problem(reply, STATUS_BY_KIND[err.kind], TITLE_BY_KIND[err.kind], err.message, { ...(err.field ? { field: err.field } : {}), ...stepUp });
    }
    if (err instanceof BadCursor) return problem(reply, 400, 'Invalid request', `${err.field}: ${err.message}`, { field: err.field });
    if (err.validation) {
      const errors = err.validation.map((v) => {
        const params = v.params as Record<string, unknown>;
        const field = fieldPath(v.instancePath, typeof params.missingProperty === 'string' ? params.missingProperty : typeof params.additionalProperty === 'string' ? params.additionalProperty : undefined);
        const where = err.validationContext === 'body' ? '' : `${err.validationContext} `;
        let message = v.message ?? 'is invalid';
        if (v.keyword === 'additionalProperties') message = 'is not a known field';
        if (v.keyword === 'required') message = 'is required';
        if (v.keyword === 'enum') message = `must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
        return { field: `${where}${field || '(body)'}`, message };
      });
      return problem(reply, 400, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { field: errors[0]?.field, errors });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return problem(reply, 413, 'Body too large', `the body is larger than ${bodyLimit} bytes`);
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return problem(reply, 415, 'Unsupported media type', 'send application/json');
    if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err.statusCode === 400) return problem(reply, 400, 'Invalid request', err.message);
    logger.error({ route: req.routeOptions.url, err }, 'unhandled error');
    return problem(reply, 500, 'Internal error', 'the server failed to handle this request; it has been logged');
  };
}
