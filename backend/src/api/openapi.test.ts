// The OpenAPI document: valid by an independent validator, listing every route the server
// has with its method, its real success status and response schema, its errors and its
// security; and the server's answers match the schemas the document shows.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv } from 'ajv';
import { call, ent, startTestServer, type TestServer } from './api-test-support.ts';

let s: TestServer;
// The document as served, fetched once.
let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };
type Operation = { responses: Record<string, { content?: Record<string, { schema?: unknown }> }>; security: unknown[]; parameters?: unknown[]; requestBody?: unknown };

before(async () => {
  s = await startTestServer();
  doc = (await call(s.svc.url, 'GET', '/api/v1/openapi.json')).body;
});
after(async () => {
  await s.svc.stop();
  rmSync(s.dir, { recursive: true, force: true });
});

/** The operation documenting a route of the server's table. */
const operationOf = (method: string, url: string) => doc.paths[url.replace(/:([A-Za-z]+)/g, '{$1}')]?.[method.toLowerCase()];

test('the document is valid OpenAPI 3.0, by a validator of its own', async () => {
  const result = await new Validator().validate(doc);
  assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
  assert.equal(doc.openapi, '3.0.3');
});

test('every route of the server is in the document, with its errors and its security', () => {
  const routes = s.svc.http.routeAccess.filter((r) => r.method !== 'HEAD' && r.url.startsWith('/api/') && r.url !== '/api/v1/openapi.json');
  assert.ok(routes.length >= 25, `${routes.length} API routes`);
  for (const r of [...routes, ...s.svc.http.routeAccess.filter((x) => ['/healthz', '/readyz', '/metrics'].includes(x.url) && x.method === 'GET')]) {
    const op = operationOf(r.method, r.url);
    assert.ok(op, `${r.method} ${r.url} is documented`);
    const statuses = Object.keys(op.responses);
    assert.ok(statuses.some((c) => /^2\d\d$/.test(c)), `${r.method} ${r.url} documents its success (${statuses})`);
    assert.ok(statuses.includes('500'), `${r.method} ${r.url} documents 500`);
    if (r.access === 'token') {
      assert.deepEqual(op.security, [{ bearer: [] }], `${r.method} ${r.url} needs a token`);
      assert.ok(statuses.includes('401') && statuses.includes('429'), `${r.method} ${r.url} documents 401 and 429 (${statuses})`);
    } else {
      assert.deepEqual(op.security, [], `${r.method} ${r.url} is public`);
    }
    for (const code of statuses.filter((c) => /^[45]/.test(c))) {
      assert.deepEqual(op.responses[code]!.content?.['application/problem+json']?.schema, { $ref: '#/components/schemas/Problem' }, `${r.method} ${r.url} ${code}`);
    }
  }
  assert.ok(doc.components.schemas.Problem);
  // The real success statuses.
  assert.ok(operationOf('POST', '/api/v1/requests')!.responses['201']);
  assert.ok(operationOf('DELETE', '/api/v1/favorites/:id')!.responses['204']);
  assert.ok(operationOf('DELETE', '/api/v1/users/:id/mfa')!.responses['403'], 'the admin\'s reset documents its refusal');
  assert.ok(operationOf('GET', '/readyz')!.responses['503']);
  assert.ok(operationOf('POST', '/api/v1/requests')!.responses['400'], 'a route with a body documents 400');
  assert.ok(operationOf('POST', '/api/v1/requests')!.responses['413'], 'and 413');
  assert.ok(operationOf('GET', '/api/v1/reports/activity.csv')!.responses['200']!.content!['text/csv']);
});

