// JSON Schemas of what the API answers, one per response body. Fastify serializes each
// answer through its schema (a field not listed here is never sent), the OpenAPI document
// shows them, and the wire types in types.ts are derived from them.

import { REQUEST_STATUSES, GRANT_STATUSES } from '../request-status.ts';

const text = { type: 'string' } as const;
const textOrNull = { type: ['string', 'null'] } as const;
/** An instant as ISO 8601 (UTC). */
const instant = { type: 'string', format: 'date-time' } as const;
const instantOrNull = { type: ['string', 'null'], format: 'date-time' } as const;
const texts = { type: 'array', items: text } as const;
const approvalMode = { type: 'string', enum: ['automatic', 'anyOf', 'allOf'] } as const;

export const entitlement = {
  type: 'object',
  additionalProperties: false,
  required: ['integration', 'resourceType', 'resource', 'permission'],
  properties: {
    integration: text,
    resourceType: text,
    /** The resource's path inside its integration: `name`, or `parent/name`. */
    resource: { type: 'string', description: 'the resource\'s path inside its integration: name, or parent/name' },
    permission: text,
  },
} as const;
const entitlements = { type: 'array', items: entitlement } as const;

/** A failure, as application/problem+json (RFC 9457). */
export const problem = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: text,
    title: text,
    status: { type: 'integer' },
    detail: text,
    field: { type: 'string', description: 'the field at fault: justification, entitlements[0].permission, query status' },
    errors: {
      type: 'array',
      description: 'every fault, where there are several',
      items: {
        anyOf: [
          { type: 'object', required: ['field', 'message'], properties: { field: text, message: text } },
          text,
        ],
      },
    },
    stepUp: {
      type: 'object',
      description: 'a flow that requires MFA needs a fresh sign-in at the identity provider first: open signIn (a path of this server) in a browser, or run `lapse login --step-up FLOW`',
      required: ['flowId', 'signIn'],
      properties: { flowId: text, signIn: text },
    },
    requests: {
      type: 'array',
      description: 'a configuration reload refused because it removes integrations that these requests still hold grants on',
      items: {
        type: 'object',
        required: ['id', 'integration', 'requester', 'flowId', 'status'],
        properties: { id: text, integration: text, requester: text, flowId: text, status: text },
      },
    },
  },
} as const;

export const me = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'email', 'name', 'groups', 'roles', 'expiryWarnings'],
  properties: {
    id: text,
    email: textOrNull,
    name: textOrNull,
    groups: texts,
    roles: { type: 'array', items: { type: 'string', enum: ['requester', 'approver', 'admin'] } },
    /** The server's `settings.expiryWarnings`: how long before expiry it warns the requester, latest first. */
    expiryWarnings: { type: 'array', items: text, description: 'how long before expiry the server warns the requester (settings.expiryWarnings), latest first, e.g. ["10m", "1m"]; clients warn at these moments, not at their own' },
  },
} as const;

const bundle = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'entitlements'],
  properties: { id: text, name: text, entitlements },
} as const;

export const catalogFlow = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'description', 'kind', 'available', 'reason', 'entitlements', 'bundles', 'defaultDuration', 'maxDuration', 'approval', 'requireJustification', 'requireMfa', 'breakGlass', 'labels', 'integrationHealth'],
  properties: {
    id: text,
    name: text,
    description: text,
    kind: { type: 'string', enum: ['self-serve', 'automatic'] },
    /** False outside the flow's time window (or for automatic flows); `reason` says why. */
    available: { type: 'boolean' },
    reason: textOrNull,
    entitlements,
    bundles: { type: 'array', items: bundle },
    /** Durations as text: "1h", "1h30m", "2d" or "indefinite". */
    defaultDuration: text,
    maxDuration: text,
    approval: approvalMode,
    requireJustification: { type: 'boolean' },
    requireMfa: { type: 'boolean' },
    stepUp: { type: 'boolean', description: 'present and true where requireMfa is met by a fresh sign-in at the identity provider (single sign-on) rather than a TOTP code' },
    breakGlass: { type: 'boolean' },
    labels: texts,
    integrationHealth: {
      type: 'array',
      description: 'integrations of this flow whose last health check failed (a grant there would fail)',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'ok', 'error', 'checkedAt'],
        properties: { integration: text, ok: { type: 'boolean' }, error: textOrNull, checkedAt: instantOrNull },
      },
    },
  },
} as const;

