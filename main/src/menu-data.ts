// What the tray menu shows, as last read from the server: the catalog, favorites, my
// requests still in play and the approvals waiting for me. Read again shortly after a
// change; changes close together make one read, and reads never overlap.

import type { AccessRequest } from '../../common/lapse-api.ts';
import type { Timers } from '../../common/clock.ts';
import type { MenuState } from './menu-model.ts';
import { CallError, type ServerMethods } from './server-api.ts';

const TRACKED_STATUSES = ['active', 'pending', 'scheduled', 'granting'] as const;

export interface MenuDataDeps {
  timers: Timers;
  /** The server's API now; null while there is no server to call. */
  api(): ServerMethods | null;
  /** After each read, with my requests as read. */
  onRefreshed(myRequests: AccessRequest[]): void;
  /** A read found the server unreachable. */
  onUnreachable(detail: string): void;
}

export class MenuData {
  private current: Omit<MenuState, 'connection' | 'now'> = { catalog: [], favorites: [], myRequests: [], approvalsCount: 0 };
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
          const [catalog, favorites, myRequests, approvals] = await Promise.all([
            api.catalog(), api.listFavorites(), api.listMyRequests({ statuses: [...TRACKED_STATUSES], limit: 200 }), api.approvals(),
          ]);
          if (api !== this.d.api()) break;
          this.current = { catalog: catalog.flows, favorites: favorites.favorites, myRequests, approvalsCount: approvals.length };
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
