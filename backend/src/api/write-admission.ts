// State-changing calls are admitted a few at a time, taking turns between callers. A burst
// of them (a script filing a thousand requests) then waits in line at the door, costing
// nothing, instead of filling the event loop with work that every read, and every other
// person's approval, would queue behind. Reads are never held here.
//
// A call holds its turn until it answers, or for `holdMs` at most: one that waits on a slow
// target (a grant that takes seconds) lets the next one in while it goes on waiting, so that
// slowness on one target does not stop every other write.

import type { FastifyInstance } from 'fastify';
import type { Timers } from '../../../common/clock.ts';
import { problem } from './problems.ts';
import './route-access.ts';

export interface WriteAdmissionOptions {
  /** Calls in progress at once. */
  concurrency: number;
  /** How long a call may keep its turn (ms). */
  holdMs: number;
  /** Calls that may wait; beyond, `admit` refuses (the caller answers 503). */
  maxWaiting: number;
  timers: Timers;
}

/** Ends a call's turn; safe to call more than once. */
export type Release = () => void;

export class WriteAdmissionFull extends Error {
  constructor(readonly waiting: number) {
    super(`the server is busy: ${waiting} state-changing calls are waiting`);
  }
}

export class WriteAdmission {
  private inProgress = 0;
  private waitingCount = 0;
  /** Waiting calls per caller, in arrival order; the map's order is the callers' rotation. */
  private readonly waiting = new Map<string, Array<(release: Release) => void>>();

  constructor(private readonly opts: WriteAdmissionOptions) {}

  /** Calls waiting for their turn. */
  get queued(): number {
    return this.waitingCount;
  }

  /** Calls holding a turn now. */
  get running(): number {
    return this.inProgress;
  }

  /**
   * Resolves with the call's release once it may go on: at once while fewer than
   * `concurrency` calls hold a turn and nobody waits, else in turn with the other callers.
   */
  admit(caller: string): Promise<Release> {
    if (this.inProgress < this.opts.concurrency && this.waitingCount === 0) return Promise.resolve(this.start());
    if (this.waitingCount >= this.opts.maxWaiting) return Promise.reject(new WriteAdmissionFull(this.waitingCount));
    return new Promise((resolve) => {
      const line = this.waiting.get(caller);
      if (line) line.push(resolve);
      else this.waiting.set(caller, [resolve]);
      this.waitingCount++;
    });
  }

  private start(): Release {
    this.inProgress++;
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      this.opts.timers.clearTimeout(timer);
      this.inProgress--;
      this.next();
    };
    const timer = this.opts.timers.setTimeout(release, this.opts.holdMs);
    return release;
  }

  /** Lets waiting calls in while turns are free: the first caller in the rotation, who then goes last. */
  private next(): void {
    while (this.inProgress < this.opts.concurrency && this.waitingCount > 0) {
      const [caller, line] = this.waiting.entries().next().value!;
      const resolve = line.shift()!;
      this.waiting.delete(caller);
      if (line.length) this.waiting.set(caller, line);
      this.waitingCount--;
      resolve(this.start());
    }
  }
}

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

declare module 'fastify' {
  interface FastifyRequest {
    /** Ends the turn a state-changing call was admitted with. */
    releaseWriteTurn?: Release;
  }
}

/**
 * Every call that may change something (POST, PUT, PATCH, DELETE) waits for its turn once it
 * is authenticated and its input is valid, keyed by its caller (or, without one, its address);
 * its turn ends with its answer, or when the client goes away.
 */
export function registerWriteAdmission(app: FastifyInstance, admission: WriteAdmission): void {
  app.addHook('preHandler', async (req, reply) => {
    if (READ_METHODS.has(req.method)) return;
    try {
      req.releaseWriteTurn = await admission.admit(req.caller ? `user:${req.caller.id}` : `address:${req.ip}`);
    } catch (err) {
      if (!(err instanceof WriteAdmissionFull)) throw err;
      reply.header('retry-after', 1);
      return problem(reply, 503, 'Busy', `${err.message}; retry in a second`);
    }
  });
  const release = async (req: { releaseWriteTurn?: Release }) => req.releaseWriteTurn?.();
  app.addHook('onResponse', release);
  app.addHook('onRequestAbort', release);
}