export const catalog = {
  type: 'object',
  additionalProperties: false,
  required: ['flows'],
  properties: { flows: { type: 'array', items: catalogFlow } },
} as const;

export const grantView = {
  type: 'object',
  additionalProperties: false,
  required: ['integration', 'status', 'entitlements', 'attempts', 'lastError', 'grantedAt', 'revokedAt'],
  properties: {
    integration: text,
    status: { type: 'string', enum: GRANT_STATUSES },
    entitlements,
    attempts: { type: 'integer' },
    lastError: textOrNull,
    grantedAt: instantOrNull,
    revokedAt: instantOrNull,
    accessDetails: {
      type: ['object', 'null'],
      additionalProperties: { type: 'string' },
      description: 'present only for the requester, and only while the grant is active',
    },
  },
} as const;

export const decision = {
  type: 'object',
  additionalProperties: false,
  required: ['approver', 'decision', 'reason', 'at', 'subject'],
  properties: { approver: text, decision: text, reason: textOrNull, at: instant, subject: { type: 'string', description: 'request, or extension:N' } },
} as const;

/** A request as the server shows it to the caller. */
export const requestView = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id', 'requester', 'flowId', 'flowName', 'bundleId', 'bundleName', 'status', 'entitlements', 'duration', 'justification', 'labels', 'breakGlass',
    'createdAt', 'startAt', 'grantedAt', 'expiresAt', 'endedAt', 'endReason', 'endedBy', 'endNote', 'approvalMode', 'approverGroups', 'decisions',
    'approverReasonRequired', 'yourApproverRoles', 'extensions', 'maxExtensions', 'pendingExtension', 'error', 'grants',
  ],
  properties: {
    id: text,
    requester: text,
    flowId: text,
    flowName: text,
    bundleId: textOrNull,
    bundleName: textOrNull,
    status: { type: 'string', enum: REQUEST_STATUSES },
    entitlements,
    duration: text,
    justification: textOrNull,
    labels: texts,
    breakGlass: { type: 'boolean' },
    createdAt: instant,
    startAt: instantOrNull,
    grantedAt: instantOrNull,
    expiresAt: instantOrNull,
    endedAt: instantOrNull,
    endReason: textOrNull,
    endedBy: textOrNull,
    endNote: textOrNull,
    approvalMode,
    approverGroups: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['description', 'users'], properties: { description: text, users: texts } },
    },
    waitingFor: { type: ['string', 'null'], description: 'who a waiting request (or its extension) waits for, e.g. "bob or erin"; null when it waits for nobody' },
    decisions: { type: 'array', items: decision },
    /** Whether the flow requires a reason from whoever approves or denies. */
    approverReasonRequired: { type: 'boolean' },
    /** Why the caller may decide this request (empty when they may not). */
    yourApproverRoles: texts,
    extensions: { type: 'integer' },
    maxExtensions: { type: 'integer' },
    pendingExtension: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['number', 'duration', 'justification', 'requestedAt'],
      properties: { number: { type: 'integer' }, duration: text, justification: textOrNull, requestedAt: instant },
    },
    error: textOrNull,
    grants: { type: 'array', items: grantView },
  },
} as const;

/** A row of a list that could not be shown: its id and status, and why not. */
const unshownRow = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'status', 'error'],
  properties: { id: text, status: text, error: text },
} as const;

/** The cursor of the next page (null: this was the last). */
const nextCursor = { type: ['string', 'null'], description: 'pass as cursor for the next page; null: no more' } as const;

export const requestList = {
  type: 'object',
  additionalProperties: false,
  required: ['requests', 'nextCursor'],
  properties: { requests: { type: 'array', items: { anyOf: [requestView, unshownRow] } }, nextCursor },
} as const;

export const approvalList = {
  type: 'object',
  additionalProperties: false,
  required: ['approvals', 'nextCursor'],
  properties: { approvals: { type: 'array', items: { anyOf: [requestView, unshownRow] } }, nextCursor },
} as const;

