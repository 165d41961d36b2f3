/** The OpenAPI 3.1 description of the API, generated from the zod shapes the routes check with. */
import { z } from 'zod';
import { VERSION } from '../version.js';

export interface RouteDoc {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  body?: z.ZodType;
  response?: z.ZodType;
}

export function openApiDocument(routes: RouteDoc[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const op: Record<string, unknown> = {
      summary: r.summary,
      security: r.path.startsWith('/api/v1/') ? [{ bearer: [] }] : [],
      ...(params.length ? { parameters: params } : {}),
      responses: {
        '200': {
          description: 'OK',
          ...(r.response ? { content: { 'application/json': { schema: json(r.response) } } } : {}),
        },
        '4XX': {
          description: 'bad input, a missing or bad token (401), or not yours (403/404): {"error": "..."}',
        },
      },
    };
    if (r.body)
      op.requestBody = { required: true, content: { 'application/json': { schema: json(r.body) } } };
    paths[r.path] ??= {};
    paths[r.path][r.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'skyhop team server', version: VERSION },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
