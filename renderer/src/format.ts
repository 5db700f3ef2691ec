// Text the views show: countdowns, entitlement summaries, statuses. Pure.

import type { AccessRequest, Entitlement, RequestStatus } from '../../common/lapse-api.ts';
import { parseDuration } from '../../common/duration.ts';
import { durationWords } from '../../common/countdown.ts';

export { parseDuration };

/** "42 min left", "1 h 05 min left", "35 s left", "expired". */
export function countdownText(expiresAt: string | null, now: number): string {
  if (!expiresAt) return 'no expiry';
  const left = Date.parse(expiresAt) - now;
  if (left <= 0) return 'expired';
  const s = Math.ceil(left / 1000);
  if (s < 60) return `${s} s left`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min left`;
  const h = Math.floor(m / 60);
  const rest = m % 60;
  if (h < 48) return rest ? `${h} h ${String(rest).padStart(2, '0')} min left` : `${h} h left`;
  return `${Math.floor(h / 24)} d left`;
}

export function entitlementText(e: Entitlement): string {
  return `${e.integration} · ${e.resourceType} ${e.resource} · ${e.permission}`;
}

const unique = (xs: string[]) => [...new Set(xs)];
export const integrationsOf = (es: Entitlement[]) => unique(es.map((e) => e.integration));
export const resourcesOf = (es: Entitlement[]) => unique(es.map((e) => `${e.resourceType} ${e.resource}`));
export const permissionsOf = (es: Entitlement[]) => unique(es.map((e) => e.permission));

/** A short name for a request: "Write app tables · table app/users · write". */
export function requestTitle(r: AccessRequest): string {
  if (r.bundleName) return `${r.flowName} · ${r.bundleName}`;
  const res = resourcesOf(r.entitlements);
  const perms = permissionsOf(r.entitlements);
  return `${r.flowName} · ${res.length === 1 ? res[0] : `${res.length} resources`} · ${perms.join(', ')}`;
}

const STATUS_TEXT: Record<RequestStatus, string> = {
  pending: 'Pending approval', scheduled: 'Scheduled', granting: 'Granting', active: 'Active', revoking: 'Revoking',
  expired: 'Expired', revoked: 'Revoked', rejected: 'Denied', canceled: 'Canceled', failed: 'Failed', revoke_canceled: 'Revoke canceled', timed_out: 'Timed out',
};
export const statusText = (s: RequestStatus) => STATUS_TEXT[s] ?? s;

export const OPEN_STATUSES: readonly RequestStatus[] = ['pending', 'scheduled', 'granting', 'active', 'revoking'];
export const isOpen = (r: AccessRequest) => OPEN_STATUSES.includes(r.status);

/** The denial, for a rejected request: who and why. */
export function denialOf(r: AccessRequest): { by: string; reason: string | null } | null {
  const d = [...r.decisions].reverse().find((x) => x.decision === 'deny');
  return d ? { by: d.approver, reason: d.reason } : null;
}

export function shortTime(isoText: string | null): string {
  if (!isoText) return '';
  const d = new Date(isoText);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Whether the caller may decide `r` now (for the inbox after a live update). */
export function awaitsDecisionBy(r: AccessRequest, me: string): boolean {
  if (r.yourApproverRoles.length === 0) return false;
  const subject = r.pendingExtension ? `extension:${r.pendingExtension.number}` : 'request';
  if (!(r.status === 'pending' || (r.pendingExtension && r.status === 'active'))) return false;
  return !r.decisions.some((d) => d.approver === me && d.subject === subject);
}

/**
 * The server's expiry warnings (`me.expiryWarnings`, e.g. ["10m", "1m"]) in words: "10 min
 * and 1 min"; "" when there are none; null when the server did not say.
 */
export function expiryWarningsText(expiryWarnings: unknown): string | null {
  if (!Array.isArray(expiryWarnings)) return null;
  const words: string[] = [];
  for (const d of expiryWarnings) {
    try {
      words.push(durationWords(parseDuration(d as string)));
    } catch {
      // not a duration: left out
    }
  }
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}
