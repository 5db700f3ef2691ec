// The statuses of a request and of its grants, as the store keeps them and the API shows them.

export const REQUEST_STATUSES = [
  'pending', 'scheduled', 'granting', 'active', 'revoking', 'expired', 'revoked', 'rejected', 'canceled', 'failed', 'revoke_canceled', 'timed_out',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const GRANT_STATUSES = ['pending', 'granting', 'active', 'revoking', 'revoked', 'failed', 'revoke_canceled'] as const;
export type GrantStatus = (typeof GRANT_STATUSES)[number];