/** A request stuck in revoking: the request, its failures and when its revoke is tried next. */
export const stuckRevocation = {
  type: 'object',
  additionalProperties: false,
  required: ['request', 'attempts', 'lastError', 'nextRetryAt'],
  properties: {
    request: { anyOf: [requestView, unshownRow] },
    attempts: { type: 'integer', description: 'failed attempts of its most tried revoke' },
    lastError: textOrNull,
    nextRetryAt: { ...instantOrNull, description: 'the earliest next try of its revokes (null: none waiting, or one running now)' },
  },
} as const;

export const stuckRevocationList = {
  type: 'object',
  additionalProperties: false,
  required: ['revocations', 'nextCursor'],
  properties: { revocations: { type: 'array', items: stuckRevocation }, nextCursor },
} as const;

export const revokeAllPreview = {
  type: 'object',
  additionalProperties: false,
  required: ['requests', 'grants', 'users', 'byIntegration'],
  properties: {
    requests: { type: 'integer' },
    grants: { type: 'integer' },
    users: { type: 'integer' },
    byIntegration: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['integration', 'grants'], properties: { integration: text, grants: { type: 'integer' } } } },
  },
} as const;

/** One id of a bulk action that was not done: why, and the status a single call would have answered. */
const bulkFailure = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'error', 'status'],
  properties: { id: text, error: text, status: { type: 'integer' } },
} as const;

export const bulkRetryResult = {
  type: 'object',
  additionalProperties: false,
  required: ['retried', 'failed'],
  properties: { retried: texts, failed: { type: 'array', items: bulkFailure } },
} as const;

export const bulkMarkRevokeCanceledResult = {
  type: 'object',
  additionalProperties: false,
  required: ['canceled', 'failed'],
  properties: { canceled: texts, failed: { type: 'array', items: bulkFailure } },
} as const;

export const accessDetails = {
  type: 'object',
  additionalProperties: false,
  required: ['requestId', 'expiresAt', 'grants'],
  properties: {
    requestId: text,
    expiresAt: instantOrNull,
    grants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'accessDetails'],
        properties: { integration: text, accessDetails: { type: ['object', 'null'], additionalProperties: { type: 'string' } } },
      },
    },
  },
} as const;

export const favorite = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'flowId', 'bundleId', 'entitlements', 'duration', 'justification', 'createdAt'],
  properties: { id: text, name: text, flowId: text, bundleId: textOrNull, entitlements, duration: text, justification: textOrNull, createdAt: instantOrNull },
} as const;

export const suggestion = {
  type: 'object',
  additionalProperties: false,
  required: ['requestId', 'flowId', 'bundleId', 'entitlements', 'duration', 'justification', 'createdAt'],
  properties: { requestId: text, flowId: text, bundleId: textOrNull, entitlements, duration: text, justification: textOrNull, createdAt: instantOrNull },
} as const;

export const favorites = {
  type: 'object',
  additionalProperties: false,
  required: ['favorites', 'suggestions'],
  properties: {
    favorites: { type: 'array', items: favorite },
    /** The caller's most recent requests, offered as starting points. */
    suggestions: { type: 'array', items: suggestion },
  },
} as const;

export const integrationList = {
  type: 'object',
  additionalProperties: false,
  required: ['integrations'],
  properties: {
    integrations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type', 'name', 'health', 'discovery'],
        properties: {
          id: text,
          type: text,
          name: text,
          health: {
            type: 'object',
            additionalProperties: false,
            required: ['ok', 'checkedAt', 'error'],
            properties: { ok: { type: 'boolean' }, checkedAt: instantOrNull, error: textOrNull },
          },
          /** Its discovery: null for an integration that offers only its declared resources. */
          discovery: {
            type: ['object', 'null'],
            additionalProperties: false,
            required: ['resourceCount', 'lastSyncAt', 'lastError', 'running'],
            description: 'the discovery of its resources (null: it offers its declared ones only): how many the inventory holds, when the last successful sync ended, the last sync\'s error, whether one runs now',
            properties: { resourceCount: { type: 'integer' }, lastSyncAt: instantOrNull, lastError: textOrNull, running: { type: 'boolean' } },
          },
        },
      },
    },
  },
} as const;

