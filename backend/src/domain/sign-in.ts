// Who a signed-in person is to Lapse, from the identity provider's validated claims: their
// identity (claim names from settings.oidc.claims), whether they may sign in (allowed email
// domains and groups), which configured user they are (by email), and the people Lapse
// knows, configured and provisioned, as one list. No I/O: the claims come validated.

import type { FlowSettings, OidcSettings, StepUpPolicy, UserConfig } from './config.ts';

export interface ProviderIdentity {
  issuer: string;
  subject: string;
  email: string;
  name: string | null;
  groups: string[];
  manager: string | null;
  attributes: Record<string, string>;
}

/**
 * How the identity provider authenticated the person behind a credential: when (the ID
 * token's auth_time, else the sign-in's time), and the authentication context class (acr)
 * and methods (amr) it reported. A step-up for a flow that requires MFA is checked on these.
 */
export interface ProviderAuthentication {
  at: number;
  acr: string | null;
  amr: string[];
}

/** What Lapse keeps of a person the provider signed in (the store's ProvisionedUser adds when). */
export interface KnownIdentity extends ProviderIdentity {
  id: string;
  /** Set when the provider or the configuration no longer lets them in. */
  disabledAt: number | null;
}

const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value.trim() : typeof value === 'number' || typeof value === 'boolean' ? String(value) : null);

/** The identity the claims describe, or why they cannot be used. */
export function identityFromClaims(settings: OidcSettings, issuer: string, subject: string, claims: Record<string, unknown>): ProviderIdentity | { refused: string } {
  const email = text(claims[settings.claims.email]);
  if (email === null || !/^[^@\s]+@[^@\s]+$/.test(email)) return { refused: `the identity provider gave no email address (claim "${settings.claims.email}"); Lapse needs one to know who you are` };
  if (claims.email_verified === false) return { refused: `the identity provider has not verified the email address ${email}` };
  const rawGroups = claims[settings.claims.groups];
  const groups = (Array.isArray(rawGroups) ? rawGroups : rawGroups === undefined || rawGroups === null ? [] : [rawGroups]).map(text).filter((g): g is string => g !== null);
  const attributes: Record<string, string> = {};
  for (const [attribute, claim] of Object.entries(settings.claims.attributes)) {
    const value = text(claims[claim]);
    if (value !== null) attributes[attribute] = value;
  }
  return {
    issuer, subject, email: email.toLowerCase(), name: text(claims[settings.claims.name]),
    groups: [...new Set(groups)], manager: text(claims[settings.claims.manager]), attributes,
  };
}

/** Why the settings do not let this person in (an email domain or group not allowed), or null. */
export function admissionProblem(settings: OidcSettings, identity: ProviderIdentity): string | null {
  const domain = identity.email.slice(identity.email.lastIndexOf('@') + 1);
  if (settings.allowedEmailDomains.length > 0 && !settings.allowedEmailDomains.includes(domain)) {
    return `the email domain ${domain} is not allowed to sign in (allowed: ${settings.allowedEmailDomains.join(', ')})`;
  }
  if (settings.allowedGroups.length > 0 && !identity.groups.some((g) => settings.allowedGroups.includes(g))) {
    return `you are in none of the groups allowed to sign in (${settings.allowedGroups.join(', ')})`;
  }
  return null;
}

/**
 * Which Lapse user this person is: the configured user with their email (case does not
 * matter), else, where people may be created from their claims, one whose id is the email.
 */
export function userIdFor(identity: ProviderIdentity, configured: readonly UserConfig[], provisionUsers: boolean): { id: string; configured: boolean } | { refused: string } {
  const declared = configured.find((u) => u.email.toLowerCase() === identity.email);
  if (declared) return { id: declared.id, configured: true };
  if (provisionUsers) return { id: identity.email, configured: false };
  return { refused: `${identity.email} is not a Lapse user: ask an admin to add you to the configuration` };
}

/**
 * The people Lapse knows: each configured user, with the groups the provider gave them at
 * their last sign-in or renewal added and the provider's attributes under the configured
 * ones; then, where people are created from their claims, each such person not configured.
 * Without provisioning, a person removed from the configuration is gone; a person the
 * provider refused at renewal (disabled) is gone too, configured or not, until they sign in
 * again.
 */
export function knownUsers(configured: readonly UserConfig[], identities: readonly KnownIdentity[], provisionUsers: boolean): UserConfig[] {
  const byId = new Map(identities.map((i) => [i.id, i]));
  const out: UserConfig[] = [];
  for (const u of configured) {
    const i = byId.get(u.id);
    if (i?.disabledAt != null) continue;
    out.push(i ? { ...u, groups: [...new Set([...u.groups, ...i.groups])], attributes: { ...i.attributes, ...u.attributes }, ...(u.manager === undefined && i.manager ? { manager: i.manager } : {}) } : u);
  }
  if (!provisionUsers) return out;
  const configuredIds = new Set(configured.map((u) => u.id));
  for (const i of identities) {
    if (configuredIds.has(i.id) || i.disabledAt !== null) continue;
    out.push({ id: i.id, email: i.email, name: i.name ?? i.email, groups: i.groups, attributes: i.attributes, ...(i.manager ? { manager: i.manager } : {}) });
  }
  return out;
}

/** The step-up a flow that requires MFA asks of the provider: the flow's own settings over settings.oidc.stepUp. */
export function stepUpFor(oidc: OidcSettings, flow: FlowSettings): StepUpPolicy {
  return { ...oidc.stepUp, ...flow.stepUp };
}

/**
 * Why a credential's authentication does not meet a step-up (none at all, too old, another
 * context class, none of the methods asked for), or null when it does.
 */
export function stepUpProblem(policy: StepUpPolicy, authentication: ProviderAuthentication | null, now: number): string | null {
  if (!authentication) return 'this credential was not made by signing in at the identity provider';
  const minutes = Math.round(policy.maxAgeMs / 60_000);
  if (now - authentication.at > policy.maxAgeMs) return `you last authenticated there ${Math.round((now - authentication.at) / 60_000)} min ago; this flow needs it within ${minutes} min`;
  if (policy.acrValues.length > 0 && (authentication.acr === null || !policy.acrValues.includes(authentication.acr))) {
    return `the provider authenticated you with ${authentication.acr === null ? 'no' : `the context class "${authentication.acr}", not`} ${policy.acrValues.map((a) => `"${a}"`).join(' or ')}`;
  }
  if (policy.amr.length > 0 && !authentication.amr.some((m) => policy.amr.includes(m))) {
    return `the provider authenticated you with ${authentication.amr.length ? authentication.amr.join(', ') : 'no reported method'}, not ${policy.amr.join(' or ')}`;
  }
  return null;
}
