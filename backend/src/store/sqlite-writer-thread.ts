// The SQLite store's writes in a worker thread, both ends of it: `SqliteWriterThread` on the
// caller's side, and at the bottom what the thread runs. The thread has a connection of its
// own and runs every write there (a SqliteWriter), so the event loop never waits for a
// commit: under a revocation storm or a burst of requests, the API keeps answering while the
// thread writes. Reads stay on the caller's connection; in WAL mode they see every commit
// the thread has answered for.

import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { openSqlite, runWrite, SqliteWriter, writesVia, type SqliteWrites, type WriteMethod } from './sqlite-writer.ts';

/** Marks the worker's data, so that this module serves only in a thread started for it. */
const THREAD_PATH = 'lapseSqliteWriterPath';

interface WriteMessage {
  id: number;
  method: WriteMethod;
  args: unknown[];
}

interface ErrorShape {
  message: string;
  code?: string;
}

type AnswerMessage = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: ErrorShape };

export class SqliteWriterThread {
  readonly writes: SqliteWrites;
  private readonly worker: Worker;
  private nextId = 1;
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (err: unknown) => void }>();
  /** Why the thread cannot take writes any more (it failed, or was closed). */
  private stopped: Error | null = null;
  private readonly exited: Promise<void>;

  constructor(path: string) {
    this.worker = startWorker(path);
    // The thread keeps the process alive only while a write is under way (see call()).
    this.worker.unref();
    this.worker.on('message', (m: AnswerMessage) => this.answer(m));
    this.worker.on('error', (err) => this.stop(new Error(`the SQLite writer thread failed: ${err.message}`)));
    this.exited = new Promise((resolve) => this.worker.once('exit', (code) => {
      this.stop(new Error(`the SQLite writer thread exited (code ${code})`));
      resolve();
    }));
    this.writes = writesVia((method, args) => this.call(method, args));
  }

  /** Null while the thread takes writes, else why it does not. */
  get failure(): Error | null {
    return this.stopped;
  }

  private call<K extends WriteMethod>(method: K, args: Parameters<SqliteWriter[K]>): Promise<ReturnType<SqliteWriter[K]>> {
    return new Promise<ReturnType<SqliteWriter[K]>>((resolve, reject) => {
      if (this.stopped) {
        reject(this.stopped);
        return;
      }
      const id = this.nextId++;
      // The answer's shape is the method's return type: the thread ran that very method.
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.calls.size === 1) this.worker.ref();
      const message: WriteMessage = { id, method, args };
      this.worker.postMessage(message);
    });
  }

  private answer(m: AnswerMessage): void {
    const call = this.calls.get(m.id);
    if (!call) return;
    this.calls.delete(m.id);
    if (this.calls.size === 0) this.worker.unref();
    if (m.ok) call.resolve(m.value);
    else call.reject(Object.assign(new Error(m.error.message), m.error.code === undefined ? {} : { code: m.error.code }));
  }

  private stop(reason: Error): void {
    this.stopped ??= reason;
    for (const call of this.calls.values()) call.reject(this.stopped);
    this.calls.clear();
  }

  /** Closes the thread's connection once the writes sent so far are done. */
  async close(): Promise<void> {
    if (!this.stopped) {
      this.worker.ref();
      this.worker.postMessage('close');
    }
    await this.exited;
  }
}

function startWorker(path: string): Worker {
  const self = fileURLToPath(import.meta.url);
  if (!self.endsWith('.ts')) throw new Error('the SQLite writer thread runs from the TypeScript sources; a bundled backend writes inline');
  // Node 20 does not hand the TypeScript loader (tsx) on to worker threads: the thread
  // registers it first (its require hook: quicker to start than the module hooks).
  const tsx = fileURLToPath(import.meta.resolve('tsx/cjs/api'));
  const bootstrap = `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(self)});`;
  return new Worker(bootstrap, { eval: true, workerData: { [THREAD_PATH]: path } });
}

// ── in the thread ──────────────────────────────────────────────────────────────────────

function serve(port: NonNullable<typeof parentPort>, path: string): void {
  const db = openSqlite(path);
  const writer = new SqliteWriter(db);
  // Messages are handled in the order they were sent, each to completion.
  port.on('message', (m: WriteMessage | 'close') => {
    if (m === 'close') {
      writer.close();
      db.close();
      port.close();
      return;
    }
    let answer: AnswerMessage;
    try {
      answer = { id: m.id, ok: true, value: runWrite(writer, m.method, m.args) };
    } catch (err) {
      answer = { id: m.id, ok: false, error: { message: err instanceof Error ? err.message : String(err), code: (err as { code?: string }).code } };
    }
    port.postMessage(answer);
  });
}

if (!isMainThread && parentPort && typeof workerData?.[THREAD_PATH] === 'string') serve(parentPort, workerData[THREAD_PATH]);
