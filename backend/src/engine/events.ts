// The in-process change feed behind `GET /api/v1/events`. Each event names who it concerns;
// ids are deterministic (request id, version, type), so a client that reconnects or a
// desktop app that restarts can drop what it has already shown. The event log
// (services/event-log.ts) keeps what passes here in the store, for replay after a reconnect.

export interface LapseEvent {
  id: string;
  type: string;
  at: number;
  requestId: string | null;
  /** User ids the event concerns (requester, approvers); admins receive every event. */
  audience: string[];
  data: Record<string, unknown>;
}

export type EventListener = (event: LapseEvent) => void;

export class EventBus {
  private readonly listeners = new Set<EventListener>();
  /** How many of the listeners are the server's own (the event log), not counted in `size`. */
  private own = 0;

  publish(event: LapseEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A failing subscriber must not break the engine or other subscribers.
      }
    }
  }

  /** `own`: a listener that is part of the server (the event log keeping events for replay), not a subscriber. */
  subscribe(listener: EventListener, opts: { own?: boolean } = {}): () => void {
    if (this.listeners.has(listener)) return () => this.listeners.delete(listener);
    this.listeners.add(listener);
    if (opts.own) this.own++;
    return () => {
      if (this.listeners.delete(listener) && opts.own) this.own--;
    };
  }

  /** Subscribers (event streams, the relay between replicas), the server's own listeners not counted. */
  get size(): number {
    return this.listeners.size - this.own;
  }
}
