// Builders for engine tests: a small team's configuration written in code, and a harness
// that wires the engine, the scheduler, an in-memory store and demo targets to one manual
// clock. On SQLite (the default) nothing here touches the disk or the network; with
// LAPSE_TEST_STORE=postgres the store is a fresh schema on the test PostgreSQL server.

import type {
  BundleConfig, Condition, ConditionGroup, ConditionOp, FlowConfig, FlowSettings, IntegrationConfig, LapseConfig, ResourceConfig,
  ServerSettings, ShiftConfig, TargetSelector, UserConfig,
} from '../domain/config.ts';
import { DEFAULT_FLOW_SETTINGS, DEFAULT_RESOURCE_TYPES } from '../domain/config.ts';
import type { Entitlement } from '../domain/request.ts';
import { CompiledConfig } from '../domain/catalog.ts';
import { DemoIntegration } from '../integrations/demo-integration.ts';
import type { Integration } from '../integrations/integration.ts';
import { SqliteStore } from '../store/sqlite-store.ts';
import { PostgresStore } from '../store/postgres-store.ts';
import { freshTestStoreUrl, TEST_AUDIT_KEY, testStoreKind } from '../store/postgres-test-support.ts';
import { ManualClock } from '../../../common/clock.ts';
import { Engine, type EngineOptions } from './engine.ts';
import { EventBus, type LapseEvent } from './events.ts';
import { Scheduler } from './scheduler.ts';

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

/** Monday 2026-11-23 10:00 UTC: bob is on the sre-oncall shift (erin from Tuesday 09:00). */
export const T0 = Date.UTC(2026, 10, 23, 10, 0);
/** The next hand-off of sre-oncall after T0: Tuesday 2026-11-24 09:00 UTC. */
export const FIRST_HANDOFF = Date.UTC(2026, 10, 24, 9, 0);

export const cond = (attribute: string, op: ConditionOp, ...value: string[]): Condition => ({ attribute, op, value });
export const anyOf = (...conditions: Condition[]): ConditionGroup => ({ match: 'any', conditions });
export const allOf = (...conditions: Condition[]): ConditionGroup => ({ match: 'all', conditions });
/** The approver condition "is the requester's manager". */
export const isManager: Condition = { attribute: 'manager', op: 'is', value: [] };

export function user(id: string, groups: string[], manager?: string): UserConfig {
  return { id, email: `${id}@example.com`, name: id[0]!.toUpperCase() + id.slice(1), groups, ...(manager ? { manager } : {}), attributes: {} };
}

export function resource(type: string, name: string, tags: Record<string, string> = {}, parent?: string): ResourceConfig {
  return { type, name, tags, ...(parent ? { parent } : {}) };
}

export function demoIntegrationConfig(id: string, resources: ResourceConfig[]): IntegrationConfig {
  return { id, type: 'demo', name: id, owner: { group: 'sre-leads' }, connection: {}, resourceTypes: DEFAULT_RESOURCE_TYPES.demo, resources };
}

export function selector(integration: string, resourceType: string, permissions: string[], resources: TargetSelector['resources'] = { kind: 'any' }): TargetSelector {
  return { integration, resourceType, permissions, resources };
}

/** An entitlement on the `demo` integration. */
export function ent(resourceType: string, resourcePath: string, permission: string, integration = 'demo'): Entitlement {
  return { integration, resourceType, resource: resourcePath, permission };
}

export const SETTINGS: FlowSettings = { ...DEFAULT_FLOW_SETTINGS, labels: [] };

/** A self-serve flow for engineers, approved automatically, 1 h by default and at most 8 h. */
export function flow(id: string, fields: Partial<Omit<FlowConfig, 'settings'>> & { settings?: Partial<FlowSettings> } = {}): FlowConfig {
  const { settings, ...rest } = fields;
  return {
    id,
    name: id,
    description: `the ${id} flow`,
    kind: 'self-serve',
    requesters: anyOf(cond('group', 'is', 'engineering')),
    targets: [],
    grantFor: HOUR,
    maxDuration: 8 * HOUR,
    approval: { mode: 'automatic' },
    ...rest,
    settings: { ...SETTINGS, ...settings, labels: [...(settings?.labels ?? [])] },
  };
}

