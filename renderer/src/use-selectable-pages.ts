// A list the admin views read a page at a time, with a selection of its rows: "Load more"
// appends the next page; a reload reads the first page again and clears the selection; a
// live refresh (the events stream said something changed, see use-live-refresh.ts) reads
// again as many rows as are shown and keeps the selection of those still there.

import { useEffect, useState } from 'react';
import { errorDetail } from '../../common/lapse-api.ts';
import { useLiveRefresh } from './use-live-refresh.ts';

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface SelectablePages<T> {
  rows: T[];
  /** Where the next page starts (null: there is none). */
  cursor: string | null;
  /** Whether the first read has ended (well or not). */
  loaded: boolean;
  error: string | null;
  setError(error: string | null): void;
  selected: ReadonlySet<string>;
  setSelected(selected: Set<string>): void;
  toggle(id: string): void;
  /** Reads the first page again (`more`: the next one, appended; `live`: as many rows as are shown, keeping the selection). */
  load(more: boolean, live?: boolean): Promise<void>;
}

/**
 * `fetch` reads a page of at most `limit` rows from `cursor` (null: the first), `idOf` names a
 * row, and the list is read again from the start whenever `deps` change.
 */
export function useSelectablePages<T>(opts: { fetch(cursor: string | null, limit: number): Promise<Page<T>>; idOf(row: T): string; pageSize: number; deps: readonly unknown[] }): SelectablePages<T> {
  const [rows, setRows] = useState<T[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());

  const load = async (more: boolean, live = false) => {
    setError(null);
    try {
      const limit = live ? Math.min(1000, Math.max(opts.pageSize, rows.length)) : opts.pageSize;
      const page = await opts.fetch(more ? cursor : null, limit);
      setRows((prev) => (more ? [...prev, ...page.items] : page.items));
      setCursor(page.nextCursor);
      if (live) setSelected((s) => new Set(page.items.map(opts.idOf).filter((id) => s.has(id))));
      else if (!more) setSelected(new Set());
    } catch (err) {
      setError(errorDetail(err));
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => {
    void load(false);
  }, opts.deps);
  useLiveRefresh(() => void load(false, true));

  const toggle = (id: string) => setSelected((s) => {
    const next = new Set(s);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  });
  return { rows, cursor, loaded, error, setError, selected, setSelected, toggle, load };
}
