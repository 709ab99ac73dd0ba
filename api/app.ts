// The HTTP API as a factory over its dependencies: `createApp({ engine, config, logger })` returns
// the Express app without listening (api/server.ts listens), so tests run the real app in-process.
//
// Per request, in order: request id and access log, load shedding and a timeout, security headers,
// CORS for configured origins, then per route: API key (401), rate limit (429), media type (415),
// JSON body within the size limit (400/413), path parameters, role (403), query and body schemas
// (400), Idempotency-Key, the handler. Every failure becomes problem+json in one middleware.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import cors from 'cors';
import express from 'express';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from 'winston';
import { authenticate, authorize, requireApiKey, unauthenticated } from './auth.js';
import type { ApiConfig } from './config.js';
import { attachContext, requireContext } from './context.js';
import type { InventoryEngine } from './engine-port.js';
import { idempotencyFor } from './idempotency.js';
import type { FaultInjector } from './fault-injection.js';
import { faultInjectionRouter } from './fault-injection.js';
import { ApiMetrics } from './metrics.js';
import { buildOpenApi } from './openapi.js';
import { ApiError, instanceOf, mapError, problemMiddleware, sendProblem } from './problem.js';
import { expressPathOf, templateMatcher } from './route.js';
import type { Route } from './route.js';
import type { AppState, RouteDeps } from './routes/deps.js';
import { feedRoutes } from './routes/feed.js';
import { locationRoutes } from './routes/locations.js';
import { DOCS_ASSETS_PATH, operationsRoutes } from './routes/operations.js';
import { reservationRoutes } from './routes/reservations.js';
import { stockRoutes } from './routes/stock.js';
import { storeRoutes } from './routes/stores.js';
import { webRouter } from './routes/web.js';
import { buildSchemas } from './schemas.js';
import { StreamHub } from './stream.js';
import { SchemaRegistry, validationError } from './validation.js';

export interface AppDependencies {
  readonly engine: InventoryEngine;
  readonly config: ApiConfig;
  readonly logger: Logger;
  readonly metrics?: ApiMetrics;
  /** Test facility (FAULT_INJECTION=1 only, see fault-injection.ts): serves POST /v1/_faults. */
  readonly faults?: FaultInjector | undefined;
}

/** What the app exposes beside Express: used by the listener (shutdown) and the tests. */
export interface AppInternals {
  readonly routes: readonly Route[];
  readonly registry: SchemaRegistry;
  readonly metrics: ApiMetrics;
  readonly streams: StreamHub;
  readonly state: AppState;
  readonly openApi: Record<string, unknown>;
  /** Marks the app as draining (readyz 503, new streams refused) and ends open streams. */
  drain(): void;
}

export type InventoryApp = Express & { readonly stockline: AppInternals };

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const JSON_TYPES = ['application/json', 'application/*+json'];

/**
 * Security headers of /v1 answers (JSON, problem+json, SSE): what means something on an API response
 * (OWASP REST Security cheat sheet), precomputed. Pages (dashboard, docs) get helmet's full set.
 */
const API_SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];

export const API_VERSION = '1.0.0';

const swaggerUiDir = (): string =>
  path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const hasBody = (req: Request): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

