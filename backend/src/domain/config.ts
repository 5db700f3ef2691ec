// The validated, normalised configuration. The YAML loader (backend/src/config/load.ts)
// turns the file into this shape; everything downstream of it trusts these types.
// Pure types: no I/O, no Node imports.

import type { AuditStreamSettings } from './audit-stream.ts';

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

export type ConditionOp = 'is' | 'is not' | 'contains' | 'does not contain' | 'starts with';
export const CONDITION_OPS: readonly ConditionOp[] = ['is', 'is not', 'contains', 'does not contain', 'starts with'];

/**
 * One `attribute op value` row. Built-in attributes: user, email, group, manager, shift,
 * owner (approvers only); any other name is a custom user attribute.
 * `value` lists alternatives: `is` holds when any value matches.
 * For approvers, `manager` and `owner` without a value mean "the requester's manager"
 * and "the owner of the integration or resource asked for".
 */
export interface Condition {
  attribute: string;
  op: ConditionOp;
  value: string[];
}

export interface ConditionGroup {
  /** all = AND, any = OR. */
  match: 'all' | 'any';
  conditions: Condition[];
}

export interface MfaConfig {
  /** Name of an environment variable holding the base32 TOTP secret. */
  totpSecretEnv?: string;
  /** Path of a file holding the base32 TOTP secret. */
  totpSecretFile?: string;
}

export interface UserConfig {
  id: string;
  email: string;
  name: string;
  groups: string[];
  manager?: string;
  /** Free attributes, usable in conditions by their name. */
  attributes: Record<string, string | string[]>;
  mfa?: MfaConfig;
}

export interface GroupConfig {
  id: string;
  name: string;
}

export interface ShiftConfig {
  id: string;
  timezone: string;
  rotation: 'daily' | 'weekly';
  /** Local hand-off time, "HH:MM". */
  handoff: string;
  /** In rotation order; members[0] is on shift from anchor + handoff. */
  members: string[];
  /** Local date "YYYY-MM-DD" on which members[0]'s first shift starts at `handoff`. */
  anchor: string;
}

export type OwnerRef = { user: string } | { group: string };

export interface ResourceTypeConfig {
  permissions: string[];
}

export interface ResourceConfig {
  type: string;
  name: string;
  /** Slash-separated path of the parent resource ("app" or "app/public"), if any. */
  parent?: string;
  tags: Record<string, string>;
  owner?: OwnerRef;
}

export type IntegrationType = 'demo' | 'postgresql' | 'mysql' | 'redis' | 'webhook' | 'command';
export const INTEGRATION_TYPES: readonly IntegrationType[] = ['demo', 'postgresql', 'mysql', 'redis', 'webhook', 'command'];

/** A tag rule of an integration (`tagRules` in the configuration): resources it matches get its tags. */
export interface TagRule {
  /** Only resources of this type (absent: every type). */
  type?: string;
  /** A path pattern: `*` stands for any characters within one path segment, `**` for any across segments. */
  path?: string;
  /** Resources under this path (its children and their children). */
  parent?: string;
  tags: Record<string, string>;
}

export interface IntegrationConfig {
  id: string;
  type: IntegrationType;
  name: string;
  owner?: OwnerRef;
  /** Type-specific connection settings; secrets only by reference (…Env / …File keys). */
  connection: Record<string, unknown>;
  /** Resource types this integration knows, with their permissions. */
  resourceTypes: Record<string, ResourceTypeConfig>;
  resources: ResourceConfig[];
  /** Tags given to discovered resources by path pattern or parent (domain/inventory.ts); absent = none. */
  tagRules?: TagRule[];
}

/** Which resources of one type a selector covers. */
export type ResourceScope =
  | { kind: 'any' }
  | { kind: 'anyExcept'; names: string[] }
  | { kind: 'names'; names: string[] }
  | { kind: 'tags'; tags: Record<string, string> }
  | { kind: 'parents'; parents: string[] };

export interface TargetSelector {
  integration: string;
  resourceType: string;
  permissions: string[];
  resources: ResourceScope;
}

export interface BundleConfig {
  id: string;
  name: string;
  targets: TargetSelector[];
}

export interface TimeWindow {
  days: Weekday[];
  /** "HH:MM" local. */
  from: string;
  /** "HH:MM" local; a `to` at or before `from` means the window ends the next day. */
  to: string;
  timezone: string;
}

export type FlowTarget = { selector: TargetSelector } | { bundle: string };

export type ApprovalPolicy =
  | { mode: 'automatic' }
  | { mode: 'anyOf' | 'allOf'; groups: ConditionGroup[] };