export const resourceList = {
  type: 'object',
  additionalProperties: false,
  required: ['resources', 'nextCursor'],
  properties: {
    resources: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'type', 'path', 'name', 'parent', 'tags', 'origin', 'firstSeenAt', 'lastSeenAt'],
        properties: {
          integration: text,
          type: text,
          path: text,
          name: text,
          parent: textOrNull,
          tags: { type: 'object', additionalProperties: text },
          origin: { type: 'string', enum: ['declared', 'discovered'] },
          /** When discovery first and last saw it (null: declared, never seen by a discovery). */
          firstSeenAt: instantOrNull,
          lastSeenAt: instantOrNull,
        },
      },
    },
    /** The cursor of the next page (null: this is the last). */
    nextCursor: textOrNull,
  },
} as const;

export const resourceSyncResult = {
  type: 'object',
  additionalProperties: false,
  required: ['results'],
  properties: {
    results: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'status', 'resourceCount', 'added', 'removed', 'error', 'warnings'],
        properties: {
          integration: text,
          status: { type: 'string', enum: ['synced', 'failed', 'skipped'] },
          resourceCount: { type: 'integer' },
          added: { type: 'integer' },
          removed: { type: 'integer' },
          error: textOrNull,
          warnings: texts,
        },
      },
    },
  },
} as const;

export const reconcileReport = {
  type: 'object',
  additionalProperties: false,
  required: ['at', 'by', 'integrations', 'fixes'],
  properties: {
    at: instantOrNull,
    by: text,
    integrations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'listed', 'fixed', 'failed', 'error'],
        properties: { integration: text, listed: { type: 'integer' }, fixed: { type: 'integer' }, failed: { type: 'integer' }, error: textOrNull },
      },
    },
    fixes: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['integration', 'account', 'user', 'requestId', 'entitlements', 'ok', 'error'],
        properties: { integration: text, account: textOrNull, user: text, requestId: textOrNull, entitlements: texts, ok: { type: 'boolean' }, error: textOrNull },
      },
    },
  },
} as const;

export const revokeAllResult = {
  type: 'object',
  additionalProperties: false,
  required: ['revoked', 'failed'],
  properties: {
    revoked: texts,
    failed: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['id', 'error'], properties: { id: text, error: text } } },
  },
} as const;

const addedRemoved = {
  type: 'object',
  additionalProperties: false,
  required: ['added', 'removed'],
  properties: { added: { type: 'integer' }, removed: { type: 'integer' } },
} as const;

/** What a reload changed. */
const reloadChanges = {
  integrations: {
    type: 'object',
    additionalProperties: false,
    required: ['added', 'changed', 'removed'],
    properties: {
      added: texts,
      changed: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['id', 'parts'],
          properties: {
            id: text,
            parts: { type: 'array', items: { type: 'string', enum: ['type', 'name', 'owner', 'connection', 'resourceTypes', 'permissions', 'resources', 'tagRules'] }, description: 'what changed; a change other than name, owner or tagRules replaced the integration' },
          },
        },
      },
      removed: texts,
    },
  },
  flows: addedRemoved,
  users: addedRemoved,
  revoked: { ...texts, description: 'requests revoked because their integration was removed (revokeRemoved)' },
  leaving: { ...texts, description: 'removed integrations kept until those revokes have finished' },
} as const;

export const reloadResult = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'integrations', 'flows', 'users', 'revoked', 'leaving'],
  properties: {
    status: { type: 'string', enum: ['reloaded'] },
    ...reloadChanges,
  },
} as const;

export const auditEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'at', 'actor', 'action', 'requestId', 'data', 'hash'],
  properties: {
    seq: { type: 'integer' },
    at: instantOrNull,
    actor: text,
    action: text,
    requestId: textOrNull,
    data: { type: 'object', additionalProperties: true },
    hash: text,
  },
} as const;

export const auditList = {
  type: 'object',
  additionalProperties: false,
  required: ['events', 'nextCursor'],
  properties: {
    events: { type: 'array', items: auditEvent },
    nextCursor: { type: ['string', 'null'], description: 'pass as cursor for the next page; null: this page is the last' },
  },
} as const;

export const timelineEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'at', 'actor', 'action', 'kind', 'integration', 'reason', 'text'],
  properties: {
    seq: { type: 'integer' },
    at: instantOrNull,
    actor: text,
    action: text,
    kind: { type: 'string', enum: ['created', 'decision', 'grant', 'warning', 'extension', 'revoke', 'end', 'other'] },
    integration: textOrNull,
    reason: textOrNull,
    text: { type: 'string', description: 'what happened, in a sentence' },
  },
} as const;

