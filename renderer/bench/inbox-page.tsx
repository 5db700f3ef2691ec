// The benchmark page: the real inbox view, its stores and the live-update path, fed by the
// in-memory API with 1,000 pending requests. `window.lapseBench()` returns the timings.
// The same page mounts the inbox or the whole app on the in-memory API for the tests of
// what the portal cannot show (long lists, the desktop settings).

import { createRoot } from 'react-dom/client';
import '../src/styles.css';
import { InboxView } from '../src/views/inbox.tsx';
import { App } from '../src/app.tsx';
import { setApi, useApprovals, useSession } from '../src/stores.ts';
import { startLiveUpdates } from '../src/live.ts';
import { MemoryApi, generatePendingRequests } from './memory-api.ts';
import type { AccessRequest, Me } from '../../common/lapse-api.ts';

const ME: Me = { id: 'bob', email: 'bob@example.com', name: 'Bob', groups: ['sre-leads'], roles: ['requester', 'approver'], expiryWarnings: ['10m', '1m'] };
const nextFrame = () => new Promise<number>((resolve) => requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0)));

export interface BenchResult {
  rows: number;
  /** Rows rendered in the DOM (the list renders those near the viewport). */
  domRows: number;
  /** Mount → the 1,000 rows committed to the DOM (a layout-effect marker). */
  firstRenderCommitMs: number;
  /** The same on a second mount in the page, once the code is compiled. */
  warmFirstRenderCommitMs: number;
  /** Mount → the frame after that commit (style and layout included). */
  firstRenderFrameMs: number;
  /** One event from the stream → the changed row committed, per kind of change (medians). */
  updateCommitMs: { replace: number; add: number; remove: number };
  /** The same, to the next frame. */
  updateFrameMs: { replace: number; add: number; remove: number };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(rows: number, updates: number): Promise<BenchResult> {
  const api = new MemoryApi(ME);
  const pending = generatePendingRequests(rows, ME.id);
  api.seed(pending);
  setApi(api);
  useSession.setState({ me: ME });
  useApprovals.setState({ list: [], loaded: false });

  let onCommit: (n: number) => void = () => undefined;
  const committed = (want: (n: number) => boolean) => new Promise<number>((resolve) => {
    onCommit = (n) => {
      if (want(n)) {
        onCommit = () => undefined;
        resolve(performance.now());
      }
    };
  });

  const host = document.getElementById('root')!;
  let domRows = 0;
  const t0 = performance.now();
  const firstCommit = committed((n) => n === rows);
  const root = createRoot(host);
  root.render(<InboxView onCommit={(n) => onCommit(n)} />);
  const t1 = await firstCommit;
  const t2 = await nextFrame();
  const shown = host.querySelectorAll('article');
  if (shown.length === 0 || shown[0]!.getAttribute('aria-setsize') !== String(rows)) throw new Error(`expected the inbox to show ${rows} rows`);
  domRows = shown.length;
  startLiveUpdates(api);

  const commitTimes = { replace: [] as number[], add: [] as number[], remove: [] as number[] };
  const frameTimes = { replace: [] as number[], add: [] as number[], remove: [] as number[] };
  for (let i = 0; i < updates; i++) {
    // A request changed (here: its justification), a new one arrived, one was decided elsewhere.
    // (A row on screen: off-screen rows are not rendered, so changing one costs less.)
    const target = pending[i % 3]!;
    const changed: AccessRequest = { ...target, justification: `${target.justification} (update ${i})` };
    for (const [kind, apply, expect] of [
      ['replace', () => api.change(changed, 'request.updated'), (n: number) => n === useApprovals.getState().list.length && host.textContent!.includes(`(update ${i})`)],
      ['add', () => api.change({ ...target, id: `new-${i}` }, 'approval.requested'), (n: number) => n === rows + 1],
      ['remove', () => api.change({ ...target, id: `new-${i}`, status: 'canceled' }, 'request.canceled'), (n: number) => n === rows],
    ] as const) {
      const start = performance.now();
      const done = committed(expect);
      apply();
      const c = await done;
      const f = await nextFrame();
      commitTimes[kind].push(c - start);
      frameTimes[kind].push(f - start);
    }
  }
  // The inbox opened again in the same page (code already compiled): the view alone.
  root.unmount();
  useApprovals.setState({ list: [], loaded: false });
  const t3 = performance.now();
  const again = committed((n) => n === rows);
  createRoot(host).render(<InboxView onCommit={(n) => onCommit(n)} />);
  const t4 = await again;

  return {
    rows,
    domRows,
    warmFirstRenderCommitMs: t4 - t3,
    firstRenderCommitMs: t1 - t0,
    firstRenderFrameMs: t2 - t0,
    updateCommitMs: { replace: median(commitTimes.replace), add: median(commitTimes.add), remove: median(commitTimes.remove) },
    updateFrameMs: { replace: median(frameTimes.replace), add: median(frameTimes.add), remove: median(frameTimes.remove) },
  };
}

/** Mounts the inbox with `rows` pending requests and live updates, for the windowing test. */
async function mount(rows: number): Promise<void> {
  const api = new MemoryApi(ME);
  api.seed(generatePendingRequests(rows, ME.id));
  setApi(api);
  useSession.setState({ me: ME });
  startLiveUpdates(api);
  createRoot(document.getElementById('root')!).render(<InboxView />);
  (window as unknown as { lapseMemoryApi: MemoryApi }).lapseMemoryApi = api;
}

/** Mounts the whole app on the in-memory API as the desktop app or the portal would show it, at `hash`. */
async function mountApp(host: 'desktop' | 'portal', hash: string, keychainProblem: string | null): Promise<void> {
  const api = new MemoryApi(ME, { flows: [] }, Date.now, host);
  api.settings.keychainProblem = keychainProblem;
  setApi(api);
  location.hash = hash;
  createRoot(document.getElementById('root')!).render(<App api={api} />);
  (window as unknown as { lapseMemoryApi: MemoryApi }).lapseMemoryApi = api;
}

Object.assign(window, { lapseBench: run, lapseMountInbox: mount, lapseMountApp: mountApp });
