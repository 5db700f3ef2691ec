// JSON Schemas of the API bodies and queries. Every object refuses unknown fields.

const entitlement = {
  type: 'object',
  additionalProperties: false,
  required: ['integration', 'resourceType', 'resource', 'permission'],
  properties: {
    integration: { type: 'string', minLength: 1, maxLength: 200 },
    resourceType: { type: 'string', minLength: 1, maxLength: 200 },
    resource: { type: 'string', minLength: 1, maxLength: 1000 },
    permission: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

/** The longest justification a request or extension may carry. */
export const JUSTIFICATION_MAX = 2000;
/** The longest reason an approver may give when approving or denying. */
export const APPROVER_REASON_MAX = 124;
/** The longest reason any decision body may carry (revoke, mark-revoke-canceled). */
const REASON_MAX = 1000;

const duration = { type: 'string', minLength: 1, maxLength: 40, description: 'e.g. "90m", "1h30m", "2d", or "indefinite"' } as const;
const justification = { type: 'string', maxLength: JUSTIFICATION_MAX } as const;
const reason = { type: 'string', maxLength: REASON_MAX, description: `at most ${REASON_MAX} characters; an approver's reason (approve, deny) at most ${APPROVER_REASON_MAX}, which the engine checks` } as const;

export const createRequestBody = {
  type: 'object',
  additionalProperties: false,
  required: ['flowId'],
  properties: {
    flowId: { type: 'string', minLength: 1, maxLength: 200 },
    entitlements: { type: 'array', items: entitlement, maxItems: 1000 },
    bundleId: { type: 'string', minLength: 1, maxLength: 200 },
    duration,
    justification,
    startAt: { type: 'string', format: 'date-time' },
    mfaCode: { type: 'string', pattern: '^[0-9]{6}$' },
    breakGlass: { type: 'boolean' },
  },
} as const;

export const decisionBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason },
} as const;

export const extendBody = {
  type: 'object',
  additionalProperties: false,
  required: ['duration'],
  properties: { duration, justification, mfaCode: { type: 'string', pattern: '^[0-9]{6}$', description: 'where the flow requires MFA (without single sign-on): a code from your authenticator' } },
} as const;

/** A filter's value: no control characters (no id, name or label has one). */
const NO_CONTROL = '^[^\\u0000-\\u001f\\u007f]*$';

/** The panic button's filters (every one optional; together, all must match). */
const revokeAllFilter = {
  user: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_CONTROL },
  flow: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_CONTROL },
  integration: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_CONTROL },
  label: { type: 'string', minLength: 1, maxLength: 200, pattern: NO_CONTROL },
  resource: { type: 'string', minLength: 1, maxLength: 1000, pattern: NO_CONTROL, description: 'a resource\'s path inside its integration' },
} as const;

export const revokeAllBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...revokeAllFilter,
    reason,
    expectRequests: { type: 'integer', minimum: 0, maximum: 1_000_000_000, description: 'the number of requests the preview showed: refused with 409 when another number matches now' },
  },
} as const;

export const revokeAllPreviewBody = {
  type: 'object',
  additionalProperties: false,
  properties: revokeAllFilter,
} as const;

/** Request ids for a bulk admin action (at most 500). */
const bulkIds = { type: 'array', minItems: 1, maxItems: 500, items: { type: 'string', minLength: 1, maxLength: 200 } } as const;

export const bulkIdsBody = {
  type: 'object',
  additionalProperties: false,
  required: ['ids'],
  properties: { ids: bulkIds },
} as const;

export const bulkMarkRevokeCanceledBody = {
  type: 'object',
  additionalProperties: false,
  required: ['ids', 'reason'],
  properties: { ids: bulkIds, reason: { ...reason, minLength: 1 } },
} as const;

export const reloadBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    revokeRemoved: { type: 'boolean', description: 'revoke the requests that hold grants on an integration the new configuration removes (otherwise such a reload is refused)' },
  },
} as const;

export const favoriteBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    flowId: { type: 'string', minLength: 1, maxLength: 200 },
    bundleId: { type: 'string', minLength: 1, maxLength: 200 },
    entitlements: { type: 'array', items: entitlement, maxItems: 1000 },
    duration,
    justification,
    fromRequestId: { type: 'string', minLength: 1, maxLength: 200, description: 'save an existing request of yours as a favorite' },
  },
} as const;

export const favoriteRequestBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    justification,
    mfaCode: { type: 'string', pattern: '^[0-9]{6}$' },
    startAt: { type: 'string', format: 'date-time' },
    duration,
  },
} as const;

export const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 200 } },
} as const;

/** A page of a list: at most `limit` rows (1 to 1000), after the `cursor` the previous page gave as `nextCursor`. */
const pageQuery = {
  limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: 'rows per page, 1 to 1000 (default 100)' },
  cursor: { type: 'string', minLength: 1, maxLength: 2000, description: 'the nextCursor of the previous page, as it came' },
} as const;

