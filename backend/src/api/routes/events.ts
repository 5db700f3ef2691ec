// The events stream (server-sent events). A stream is authorized at every delivery, not
// once: each event is filtered by the caller's rights as they are then (a reload may have
// taken the admin role away), and the token of every open stream is looked up again every
// STREAM_RECHECK_MS, so a stream ends within about a second of its token being revoked,
// here or by another process.

import * as R from '../../../../common/api/responses.ts';
import type { LapseEvent as WireEvent } from '../../../../common/api/types.ts';
import type { LapseEvent } from '../../engine/events.ts';
import { bearerToken } from '../authentication.ts';
import { iso } from '../views.ts';
import { token, type Api, type RouteContext } from './context.ts';

/** How often the token of every open event stream is looked up again. */
const STREAM_RECHECK_MS = 500;
const HEARTBEAT_MS = 15_000;

export function eventRoutes(app: Api, { engine, events, tokens }: RouteContext): void {
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
      summary: 'Server-sent events of every change that concerns the caller',
      produces: ['text/event-stream'],
      response: { 200: { description: 'text/event-stream: each event\'s data is one JSON object', content: { 'text/event-stream': { schema: R.streamEvent } } } },
    },
    config: token(),
  }, async (req, reply) => {
    const caller = req.caller;
    const presented = bearerToken(req)!;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: 2000\n: connected as ${caller.id}\n\n`);
    const send = (e: LapseEvent) => {
      if (!openStreams.has(close)) return;
      if (!e.audience.includes(caller.id) && !engine.config.isAdmin(caller.id)) return;
      const data: WireEvent = { id: e.id, type: e.type, at: iso(e.at), requestId: e.requestId, data: e.data };
      res.write(`id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const unsubscribe = events.subscribe(send);
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
  });

  app.addHook('preClose', async () => {
    for (const close of [...openStreams.keys()]) close();
  });
}
