// The in-process change feed behind `GET /api/v1/events`. Each event names who it concerns;
// ids are deterministic (request id, version, type), so a client that reconnects or a
// desktop app that restarts can drop what it has already shown.

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

  publish(event: LapseEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A failing subscriber must not break the engine or other subscribers.
      }
    }
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get size(): number {
    return this.listeners.size;
  }
}