export interface FlowSettings {
  requireJustification: boolean;
  requireApproverReason: boolean;
  requesterCannotApproveOwn: boolean;
  requireMfa: boolean;
  labels: string[];
  /** How many times one request may be extended. */
  maxExtensions: number;
  /** Self-approval with a mandatory reason, for emergencies. */
  breakGlass: boolean;
  /** With single sign-on, what a requireMfa flow asks of the provider's authentication instead of settings.oidc.stepUp. */
  stepUp?: Partial<StepUpPolicy>;
  /** How long a request (or an extension) of this flow waits for approval before it times out, instead of settings.pendingTimeout; null: never. */
  pendingTimeoutMs?: number | null;
}

/**
 * A step-up at the identity provider for a flow that requires MFA: the person must have
 * authenticated there at most maxAgeMs ago (max_age, checked through auth_time), with one of
 * acrValues (acr_values, checked through acr; empty: any) and one of amr (checked through
 * amr; empty: any).
 */
export interface StepUpPolicy {
  maxAgeMs: number;
  acrValues: string[];
  amr: string[];
}

/** What a flow's settings are when the configuration does not say. */
export const DEFAULT_FLOW_SETTINGS: Readonly<FlowSettings> = {
  requireJustification: false,
  requireApproverReason: false,
  requesterCannotApproveOwn: true,
  requireMfa: false,
  labels: [],
  maxExtensions: 2,
  breakGlass: false,
};

export interface FlowConfig {
  id: string;
  name: string;
  description: string;
  kind: 'self-serve' | 'automatic';
  /** Who may request (self-serve), or who holds the access while it holds (automatic). */
  requesters: ConditionGroup;
  /** Undefined: always. */
  when?: TimeWindow;
  targets: FlowTarget[];
  /** Milliseconds; null = indefinite. */
  grantFor: number | null;
  /** Milliseconds; null = no maximum (indefinite allowed). */
  maxDuration: number | null;
  approval: ApprovalPolicy;
  settings: FlowSettings;
}

export interface ServerSettings {
  /** Milliseconds before expiry at which the requester is warned. */
  expiryWarnings: number[];
  /** User ids with the admin role. */
  admins: string[];
  /** How often the reconciliation sweep runs (ms); null = never; absent = the default (5 min). */
  reconcileEvery?: number | null;
  /** How often every integration's health is checked (ms); absent = the default (1 min). */
  healthCheckEvery?: number;
  /** How often each integration's resources are discovered (ms); absent = the default (5 min). */
  discoverEvery?: number;
  /** Proxies believed about the client's address: true, hops, or addresses / CIDR ranges; absent = none. */
  trustProxy?: boolean | number | string[];
  /** The address people use to reach Lapse (no trailing slash); sign-in redirects derive from it. */
  publicUrl?: string;
  /** Single sign-on through an OpenID Provider; absent = tokens only. */
  oidc?: OidcSettings;
  /** How long the events stream's past is kept for replay after a reconnect (ms); absent = the default (24 h). */
  eventRetention?: number;
  /** What happens to a person who stops being a user: revoke everything (default), or only lock them out. */
  offboarding?: 'revoke' | 'suspend';
  /** API tokens' lifetimes: when none is asked for, and the longest allowed; absent = 90 days and 366 days. */
  tokens?: TokenLifetimes;
  /** How long a request (or an extension) waits for approval before it times out; null = never; absent = 24 h. */
  pendingTimeoutMs?: number | null;
  /** How often approvers are reminded of a request that waits; null = never; absent = 4 h. */
  remindApproversEveryMs?: number | null;
}

export const DEFAULT_PENDING_TIMEOUT_MS = 24 * 3_600_000;
export const DEFAULT_REMIND_APPROVERS_EVERY_MS = 4 * 3_600_000;

/** How long a request of `flow` waits for approval (null: forever). */
export function pendingTimeoutOf(settings: ServerSettings, flow: FlowSettings): number | null {
  if (flow.pendingTimeoutMs !== undefined) return flow.pendingTimeoutMs;
  return settings.pendingTimeoutMs === undefined ? DEFAULT_PENDING_TIMEOUT_MS : settings.pendingTimeoutMs;
}

export interface TokenLifetimes {
  defaultLifetimeMs: number;
  maxLifetimeMs: number;
}

export const DEFAULT_TOKEN_LIFETIMES: Readonly<TokenLifetimes> = { defaultLifetimeMs: 90 * 86_400_000, maxLifetimeMs: 366 * 86_400_000 };

