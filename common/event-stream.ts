// A client of `GET /api/v1/events` (server-sent events) for the tray app and `lapse watch`:
// parses the stream, remembers the last event id and sends it as Last-Event-ID when it
// reconnects (the server then sends what was missed first), and reconnects with capped,
// jittered backoff while the server is away. Where the server cannot replay what was missed
// (its `reload` event), or a reconnect has no id to resume from, its user is told to read
// its state again (onReload).
// Uses the platform's fetch (Node 22 and Electron's main process both have it).

import type { StreamEvent } from './notifications.ts';

export type ConnectionState = 'connecting' | 'online' | 'offline';

export interface EventStreamOptions {
  url: string;
  token: string;
  lastEventId?: string | null;
  onEvent(event: StreamEvent): void;
  /**
   * Events were missed that the stream cannot send: read the state again (the server's
   * `reload` event, or a reconnect without an event id to resume from).
   */
  onReload?(): void;
  onState?(state: ConnectionState, detail?: string): void;
  /** Delay before reconnect attempt `n` (0-based); default `backoffDelay`. */
  delay?: (attempt: number) => number;
  fetch?: typeof fetch;
}

/** Capped exponential backoff with jitter: about 1 s, 2 s, 4 s … up to 30 s. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.75 + random() * 0.5));
}

/** Splits a text/event-stream into messages; `push` returns the complete ones so far. */
export class SseParser {
  private buf = '';

  push(chunk: string): { id: string | null; event: string; data: string }[] {
    this.buf += chunk.replace(/\r\n?/g, '\n');
    const out: { id: string | null; event: string; data: string }[] = [];
    let end: number;
    while ((end = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, end);
      this.buf = this.buf.slice(end + 2);
      let id: string | null = null;
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') id = value;
        else if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length) out.push({ id, event, data: data.join('\n') });
    }
    return out;
  }
}

export class AuthError extends Error {}

/**
 * Subscribes until `close()`. A 401 or 403 stops it (a bad token does not get better by
 * retrying) and reports `offline` with the reason.
 */
export class EventStream {
  private readonly abort = new AbortController();
  private closed = false;
  lastEventId: string | null;
  readonly done: Promise<void>;
  /** Whether a connection was established before (the next one is a reconnect). */
  private connectedBefore = false;

  constructor(private readonly opts: EventStreamOptions) {
    this.lastEventId = opts.lastEventId ?? null;
    this.done = this.loop();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
  }

  private async loop(): Promise<void> {
    const delay = this.opts.delay ?? ((n: number) => backoffDelay(n));
    let attempt = 0;
    while (!this.closed) {
      this.opts.onState?.('connecting');
      try {
        const received = await this.once();
        if (received) attempt = 0;
        if (!this.closed) this.opts.onState?.('offline', 'the server closed the event stream');
      } catch (err) {
        if (this.closed) break;
        if (err instanceof AuthError) {
          this.opts.onState?.('offline', err.message);
          return;
        }
        this.opts.onState?.('offline', (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message);
      }
      if (this.closed) break;
      await sleep(delay(attempt++), this.abort.signal);
    }
  }

  /** One connection; true when it was established. */
  private async once(): Promise<boolean> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.opts.token}`, accept: 'text/event-stream' };
    if (this.lastEventId) headers['last-event-id'] = this.lastEventId;
    const res = await (this.opts.fetch ?? fetch)(new URL('/api/v1/events', this.opts.url), { headers, signal: this.abort.signal });
    if (res.status === 401 || res.status === 403) throw new AuthError(`the server refused the token (${res.status}); set a valid one`);
    if (!res.ok || !res.body) throw new Error(`the events stream answered ${res.status}`);
    this.opts.onState?.('online');
    const resumed = this.connectedBefore;
    this.connectedBefore = true;
    if (resumed && !this.lastEventId) tellSafely(() => this.opts.onReload?.());
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return true;
        for (const m of parser.push(decoder.decode(value, { stream: true }))) {
          let parsed: StreamEvent;
          try {
            parsed = JSON.parse(m.data) as StreamEvent;
          } catch {
            continue;
          }
          if (m.id) this.lastEventId = m.id;
          if (m.event === 'reload') tellSafely(() => this.opts.onReload?.());
          else tellSafely(() => this.opts.onEvent(parsed));
        }
      }
    } catch (err) {
      if (this.closed) return true;
      throw err;
    }
  }
}

/** Calls a handler of the user's: one that fails must not drop the connection (and the events after). */
function tellSafely(fn: () => void): void {
  try {
    fn();
  } catch {
    // ignored: see above
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
