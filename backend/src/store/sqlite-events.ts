// The events stream's recent past in the SQLite store (migration 11): kept for replay to a
// client that reconnects, pruned after settings.eventRetention. Written in a group commit's
// transaction (see SqliteStore.appendEvents), a row per event.

import type { LapseEvent } from '../engine/events.ts';
import type { KeptEvent } from './store.ts';
import type { Row, StatementCache } from './sqlite-connection.ts';

function keptFromRow(row: Row): KeptEvent {
  return { seq: Number(row.seq), event: JSON.parse(String(row.doc)) as LapseEvent };
}

/** See Store.appendEvents: in the order given, an id already kept left as it is. Inside a transaction (a statement each). */
export function appendEvents(sql: StatementCache, events: LapseEvent[]): void {
  for (const e of events) sql.run('INSERT INTO events (id, at, doc) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING', e.id, e.at, JSON.stringify(e));
}

export function findEvent(sql: StatementCache, id: string): KeptEvent | null {
  const row = sql.get('SELECT seq, doc FROM events WHERE id = ?', id);
  return row ? keptFromRow(row) : null;
}

export function eventsAfter(sql: StatementCache, seq: number, limit: number): KeptEvent[] {
  return sql.all('SELECT seq, doc FROM events WHERE seq > ? ORDER BY seq LIMIT ?', seq, Math.max(1, Math.floor(limit))).map(keptFromRow);
}

export function pruneEvents(sql: StatementCache, before: number): number {
  return sql.run('DELETE FROM events WHERE at < ?', before);
}
