// What the tray menu shows, as last read from the server: the catalog, favorites, my
// requests still in play, the approvals waiting for me and, for admins, the revocations
// that keep failing (requests in revoking with a failed attempt). Read again shortly after a
// change; changes close together make one read, and reads never overlap.

import type { AccessRequest, CatalogFlow } from '../../common/lapse-api.ts';
import type { Timers } from '../../common/clock.ts';
import type { MenuState } from './menu-model.ts';
import { CallError, type ServerMethods } from './server-api.ts';

const TRACKED_STATUSES = ['active', 'pending', 'scheduled', 'granting'] as const;

/** A revocation that keeps failing: in revoking, one of its grants having failed to revoke at least once. */
export function isStuckRevocation(r: AccessRequest): boolean {
  return r.status === 'revoking' && r.grants.some((g) => g.status === 'revoking' && g.attempts > 0);
}

export interface MenuDataDeps {
  timers: Timers;
  /** The server's API now; null while there is no server to call. */
  api(): ServerMethods | null;
  /** Whether the person has the admin role (their menu shows stuck revocations). */
  isAdmin(): boolean;
  /** After each read, with my requests as read. */
  onRefreshed(myRequests: AccessRequest[]): void;
  /** A read found the server unreachable. */
  onUnreachable(detail: string): void;
}

export class MenuData {
  private current: Omit<MenuState, 'connection' | 'now'> = { catalog: [], favorites: [], myRequests: [], approvalsCount: 0, approvalIds: [], stuckRevocations: [] };
  private approvals: AccessRequest[] = [];
  private refreshTimer: unknown = null;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;

  constructor(private readonly d: MenuDataDeps) {}

  get state(): Omit<MenuState, 'connection' | 'now'> {
    return this.current;
  }

  myRequest(id: string): AccessRequest | undefined {
    return this.current.myRequests.find((x) => x.id === id);
  }

  /** A flow of the catalog as last read. */
  flow(id: string): CatalogFlow | undefined {
    return this.current.catalog.find((f) => f.id === id);
  }

  /** One of my requests or one waiting for my approval. */
  knownRequest(id: string): AccessRequest | undefined {
    return this.myRequest(id) ?? this.approvals.find((x) => x.id === id);
  }

  /** Reads from the server after `delayMs`; several changes close together make one read. */
  requestRefresh(delayMs = 100): void {
    if (this.refreshTimer !== null) return;
    this.refreshTimer = this.d.timers.setTimeout(() => {
      this.refreshTimer = null;
      void this.refresh();
    }, delayMs);
  }

  async refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const api = this.d.api();
        if (!api) break;
        try {
          const [catalog, favorites, myRequests, approvals, revoking] = await Promise.all([
            api.catalog(), api.listFavorites(), api.listMyRequests({ statuses: [...TRACKED_STATUSES], limit: 200 }), api.approvals(),
            this.d.isAdmin() ? api.listAllRequests({ statuses: ['revoking'], limit: 200 }).catch(() => []) : Promise.resolve([]),
          ]);
          if (api !== this.d.api()) break;
          const stuckRevocations = revoking.filter(isStuckRevocation);
          this.current = { catalog: catalog.flows, favorites: favorites.favorites, myRequests, approvalsCount: approvals.length, approvalIds: approvals.map((a) => a.id), stuckRevocations };
          this.approvals = approvals;
          this.d.onRefreshed(myRequests);
        } catch (err) {
          if (err instanceof CallError && err.data.status === 0) this.d.onUnreachable(err.data.detail);
        }
      } while (this.refreshAgain);
    })();
    try {
      await this.refreshing;
    } finally {
      this.refreshing = null;
    }
  }

  stop(): void {
    if (this.refreshTimer !== null) this.d.timers.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }
}
