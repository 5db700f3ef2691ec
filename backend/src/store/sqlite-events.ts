// The events stream's recent past in the SQLite store (migration 11): kept for replay to a
// client that reconnects, pruned after settings.eventRetention. Each write is one statement.

import type { LapseEvent } from '../engine/events.ts';
import type { KeptEvent } from './store.ts';
import type { Row, StatementCache } from './sqlite-connection.ts';

function keptFromRow(row: Row): KeptEvent {
  return { seq: Number(row.seq), event: JSON.parse(String(row.doc)) as LapseEvent };
}

/** See Store.appendEvents: in the order given, an id already kept left as it is. */
export function appendEvents(sql: StatementCache, events: LapseEvent[]): void {
  if (events.length === 0) return;
  sql.run(
    `INSERT INTO events (id, at, doc) SELECT json_extract(value, '$.id'), json_extract(value, '$.at'), value FROM json_each(?) WHERE true ORDER BY key
     ON CONFLICT (id) DO NOTHING`,
    JSON.stringify(events),
  );
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
