// Reconciliation: what each integration reports as granted, compared with what Lapse holds
// (requests granting, active or revoking). Whatever Lapse created that no such request
// covers is removed, and reported; nothing else on the target is ever touched, because
// integrations only list what they created (their login prefix, their ownership marker).
//
// What "covered" means depends on what the integration can tell:
// - one account per request (`accountOf`): the account is covered when it is the account of
//   a holding request's grant on that integration; otherwise the account is removed whole;
// - entries attributed to a request: covered while that request holds a grant there;
// - any entry: covered while a holding request of the same person has a grant there that
//   includes the entitlement (per-person targets such as `demo`).
// Entries are listed before requests are read, so access granted after the listing is
// never seen, and a grant in flight belongs to a request that is `granting` (covered).
// Holding grants are read a page at a time (the service keeps answering and revoking
// meanwhile); an entry attributed to a person gets a last look at what covers it, under the
// engine's lock for that person and integration, right before it is removed.

import { entitlementKey, formatEntitlement, HOLDING_STATUSES, type Entitlement } from '../domain/request.ts';
import type { GrantedEntry, Integration } from '../integrations/integration.ts';
import type { AuditInput, HeldGrant, Store } from '../store/store.ts';

export interface ReconcileFix {
  integration: string;
  /** The account removed (integrations with one account per request). */
  account: string | null;
  user: string;
  requestId: string | null;
  entitlements: string[];
  ok: boolean;
  error: string | null;
}

export interface ReconcileIntegrationResult {
  integration: string;
  /** Entries the integration listed. */
  listed: number;
  fixed: number;
  failed: number;
  /** Why the integration could not be reconciled (listing failed). */
  error: string | null;
}

export interface ReconcileReport {
  at: number;
  by: string;
  integrations: ReconcileIntegrationResult[];
  fixes: ReconcileFix[];
}

export interface ReconcileDeps {
  store: Store;
  /** Writes the audit entries with the notifications they cause (the admins told of fixes); default: the audit alone. */
  record?: (audit: AuditInput[]) => Promise<void>;
  integrations: ReadonlyMap<string, Integration>;
  now: () => number;
  /**
   * Runs `fn` while no grant or revoke of this person on this integration runs in this
   * process (the engine's lock), so that a grant cannot slip between the last look at what
   * covers an entry and its removal.
   */
  withTargetLock?: <T>(user: string, integration: string, fn: () => Promise<T>) => Promise<T>;
  /** Holding grants read per page (default 1,000). */
  pageSize?: number;
}

/** Holding grants per integration. */
type Holding = Map<string, HeldGrant[]>;

/** Rows read per page; between pages the event loop runs, so the service stays responsive. */
const DEFAULT_PAGE = 1000;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function holdingGrants(store: Store, pageSize: number): Promise<Holding> {
  const out: Holding = new Map();
  let after: HeldGrant | null = null;
  for (;;) {
    const page = await store.holdingGrantsPage(after, pageSize);
    for (const held of page) {
      let list = out.get(held.integration);
      if (!list) out.set(held.integration, (list = []));
      list.push(held);
    }
    if (page.length < pageSize) return out;
    after = page[page.length - 1]!;
    await yieldToEventLoop();
  }
}

/**
 * The last look before an entry attributed to a person (not to an account of its own) is
 * removed: the pages were read over some time, and a request that covers the entry may have
 * started meanwhile.
 */
async function stillOrphaned(store: Store, user: string, requestId: string | null, entitlements: Entitlement[]): Promise<Entitlement[]> {
  if (requestId !== null) {
    const request = await store.getRequest(requestId);
    if (request && HOLDING_STATUSES.includes(request.status)) return [];
  }
  const covered = await store.coveredByOthers(user, '', entitlements.map(entitlementKey));
  return entitlements.filter((e) => !covered.has(entitlementKey(e)));
}