export const requestTimeline = {
  type: 'object',
  additionalProperties: false,
  required: ['request', 'entries'],
  properties: {
    request: { ...requestView, description: 'the request as the caller sees it: approverGroups and waitingFor say who could approve' },
    entries: { type: 'array', items: timelineEntry, description: 'its audit events in order, oldest first' },
  },
} as const;

export const configStatus = {
  type: 'object',
  additionalProperties: false,
  required: ['file', 'loadedAt', 'startedAt', 'lastReload'],
  properties: {
    file: { type: 'string', description: 'the configuration file this server reads (its path only, never its values)' },
    loadedAt: { ...instant, description: 'when the configuration in force was read: at start, or by the last reload that succeeded' },
    startedAt: instant,
    lastReload: {
      type: ['object', 'null'],
      additionalProperties: false,
      description: 'the last reload this server ran, succeeded or refused; null: none since start',
      required: ['at', 'by', 'ok', 'errors', 'changes'],
      properties: {
        at: instant,
        by: { type: 'string', description: 'who asked: a user id, or "signal" (SIGHUP)' },
        ok: { type: 'boolean' },
        errors: { ...texts, description: 'why it was refused, one fault a line (file:line where the file is at fault)' },
        changes: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: ['integrations', 'flows', 'users', 'revoked', 'leaving'],
          properties: reloadChanges,
          description: 'what it changed (null when refused)',
        },
      },
    },
  },
} as const;

export const auditVerifyResult = {
  type: 'object',
  additionalProperties: false,
  required: ['ok', 'checked', 'problems', 'checkpoint'],
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer' },
    problems: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['seq', 'problem'], properties: { seq: { type: 'integer' }, problem: text } },
    },
    checkpoint: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['seq', 'hash', 'at'],
      properties: { seq: { type: 'integer' }, hash: text, at: instantOrNull },
    },
  },
} as const;

export const auditStreamStatus = {
  type: 'object',
  additionalProperties: false,
  required: ['subscribers'],
  properties: {
    subscribers: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type', 'target', 'deliveredSeq', 'deliveredAt', 'headSeq', 'lag', 'failing', 'attempts', 'retryAt', 'lastError', 'lastErrorAt'],
        properties: {
          id: text,
          type: { type: 'string', enum: ['syslog', 'webhook'] },
          target: { type: 'string', description: 'tcp://host:port, tls://host:port, or the webhook URL' },
          deliveredSeq: { type: 'integer', description: 'the seq of the last event delivered (0: none yet)' },
          deliveredAt: instantOrNull,
          headSeq: { type: 'integer', description: "the audit chain's head" },
          lag: { type: 'integer', description: 'events not delivered yet: headSeq - deliveredSeq' },
          failing: { type: 'boolean', description: 'the last try failed; the next is at retryAt' },
          attempts: { type: 'integer', description: 'failures in a row since the last delivery' },
          retryAt: instantOrNull,
          lastError: textOrNull,
          lastErrorAt: instantOrNull,
        },
      },
    },
  },
} as const;

export const health = {
  type: 'object',
  additionalProperties: false,
  required: ['status'],
  properties: { status: { type: 'string', enum: ['ok', 'ready'] } },
} as const;

export const activityCsv = { type: 'string', description: 'text/csv: one row per request and integration' } as const;

/** One change from the events stream (`GET /api/v1/events`, text/event-stream), as its `data`. */
export const streamEvent = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'at', 'requestId', 'data'],
  properties: {
    id: text,
    type: { type: 'string', description: 'e.g. request.created, approval.requested, request.approved, request.granted, request.expiring, request.revoked; reload: what was missed cannot be replayed, read everything again' },
    at: instantOrNull,
    requestId: textOrNull,
    data: { type: 'object', additionalProperties: true },
  },
} as const;

/** An API token as listed: never the token itself, which is shown once when it is made. */
export const tokenView = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'user', 'name', 'kind', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'],
  properties: {
    id: text,
    user: text,
    name: text,
    kind: { type: 'string', enum: ['personal', 'service'] },
    createdAt: instantOrNull,
    expiresAt: { ...instantOrNull, description: 'null: never' },
    lastUsedAt: instantOrNull,
    revokedAt: instantOrNull,
  },
} as const;

