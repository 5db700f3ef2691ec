// The JSON a webhook or command integration receives for each call, and how access details
// are read from what it answers. Shared by both, so that one receiver can serve either.
//
//   { "action": "grant" | "revoke", "integration": "<id>", "requestId": "<id>",
//     "user": { "id": "...", "email": "..." },
//     "entitlements": [ { "integration", "resourceType", "resource", "permission" } ],
//     "expiresAt": "2026-01-01T10:00:00.000Z" | null,      (grant)
//     "stillCovered": [ …entitlements… ] }                  (revoke: another active request of
//                                                           the same person still covers these)
//
// The answer may carry access details for the requester: `{ "accessDetails": { "k": "v" } }`;
// only string values are kept.

import type { GrantInput, RevokeInput } from './integration.ts';

export type IntegrationAction = 'grant' | 'revoke';

export function grantPayload(integration: string, input: GrantInput): Record<string, unknown> {
  return {
    action: 'grant', integration, requestId: input.requestId, user: { id: input.user.id, email: input.user.email },
    entitlements: input.entitlements, expiresAt: input.expiresAt === null ? null : new Date(input.expiresAt).toISOString(),
  };
}

export function revokePayload(integration: string, input: RevokeInput): Record<string, unknown> {
  return {
    action: 'revoke', integration, requestId: input.requestId, user: { id: input.user.id, email: input.user.email },
    entitlements: input.entitlements, stillCovered: input.stillCovered,
  };
}

/** The access details in an answer (text that may be JSON), string values only; null when there are none. */
export function accessDetailsFrom(text: string): Record<string, string> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const details = (parsed as { accessDetails?: unknown }).accessDetails;
  if (typeof details !== 'object' || details === null || Array.isArray(details)) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(details)) if (typeof v === 'string') out[k] = v;
  return Object.keys(out).length > 0 ? out : null;
}

