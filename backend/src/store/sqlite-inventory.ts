// The inventory in the SQLite store (tables inventory and discovery, migration 14): the
// resources each integration's discovery found, and per integration the state of its
// discovery with the lease of the process syncing it. A batch of resources is written in one
// transaction, only while the writer still holds the lease.

import type { DiscoveryOutcome, DiscoveryState, InventoryRow, NewInventoryRow } from './store.ts';
import type { StatementCache } from './sqlite-connection.ts';

type Row = Record<string, unknown>;

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** A row of inventory (the same columns in both stores). */
export function inventoryFromRow(r: Row): InventoryRow {
  return {
    integration: String(r.integration),
    type: String(r.type),
    path: String(r.path),
    name: String(r.name),
    parent: str(r.parent),
    tags: JSON.parse(String(r.tags)) as Record<string, string>,
    origin: r.origin === 'declared' ? 'declared' : 'discovered',
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
  };
}

/** A row of discovery (the same columns in both stores). */
export function discoveryFromRow(r: Row): DiscoveryState {
  return {
    integration: String(r.integration),
    nextAt: Number(r.next_at),
    leaseOwner: str(r.lease_owner),
    leaseUntil: num(r.lease_until),
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    succeededAt: num(r.succeeded_at),
    lastError: str(r.last_error),
    resourceCount: Number(r.resource_count),
    syncs: Number(r.syncs),
    generation: Number(r.generation),
  };
}

export function claimDiscovery(sql: StatementCache, integration: string, owner: string, now: number, leaseUntil: number, nextAt: number, force: boolean): boolean {
  return sql.get(
    `INSERT INTO discovery (integration, next_at, lease_owner, lease_until, started_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (integration) DO UPDATE SET next_at = excluded.next_at, lease_owner = excluded.lease_owner, lease_until = excluded.lease_until, started_at = excluded.started_at
     WHERE (discovery.lease_until IS NULL OR discovery.lease_until < ?) AND (? = 1 OR discovery.next_at <= ?)
     RETURNING integration`,
    integration, nextAt, owner, leaseUntil, now, now, force ? 1 : 0, now,
  ) !== undefined;
}

/** Writes one batch inside the caller's transaction; false (nothing written) when `owner` no longer holds the lease. */
export function writeInventory(sql: StatementCache, integration: string, owner: string, rows: NewInventoryRow[], seenAt: number, leaseUntil: number): boolean {
  if (sql.run('UPDATE discovery SET lease_until = ? WHERE integration = ? AND lease_owner = ?', leaseUntil, integration, owner) !== 1) return false;
  for (const r of rows) {
    sql.run(
      `INSERT INTO inventory (integration, type, path, name, parent, tags, origin, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (integration, type, path) DO UPDATE SET name = excluded.name, parent = excluded.parent, tags = excluded.tags, origin = excluded.origin, last_seen = excluded.last_seen`,
      integration, r.type, r.path, r.name, r.parent, JSON.stringify(r.tags), r.origin, seenAt, seenAt,
    );
  }
  return true;
}

/** Ends a sync inside the caller's transaction; false when `owner` no longer held the lease. */
export function finishDiscovery(sql: StatementCache, integration: string, owner: string, outcome: DiscoveryOutcome): boolean {
  if (!sql.get('SELECT 1 AS held FROM discovery WHERE integration = ? AND lease_owner = ?', integration, owner)) return false;
  if (outcome.error !== null) {
    sql.run('UPDATE discovery SET lease_owner = NULL, lease_until = NULL, ended_at = ?, last_error = ?, syncs = syncs + 1 WHERE integration = ?', outcome.at, outcome.error, integration);
    return true;
  }
  sql.run('DELETE FROM inventory WHERE integration = ? AND last_seen < ?', integration, outcome.seenAt);
  sql.run(
    `UPDATE discovery SET lease_owner = NULL, lease_until = NULL, ended_at = ?, succeeded_at = ?, last_error = NULL, resource_count = ?, syncs = syncs + 1,
       generation = generation + ? WHERE integration = ?`,
    outcome.at, outcome.at, outcome.count, outcome.changed ? 1 : 0, integration,
  );
  return true;
}

export function inventoryOf(sql: StatementCache, integration: string): InventoryRow[] {
  return sql.all('SELECT * FROM inventory WHERE integration = ? ORDER BY type, path', integration).map(inventoryFromRow);
}

export function discoveryStates(sql: StatementCache): DiscoveryState[] {
  return sql.all('SELECT * FROM discovery ORDER BY integration').map(discoveryFromRow);
}
