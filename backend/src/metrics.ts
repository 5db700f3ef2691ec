// The service's Prometheus metrics (prom-client), in a registry of their own: process and
// event-loop metrics, HTTP latency per route, grant and revoke latency per integration
// type, and the state of requests and the scheduler read at each scrape.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Integration } from './integrations/integration.ts';
import { REQUEST_STATUSES } from './domain/request.ts';

/** What a scrape reads from the rest of the service. */
export interface MetricSources {
  countByStatus(): Promise<Record<string, number>>;
  /** Jobs due now, those due for longer than the grace, and how late the oldest is (ms). */
  jobBacklog(): Promise<{ due: number; overdue: number; oldestDueAt: number | null }>;
  /** Grants whose revoke has failed at least once and is still being retried. */
  failingRevokes(): Promise<number>;
  jobsCompleted(): number;
  eventSubscribers(): number;
  /** Notifications in the outbox by status (absent: none are configured). */
  outboxCounts?(): Promise<Record<'pending' | 'delivered' | 'failed', number>>;
  now(): number;
  /** Each audit stream subscriber's lag: events not delivered to it yet (absent: no audit stream). */
  auditStreamLag?(): Promise<Array<{ subscriber: string; lag: number }>>;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  private readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  private readonly integrationDuration: Histogram<'integration_type' | 'operation' | 'outcome'>;
  private readonly deliveries: Counter<'channel' | 'outcome'>;
  private sources: MetricSources | null = null;
  private writeAdmission: (() => { waiting: number; running: number }) | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters, which Prometheus's linter refuses; the same counts stay
    // in nodejs_active_handles, nodejs_active_requests and nodejs_active_resources by type.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(name);
    const registers = [this.registry];
    this.httpDuration = new Histogram({
      name: 'lapse_http_request_duration_seconds', help: 'HTTP request latency by route and status.', labelNames: ['method', 'route', 'status'], buckets: LATENCY_BUCKETS, registers,
    });
    this.httpRequests = new Counter({ name: 'lapse_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['method', 'route', 'status'], registers });
    this.integrationDuration = new Histogram({
      name: 'lapse_integration_operation_duration_seconds', help: 'Grant and revoke latency on the targets, by integration type and outcome.',
      labelNames: ['integration_type', 'operation', 'outcome'], buckets: LATENCY_BUCKETS, registers,
    });
    const read = async <T>(f: (s: MetricSources) => Promise<T> | T): Promise<T | null> => (this.sources ? f(this.sources) : null);
    new Gauge({
      name: 'lapse_requests', help: 'Requests by status.', labelNames: ['status'], registers,
      async collect() {
        const counts = await read((s) => s.countByStatus());
        for (const status of REQUEST_STATUSES) this.set({ status }, counts?.[status] ?? 0);
      },
    });
    const backlog = { due: 0, overdue: 0, oldestDueAt: null as number | null, at: 0 };
    new Gauge({
      name: 'lapse_scheduler_jobs_due', help: 'Jobs whose time has come (grants, revokes, expiries, warnings), claimed or not.', registers,
      async collect() {
        Object.assign(backlog, (await read((s) => s.jobBacklog())) ?? { due: 0, overdue: 0, oldestDueAt: null }, { at: (await read((s) => s.now())) ?? 0 });
        this.set(backlog.due);
      },
    });
    new Gauge({
      name: 'lapse_scheduler_jobs_overdue', help: 'Jobs due for more than a minute: the scheduler is behind or a target keeps failing.', registers,
      collect() { this.set(backlog.overdue); },
    });
    new Gauge({
      name: 'lapse_scheduler_overdue_seconds', help: 'How late the oldest due job is.', registers,
      collect() { this.set(backlog.oldestDueAt === null ? 0 : Math.max(0, (backlog.at - backlog.oldestDueAt) / 1000)); },
    });
    new Gauge({
      name: 'lapse_revokes_failing', help: 'Grants whose revoke failed and is being retried (access that should have ended and may not have).', registers,
      async collect() { this.set((await read((s) => s.failingRevokes())) ?? 0); },
    });
    new Counter({
      name: 'lapse_scheduler_jobs_completed_total', help: 'Jobs run by this process.', registers,
      async collect() {
        this.reset();
        this.inc((await read((s) => s.jobsCompleted())) ?? 0);
      },
    });
    new Gauge({
      name: 'lapse_notifications', help: 'Notifications in the outbox by status (pending: to be delivered or retried; failed: given up, for an admin to retry).', labelNames: ['status'], registers,
      async collect() {
        const counts = await read((s) => s.outboxCounts?.());
        for (const status of ['pending', 'delivered', 'failed'] as const) this.set({ status }, counts?.[status] ?? 0);
      },
    });
    this.deliveries = new Counter({
      name: 'lapse_notification_deliveries_total', help: 'Notification deliveries by this process, by channel and outcome (delivered, retried later, failed: given up).', labelNames: ['channel', 'outcome'], registers,
    });
    new Gauge({
      name: 'lapse_events_subscribers', help: 'Open event streams (and, where replicas share a PostgreSQL store, the relay that passes events between them).', registers,
      async collect() { this.set((await read((s) => s.eventSubscribers())) ?? 0); },
    });
    new Gauge({
      name: 'lapse_audit_stream_lag', help: 'Audit events not yet delivered to each audit stream subscriber (the chain\'s head seq minus its cursor).', labelNames: ['subscriber'], registers,
      async collect() {
        this.reset();
        for (const { subscriber, lag } of (await read((s) => s.auditStreamLag?.())) ?? []) this.set({ subscriber }, lag);
      },
    });
    const writes = () => this.writeAdmission?.() ?? { waiting: 0, running: 0 };
    new Gauge({
      name: 'lapse_http_writes_waiting', help: 'State-changing API calls waiting for their turn (see the API\'s write admission).', registers,
      collect() { this.set(writes().waiting); },
    });
    new Gauge({
      name: 'lapse_http_writes_in_progress', help: 'State-changing API calls holding a turn.', registers,
      collect() { this.set(writes().running); },
    });
  }

  /** Where scrapes read the state-changing calls waiting and in progress (set by the API server). */
  readWriteAdmission(read: () => { waiting: number; running: number }): void {
    this.writeAdmission = read;
  }

  /** Where scrapes read the state of requests and jobs (set once the service is assembled). */
  readFrom(sources: MetricSources): void {
    this.sources = sources;
  }

  observeDelivery(channel: string, outcome: 'delivered' | 'retried' | 'failed'): void {
    this.deliveries.inc({ channel, outcome });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpDuration.observe(labels, seconds);
    this.httpRequests.inc(labels);
  }

  /** The same integration, with the latency of each grant and revoke recorded. */
  instrument(integration: Integration): Integration {
    const timed = <A extends unknown[], R>(operation: 'grant' | 'revoke', fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
      const end = this.integrationDuration.startTimer({ integration_type: integration.type, operation });
      try {
        const result = await fn(...args);
        end({ outcome: 'ok' });
        return result;
      } catch (err) {
        end({ outcome: 'error' });
        throw err;
      }
    };
    const grant = timed('grant', integration.grant.bind(integration));
    const revoke = timed('revoke', integration.revoke.bind(integration));
    return new Proxy(integration, {
      get(target, property) {
        if (property === 'grant') return grant;
        if (property === 'revoke') return revoke;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** The text exposition format, one line per sample (no blank lines between families). */
  async text(): Promise<string> {
    return (await this.registry.metrics()).replace(/\n{2,}/g, '\n');
  }
}