export function createApp({
  engine,
  config,
  logger,
  metrics = new ApiMetrics(),
  faults,
}: AppDependencies): InventoryApp {
  const schemas = buildSchemas(config);
  const registry = new SchemaRegistry(schemas);
  const state: AppState = { draining: false };
  const streams = new StreamHub(engine, metrics, logger, {
    maxClients: config.maxSseClients,
    heartbeatMs: config.sseHeartbeatMs,
  });
  metrics.observeEngine(engine);

  let openApi: Record<string, unknown> = {};
  const deps: RouteDeps = { engine, config, metrics, logger, streams, state, openApi: () => openApi };
  const routes: Route[] = [
    ...locationRoutes(deps),
    ...stockRoutes(deps),
    ...reservationRoutes(deps),
    ...storeRoutes(deps),
    ...feedRoutes(deps),
    ...operationsRoutes(deps),
  ];
  openApi = buildOpenApi(routes, schemas, {
    title: 'Stockline inventory API',
    version: API_VERSION,
    description:
      'Real-time stock for stores and the storefront: stock levels, reservations, store till events, a changes feed and a live stream. Errors are application/problem+json with a stable `code`. See docs/api.md for the reasoning behind each choice.',
  });

  const app = express();
  app.disable('x-powered-by');
  // Entity tags are the engine's versions, set by the routes; Express must not invent its own.
  app.set('etag', false);

  const streaming = routes.filter((route) => route.streaming).map((route) => templateMatcher(route.path));
  const isStreaming = (req: Request) => streaming.some((matcher) => matcher.test(req.path));
  let inFlight = 0;

  // One front middleware per request, in this order: request id, access log and request metrics
  // (written when the response closes), load shedding and the request timeout (streams are bounded by
  // their own limit), security headers. It is one function with one 'close' listener, because every
  // layer and listener is paid on every request (docs/benchmarks.md, "Where a reservation's time goes").
  const helmetForPages = helmet({
    // TLS is terminated in front of the service; on a plain-HTTP deployment (a LAN address)
    // upgrading the docs' asset requests to https would break them.
    contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
  });
  app.use((req, res, next) => {
    const sent = req.headers['x-request-id'];
    const requestId = typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
    const context = attachContext(req, { requestId, startedAt: performance.now() });
    res.setHeader('X-Request-Id', requestId);
    const api = req.path.startsWith('/v1/');
    if (api) for (const [name, value] of API_SECURITY_HEADERS) res.setHeader(name, value);
    const counted = !isStreaming(req);
    let timer: NodeJS.Timeout | undefined;
    res.once('close', () => {
      if (timer !== undefined) clearTimeout(timer);
      if (counted) {
        inFlight -= 1;
        metrics.inFlight.set(inFlight);
      }
      const durationMs = performance.now() - context.startedAt;
      const route = context.route ?? 'unmatched';
      const status = res.headersSent ? res.statusCode : 499; // 499: client closed before an answer
      metrics.requestDuration.observe(
        { method: req.method, route, status: String(status) },
        durationMs / 1000,
      );
      logger.info('request', {
        requestId,
        method: req.method,
        route,
        status,
        durationMs: Math.round(durationMs * 1000) / 1000,
        role: context.principal?.role ?? 'none',
        keyId: context.principal?.keyId,
        ...(context.errorCode ? { code: context.errorCode } : {}),
      });
    });
    if (counted) {
      inFlight += 1;
      metrics.inFlight.set(inFlight);
      if (inFlight > config.maxInFlight) {
        metrics.shed.inc({ reason: 'in_flight' });
        next(
          new ApiError('SERVER_OVERLOADED', `More than ${config.maxInFlight} requests in progress`, {
            retryAfterSeconds: 1,
          }),
        );
        return;
      }
      timer = setTimeout(() => {
        if (res.headersSent) return;
        metrics.shed.inc({ reason: 'timeout' });
        context.errorCode = 'REQUEST_TIMEOUT';
        sendProblem(
          res,
          mapError(
            new ApiError(
              'REQUEST_TIMEOUT',
              `No answer within ${config.requestTimeoutMs} ms; the request may still complete: retry with the same Idempotency-Key`,
              { retryAfterSeconds: 1 },
            ),
            { instance: instanceOf(req), requestId },
          ),
        );
      }, config.requestTimeoutMs);
    }
    if (api) next();
    else helmetForPages(req, res, next);
  });
  if (config.corsOrigins.length > 0) {
    app.use(
      cors({
        origin: [...config.corsOrigins],
        methods: ['GET', 'HEAD', 'PUT', 'POST'],
        allowedHeaders: [
          'Authorization',
          'Content-Type',
          'Idempotency-Key',
          'If-Match',
          'If-None-Match',
          'Last-Event-ID',
          'X-Request-Id',
        ],
        exposedHeaders: [
          'ETag',
          'Location',
          'Retry-After',
          'X-Request-Id',
          'Idempotent-Replayed',
          'RateLimit',
          'RateLimit-Policy',
        ],
        maxAge: 600,
      }),
    );
  }

  app.use(DOCS_ASSETS_PATH, (req, _res, next) => {
    requireContext(req).route = `${DOCS_ASSETS_PATH}/*`;
    next();
  });
  app.use(DOCS_ASSETS_PATH, express.static(swaggerUiDir(), { index: false, redirect: false, maxAge: '1h' }));
  // The dashboard, the availability widget and its example page: plain files under web/.
  app.use(webRouter());

  const requireKey = requireApiKey(config.apiKeys);
  // Per key, a fixed window of a minute (rate-limiter-flexible's in-memory store). The answers carry
  // the IETF draft-8 RateLimit and RateLimit-Policy headers.
  const limiter =
    config.rateLimitPerMinute > 0
      ? new RateLimiterMemory({ points: config.rateLimitPerMinute, duration: 60 })
      : undefined;
  const ratePolicy = `"per-key";q=${config.rateLimitPerMinute};w=60`;
  const rateHeaders = (res: Response, quota: RateLimiterRes): number => {
    const resetSeconds = Math.max(1, Math.ceil(quota.msBeforeNext / 1000));
    res.setHeader('RateLimit-Policy', ratePolicy);
    res.setHeader('RateLimit', `"per-key";r=${quota.remainingPoints};t=${resetSeconds}`);
    return resetSeconds;
  };
  const rateLimited = (res: Response, next: NextFunction) => (refusal: unknown) => {
    if (!(refusal instanceof RateLimiterRes)) {
      next(refusal);
      return;
    }
    const retryAfterSeconds = rateHeaders(res, refusal);
    metrics.shed.inc({ reason: 'rate_limit' });
    next(
      new ApiError('RATE_LIMITED', `At most ${config.rateLimitPerMinute} requests per minute per API key`, {
        retryAfterSeconds,
      }),
    );
  };
  /** Labels the request with its route, then (unless public) API key (401) and rate limit (429). */
  const gateOf =
    (route: Route): RequestHandler =>
    (req, res, next) => {
      const context = requireContext(req);
      context.route = route.path;
      if (route.access.kind === 'public') {
        next();
        return;
      }
      const principal = authenticate(config.apiKeys, req.headers.authorization);
      if (!principal) {
        next(unauthenticated());
        return;
      }
      context.principal = principal;
      if (!limiter) {
        next();
        return;
      }
      limiter.consume(principal.keyId).then(
        (quota) => {
          rateHeaders(res, quota);
          next();
        },
        rateLimited(res, next),
      );
    };
  const jsonBody = express.json({ limit: config.bodyLimitBytes, type: JSON_TYPES, strict: true });
  /** Media type (415), then the JSON body within the size limit (400/413). */
  const readJson: RequestHandler = (req, res, next) => {
    if (hasBody(req) && !req.is(JSON_TYPES)) {
      next(
        new ApiError(
          'UNSUPPORTED_MEDIA_TYPE',
          `Send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'})`,
        ),
      );
      return;
    }
    jsonBody(req, res, next);
  };

  for (const route of routes) {
    const chain: RequestHandler[] = [gateOf(route)];
    if (route.body) chain.push(readJson);
    chain.push(async (req: Request, res: Response) => {
      const context = requireContext(req);
      const params = route.params
        ? registry.parse<Record<string, string>>(route.params, 'path', { ...req.params })
        : {};
      authorize(route.access, context.principal, params);
      const query = registry.parse(route.query ?? 'NoQuery', 'query', {
        ...(req.query as Record<string, unknown>),
      });
      let body: unknown;
      if (route.body) {
        const raw: unknown = req.body === undefined && route.bodyOptional ? {} : req.body;
        if (raw === undefined)
          throw validationError([{ in: 'body', path: '/', message: 'a JSON body is required' }]);
        body = registry.parse(route.body, 'body', raw);
      }
      const idempotency =
        route.idempotency && context.principal
          ? idempotencyFor(
              req,
              context.principal,
              {
                method: route.method,
                path: route.path,
                params,
                body,
                preconditions: { ifMatch: req.get('if-match'), ifNoneMatch: req.get('if-none-match') },
              },
              route.idempotency === 'required',
            )
          : undefined;
      await route.handle({ params, query, body, principal: context.principal, idempotency }, req, res);
    });
    app[route.method](expressPathOf(route.path), ...chain);
  }

  if (faults) app.use(faultInjectionRouter(faults, requireKey));

  // Unknown paths: 404; known paths with another method: 405 with Allow.
  const matchers = routes.map((route) => ({ route, matcher: templateMatcher(route.path) }));
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const allowed = matchers
      .filter(({ matcher }) => matcher.test(req.path))
      .map(({ route }) => route.method.toUpperCase());
    if (allowed.length === 0) {
      next(new ApiError('ROUTE_NOT_FOUND', `No resource at ${req.path}`));
      return;
    }
    const allow = [
      ...new Set(allowed.flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method]))),
    ].join(', ');
    next(
      new ApiError('METHOD_NOT_ALLOWED', `${req.method} is not allowed here; use ${allow}`, {
        headers: { Allow: allow },
      }),
    );
  });
  app.use(problemMiddleware(logger));

  const internals: AppInternals = {
    routes,
    registry,
    metrics,
    streams,
    state,
    openApi,
    drain() {
      state.draining = true;
      streams.close();
    },
  };
  return Object.assign(app, { stockline: internals });
}