export const tokenList = {
  type: 'object',
  additionalProperties: false,
  required: ['tokens'],
  properties: { tokens: { type: 'array', items: tokenView } },
} as const;

export const createdToken = {
  type: 'object',
  additionalProperties: false,
  required: ['token', 'id', 'user', 'name', 'kind', 'createdAt', 'expiresAt', 'lastUsedAt', 'revokedAt'],
  properties: { token: { type: 'string', description: 'the token: shown this once, never again' }, ...tokenView.properties },
} as const;

/** The caller's own two-factor authentication (TOTP), which flows that require MFA ask a code of: never its secret. */
export const mfaStatus = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'startedAt', 'confirmedAt'],
  properties: {
    status: {
      type: 'string',
      enum: ['none', 'pending', 'enrolled', 'configured', 'provider'],
      description: 'none: no factor; pending: set up, not yet confirmed with a code (no factor yet); enrolled: confirmed; configured: the secret is in the server\'s configuration, which the admin manages; provider: the server signs people in through an identity provider, which is the second factor (a step-up), so no authenticator is set up here',
    },
    startedAt: { ...instantOrNull, description: 'when the enrolment was set up (null: none, or configured)' },
    confirmedAt: { ...instantOrNull, description: 'when a code confirmed it (null: not confirmed)' },
  },
} as const;

/** An enrolment just set up: its secret, shown this once, to put into an authenticator app. */
export const mfaEnrolmentStarted = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'startedAt', 'confirmedAt', 'secret', 'otpauthUri', 'qrCode'],
  properties: {
    ...mfaStatus.properties,
    secret: { type: 'string', description: 'the base32 secret, to type into the app: shown this once, never again' },
    otpauthUri: { type: 'string', description: 'otpauth://totp/Lapse:<user>?secret=…&issuer=Lapse, which the app reads' },
    qrCode: { type: 'string', description: 'the otpauth URI as a QR code: a data: URL of an SVG image' },
  },
} as const;

/** A notification in the outbox, as admins see it. */
export const notificationView = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'event', 'eventId', 'channel', 'recipient', 'requestId', 'status', 'attempts', 'lastError', 'createdAt', 'nextAttemptAt', 'deliveredAt'],
  properties: {
    key: { type: 'string', description: 'its idempotency key (event, recipient, channel)' },
    event: { type: 'string', description: 'what it tells, e.g. approval.requested' },
    eventId: { type: 'string' },
    channel: { type: 'string', description: 'email, chat:<id> or webhook:<id>' },
    recipient: { type: ['string', 'null'], description: 'the person told (email), or null for a whole channel' },
    requestId: { type: ['string', 'null'] },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempts: { type: 'integer' },
    lastError: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    nextAttemptAt: { type: ['string', 'null'], format: 'date-time', description: 'pending: when it is tried next' },
    deliveredAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

export const notificationList = {
  type: 'object',
  additionalProperties: false,
  required: ['notifications'],
  properties: { notifications: { type: 'array', items: notificationView } },
} as const;

/** How the caller is told of what concerns them (the Account view). */
export const notificationPreferences = {
  type: 'object',
  additionalProperties: false,
  required: ['email', 'chat'],
  properties: {
    email: {
      type: 'object',
      additionalProperties: false,
      required: ['available', 'address', 'on', 'mayTurnOff'],
      properties: {
        available: { type: 'boolean', description: 'this server sends email and knows your address' },
        address: { type: ['string', 'null'] },
        on: { type: 'boolean', description: 'you are told by email' },
        mayTurnOff: { type: 'boolean', description: 'the admins let people turn email off (notifications.email.optOut)' },
      },
    },
    chat: {
      type: 'object',
      additionalProperties: false,
      required: ['available', 'service', 'on', 'mayTurnOff'],
      properties: {
        available: { type: 'boolean', description: 'this server sends direct messages in chat and knows your email, by which it finds you there' },
        service: { type: ['string', 'null'], enum: ['slack', null] },
        on: { type: 'boolean', description: 'you are told by direct message' },
        mayTurnOff: { type: 'boolean', description: 'the admins let people turn direct messages off (notifications.directMessages.optOut)' },
      },
    },
  },
} as const;
