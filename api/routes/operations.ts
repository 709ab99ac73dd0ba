// Operations endpoints, public so that probes and scrapers need no key: liveness, readiness (the
// engine recovered, the journal accepts appends, the storage breaker is not open, not draining),
// Prometheus metrics, the OpenAPI document, and its rendered reference served from local files.
import { access } from '../auth.js';
import { defineRoute, respond } from '../route.js';
import type { Route } from '../route.js';
import type { RouteDeps } from './deps.js';

export const DOCS_ASSETS_PATH = '/docs/assets';

const docsPage = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Stockline API v1</title>
    <link rel="stylesheet" type="text/css" href="${DOCS_ASSETS_PATH}/swagger-ui.css" />
    <link rel="icon" type="image/png" href="${DOCS_ASSETS_PATH}/favicon-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="${DOCS_ASSETS_PATH}/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="${DOCS_ASSETS_PATH}/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script src="/docs/init.js" charset="UTF-8"></script>
  </body>
</html>
`;

const docsInit = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
};
`;

export function operationsRoutes({ engine, metrics, state, openApi }: RouteDeps): Route[] {
  return [
    defineRoute({
      operationId: 'getHealth',
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process serves HTTP',
      tag: 'Operations',
      access: access.public,
      responses: { 200: { description: 'Alive', schema: 'Health' } },
      handle: (_input, _req, res) => respond(res, 200, { status: 'ok' }, { 'Cache-Control': 'no-store' }),
    }),
    defineRoute({
      operationId: 'getReadiness',
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: recovered, journal writable, storage breaker not open, not draining',
      tag: 'Operations',
      access: access.public,
      responses: {
        200: { description: 'Ready for traffic', schema: 'Readiness' },
        503: {
          description: 'Not ready; the body says why',
          schema: 'Readiness',
          contentType: 'application/json',
        },
      },
      handle: async (_input, _req, res) => {
        const [current, engineReady] = await Promise.all([engine.metrics(), engine.ready]);
        const journal = current.journal.health;
        const ready = engineReady && journal === 'open' && current.breaker !== 'open' && !state.draining;
        respond(
          res,
          ready ? 200 : 503,
          { ready, engine: engineReady, journal, breaker: current.breaker, draining: state.draining },
          { 'Cache-Control': 'no-store', ...(ready ? {} : { 'Retry-After': '5' }) },
        );
      },
    }),
    defineRoute({
      operationId: 'getMetrics',
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tag: 'Operations',
      access: access.public,
      responses: { 200: { description: 'Prometheus text exposition format', contentType: 'text/plain' } },
      handle: async (_input, _req, res) => {
        const body = await metrics.exposition();
        if (res.headersSent) return;
        res.setHeader('Content-Type', metrics.registry.contentType);
        res.status(200).send(body);
      },
    }),
    defineRoute({
      operationId: 'getOpenApi',
      method: 'get',
      path: '/openapi.json',
      summary: 'This OpenAPI 3.1 document',
      tag: 'Operations',
      access: access.public,
      responses: { 200: { description: 'The OpenAPI document' } },
      handle: (_input, _req, res) => respond(res, 200, openApi()),
    }),
    defineRoute({
      operationId: 'getDocs',
      method: 'get',
      path: '/docs',
      summary: 'The API reference, rendered by Swagger UI served from this server',
      tag: 'Operations',
      access: access.public,
      responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
      handle: (_input, _req, res) => {
        res.status(200).type('html').send(docsPage);
      },
    }),
    defineRoute({
      operationId: 'getDocsScript',
      method: 'get',
      path: '/docs/init.js',
      summary: 'The script that points Swagger UI at /openapi.json',
      tag: 'Operations',
      access: access.public,
      responses: { 200: { description: 'JavaScript', contentType: 'text/javascript' } },
      handle: (_input, _req, res) => {
        res.status(200).type('text/javascript').send(docsInit);
      },
    }),
  ];
}