export const listRequestsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    scope: {
      type: 'string', enum: ['mine', 'all', 'approved-by-me'],
      description: 'mine: your own; all: everyone\'s (admins); approved-by-me: what you approved (approvers). Default: all for an admin, else mine',
    },
    mine: { type: 'string', enum: ['true', 'false'], description: 'true: as scope=mine (kept for older clients)' },
    status: { type: 'string', maxLength: 500, description: 'one status or several separated by commas' },
    user: { type: 'string', maxLength: 200, pattern: NO_CONTROL },
    flow: { type: 'string', maxLength: 200, pattern: NO_CONTROL },
    integration: { type: 'string', maxLength: 200, pattern: NO_CONTROL },
    label: { type: 'string', maxLength: 200, pattern: NO_CONTROL },
    resource: { type: 'string', maxLength: 1000, pattern: NO_CONTROL },
    ...pageQuery,
  },
} as const;

export const pageOnlyQuery = {
  type: 'object',
  additionalProperties: false,
  properties: pageQuery,
} as const;

export const integrationsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { check: { type: 'string', enum: ['true', 'false'], description: 'true: check every integration now' } },
} as const;

export const resourcesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    integration: { type: 'string', minLength: 1, description: 'only this integration\'s resources' },
    type: { type: 'string', minLength: 1, description: 'only resources of this type' },
    tag: { type: 'string', pattern: '^[^=]+=.*$', description: 'only resources with this tag: key=value' },
    prefix: { type: 'string', minLength: 1, description: 'only resources whose path starts with this' },
    cursor: { type: 'string', minLength: 1, maxLength: 4096, description: 'nextCursor of the page before' },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: 'resources per page, 1 to 1000; default 100' },
  },
} as const;

export const resourceSyncBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    integration: { type: 'string', minLength: 1, description: 'sync this integration only (default: every integration that discovers)' },
  },
} as const;

export const eventsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { lastEventId: { type: 'string', description: 'As the Last-Event-ID header, for clients that cannot set it (the header wins)' } },
} as const;

/** The most audit events one page may hold (`limit`). */
export const AUDIT_PAGE_MAX = 10_000;

const filterName = (what: string) => ({ type: 'string', minLength: 1, maxLength: 200, description: what }) as const;

/** The Activity filters, shared by the audit list and the activity report. */
const activityFilters = {
  user: filterName('a user: what they did, and what happened to their requests'),
  flow: filterName('a flow id: what happened to requests of this flow'),
  integration: filterName('an integration id: what happened to requests with an entitlement on it, or on it'),
  label: filterName('a label: what happened to requests that carry it'),
} as const;

export const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    requestId: { type: 'string' },
    actor: { type: 'string' },
    action: { type: 'string', maxLength: 200 },
    ...activityFilters,
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    afterSeq: { type: 'string', pattern: '^[0-9]{1,15}$' },
    order: { type: 'string', enum: ['asc', 'desc'], description: 'asc: oldest first (default); desc: newest first' },
    cursor: { type: 'string', maxLength: 200, description: 'the nextCursor of the page before (its order comes with it)' },
    limit: { type: 'string', pattern: '^[0-9]{1,5}$', description: `events per page: 1 to ${AUDIT_PAGE_MAX} (default 100)` },
  },
} as const;

export const reportQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
    user: filterName('requests of this user'),
    flow: filterName('requests of this flow'),
    integration: filterName('rows of this integration'),
    label: filterName('requests that carry this label'),
  },
} as const;

export const createTokenBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200, description: 'what the token is for, e.g. "laptop" or "deploy pipeline"' },
    expiresIn: { type: 'string', minLength: 1, maxLength: 40, description: 'how long it works, e.g. "30d" (default 90d, at most 366d); "never" only for an admin\'s service token' },
    kind: { type: 'string', enum: ['personal', 'service'], description: 'service: an admin\'s token for automation (default personal)' },
    user: { type: 'string', minLength: 1, maxLength: 200, description: 'admins: whose token it is (default: the caller)' },
  },
} as const;

export const listTokensQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { user: { type: 'string', minLength: 1, maxLength: 200, description: 'admins: one user\'s tokens (default: the caller\'s; "*" for everyone\'s)' } },
} as const;

/** A code from an authenticator app: six digits, nothing else. */
const totpCode = { type: 'string', pattern: '^[0-9]{6}$', description: 'the 6-digit code the authenticator app shows now' } as const;

export const mfaConfirmBody = {
  type: 'object',
  additionalProperties: false,
  required: ['code'],
  properties: { code: totpCode },
} as const;

export const mfaRemoveBody = {
  type: 'object',
  additionalProperties: false,
  properties: { code: { ...totpCode, description: 'a current code from the factor: needed to remove a confirmed one' } },
} as const;

export const listNotificationsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: 'at most this many, newest first (default 100, at most 1000)' },
  },
} as const;

/** A notification's key: the hex SHA-256 of its event, recipient and channel. */
export const notificationKeyParams = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: { key: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
} as const;

export const notificationPreferencesBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    email: { type: 'boolean', description: 'be told by email (true) or not (false)' },
    chat: { type: 'boolean', description: 'be told by direct message in chat (true) or not (false)' },
  },
} as const;
