// The events stream's recent past in the PostgreSQL store (migration 11), shared by the
// replicas: each keeps the events its bus carries (its own and those relayed from the
// others), so an id arrives once whichever replica writes it first, and any replica replays it.

import type pg from 'pg';
import type { LapseEvent } from '../engine/events.ts';
import type { KeptEvent } from './store.ts';
import { queryCount, queryOne, queryRows, type Row } from './postgres-connection.ts';

function keptFromRow(row: Row): KeptEvent {
  return { seq: Number(row.seq), event: JSON.parse(String(row.doc)) as LapseEvent };
}

/** See Store.appendEvents: in the order given, an id already kept left as it is. */
export async function appendEvents(pool: pg.Pool, events: LapseEvent[]): Promise<void> {
  if (events.length === 0) return;
  await pool.query(
    `INSERT INTO events (id, at, doc)
     SELECT e->>'id', (e->>'at')::bigint, e::text FROM json_array_elements($1::json) WITH ORDINALITY AS t(e, n) ORDER BY n
     ON CONFLICT (id) DO NOTHING`,
    [JSON.stringify(events)],
  );
}

export async function findEvent(pool: pg.Pool, id: string): Promise<KeptEvent | null> {
  const row = await queryOne(pool, 'SELECT seq, doc FROM events WHERE id = $1', [id]);
  return row ? keptFromRow(row) : null;
}

export async function eventsAfter(pool: pg.Pool, seq: number, limit: number): Promise<KeptEvent[]> {
  return (await queryRows(pool, 'SELECT seq, doc FROM events WHERE seq > $1 ORDER BY seq LIMIT $2', [seq, Math.max(1, Math.floor(limit))])).map(keptFromRow);
}

export async function pruneEvents(pool: pg.Pool, before: number): Promise<number> {
  return queryCount(pool, 'DELETE FROM events WHERE at < $1', [before]);
}
