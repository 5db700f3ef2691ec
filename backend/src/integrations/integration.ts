// The contract every integration implements. The engine calls grant and revoke only after
// the transition that asks for them is durable, and may call either again after a crash:
// both must be idempotent (granting what is granted, or revoking what is gone, succeeds
// without side effects).

import type { Entitlement } from '../domain/request.ts';

export interface GrantSubject {
  id: string;
  email: string;
}

export interface GrantInput {
  requestId: string;
  user: GrantSubject;
  /** This request's entitlements on this integration. */
  entitlements: Entitlement[];
  /** null = indefinite. A target that supports it sets this as a second safety net. */
  expiresAt: number | null;
}

export interface GrantResult {
  /** Credentials or instructions for the requester (shown to them only). */
  accessDetails: Record<string, string> | null;
}

export interface RevokeInput {
  requestId: string;
  user: GrantSubject;
  entitlements: Entitlement[];
  /**
   * Entitlements of this request that another active request of the same user still
   * covers: an integration that grants per user must leave these in place.
   */
  stillCovered: Entitlement[];
}

export interface GrantedEntry {
  user: string;
  entitlement: Entitlement;
  /** The request the target attributes it to, where it knows. */
  requestId: string | null;
  /** The login or account on the target that holds it (integrations with one account per request). */
  account?: string;
}

export interface DiscoveredResource {
  type: string;
  name: string;
  parent?: string;
  tags: Record<string, string>;
  /** The object's comment on the target, read for a `lapse:` line of tags (domain/inventory.ts). */
  comment?: string | null;
}

export interface HealthReport {
  ok: boolean;
  checkedAt: number;
  error: string | null;
}

export interface Integration {
  readonly id: string;
  readonly type: string;
  grant(input: GrantInput): Promise<GrantResult>;
  revoke(input: RevokeInput): Promise<void>;
  listGranted(): Promise<GrantedEntry[]>;
  listResources(): Promise<DiscoveredResource[]>;
  /**
   * Whether listResources asks the target (discovery, services/discovery.ts, syncs these into
   * the inventory); otherwise it only repeats the declared resources.
   */
  readonly discovers?: boolean;
  health(): Promise<HealthReport>;
  close(): Promise<void>;
  /**
   * Integrations that create one account per request: the name of the account a request's
   * grant creates (deterministic), so that reconciliation can tell which accounts on the
   * target an active request covers.
   */
  accountOf?(requestId: string, user: GrantSubject): string;
  /** Removes an account this integration created and no request covers (reconciliation). */
  removeAccount?(account: string): Promise<void>;
}
