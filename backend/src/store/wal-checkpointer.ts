// Checkpoints the SQLite write-ahead log from a worker thread with its own connection, so
// copying pages back into the database (and the fsyncs that go with it) happens beside the
// event loop instead of inside a request's COMMIT. SQLite allows a passive checkpoint to run
// while another connection writes. The writer keeps a large automatic checkpoint as a
// safety net should this thread ever stop.

import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.libsql);
const db = new Database(workerData.path);
db.exec('PRAGMA busy_timeout = 5000');
let timer = null;
function tick() {
  try { db.prepare('PRAGMA wal_checkpoint(PASSIVE)').get(); } catch (err) { parentPort.postMessage('error: ' + err.message); }
  timer = setTimeout(tick, workerData.intervalMs);
}
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearTimeout(timer);
  db.close();
  parentPort.postMessage('stopped');
  parentPort.close();
});
timer = setTimeout(tick, workerData.intervalMs);
`;

export class WalCheckpointer {
  private readonly worker: Worker;

  constructor(path: string, intervalMs = 500) {
    const libsql = createRequire(import.meta.url).resolve('libsql');
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, libsql, intervalMs } });
    this.worker.unref();
    this.worker.on('error', () => undefined);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.worker.postMessage('stop');
    });
    await this.worker.terminate();
  }
}
