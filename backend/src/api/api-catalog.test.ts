// The catalog over HTTP as time passes: a server on a clock the test moves. The answer for a
// user is kept between the instants at which it can change (a window opening or closing, a
// shift handing over), a new configuration, or a change in the integrations' health.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startService, type Service } from '../service.ts';
import { silentLogger } from '../logger.ts';
import { createToken } from '../auth/tokens.ts';
import { ManualClock } from '../../../common/clock.ts';
import type { DemoIntegration } from '../integrations/demo-integration.ts';

const MINUTE = 60_000;
/** Monday 2026-11-23 07:59 UTC: the office window opens at 08:00; alice is on call until 09:00. */
const T0 = Date.UTC(2026, 10, 23, 7, 59);

const CONFIG = `
settings: { admins: [carol] }
identities:
  users:
    - { id: alice, email: alice@example.com, groups: [engineering] }
    - { id: dave, email: dave@example.com, groups: [engineering] }
    - { id: carol, email: carol@example.com, groups: [security] }
  shifts:
    - { id: sre-oncall, timezone: UTC, rotation: daily, handoff: "09:00", members: [alice, dave], anchor: 2026-11-22 }
integrations:
  - id: demo
    type: demo
    resources:
      - { type: database, name: app }
flows:
  - id: office
    requesters: { conditions: [ { attribute: group, op: is, value: [engineering] } ] }
    when: { days: [mon, tue, wed, thu, fri], from: "08:00", to: "20:00", timezone: UTC }
    targets: [ { integration: demo, resourceType: database, resources: any, permissions: [read] } ]
    approval: automatic
  - id: on-call
    requesters: { conditions: [ { attribute: shift, op: is, value: [sre-oncall] } ] }
    targets: [ { integration: demo, resourceType: database, resources: any, permissions: [admin] } ]
    approval: automatic
`;

const dirs: string[] = [];
const services: Service[] = [];
after(async () => {
  for (const s of services) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface CatalogFlow {
  id: string;
  available: boolean;
  reason: string | null;
  integrationHealth: { integration: string; error: string }[];
}

async function server(): Promise<{ svc: Service; clock: ManualClock; configPath: string; catalog: (user: string) => Promise<CatalogFlow[]> }> {
  const dir = mkdtempSync(join(tmpdir(), 'lapse-catalog-'));
  dirs.push(dir);
  const configPath = join(dir, 'lapse.yaml');
  writeFileSync(configPath, CONFIG);
  const clock = new ManualClock(T0);
  const svc = await startService({ configPath, dataDir: join(dir, 'data'), port: 0, logger: silentLogger, clock });
  services.push(svc);
  const tokens = new Map<string, string>();
  for (const u of ['alice', 'dave']) tokens.set(u, (await createToken(svc.store, u, 'test')).token);
  return {
    svc, clock, configPath,
    catalog: async (user) => {
      const res = await fetch(`${svc.url}/api/v1/catalog`, { headers: { authorization: `Bearer ${tokens.get(user)}` } });
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      return ((await res.json()) as { flows: CatalogFlow[] }).flows;
    },
  };
}

const summary = (flows: { id: string; available: boolean }[]) => flows.map((f) => `${f.id}:${f.available ? 'available' : 'closed'}`);

test('the catalog follows a window opening and a shift handing over, to the millisecond, and a reloaded configuration', async () => {
  const { svc, clock, configPath, catalog } = await server();
  const before = await catalog('alice');
  assert.deepEqual(summary(before), ['office:closed', 'on-call:available']);
  assert.match(before[0]!.reason!, /next opens 2026-11-23 08:00 UTC/);
  assert.deepEqual(summary(await catalog('dave')), ['office:closed']);

  clock.set(T0 + MINUTE - 1);
  assert.deepEqual(summary(await catalog('alice')), ['office:closed', 'on-call:available']);
  clock.set(T0 + MINUTE); // 08:00: the window opens
  assert.deepEqual(summary(await catalog('alice')), ['office:available', 'on-call:available']);

  clock.set(T0 + 61 * MINUTE - 1);
  assert.deepEqual(summary(await catalog('dave')), ['office:available']);
  clock.set(T0 + 61 * MINUTE); // 09:00: dave takes over the shift
  assert.deepEqual(summary(await catalog('alice')), ['office:available']);
  assert.deepEqual(summary(await catalog('dave')), ['office:available', 'on-call:available']);

  clock.set(Date.UTC(2026, 10, 23, 20, 0)); // 20:00: the window closes
  const evening = await catalog('dave');
  assert.deepEqual(summary(evening), ['office:closed', 'on-call:available']);
  assert.match(evening[0]!.reason!, /next opens 2026-11-24 08:00 UTC/);

  // An integration turning unhealthy shows at once, and so does its recovery.
  const demo = svc.integrations.get('demo') as DemoIntegration;
  demo.faults.health = 'the demo target is down (injected)';
  await svc.health.check('demo');
  const unhealthy = (await catalog('dave')).find((f) => f.id === 'office')!;
  assert.deepEqual(unhealthy.integrationHealth.map((h) => [h.integration, h.error]), [['demo', 'the demo target is down (injected)']]);
  demo.faults = {};
  await svc.health.check('demo');
  assert.deepEqual((await catalog('dave')).find((f) => f.id === 'office')!.integrationHealth, []);

  // A new configuration shows at once.
  writeFileSync(configPath, CONFIG.replace('  - id: office', '  - id: extra\n    requesters: { conditions: [ { attribute: group, op: is, value: [engineering] } ] }\n    targets: [ { integration: demo, resourceType: database, resources: any, permissions: [write] } ]\n    approval: automatic\n  - id: office'));
  assert.equal((await svc.reload()).ok, true);
  assert.deepEqual(summary(await catalog('dave')), ['extra:available', 'office:closed', 'on-call:available']);
});
