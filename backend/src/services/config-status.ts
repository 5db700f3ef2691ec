// Which configuration file this server runs on, since when, and how its last reload went
// (GET /api/v1/admin/config). Kept in the process: each server reads its own file, so each
// replica answers for itself. Only the file's path and the reload's results are kept, never
// a value the file holds.

import type { ConfigStatus } from '../../../common/api/types.ts';
import { iso } from '../api/views.ts';
import type { ReloadChanges, ReloadResult } from './integration-registry.ts';

export interface ReloadRecord {
  at: number;
  /** A user id, or "signal" (SIGHUP). */
  by: string;
  ok: boolean;
  errors: string[];
  changes: ReloadChanges | null;
}

export class ConfigStatusTracker {
  /** When the configuration in force was read: at start, then by each reload that succeeded. */
  private loadedAt: number;
  private last: ReloadRecord | null = null;

  constructor(private readonly file: string, private readonly startedAt: number) {
    this.loadedAt = startedAt;
  }

  record(at: number, by: string, result: ReloadResult): void {
    if (result.ok) this.loadedAt = at;
    this.last = {
      at, by, ok: result.ok,
      errors: result.ok ? [] : result.errors.split('\n').map((l) => l.trim()).filter(Boolean),
      changes: result.ok ? result.changes : null,
    };
  }

  view(): ConfigStatus {
    const last = this.last;
    return {
      file: this.file,
      loadedAt: iso(this.loadedAt)!,
      startedAt: iso(this.startedAt)!,
      lastReload: last && { at: iso(last.at)!, by: last.by, ok: last.ok, errors: last.errors, changes: last.changes },
    };
  }
}
