// /metrics as Prometheus reads it: Prometheus's own linter (promtool check metrics) passes
// over the real output, and the histograms and gauges the service promises are there with
// the values the service's state says.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { call, ent, startTestServer, type TestServer } from './api/api-test-support.ts';

let s: TestServer;
before(async () => { s = await startTestServer(); });
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

/** One sample's value, by its name and labels as written ({a="1",b="2"}), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('promtool check metrics passes over the real output', async () => {
  const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'analytics', 'read')] });
  assert.equal(created.status, 201);
  await s.as('alice', 'GET', '/api/v1/requests/nope');
  const res = await call(s.svc.url, 'GET', '/metrics');
  assert.equal(res.status, 200);
  const promtool = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
  assert.equal(promtool.error, undefined, 'promtool runs (Debian package prometheus)');
  assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
  assert.equal(promtool.stdout.trim(), '', 'no lint problem');
});

test('HTTP latency per route, grant and revoke latency per integration type, jobs and failing revokes', async () => {
  const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'app', 'read')] });
  assert.equal(created.body.status, 'active');
  assert.equal((await s.as('alice', 'POST', `/api/v1/requests/${created.body.id}/revoke`, {})).status, 200);
  const text = (await call(s.svc.url, 'GET', '/metrics')).text;
  assert.ok((sample(text, 'lapse_http_request_duration_seconds_count', '{method="POST",route="/api/v1/requests",status="201"}') ?? 0) >= 1, 'by route pattern');
  assert.ok((sample(text, 'lapse_http_request_duration_seconds_count', '{method="POST",route="/api/v1/requests/:id/revoke",status="200"}') ?? 0) >= 1, 'never by the raw URL');
  assert.doesNotMatch(text, new RegExp(created.body.id), 'no request id in a label');
  assert.ok((sample(text, 'lapse_integration_operation_duration_seconds_count', '{integration_type="demo",operation="grant",outcome="ok"}') ?? 0) >= 1);
  assert.ok((sample(text, 'lapse_integration_operation_duration_seconds_count', '{integration_type="demo",operation="revoke",outcome="ok"}') ?? 0) >= 1);
  assert.ok(sample(text, 'lapse_scheduler_jobs_due') !== undefined);
  assert.ok(sample(text, 'lapse_scheduler_jobs_overdue') !== undefined);
  assert.equal(sample(text, 'lapse_revokes_failing'), 0);
  assert.ok(sample(text, 'nodejs_eventloop_lag_seconds') !== undefined, 'event-loop metrics');
  assert.ok(sample(text, 'process_resident_memory_bytes') !== undefined, 'process metrics');
  assert.equal(sample(text, 'lapse_requests', '{status="revoked"}'), (await s.svc.store.countByStatus()).revoked);
});