export async function reconcile(deps: ReconcileDeps, by: string): Promise<ReconcileReport> {
  const at = deps.now();
  const report: ReconcileReport = { at, by, integrations: [], fixes: [] };
  const listed = new Map<string, GrantedEntry[]>();
  for (const [id, integration] of deps.integrations) {
    try {
      listed.set(id, await integration.listGranted());
    } catch (err) {
      report.integrations.push({ integration: id, listed: 0, fixed: 0, failed: 0, error: (err as Error).message });
    }
  }
  const holding = await holdingGrants(deps.store, deps.pageSize ?? DEFAULT_PAGE);

  for (const [id, entries] of listed) {
    const integration = deps.integrations.get(id)!;
    const mine = holding.get(id) ?? [];
    const result: ReconcileIntegrationResult = { integration: id, listed: entries.length, fixed: 0, failed: 0, error: null };
    const coveredAccounts = new Set<string>();
    if (integration.accountOf) {
      for (const held of mine) coveredAccounts.add(integration.accountOf(held.requestId, { id: held.requester, email: '' }));
    }
    const holdingRequests = new Set(mine.map((h) => h.requestId));
    const coveredByUser = new Map<string, Set<string>>();
    for (const held of mine) {
      let keys = coveredByUser.get(held.requester);
      if (!keys) coveredByUser.set(held.requester, (keys = new Set()));
      for (const e of held.entitlements) keys.add(entitlementKey(e));
    }

    const orphanAccounts = new Map<string, GrantedEntry[]>();
    const orphanGrants = new Map<string, GrantedEntry[]>();
    for (const entry of entries) {
      if (entry.account !== undefined && integration.accountOf && integration.removeAccount) {
        if (coveredAccounts.has(entry.account)) continue;
        orphanAccounts.set(entry.account, [...(orphanAccounts.get(entry.account) ?? []), entry]);
        continue;
      }
      if (entry.requestId !== null && holdingRequests.has(entry.requestId)) continue;
      if (coveredByUser.get(entry.user)?.has(entitlementKey(entry.entitlement))) continue;
      const key = `${entry.user}\u0000${entry.requestId ?? ''}`;
      orphanGrants.set(key, [...(orphanGrants.get(key) ?? []), entry]);
    }

    for (const [account, group] of orphanAccounts) {
      const fix: ReconcileFix = { integration: id, account, user: group[0]!.user, requestId: null, entitlements: group.map((e) => formatEntitlement(e.entitlement)), ok: true, error: null };
      try {
        await integration.removeAccount!(account);
      } catch (err) {
        fix.ok = false;
        fix.error = (err as Error).message;
      }
      report.fixes.push(fix);
    }
    const locked = deps.withTargetLock ?? (<T>(_user: string, _integration: string, fn: () => Promise<T>) => fn());
    for (const group of orphanGrants.values()) {
      const first = group[0]!;
      await locked(first.user, id, async () => {
        const entitlements = await stillOrphaned(deps.store, first.user, first.requestId, group.map((e) => e.entitlement));
        if (entitlements.length === 0) return;
        const fix: ReconcileFix = { integration: id, account: first.account ?? null, user: first.user, requestId: first.requestId, entitlements: entitlements.map(formatEntitlement), ok: true, error: null };
        try {
          await integration.revoke({ requestId: first.requestId ?? `reconcile-${at}`, user: { id: first.user, email: '' }, entitlements, stillCovered: [] });
        } catch (err) {
          fix.ok = false;
          fix.error = (err as Error).message;
        }
        report.fixes.push(fix);
      });
    }
    const fixes = report.fixes.filter((f) => f.integration === id);
    result.fixed = fixes.filter((f) => f.ok).length;
    result.failed = fixes.length - result.fixed;
    report.integrations.push(result);
  }
  report.integrations.sort((a, b) => a.integration.localeCompare(b.integration));

  const audit: AuditInput[] = report.fixes.map((f) => ({
    at, actor: by, action: f.ok ? 'reconcile.revoked' : 'reconcile.revoke_failed', requestId: null,
    data: { integration: f.integration, account: f.account, user: f.user, orphanOf: f.requestId, entitlements: f.entitlements, ...(f.error ? { error: f.error } : {}) },
  }));
  if (audit.length > 0 || report.integrations.some((i) => i.error !== null)) {
    audit.push({
      at, actor: by, action: 'reconcile.run', requestId: null,
      data: { fixed: report.fixes.filter((f) => f.ok).length, failed: report.fixes.filter((f) => !f.ok).length, errors: report.integrations.filter((i) => i.error).map((i) => `${i.integration}: ${i.error}`) },
    });
  }
  if (audit.length > 0) await (deps.record ? deps.record(audit) : deps.store.appendAudit(audit));
  return report;
}
