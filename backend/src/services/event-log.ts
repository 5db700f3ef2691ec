// The events stream's recent past: every event this process's bus carries (its engine's, and
// on PostgreSQL those relayed from the other replicas) is written to the store, where it is
// kept for settings.eventRetention (default 24 h), so that any replica can send a client that
// reconnects with Last-Event-ID what it missed. Writes are batched per turn of the event
// loop; a replay first waits for the events published before it to be written, so that an
// event is either in the store or still to come on the live stream, never neither.

import type { EventBus, LapseEvent } from '../engine/events.ts';
import type { KeptEvent, Store } from '../store/store.ts';

/** A Last-Event-ID longer than this is no id of ours (ids are a request id, a version and a type). */
export const MAX_EVENT_ID_LENGTH = 200;
/** Kept events read from the store at a time while replaying. */
const REPLAY_PAGE = 500;
/** Events sent at most in one replay: a client further behind reloads instead. */
export const MAX_REPLAY = 5000;

/** Why a stream cannot replay what its client missed (the client reloads instead). */
export type ReloadReason = 'malformed' | 'unknown' | 'expired' | 'too-many' | 'unavailable';

/** What a reconnecting client is sent first: the events it missed, in order, or a reload. */
export type Replay = { events: LapseEvent[] } | { reload: ReloadReason };

/** A Last-Event-ID as it may name an event (trimmed), or null: empty, too long or with control characters. */
export function usableEventId(raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const id = raw.trim();
  if (id === '' || id.length > MAX_EVENT_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(id)) return null;
  return id;
}

export interface EventLogOptions {
  store: Store;
  bus: EventBus;
  now: () => number;
  /** How long events are kept (ms), read at each use (a reload may change it). */
  retentionMs: () => number;
  log: (level: 'warn', message: string, fields?: Record<string, unknown>) => void;
}

export class EventLog {
  private batch: LapseEvent[] = [];
  private flushScheduled = false;
  /** Settles when every batch handed to the store so far is written (or failed). */
  private writing: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: EventLogOptions) {}

  /** Keeps every event the bus carries from now on. */
  start(): void {
    this.unsubscribe ??= this.o.bus.subscribe((e) => this.keep(e), { own: true });
  }

  /** Stops keeping events, once those already published are written. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.settled();
  }

  private keep(e: LapseEvent): void {
    this.batch.push(e);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    // Tried twice: replicas writing the same events at once may deadlock on their ids.
    const write = () => this.o.store.appendEvents(batch);
    this.writing = this.writing
      .then(() => write().catch(write))
      .catch((err: unknown) => this.o.log('warn', 'could not keep events for replay; a client that reconnects is told to reload instead', { events: batch.length, error: String(err) }));
  }

  /** Resolves when every event published so far is written (or could not be). */
  settled(): Promise<void> {
    this.flush();
    return this.writing;
  }

  /** Deletes the events older than the retention; how many. */
  prune(): Promise<number> {
    return this.o.store.pruneEvents(this.o.now() - this.o.retentionMs());
  }

  /**
   * What a client that saw `lastEventId` last missed and may see (`visible`, the same filter as
   * the live stream's, applied now): the kept events after it, in order. A reload when the id
   * is malformed, unknown, not one the caller may see (its existence is not told either), older
   * than the retention, when more events than MAX_REPLAY were missed, or the store failed.
   */
  async replay(lastEventId: string | undefined, visible: (e: LapseEvent) => boolean): Promise<Replay> {
    const id = usableEventId(lastEventId);
    if (id === null) return { reload: 'malformed' };
    try {
      await this.settled();
      const last = await this.o.store.findEvent(id);
      if (last === null || !visible(last.event)) return { reload: 'unknown' };
      if (last.event.at < this.o.now() - this.o.retentionMs()) return { reload: 'expired' };
      const events: LapseEvent[] = [];
      let after = last.seq;
      for (;;) {
        const page: KeptEvent[] = await this.o.store.eventsAfter(after, REPLAY_PAGE);
        for (const k of page) {
          if (!visible(k.event)) continue;
          if (events.length === MAX_REPLAY) return { reload: 'too-many' };
          events.push(k.event);
        }
        if (page.length < REPLAY_PAGE) return { events };
        after = page[page.length - 1]!.seq;
      }
    } catch (err) {
      this.o.log('warn', 'could not replay the events a client missed; it is told to reload', { error: String(err) });
      return { reload: 'unavailable' };
    }
  }
}
