// Counts the calls running on an integration, so that one a reload replaced or removed is
// closed only once the work that took it before the swap has finished with it.

import type { Integration } from './integration.ts';

export interface TrackedIntegration {
  /** The integration, every call of which is counted while it runs. */
  readonly integration: Integration;
  /** Resolves true once no call runs on it, or false after `timeoutMs` with calls still running. */
  idle(timeoutMs: number): Promise<boolean>;
}

/** The calls on the target that are counted (those of the Integration contract that go out to it). */
const COUNTED = new Set<PropertyKey>(['grant', 'revoke', 'listGranted', 'listResources', 'health', 'removeAccount']);

/** How often a wait for an integration's calls to end looks again. */
const IDLE_POLL_MS = 50;

export function trackCalls(integration: Integration): TrackedIntegration {
  let running = 0;
  const counted = new Map<PropertyKey, unknown>();
  const wrap = (fn: (...args: unknown[]) => Promise<unknown>) => async (...args: unknown[]): Promise<unknown> => {
    running++;
    try {
      return await fn(...args);
    } finally {
      running--;
    }
  };
  const proxy = new Proxy(integration, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      // close() is the retirement itself; accountOf and anything else of the object's own answers at once.
      if (!COUNTED.has(property)) return (value as (...a: unknown[]) => unknown).bind(target);
      let fn = counted.get(property);
      if (!fn) counted.set(property, (fn = wrap((value as (...a: unknown[]) => Promise<unknown>).bind(target))));
      return fn;
    },
  });
  return {
    integration: proxy,
    async idle(timeoutMs) {
      const until = Date.now() + timeoutMs;
      while (running > 0) {
        if (Date.now() >= until) return false;
        // Unref'd: a wait for a retired object's calls keeps no process alive.
        await new Promise((r) => setTimeout(r, IDLE_POLL_MS).unref());
      }
      return true;
    },
  };
}
