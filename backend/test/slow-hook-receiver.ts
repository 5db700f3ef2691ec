// A webhook receiver for the notification tests that answers each delivery after a delay,
// so that deliveries are in flight when a test kills their deliverer, and keeps each one's
// idempotency key in the order they were answered (repeats included).

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowHookReceiver {
  /** Its /hook address. */
  url: string;
  /** The x-lapse-idempotency-key of every delivery answered, in order. */
  received: string[];
  close(): void;
}

export async function startSlowHookReceiver(delayMs: number): Promise<SlowHookReceiver> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => {
      received.push(String(req.headers['x-lapse-idempotency-key']));
      res.writeHead(200).end('ok');
    }, delayMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