test('the answers match the response schemas the document shows', async () => {
  // OpenAPI 3.0 schemas: `nullable` is the one keyword JSON Schema lacks, and Ajv knows it.
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addSchema({ ...doc.components.schemas.Problem as object, $id: '#/components/schemas/Problem' });
  const check = (method: string, url: string, status: number, body: unknown) => {
    const schema = operationOf(method, url)!.responses[String(status)]!.content!['application/json']!.schema!;
    const validate = ajv.compile(schema as object);
    assert.ok(validate(body), `${method} ${url} ${status}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(body)}`);
  };
  const created = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [ent('database', 'analytics', 'read')] });
  assert.equal(created.status, 201);
  check('POST', '/api/v1/requests', 201, created.body);
  assert.ok(created.body.grants[0].accessDetails, 'the requester sees the access details');
  check('GET', '/api/v1/requests/{id}', 200, (await s.as('alice', 'GET', `/api/v1/requests/${created.body.id}`)).body);
  check('GET', '/api/v1/requests', 200, (await s.as('alice', 'GET', '/api/v1/requests')).body);
  check('GET', '/api/v1/me', 200, (await s.as('alice', 'GET', '/api/v1/me')).body);
  check('GET', '/api/v1/catalog', 200, (await s.as('alice', 'GET', '/api/v1/catalog')).body);
  check('GET', '/api/v1/favorites', 200, (await s.as('alice', 'GET', '/api/v1/favorites')).body);
  check('GET', '/api/v1/approvals', 200, (await s.as('erin', 'GET', '/api/v1/approvals')).body);
  check('GET', '/api/v1/integrations', 200, (await s.as('carol', 'GET', '/api/v1/integrations')).body);
  const resources = await s.as('carol', 'GET', '/api/v1/resources?limit=2');
  assert.equal(resources.body.resources.length, 2);
  check('GET', '/api/v1/resources', 200, resources.body);
  check('POST', '/api/v1/admin/resources/sync', 200, (await s.as('carol', 'POST', '/api/v1/admin/resources/sync', {})).body);
  check('GET', '/api/v1/audit', 200, (await s.as('carol', 'GET', '/api/v1/audit?limit=5')).body);
  check('GET', '/api/v1/audit/verify', 200, (await s.as('carol', 'GET', '/api/v1/audit/verify')).body);
  check('GET', '/api/v1/requests/{id}/access', 200, (await s.as('alice', 'GET', `/api/v1/requests/${created.body.id}/access`)).body);
  const enrolment = await s.as('dave', 'POST', '/api/v1/mfa/enrolment');
  assert.equal(enrolment.status, 201, enrolment.text);
  check('POST', '/api/v1/mfa/enrolment', 201, enrolment.body);
  check('GET', '/api/v1/mfa', 200, (await s.as('dave', 'GET', '/api/v1/mfa')).body);
  const revoked = await s.as('alice', 'POST', `/api/v1/requests/${created.body.id}/revoke`, { reason: 'done "quoted" \u0007' });
  check('POST', '/api/v1/requests/{id}/revoke', 200, revoked.body);
  check('GET', '/api/v1/requests/{id}/timeline', 200, (await s.as('alice', 'GET', `/api/v1/requests/${created.body.id}/timeline`)).body);
  const page = await s.as('carol', 'GET', '/api/v1/audit?order=desc&limit=2&user=alice');
  assert.ok(page.body.nextCursor, 'a page with a next one');
  check('GET', '/api/v1/audit', 200, page.body);
  check('GET', '/api/v1/admin/config', 200, (await s.as('carol', 'GET', '/api/v1/admin/config')).body);
  assert.equal((await s.as('carol', 'POST', '/api/v1/admin/config/reload', {})).status, 200);
  check('GET', '/api/v1/admin/config', 200, (await s.as('carol', 'GET', '/api/v1/admin/config')).body);
  const refused = await s.as('alice', 'POST', '/api/v1/requests', { flowId: 'demo-auto', entitlements: [{ integration: 'x' }] });
  assert.equal(refused.status, 400);
  const problem = ajv.getSchema('#/components/schemas/Problem')!;
  assert.ok(problem(refused.body), JSON.stringify(problem.errors));
});
