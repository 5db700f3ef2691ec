import { SqliteStore } from './src/store/sqlite-store.ts';
import { reconcile } from './src/engine/reconcile.ts';
import { DemoIntegration } from './src/integrations/demo-integration.ts';
const store = new SqliteStore('/tmp/lapse-bench-rest-Gnrovn/lapse.db');
const demo = new DemoIntegration('demo', '/tmp/lapse-bench-rest-Gnrovn/demo-demo.db', []);
for (let i = 0; i < 3; i++) {
  let t = performance.now();
  const l = await demo.listGranted();
  const tl = performance.now() - t;
  t = performance.now();
  const r = await store.listRequests({ statuses: ['granting','active','revoking'], limit: 1_000_000 });
  const tr = performance.now() - t;
  t = performance.now();
  const g = await store.getGrantsOf(r.map(x => x.id));
  const tg = performance.now() - t;
  t = performance.now();
  const rep = await reconcile({ store, integrations: new Map([['demo', demo]]), now: Date.now }, 'x');
  console.log({ listed: l.length, tl, requests: r.length, tr, tg, total: performance.now() - t, fixes: rep.fixes.length });
}
