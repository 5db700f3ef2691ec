// The validated, normalised configuration. The YAML loader (backend/src/config/load.ts)
// turns the file into this shape; everything downstream of it trusts these types.
// Pure types: no I/O, no Node imports.

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
  /** Proxies believed about the client's address: true, hops, or addresses / CIDR ranges; absent = none. */
  trustProxy?: boolean | number | string[];
  /** The address people use to reach Lapse (no trailing slash); sign-in redirects derive from it. */
  publicUrl?: string;
  /** Single sign-on through an OpenID Provider; absent = tokens only. */
  oidc?: OidcSettings;
  /** What happens to a person who stops being a user: revoke everything (default), or only lock them out. */
  offboarding?: 'revoke' | 'suspend';
  /** API tokens' lifetimes: when none is asked for, and the longest allowed; absent = 90 days and 366 days. */
  tokens?: TokenLifetimes;
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

export interface LapseConfig {
  users: UserConfig[];
  groups: GroupConfig[];
  shifts: ShiftConfig[];
  integrations: IntegrationConfig[];
  bundles: BundleConfig[];
  flows: FlowConfig[];
  settings: ServerSettings;
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
