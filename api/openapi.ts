// The OpenAPI 3.1 document, generated from the route declarations and the very schemas ajv
// validates with: paths, parameters, bodies and answers cannot disagree with the server.
import type { Route } from './route.js';
import type { JsonSchema, Schemas } from './schemas.js';
import { IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN } from './idempotency.js';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const responseHeaders = {
  ETag: {
    description: 'The version of the resource as a strong entity tag, such as "12"; send it back in If-Match',
    schema: { type: 'string' },
  },
  Location: { description: 'URL of the created resource', schema: { type: 'string' } },
  'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 0 } },
  'Idempotent-Replayed': {
    description:
      'true when this is the stored first answer to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
} as const;

const rolesOf = (route: Route): string[] => {
  if (route.access.kind === 'public') return [];
  return route.access.roles.map((role) =>
    role === 'store' && route.access.kind === 'roles' && route.access.scopedBy
      ? `store (only its own ${route.access.scopedBy})`
      : role,
  );
};

function parametersOf(route: Route, schemas: Schemas): Record<string, unknown>[] {
  const parameters: Record<string, unknown>[] = [];
  const templateNames = [...route.path.matchAll(/\{([A-Za-z][A-Za-z0-9]*)\}/g)].map((match) => match[1]);
  const pathSchema = route.params ? (schemas[route.params] as JsonSchema) : undefined;
  const pathProperties = (pathSchema?.properties ?? {}) as Record<string, JsonSchema>;
  const declared = Object.keys(pathProperties).sort();
  if (declared.join(',') !== [...templateNames].sort().join(',')) {
    throw new Error(
      `${route.operationId}: path ${route.path} and schema ${route.params ?? '(none)'} disagree`,
    );
  }
  for (const name of templateNames) {
    if (name) parameters.push({ name, in: 'path', required: true, schema: pathProperties[name] });
  }
  if (route.query) {
    const querySchema = schemas[route.query] as JsonSchema;
    const required = new Set((querySchema.required ?? []) as string[]);
    for (const [name, schema] of Object.entries(
      (querySchema.properties ?? {}) as Record<string, JsonSchema>,
    )) {
      const { description, ...rest } = schema;
      parameters.push({
        name,
        in: 'query',
        required: required.has(name),
        ...(typeof description === 'string' ? { description } : {}),
        schema: rest,
      });
    }
  }
  if (route.idempotency) {
    parameters.push({
      name: IDEMPOTENCY_HEADER,
      in: 'header',
      required: route.idempotency === 'required',
      description:
        'A unique key per logical operation (a UUID): a retry with the same key and request returns the first answer, even after a restart; the same key with a different request is refused (422).',
      schema: { type: 'string', pattern: IDEMPOTENCY_KEY_PATTERN },
    });
  }
  for (const header of route.headers ?? []) {
    parameters.push({
      name: header.name,
      in: 'header',
      required: header.required ?? false,
      description: header.description,
      schema: { type: 'string', ...(header.pattern ? { pattern: header.pattern } : {}) },
    });
  }
  return parameters;
}

function operationOf(route: Route, schemas: Schemas): Record<string, unknown> {
  const roles = rolesOf(route);
  const responses: Record<string, unknown> = {};
  for (const [status, doc] of Object.entries(route.responses)) {
    const contentType =
      doc.contentType ?? (Number(status) >= 400 ? 'application/problem+json' : 'application/json');
    responses[status] = {
      description: doc.description,
      ...(doc.headers?.length
        ? {
            headers: Object.fromEntries(
              doc.headers.map((name) => [name, { $ref: `#/components/headers/${name}` }]),
            ),
          }
        : {}),
      content: { [contentType]: doc.schema ? { schema: ref(doc.schema) } : {} },
    };
  }
  const description = [
    route.description,
    roles.length > 0 ? `Roles: ${roles.join(', ')}.` : 'Public: no API key needed.',
  ]
    .filter(Boolean)
    .join('\n\n');
  return {
    operationId: route.operationId,
    summary: route.summary,
    description,
    tags: [route.tag],
    security: route.access.kind === 'public' ? [] : [{ apiKey: [] }],
    'x-roles': roles,
    parameters: parametersOf(route, schemas),
    ...(route.body
      ? {
          requestBody: {
            required: !route.bodyOptional,
            content: { 'application/json': { schema: ref(route.body) } },
          },
        }
      : {}),
    responses,
  };
}

export interface OpenApiInfo {
  readonly title: string;
  readonly version: string;
  readonly description: string;
}

export function buildOpenApi(
  routes: readonly Route[],
  schemas: Schemas,
  info: OpenApiInfo,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    if (item[route.method]) throw new Error(`two routes for ${route.method.toUpperCase()} ${route.path}`);
    item[route.method] = operationOf(route, schemas);
  }
  const requestSchemaNames = new Set(routes.flatMap((route) => [route.params, route.query].filter(Boolean)));
  // Parameter schemas are inlined as parameters; publish every other schema as a component.
  const components = Object.fromEntries(
    Object.entries(schemas).filter(
      ([name]) => !requestSchemaNames.has(name as keyof Schemas) && name !== 'NoQuery',
    ),
  );
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      license: { name: 'MIT', identifier: 'MIT' },
    },
    servers: [{ url: '/' }],
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [
      { name: 'Locations', description: 'Stores, warehouses and online fulfilment centres' },
      { name: 'Stock', description: 'Stock levels per (SKU, location)' },
      { name: 'Reservations', description: 'Carts held for the storefront' },
      { name: 'Stores', description: 'Till events from store agents' },
      { name: 'Changes', description: 'The changes feed and the live stream' },
      { name: 'Operations', description: 'Health, readiness, metrics, documentation' },
    ],
    paths,
    components: {
      schemas: components,
      headers: responseHeaders,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            "An API key: `Authorization: Bearer <key>`. Roles: admin (everything), store (reads; writes only its own location's stock and events), storefront (reads and reservations), reader (reads).",
        },
      },
    },
  };
}
