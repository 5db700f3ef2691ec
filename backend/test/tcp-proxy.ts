// A TCP proxy a test owns, in front of a real server, so that the test can make the target
// unreachable and bring it back ("target down" tests of the integrations).
//
//   const proxy = await startTcpProxy({ host: '127.0.0.1', port: 5432 });
//   // point the integration at 127.0.0.1:proxy.port
//   proxy.cut();             // live connections closed, new ones reset at once
//   proxy.cut('blackhole');  // live connections closed, new ones accepted and never answered
//   proxy.restore();         // forwarding again
//   await proxy.close();
//
// `refuse` makes a client fail fast (its connection is reset); `blackhole` makes it wait for
// its own timeout, like a host that has vanished from the network.

import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type CutMode = 'refuse' | 'blackhole';

export interface TcpProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Connections accepted so far (forwarded or not). */
  readonly accepted: number;
  /** Connections open now (client side). */
  readonly open: number;
  cut(mode?: CutMode): void;
  restore(): void;
  close(): Promise<void>;
}

export interface TcpProxyTarget {
  host: string;
  port: number;
}

export async function startTcpProxy(target: TcpProxyTarget): Promise<TcpProxy> {
  const live = new Set<Socket>();
  const clients = new Set<Socket>();
  let mode: CutMode | null = null;
  let accepted = 0;

  const track = (socket: Socket): void => {
    live.add(socket);
    socket.once('close', () => live.delete(socket));
  };

  const server: Server = createServer((client) => {
    accepted += 1;
    track(client);
    clients.add(client);
    client.once('close', () => clients.delete(client));
    client.on('error', () => client.destroy());
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') {
      client.pause();
      return;
    }
    const upstream = createConnection({ host: target.host, port: target.port });
    track(upstream);
    upstream.on('error', () => {
      upstream.destroy();
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp proxy: no port');

  return {
    host: '127.0.0.1',
    port: address.port,
    get accepted() {
      return accepted;
    },
    get open() {
      return clients.size;
    },
    cut(cutMode: CutMode = 'refuse') {
      mode = cutMode;
      for (const socket of live) socket.destroy();
      live.clear();
    },
    restore() {
      mode = null;
    },
    close() {
      mode = 'refuse';
      for (const socket of live) socket.destroy();
      live.clear();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