export interface OidcSettings {
  issuer: string;
  clientId: string;
  /** By reference only; null for a public client (PKCE alone). */
  clientSecret: { env: string } | { file: string } | null;
  scopes: string[];
  /** Which ID token claims hold what Lapse needs about a person. */
  claims: { email: string; name: string; groups: string; manager: string; attributes: Record<string, string> };
  /** Empty: any domain. */
  allowedEmailDomains: string[];
  /** Empty: any group. */
  allowedGroups: string[];
  /** Create people who sign in and are not in the configuration, from their claims. */
  provisionUsers: boolean;
  sessionIdleMs: number;
  sessionMaxAgeMs: number;
  /** How often each person's identity is renewed at the provider (with the refresh token it gave at sign-in). */
  renewEveryMs: number;
  /** Extra parameters of the authorization request, e.g. access_type=offline (Google), domain_hint (Entra ID). */
  authorizationParams: Record<string, string>;
  /** What flows that require MFA ask of the provider by default. */
  stepUp: StepUpPolicy;
}

export const DEFAULT_RECONCILE_EVERY_MS = 5 * 60_000;
export const DEFAULT_HEALTH_CHECK_EVERY_MS = 60_000;
export const DEFAULT_DISCOVER_EVERY_MS = 5 * 60_000;
export const DEFAULT_EVENT_RETENTION_MS = 24 * 3_600_000;
export const MAX_EVENT_RETENTION_MS = 30 * 86_400_000;

/** A secret given by reference: an environment variable or a file (never inline). */
export type SecretRef = { env: string } | { file: string };

/** Email over SMTP: where to send, how, and as whom. */
export interface EmailChannelConfig {
  host: string;
  port: number;
  /** TLS from the first byte (usually port 465); else STARTTLS where the server offers it. */
  secure: boolean;
  /** Refuse to send without TLS (STARTTLS required). */
  requireTls: boolean;
  user: string | null;
  password: SecretRef | null;
  /** The From address, e.g. "Lapse <lapse@example.com>". */
  from: string;
  /** Whether people may choose not to be told by email (the Account view); default true. */
  optOut: boolean;
}

/** A Slack or Microsoft Teams incoming webhook; only the flows and labels given (empty: all). */
export interface ChatChannelConfig {
  id: string;
  type: 'slack' | 'teams';
  url: SecretRef;
  flows: string[];
  labels: string[];
}

/**
 * Direct messages to each person in chat: a Slack app's bot (its token with the chat:write,
 * users:read.email, im:write and im:history scopes) finds the person by the email of their
 * identity and writes to them; a retry first reads their conversation for its message.
 */
export interface DirectMessagesConfig {
  type: 'slack';
  token: SecretRef;
  /** Slack's Web API, https://slack.com/api unless given (e.g. GovSlack). */
  apiUrl: string;
  /** Whether people may choose not to be told in chat (the Account view); default true. */
  optOut: boolean;
}

/** A subscriber to the request lifecycle: signed POSTs of the events it filters for (empty: all). */
export interface WebhookSubscriberConfig {
  id: string;
  url: string;
  secret: SecretRef;
  events: string[];
}

/** `notifications:` how people and systems are told of what concerns them. */
export interface NotificationsConfig {
  email: EmailChannelConfig | null;
  chat: ChatChannelConfig[];
  /** Each person in chat (null: none). */
  directMessages: DirectMessagesConfig | null;
  webhooks: WebhookSubscriberConfig[];
  /** Attempts before a delivery is marked failed. */
  maxAttempts: number;
}

export interface LapseConfig {
  users: UserConfig[];
  groups: GroupConfig[];
  shifts: ShiftConfig[];
  integrations: IntegrationConfig[];
  bundles: BundleConfig[];
  flows: FlowConfig[];
  settings: ServerSettings;
  /** Absent: nobody is told anything outside Lapse's own clients. */
  notifications?: NotificationsConfig;
  /** Subscribers every audit event is delivered to, in order; absent: none. */
  auditStream?: AuditStreamSettings;
}

/** Default resource types and permissions of each integration type. */
export const DEFAULT_RESOURCE_TYPES: Record<IntegrationType, Record<string, ResourceTypeConfig>> = {
  demo: {
    database: { permissions: ['read', 'write', 'admin'] },
    schema: { permissions: ['read', 'write', 'admin'] },
    table: { permissions: ['read', 'write', 'admin'] },
  },
  postgresql: {
    database: { permissions: ['read', 'write', 'admin'] },
    schema: { permissions: ['read', 'write', 'admin'] },
    table: { permissions: ['read', 'write', 'admin'] },
  },
  mysql: {
    database: { permissions: ['read', 'write', 'admin'] },
    table: { permissions: ['read', 'write', 'admin'] },
  },
  redis: {
    'key-prefix': { permissions: ['read', 'write'] },
  },
  webhook: {},
  command: {},
};
