// What every router receives, and the few helpers routes share: the typed Fastify instance
// (handler types inferred from the route schemas), the admin check and time parsing.

import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JsonSchemaToTsProvider } from '@fastify/type-provider-json-schema-to-ts';
import type { Engine } from '../../engine/engine.ts';
import { LapseError } from '../../engine/errors.ts';
import type { RequestQueries } from '../../services/request-queries.ts';
import type { IntegrationStatus } from '../../services/integration-status.ts';
import type { AuditService } from '../../services/audit-service.ts';
import type { TokenService } from '../../services/token-service.ts';
import type { MfaEnrolments } from '../../services/mfa-enrolment.ts';
import type { NotificationAdmin } from '../../services/notification-admin.ts';
import type { NotificationPreferences } from '../../services/notification-preferences.ts';
import type { Clock } from '../../../../common/clock.ts';
import type { Logger } from '../../logger.ts';
import type { EventBus } from '../../engine/events.ts';
import type { EventLog } from '../../services/event-log.ts';
import type { BearerTokens } from '../../auth/tokens.ts';
import type { Metrics } from '../../metrics.ts';
import type { ConfigStatus } from '../../../../common/api/types.ts';
import type { ReloadResult } from '../../services/integration-registry.ts';
import type { ReconcileReport } from '../../engine/reconcile.ts';
import type { AuditStreamStatus } from '../../audit/stream.ts';
import type { Discovery } from '../../services/discovery.ts';
import '../route-access.ts';

export type Api = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, JsonSchemaToTsProvider>;

export interface RouteContext {
  engine: Engine;
  queries: RequestQueries;
  integrations: IntegrationStatus;
  audit: AuditService;
  /** The audit stream's subscribers (GET /api/v1/audit/stream); absent: none configured. */
  auditStream?: { status(): Promise<AuditStreamStatus[]> };
  tokenService: TokenService;
  mfaEnrolments: MfaEnrolments;
  notifications: NotificationAdmin;
  notificationPreferences: NotificationPreferences;
  clock: Clock;
  events: EventBus;
  /** The events stream's recent past, replayed to a client that reconnects; absent: such a client is told to reload. */
  eventLog?: EventLog;
  tokens: BearerTokens;
  metrics: Metrics;
  /** Throws when the store cannot be reached (GET /readyz). */
  ping: () => Promise<void>;
  /** Re-reads the configuration file (POST /admin/config/reload). */
  reload: (opts?: { revokeRemoved?: boolean; by?: string }) => Promise<ReloadResult>;
  /** Which configuration file is in force, since when, and the last reload (GET /admin/config); absent: the route answers 503. */
  configStatus?: () => ConfigStatus;
  /** Reconciliation (POST /admin/reconcile); absent: the route answers 503. */
  reconcile?: (by: string) => Promise<ReconcileReport>;
  /** The inventory and its discovery; absent: GET /api/v1/resources lists declared resources and a sync answers 503. */
  discovery?: Discovery;
  logger: Logger;
}

export const PUBLIC = { access: 'public' } as const;

/** A token route's config, with the error statuses it may answer besides 401 and 429. */
export const token = (...errors: number[]) => ({ access: 'token', errors }) as const;

export function requireAdmin(req: FastifyRequest): void {
  if (!req.caller.admin) throw new LapseError('forbidden', 'this needs the admin role');
}

/** An ISO 8601 date-time as ms; a clear error naming the field where it is not one. */
export function parseTime(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new LapseError('invalid', `${text} is not a date-time`, field);
  return t;
}

/** For a body whose fields are all optional: a request without one is read as `{}` (`POST …/revoke`). */
export const optionalBody = {
  preValidation: async (req: FastifyRequest) => {
    if (req.body === undefined) req.body = {};
  },
};