export interface ConfigOverrides {
  users?: UserConfig[];
  shifts?: ShiftConfig[];
  /** Replaces the integrations (the `demo` one included). */
  integrations?: IntegrationConfig[];
  /** Added after the standard integrations. */
  extraIntegrations?: IntegrationConfig[];
  bundles?: BundleConfig[];
  /** Replaces the standard flows. */
  flows?: FlowConfig[];
  /** Added after the standard flows. */
  extraFlows?: FlowConfig[];
  settings?: Partial<ServerSettings>;
}

/**
 * The team of the engine tests:
 * - alice, dave: engineering, manager bob; bob, erin: sre-leads; carol: admin.
 * - integration `demo`: databases app (env prod), analytics (env staging); tables app/users, app/orders.
 * - flows: `auto` (automatic, read on any database, 1 h, at most 8 h, 2 extensions, label demo),
 *   `approval` (any of sre-leads | manager, reasons and justification required, break-glass,
 *   write on any table, label prod, 1 h, at most 4 h, 1 extension), `allof` (all of sre-leads
 *   and manager, admin on analytics), `bundled` (bundle b1: read on both databases, automatic),
 *   `oncall` (automatic kind: admin on app while on the sre-oncall shift: bob, then erin).
 */
export function buildConfig(overrides: ConfigOverrides = {}): LapseConfig {
  const users = overrides.users ?? [
    user('alice', ['engineering'], 'bob'),
    user('bob', ['sre-leads']),
    user('carol', ['security']),
    user('dave', ['engineering'], 'bob'),
    user('erin', ['sre-leads']),
  ];
  const shifts = overrides.shifts ?? [
    { id: 'sre-oncall', timezone: 'UTC', rotation: 'daily', handoff: '09:00', members: ['bob', 'erin'], anchor: '2026-11-23' },
  ];
  const integrations = [
    ...(overrides.integrations ?? [
      demoIntegrationConfig('demo', [
        resource('database', 'app', { env: 'prod' }),
        resource('database', 'analytics', { env: 'staging' }),
        resource('table', 'users', {}, 'app'),
        resource('table', 'orders', {}, 'app'),
      ]),
    ]),
    ...(overrides.extraIntegrations ?? []),
  ];
  const bundles = overrides.bundles ?? [
    { id: 'b1', name: 'Both databases', targets: [selector('demo', 'database', ['read'], { kind: 'names', names: ['app', 'analytics'] })] },
  ];
  const flows = [
    ...(overrides.flows ?? [
      flow('auto', {
        targets: [{ selector: selector('demo', 'database', ['read']) }],
        grantFor: HOUR,
        maxDuration: 8 * HOUR,
        settings: { maxExtensions: 2, labels: ['demo'] },
      }),
      flow('approval', {
        targets: [{ selector: selector('demo', 'table', ['write']) }],
        grantFor: HOUR,
        maxDuration: 4 * HOUR,
        approval: { mode: 'anyOf', groups: [anyOf(cond('group', 'is', 'sre-leads')), anyOf(isManager)] },
        settings: {
          requireJustification: true, requireApproverReason: true, requesterCannotApproveOwn: true, breakGlass: true, maxExtensions: 1, labels: ['prod'],
        },
      }),
      flow('allof', {
        targets: [{ selector: selector('demo', 'database', ['admin'], { kind: 'names', names: ['analytics'] }) }],
        approval: { mode: 'allOf', groups: [anyOf(cond('group', 'is', 'sre-leads')), anyOf(isManager)] },
      }),
      flow('bundled', { targets: [{ bundle: 'b1' }], grantFor: 2 * HOUR }),
      flow('oncall', {
        kind: 'automatic',
        requesters: anyOf(cond('shift', 'is', 'sre-oncall')),
        targets: [{ selector: selector('demo', 'database', ['admin'], { kind: 'names', names: ['app'] }) }],
        grantFor: null,
        maxDuration: null,
      }),
    ]),
    ...(overrides.extraFlows ?? []),
  ];
  return {
    users,
    groups: [{ id: 'sre-leads', name: 'SRE leads' }],
    shifts,
    integrations,
    bundles,
    flows,
    settings: { admins: ['carol'], expiryWarnings: [10 * MINUTE, MINUTE], ...overrides.settings },
  };
}

