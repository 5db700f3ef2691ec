// The test-owned TCP proxy (tcp-proxy.ts): forwards to a real echo server, cuts live
// connections, refuses or blackholes new ones while cut, and forwards again after restore.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, createServer, type Socket } from 'node:net';
import { once } from 'node:events';
import { startTcpProxy } from './tcp-proxy.ts';

const echo = createServer((socket) => socket.pipe(socket));
await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
const echoPort = (echo.address() as { port: number }).port;
after(() => echo.close());

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  const [data] = (await once(socket, 'data')) as [Buffer];
  return data.toString('utf8');
}

/** Resolves with how the socket ended: 'error' (reset), 'close', or 'silent' after waitMs. */
function outcome(socket: Socket, waitMs: number): Promise<'error' | 'close' | 'silent' | 'data'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('silent'), waitMs);
    socket.once('data', () => (clearTimeout(timer), resolve('data')));
    socket.once('error', () => (clearTimeout(timer), resolve('error')));
    socket.once('close', () => (clearTimeout(timer), resolve('close')));
  });
}

test('forwards, cuts live connections, refuses while cut, forwards after restore', async () => {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: echoPort });
  try {
    const first = await connect(proxy.port);
    assert.equal(await roundTrip(first, 'hello'), 'hello');
    assert.equal(proxy.open, 1);

    const ended = outcome(first, 2000);
    proxy.cut();
    assert.notEqual(await ended, 'silent', 'a live connection is closed by cut()');

    const refused = createConnection({ host: '127.0.0.1', port: proxy.port });
    refused.on('connect', () => refused.write('x'));
    assert.ok(['error', 'close'].includes(await outcome(refused, 2000)), 'a new connection is reset');

    proxy.restore();
    const again = await connect(proxy.port);
    assert.equal(await roundTrip(again, 'back'), 'back');
    again.destroy();
  } finally {
    await proxy.close();
  }
});

test('blackhole: a new connection is accepted and never answered', async () => {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: echoPort });
  try {
    proxy.cut('blackhole');
    const socket = await connect(proxy.port);
    socket.write('anyone?');
    assert.equal(await outcome(socket, 300), 'silent');
    proxy.restore();
    socket.destroy();
    const later = await connect(proxy.port);
    assert.equal(await roundTrip(later, 'ok'), 'ok');
    later.destroy();
    assert.equal(proxy.accepted, 2);
  } finally {
    await proxy.close();
  }
});
