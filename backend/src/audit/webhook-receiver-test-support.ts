// A local HTTP receiver of audit webhooks for the tests: it checks each request's signature
// as a receiver would (verifyWebhookSignature over the raw body), answers as told, and keeps
// every request it got.

import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { verifyWebhookSignature } from '../integrations/webhook.ts';

export interface ReceivedHook {
  path: string;
  headers: IncomingHttpHeaders;
  // The parsed JSON body, of the shape the stream sends; the tests assert on it field by field.
  body: any;
  verified: boolean;
  /** The status it was answered with. */
  status: number;
}

export interface WebhookReceiver {
  url: string;
  requests: ReceivedHook[];
  /** What the next requests are answered (default 200). */
  answer: { status: number; body: string };
  close(): Promise<void>;
}

/** On 127.0.0.1, over https with `tls` (a certificate and its key, PEM). */
export async function startWebhookReceiver(key: string, tls?: { cert: Buffer; key: Buffer }): Promise<WebhookReceiver> {
  const receiver: Omit<WebhookReceiver, 'url' | 'close'> = { requests: [], answer: { status: 200, body: 'ok' } };
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const verified = verifyWebhookSignature(key, String(req.headers['x-lapse-timestamp'] ?? ''), raw, String(req.headers['x-lapse-signature'] ?? ''));
      const { status, body } = verified ? receiver.answer : { status: 401, body: 'bad signature' };
      receiver.requests.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(raw.toString('utf8')), verified, status });
      res.writeHead(status).end(body);
    });
  };
  const server = tls ? createHttpsServer(tls, handle) : createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return Object.assign(receiver, {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
}

/** Polls `probe` until it gives a value; fails after `timeoutMs`. */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
