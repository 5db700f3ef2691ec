// The delivery thread's own code (a worker thread; see delivery-thread.ts for the side the
// service holds). It owns the outbox's delivery: its own store connection, the channels
// (SMTP connections, HTTP clients) and the rendering of each message, so that none of that
// work runs on the API's event loop. What the API's side must do — count outcomes in the
// metrics, write the admins' notice of a delivery given up, log — goes back as messages.

import { parentPort, workerData } from 'node:worker_threads';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import type { NotificationsConfig } from '../domain/config.ts';
import { Channels } from '../notify/channels.ts';
import { openOutboxConnection, type OutboxConnection } from '../store/outbox-connection.ts';
import { OutboxDelivery, THREAD_CONCURRENCY, THREAD_PER_CHANNEL } from './outbox-delivery.ts';
import { apiLoadReader, GiveWay } from './api-load.ts';
import type { DeliveryThreadData, FromDelivery, ToDelivery } from './delivery-thread.ts';

/**
 * On Linux a thread has a priority of its own: this one yields the processor to the API's
 * thread when both want it (a burst of requests is also a burst of deliveries).
 */
function lowerThisThreadsPriority(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
  } catch {
    // Not allowed, or no /proc: the thread keeps the process's priority.
  }
}

async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as DeliveryThreadData;
  const post = (m: FromDelivery) => port.postMessage(m);
  const log = (level: 'warn' | 'error', fields: Record<string, unknown>, message: string) => post({ type: 'log', level, fields, message });
  if (data.lowerPriority) lowerThisThreadsPriority();

  let outbox: OutboxConnection;
  try {
    outbox = await openOutboxConnection(data.spec, (err) => log('warn', { error: err.message }, 'a delivery database connection failed; it will be replaced'));
    // A deliverer of this replica that died left its leases: its rows are taken again at once.
    if (data.releaseLeases) await outbox.releaseLeases(data.owner);
  } catch (err) {
    // Reported, and the thread ends: the service starts another after a while.
    post({ type: 'fatal', error: (err as Error).message || String(err) });
    process.exit(1);
  }

  const wakeFlag = new Int32Array(data.wakeFlag);
  /** The injected clock's distance from this machine's clock, as the service last said. */
  let offsetMs = 0;
  let config: NotificationsConfig | null = data.notifications;
  let channels: Channels | null = config ? new Channels(config, data.env) : null;
  const now = () => Date.now() + offsetMs;
  // While the API's thread is busy, each delivery waits (a few seconds at most after its transition).
  const giveWay = data.apiLoad ? new GiveWay({ busy: apiLoadReader(data.apiLoad).busy, now }) : null;
  const delivery = new OutboxDelivery({
    outbox, owner: data.owner, now, channels: () => channels, concurrency: THREAD_CONCURRENCY, perChannel: THREAD_PER_CHANNEL, log,
    ...(giveWay ? { giveWay: (row) => giveWay.wait(row.createdAt) } : {}),
    // A claim begins: the next wake-up the service asks for is posted (see DeliveryThreadData.wakeFlag).
    onClaim: () => Atomics.store(wakeFlag, 0, 0),
    onOutcome: (channel, outcome) => post({ type: 'outcome', channel, outcome }),
    onGaveUp: async (row, error, at) => post({ type: 'gave-up', row, error, at }),
  });

  let stopping = false;
  port.on('message', (m: ToDelivery) => {
    switch (m.type) {
      case 'config':
        channels?.close();
        config = m.notifications;
        channels = config ? new Channels(config, data.env) : null;
        return;
      case 'run': {
        if (stopping) return;
        offsetMs = m.offsetMs;
        const pass = delivery.runDue();
        if (m.id === null) {
          void pass.catch((err: unknown) => log('error', { error: String(err) }, 'a delivery pass failed; the next one tries again'));
        } else {
          const id = m.id;
          pass.then((report) => post({ type: 'ran', id, report }), (err: unknown) => post({ type: 'ran', id, error: String(err) }));
        }
        return;
      }
      case 'stop':
        stopping = true;
        void (async () => {
          await delivery.idle();
          channels?.close();
          await outbox.close().catch(() => undefined);
          post({ type: 'stopped' });
          // Whatever the channels' clients keep open (idle keep-alive sockets) ends with the thread.
          process.exit(0);
        })();
        return;
    }
  });
  post({ type: 'ready' });
}

void main();
