// Who a signed-in person is to Lapse, from the identity provider's validated claims: their
// identity (claim names from settings.oidc.claims), whether they may sign in (allowed email
// domains and groups), which configured user they are (by email), and the people Lapse
// knows, configured and provisioned, as one list. No I/O: the claims come validated.

import type { OidcSettings, UserConfig } from './config.ts';

export interface ProviderIdentity {
  issuer: string;
  subject: string;
  email: string;
  name: string | null;
  groups: string[];
  manager: string | null;
  attributes: Record<string, string>;
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
 * their last sign-in added and the provider's attributes under the configured ones; then,
 * where people are created from their claims, each such person not configured (unless
 * disabled). Without provisioning, a person removed from the configuration is gone.
 */
export function knownUsers(configured: readonly UserConfig[], identities: readonly KnownIdentity[], provisionUsers: boolean): UserConfig[] {
  const byId = new Map(identities.map((i) => [i.id, i]));
  const out: UserConfig[] = configured.map((u) => {
    const i = byId.get(u.id);
    if (!i || i.disabledAt !== null) return u;
    return { ...u, groups: [...new Set([...u.groups, ...i.groups])], attributes: { ...i.attributes, ...u.attributes }, ...(u.manager === undefined && i.manager ? { manager: i.manager } : {}) };
  });
  if (!provisionUsers) return out;
  const configuredIds = new Set(configured.map((u) => u.id));
  for (const i of identities) {
    if (configuredIds.has(i.id) || i.disabledAt !== null) continue;
    out.push({ id: i.id, email: i.email, name: i.name ?? i.email, groups: i.groups, attributes: i.attributes, ...(i.manager ? { manager: i.manager } : {}) });
  }
  return out;
}
