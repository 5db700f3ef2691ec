// The inventory in the PostgreSQL store (tables inventory and discovery, migration 14). Of
// several replicas, the one holding an integration's lease syncs it: the lease is taken in
// one conditional upsert (free or lapsed, and the sync due or asked for), and every batch
// written after it checks, in its transaction, that the lease is still the writer's.

import type pg from 'pg';
import type { DiscoveryOutcome, DiscoveryState, InventoryRow, NewInventoryRow } from './store.ts';
import { queryOne, queryRows, runTransaction } from './postgres-connection.ts';
import { discoveryFromRow, inventoryFromRow } from './sqlite-inventory.ts';

export async function claimDiscovery(pool: pg.Pool, integration: string, owner: string, now: number, leaseUntil: number, nextAt: number, force: boolean): Promise<boolean> {
  return (await queryOne(
    pool,
    `INSERT INTO discovery (integration, next_at, lease_owner, lease_until, started_at) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (integration) DO UPDATE SET next_at = excluded.next_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until, started_at = excluded.started_at
     WHERE (discovery.lease_until IS NULL OR discovery.lease_until < $5) AND ($6 OR discovery.next_at <= $5)
     RETURNING integration`,
    [integration, nextAt, owner, leaseUntil, now, force],
  )) !== undefined;
}

export async function writeInventory(pool: pg.Pool, integration: string, owner: string, rows: NewInventoryRow[], seenAt: number, leaseUntil: number): Promise<boolean> {
  return runTransaction(pool, async (c) => {
    const held = await c.query('UPDATE discovery SET lease_until = $1 WHERE integration = $2 AND lease_owner = $3', [leaseUntil, integration, owner]);
    if (held.rowCount !== 1) return false;
    if (rows.length === 0) return true;
    await c.query(
      `INSERT INTO inventory (integration, type, path, name, parent, tags, origin, first_seen, last_seen)
       SELECT $1, t, p, n, par, tg, o, $2, $2 FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS x(t, p, n, par, tg, o)
       ON CONFLICT (integration, type, path) DO UPDATE SET name = excluded.name, parent = excluded.parent, tags = excluded.tags, origin = excluded.origin, last_seen = excluded.last_seen`,
      [integration, seenAt, rows.map((r) => r.type), rows.map((r) => r.path), rows.map((r) => r.name), rows.map((r) => r.parent), rows.map((r) => JSON.stringify(r.tags)), rows.map((r) => r.origin)],
    );
    return true;
  });
}

export async function finishDiscovery(pool: pg.Pool, integration: string, owner: string, outcome: DiscoveryOutcome): Promise<boolean> {
  return runTransaction(pool, async (c) => {
    const held = await c.query('SELECT 1 FROM discovery WHERE integration = $1 AND lease_owner = $2 FOR UPDATE', [integration, owner]);
    if (held.rowCount !== 1) return false;
    if (outcome.error !== null) {
      await c.query('UPDATE discovery SET lease_owner = NULL, lease_until = NULL, ended_at = $1, last_error = $2, syncs = syncs + 1 WHERE integration = $3', [outcome.at, outcome.error, integration]);
      return true;
    }
    await c.query('DELETE FROM inventory WHERE integration = $1 AND last_seen < $2', [integration, outcome.seenAt]);
    await c.query(
      `UPDATE discovery SET lease_owner = NULL, lease_until = NULL, ended_at = $1, succeeded_at = $1, last_error = NULL, resource_count = $2, syncs = syncs + 1,
         generation = generation + $3 WHERE integration = $4`,
      [outcome.at, outcome.count, outcome.changed ? 1 : 0, integration],
    );
    return true;
  });
}

export async function inventoryOf(pool: pg.Pool, integration: string): Promise<InventoryRow[]> {
  return (await queryRows(pool, 'SELECT * FROM inventory WHERE integration = $1 ORDER BY type, path', [integration])).map(inventoryFromRow);
}

export async function discoveryStates(pool: pg.Pool): Promise<DiscoveryState[]> {
  return (await queryRows(pool, 'SELECT * FROM discovery ORDER BY integration')).map(discoveryFromRow);
}
