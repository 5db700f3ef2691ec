// `lapse watch`: the tray app's notifications from a terminal, without Electron. Prints what
// waits for the caller's decision and the caller's active access, then subscribes to the
// events stream, plans each notification with the same module the tray app uses and shows it
// through node-notifier (notify-send on Linux, Notification Center on macOS, toasts on
// Windows). The last event handled and what was shown are kept in a state file: a restart or a
// reconnect resumes after that event (the server replays what was missed) and shows nothing
// twice; where the server cannot replay, the inbox and active access are printed again.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';
import { EventStream, type ConnectionState } from '../../../common/event-stream.ts';
import { planEventNotification, type PlannedNotification, type RequestLabel, type StreamEvent } from '../../../common/notifications.ts';
import { SeenKeys, type SeenState } from '../../../common/seen-keys.ts';
import { describeAccess, type DescribableRequest } from '../../../common/describe.ts';
import type { ApiClient } from './client.ts';
import { stateLines, type WatchedRequest } from './watch-state.ts';

export type Notify = (n: PlannedNotification) => Promise<void>;

/** The default state file: one per server URL and user, under XDG_STATE_HOME. */
export function defaultStateFile(url: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  const tag = createHash('sha256').update(url).digest('hex').slice(0, 12);
  return join(base, 'lapse', `watch-${tag}.json`);
}

export function readState(path: string): Partial<SeenState> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<SeenState>;
  } catch {
    return {};
  }
}

function writeState(path: string, seen: SeenKeys): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(seen), { mode: 0o600 });
  renameSync(tmp, path);
}

/** node-notifier, loaded on first use (it is CommonJS and only needed here). */
export async function nodeNotifier(): Promise<Notify> {
  const { default: notifier } = await import('node-notifier');
  return (n) => new Promise((resolve, reject) => {
    notifier.notify({ title: n.title, message: n.body, wait: false }, (err) => (err ? reject(err) : resolve()));
  });
}

export interface WatchOptions {
  api: ApiClient;
  token: string;
  stateFile: string;
  notify: Notify;
  out: (line: string) => void;
  /** Resolves when watching should stop (a signal). */
  stop: Promise<void>;
}

export async function watch(o: WatchOptions): Promise<number> {
  const me = await o.api.get<{ id: string }>('/api/v1/me');
  const seen = new SeenKeys(readState(o.stateFile));
  const labels = new Map<string, RequestLabel>();
  const labelOf = async (requestId: string): Promise<RequestLabel | undefined> => {
    if (labels.has(requestId)) return labels.get(requestId);
    try {
      const r = await o.api.get<DescribableRequest & { grants: { accessDetails?: Record<string, string> | null }[] }>(`/api/v1/requests/${encodeURIComponent(requestId)}`);
      const label = { label: describeAccess(r), hasAccessDetails: r.grants.some((g) => g.accessDetails && Object.keys(g.accessDetails).length > 0) };
      if (labels.size > 500) labels.clear();
      labels.set(requestId, label);
      return label;
    } catch {
      return undefined; // the text falls back to the flow id
    }
  };

  const showState = async () => {
    const [inbox, mine] = await Promise.all([
      o.api.get<{ approvals: WatchedRequest[] }>('/api/v1/approvals'),
      o.api.get<{ requests: WatchedRequest[] }>('/api/v1/requests?mine=true&status=active'),
    ]);
    for (const line of stateLines(inbox.approvals, mine.requests, Date.now())) o.out(line);
  };
  await showState();

  // Events are handled one at a time, in order.
  let queue = Promise.resolve();
  const handle = async (event: StreamEvent) => {
    const cheap = planEventNotification(event, me.id);
    if (cheap && !seen.has(cheap.key)) {
      labels.delete(event.requestId ?? '');
      const n = planEventNotification(event, me.id, await labelOf(event.requestId!)) ?? cheap;
      if (seen.add(n.key)) {
        o.out(`${new Date().toISOString().slice(11, 19)}  ${n.title} — ${n.body}`);
        try {
          await o.notify(n);
        } catch (err) {
          o.out(`  (could not show the notification: ${(err as Error).message})`);
        }
      }
    }
    seen.lastEventId = event.id;
    writeState(o.stateFile, seen);
  };

  let lastState: ConnectionState | null = null;
  const stream = new EventStream({
    url: o.api.baseUrl,
    token: o.token,
    lastEventId: seen.lastEventId,
    onEvent: (e) => {
      queue = queue.then(() => handle(e)).catch((err) => o.out(`  (could not handle event ${e.id}: ${(err as Error).message})`));
    },
    onReload: () => {
      queue = queue.then(async () => {
        o.out('some events could not be replayed; as things are now:');
        await showState();
      }).catch((err) => o.out(`  (could not read the inbox and active access: ${(err as Error).message})`));
    },
    onState: (state, detail) => {
      if (state === lastState && state !== 'offline') return;
      lastState = state;
      if (state === 'online') o.out(`watching ${o.api.baseUrl} as ${me.id}`);
      else if (state === 'offline') o.out(`offline: ${detail ?? 'disconnected'}; reconnecting`);
    },
  });
  await Promise.race([o.stop, stream.done]);
  stream.close();
  await stream.done;
  await queue;
  return 0;
}