export interface HarnessOptions {
  config?: LapseConfig;
  overrides?: ConfigOverrides;
  /** Start of the manual clock; default T0. */
  start?: number;
  /** Engine options on top of the harness's. */
  engine?: Partial<EngineOptions>;
  /** Which store; default from LAPSE_TEST_STORE (SQLite in memory unless it says postgres). */
  store?: 'sqlite' | 'postgres';
}

/** Either store, with the raw-SQL hook of both (`?` placeholders; a number or a promise of one). */
export type TestStore = SqliteStore | PostgresStore;

/** A migrated, empty store of the given kind. */
export async function createTestStore(kind: 'sqlite' | 'postgres' = testStoreKind()): Promise<TestStore> {
  const store = kind === 'postgres' ? new PostgresStore(await freshTestStoreUrl(), { auditKey: TEST_AUDIT_KEY }) : new SqliteStore(':memory:', { auditKey: TEST_AUDIT_KEY });
  await store.migrate();
  return store;
}

export interface Harness {
  engine: Engine;
  scheduler: Scheduler;
  store: TestStore;
  /** The `demo` target's own record. */
  demo: DemoIntegration;
  /** Every demo-type integration of the configuration, by id (`demo` included). */
  targets: Map<string, DemoIntegration>;
  clock: ManualClock;
  /** Every event published, in order. */
  events: LapseEvent[];
  eventBus: EventBus;
  config: LapseConfig;
  compiled: CompiledConfig;
  /** Moves the clock forward and runs whatever fell due; returns how many jobs ran. */
  advance(ms: number): Promise<number>;
  /** Sets the clock to `at` and runs whatever fell due. */
  advanceTo(at: number): Promise<number>;
  close(): Promise<void>;
}

export async function createHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const config = opts.config ?? buildConfig(opts.overrides);
  const clock = new ManualClock(opts.start ?? T0);
  const store = await createTestStore(opts.store);
  const eventBus = new EventBus();
  const events: LapseEvent[] = [];
  eventBus.subscribe((e) => events.push(e));
  const targets = new Map<string, DemoIntegration>();
  for (const i of config.integrations) {
    if (i.type === 'demo') targets.set(i.id, new DemoIntegration(i.id, ':memory:', i.resources, () => clock.now()));
  }
  const demo = targets.get('demo');
  if (!demo) throw new Error('the harness needs a demo integration with id "demo"');
  const compiled = new CompiledConfig(config);
  const engine = new Engine({
    store,
    clock,
    events: eventBus,
    integrations: new Map<string, Integration>(targets),
    config: compiled,
    owner: 'test',
    revokeBackoff: { baseMs: 1000, capMs: 60_000 },
    grantRetryMs: 1000,
    ...opts.engine,
  });
  const scheduler = new Scheduler(store, engine, clock, { owner: 'test' });
  return {
    engine, scheduler, store, demo, targets, clock, events, eventBus, config, compiled,
    advance: async (ms) => {
      clock.advance(ms);
      return scheduler.runDue();
    },
    advanceTo: async (at) => {
      clock.set(at);
      return scheduler.runDue();
    },
    close: async () => {
      await store.close();
      for (const t of targets.values()) await t.close();
    },
  };
}
