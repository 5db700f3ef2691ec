// The keys of notifications already shown, bounded (the oldest are forgotten first) and
// serialisable, so a restart or a reconnect that replays events shows nothing twice.

export interface SeenState {
  keys: string[];
  /** The id of the last event received, sent back as Last-Event-ID on reconnect. */
  lastEventId: string | null;
}

export class SeenKeys {
  private readonly keys: Set<string>;
  lastEventId: string | null;

  constructor(
    state: Partial<SeenState> = {},
    readonly limit = 2000,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`the seen-keys limit must be a positive integer, got ${limit}`);
    const keys = Array.isArray(state.keys) ? state.keys.filter((k) => typeof k === 'string') : [];
    this.keys = new Set(keys.slice(-limit));
    this.lastEventId = typeof state.lastEventId === 'string' ? state.lastEventId : null;
  }

  has(key: string): boolean {
    return this.keys.has(key);
  }

  /** Records `key`; true when it is new (show it), false when it was seen already. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    while (this.keys.size > this.limit) this.keys.delete(this.keys.values().next().value!);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }

  toJSON(): SeenState {
    return { keys: [...this.keys], lastEventId: this.lastEventId };
  }
}
