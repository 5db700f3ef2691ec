// The OpenAPI 3 document, generated from the same route table and schemas that validate
// requests, so it cannot drift from what the server accepts.

export interface RouteDoc {
  method: string;
  url: string;
  summary: string;
  body?: unknown;
  params?: unknown;
  query?: unknown;
}

export function buildOpenApi(routes: RouteDoc[]) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.params], ['query', r.query]] as const) {
      const props = (schema as { properties?: Record<string, unknown>; required?: string[] } | undefined);
      for (const [name, s] of Object.entries(props?.properties ?? {})) {
        parameters.push({ name, in: where, required: where === 'path' || (props?.required ?? []).includes(name), schema: s });
      }
    }
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      ...(parameters.length ? { parameters } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
      responses: {
        '200': { description: 'OK' },
        default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      },
      security: [{ bearer: [] }],
    };
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Lapse API', version: '1', description: 'Just-in-time access: request, approve, grant, and let it lapse.' },
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Problem: {
          type: 'object',
          properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, field: { type: 'string' } },
        },
      },
    },
  };
}
