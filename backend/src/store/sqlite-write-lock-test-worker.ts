// A thread that holds the store's write lock as the delivery thread would, for
// sqlite-write-lock.test.ts: it takes the lock, says so, and frees it when told.

import { parentPort, workerData } from 'node:worker_threads';
import { SharedWriteLock } from './sqlite-write-lock.ts';

const lock = new SharedWriteLock(workerData as SharedArrayBuffer);
lock.acquire('delivery');
parentPort!.postMessage('held');
parentPort!.on('message', (m: 'release' | 'exit') => {
  if (m === 'release') lock.release('delivery');
  parentPort!.postMessage(m === 'release' ? 'released' : 'exiting');
  parentPort!.close();
});
