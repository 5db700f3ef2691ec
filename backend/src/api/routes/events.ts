// The events stream (server-sent events). A stream is authorized at every delivery, not
// once: each event is filtered by the caller's rights as they are then (a reload may have
// taken the admin role away), and the token of every open stream is looked up again every
// STREAM_RECHECK_MS, so a stream ends within about a second of its token being revoked,
// here or by another process.
//
// A client that reconnects with Last-Event-ID (or ?lastEventId=) is first sent, in order, the
// kept events after that one which it may see now (services/event-log.ts), then the live
// ones: live events that arrive meanwhile wait, and one the replay sent already is not sent
// again. When what it missed cannot be replayed (an id unknown, not its own to know, older
// than the retention or malformed, too much missed, the store failing) it is sent a `reload`
// event instead, and reads its state again.

import * as R from '../../../../common/api/responses.ts';
import * as S from '../../../../common/api/schemas.ts';
import type { LapseEvent as WireEvent } from '../../../../common/api/types.ts';
import type { LapseEvent } from '../../engine/events.ts';
import { bearerToken } from '../authentication.ts';
import { iso } from '../views.ts';
import { token, type Api, type RouteContext } from './context.ts';

/** How often the token of every open event stream is looked up again. */
const STREAM_RECHECK_MS = 500;
const HEARTBEAT_MS = 15_000;

export function eventRoutes(app: Api, { engine, events, eventLog, clock, tokens }: RouteContext): void {
  const openStreams = new Map<() => void, string>();
  let recheck: NodeJS.Timeout | null = null;
  const recheckStreams = async () => {
    const byToken = new Map<string, (() => void)[]>();
    for (const [close, token] of openStreams) byToken.set(token, [...(byToken.get(token) ?? []), close]);
    for (const [token, closes] of byToken) {
      const record = await tokens.authenticate(token).catch(() => undefined);
      if (record === null) for (const close of closes) close();
    }
  };

  app.get('/api/v1/events', {
    schema: {
      summary: 'Server-sent events of every change that concerns the caller; with Last-Event-ID, what the caller missed first (or a reload event)',
      querystring: S.eventsQuery,
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream: each event\'s data is one JSON object', content: { 'text/event-stream': { schema: R.streamEvent } } } },
    },
    config: token(),
  }, async (req, reply) => {
    const caller = req.caller;
    const presented = bearerToken(req)!;
    const header = req.headers['last-event-id'];
    const lastEventId = (typeof header === 'string' && header !== '' ? header : undefined) ?? (req.query.lastEventId || undefined);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n: connected as ${caller.id}\n\n`);
    const visible = (e: LapseEvent) => e.audience.includes(caller.id) || engine.config.isAdmin(caller.id);
    const send = (e: LapseEvent) => {
      if (!openStreams.has(close)) return;
      if (!visible(e)) return;
      const data: WireEvent = { id: e.id, type: e.type, at: iso(e.at), requestId: e.requestId, data: e.data };
      res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    // While a replay is read, live events wait here (null: they are sent as they come).
    let waiting: LapseEvent[] | null = lastEventId === undefined ? null : [];
    const unsubscribe = events.subscribe((e) => (waiting ? waiting.push(e) : send(e)));
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    // Ends the stream when the client goes away, its token is revoked or the server shuts
    // down: a response left open keeps its connection busy, and the server from closing.
    const close = () => {
      if (!openStreams.delete(close)) return;
      clearInterval(heartbeat);
      unsubscribe();
      if (!res.writableEnded) res.end();
      if (openStreams.size === 0 && recheck) {
        clearInterval(recheck);
        recheck = null;
      }
    };
    openStreams.set(close, presented);
    recheck ??= setInterval(() => void recheckStreams(), STREAM_RECHECK_MS);
    req.raw.on('close', close);
    res.on('close', close);
    if (waiting === null) return;

    const replay = eventLog ? await eventLog.replay(lastEventId, visible) : { reload: 'unavailable' as const };
    if (!openStreams.has(close)) return;
    const sent = new Set<string>();
    if ('reload' in replay) {
      // No id: the client keeps the one it had, and is told to reload again if it reconnects before the next event.
      const data: WireEvent = { id: `reload:${clock.now()}`, type: 'reload', at: iso(clock.now()), requestId: null, data: { reason: replay.reload } };
      res.write(`event: reload\ndata: ${JSON.stringify(data)}\n\n`);
    } else {
      for (const e of replay.events) {
        send(e);
        sent.add(e.id);
      }
    }
    const arrived = waiting;
    waiting = null;
    for (const e of arrived) if (!sent.has(e.id)) send(e);
  });

  app.addHook('preClose', async () => {
    for (const close of [...openStreams.keys()]) close();
  });
}
