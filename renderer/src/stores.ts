// The renderer's state: one zustand store per concern. Actions call the LapseApi the app
// was started with (IPC in the desktop app, HTTP in the portal, in memory in benchmarks).

import { create } from 'zustand';
import { errorDetail, type AccessRequest, type CatalogFlow, type ConnectionState, type Favorite, type Me, type Suggestion, type LapseApi } from '../../common/lapse-api.ts';
import { awaitsDecisionBy } from './format.ts';

let api: LapseApi | null = null;
export function setApi(next: LapseApi): void {
  api = next;
}
export function theApi(): LapseApi {
  if (!api) throw new Error('the API is not set');
  return api;
}

interface SessionState {
  me: Me | null;
  setMe(me: Me | null): void;
}
export const useSession = create<SessionState>((set) => ({ me: null, setMe: (me) => set({ me }) }));

interface CatalogState {
  flows: CatalogFlow[];
  loaded: boolean;
  error: string | null;
  load(): Promise<void>;
}
export const useCatalog = create<CatalogState>((set) => ({
  flows: [], loaded: false, error: null,
  load: async () => {
    try {
      set({ flows: (await theApi().catalog()).flows, loaded: true, error: null });
    } catch (err) {
      set({ error: errorDetail(err), loaded: true });
    }
  },
}));

interface RequestsState {
  /** The caller's requests, newest first. */
  list: AccessRequest[];
  loaded: boolean;
  load(): Promise<void>;
  upsert(r: AccessRequest): void;
}
export const useRequests = create<RequestsState>((set, get) => ({
  list: [], loaded: false,
  load: async () => set({ list: await theApi().listMyRequests({ limit: 200 }), loaded: true }),
  upsert: (r) => {
    const list = get().list;
    const i = list.findIndex((x) => x.id === r.id);
    if (i < 0) set({ list: [r, ...list] });
    else set({ list: list.map((x, j) => (j === i ? r : x)) });
  },
}));

interface ApprovalsState {
  list: AccessRequest[];
  loaded: boolean;
  load(): Promise<void>;
  /** Apply a fresh view of one request: add, replace, or drop it when it no longer awaits the caller. */
  apply(r: AccessRequest, me: string): void;
  remove(id: string): void;
}
export const useApprovals = create<ApprovalsState>((set, get) => ({
  list: [], loaded: false,
  load: async () => set({ list: await theApi().approvals(), loaded: true }),
  apply: (r, me) => {
    const list = get().list;
    const i = list.findIndex((x) => x.id === r.id);
    const keep = awaitsDecisionBy(r, me);
    if (i < 0) {
      if (keep) set({ list: [...list, r] });
    } else if (keep) {
      const next = list.slice();
      next[i] = r;
      set({ list: next });
    } else {
      set({ list: list.filter((x) => x.id !== r.id) });
    }
  },
  remove: (id) => set({ list: get().list.filter((x) => x.id !== id) }),
}));

interface FavoritesState {
  favorites: Favorite[];
  suggestions: Suggestion[];
  loaded: boolean;
  load(): Promise<void>;
}
export const useFavorites = create<FavoritesState>((set) => ({
  favorites: [], suggestions: [], loaded: false,
  load: async () => {
    const f = await theApi().listFavorites();
    set({ favorites: f.favorites, suggestions: f.suggestions, loaded: true });
  },
}));

interface ConnectionStoreState {
  state: ConnectionState;
  detail: string | null;
  set(state: ConnectionState, detail?: string): void;
}
export const useConnection = create<ConnectionStoreState>((set) => ({
  // Until the stream says otherwise: connecting.
  state: 'reconnecting', detail: null,
  set: (state, detail) => set({ state, detail: detail ?? null }),
}));
