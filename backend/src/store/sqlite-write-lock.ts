// The SQLite file's write lock, as the two connections of one server process share it: the
// API's (the store's writer) and the delivery thread's (outbox-connection.ts). SQLite lets
// one connection write at a time and makes the other wait in its busy handler, which sleeps
// (1, 2, 5, 10 ms, …): on the API's thread such a sleep stops the event loop, and every
// call waits with it. With this lock, taken around every write transaction of both, the
// API's thread never finds the file locked by the delivery thread: its group commit waits
// a turn of the event loop instead (see SqliteStore), and a write outside a group commit
// waits here for the delivery thread's one short transaction. The delivery thread, which
// has no callers waiting on it, is the one that blocks.
//
// The store makes the lock; its memory (a SharedArrayBuffer) goes to the thread with the
// connection's spec. Other processes on the same file (the CLI, the checkpointer's
// connection) still meet SQLite's own lock and its busy timeout.

export type WriteLockHolder = 'api' | 'delivery';

const FREE = 0;
const CODES: Record<WriteLockHolder, number> = { api: 1, delivery: 2 };

export class SharedWriteLock {
  private readonly word: Int32Array;

  constructor(readonly memory: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.word = new Int32Array(memory, 0, 1);
  }

  /** Takes the lock if it is free. */
  tryAcquire(holder: WriteLockHolder): boolean {
    return Atomics.compareExchange(this.word, 0, FREE, CODES[holder]) === FREE;
  }

  /**
   * Takes the lock, waiting for it for `timeoutMs` at most (blocking this thread). False when
   * it was not free in time: the caller goes on without it (SQLite's own lock still holds).
   */
  acquire(holder: WriteLockHolder, timeoutMs = 5000): boolean {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (this.tryAcquire(holder)) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      const current = Atomics.load(this.word, 0);
      if (current !== FREE) Atomics.wait(this.word, 0, current, left);
    }
  }

  /** Frees the lock if `holder` has it (a thread that died holding it is freed this way too). */
  release(holder: WriteLockHolder): void {
    if (Atomics.compareExchange(this.word, 0, CODES[holder], FREE) === CODES[holder]) Atomics.notify(this.word, 0);
  }

  /** Whether `holder` has the lock now. */
  heldBy(holder: WriteLockHolder): boolean {
    return Atomics.load(this.word, 0) === CODES[holder];
  }
}
