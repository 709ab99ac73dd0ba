// A route is declared once, as data: its path template, who may call it, the schemas of its
// parameters, query and body, its idempotency rule, its documented responses, and a thin handler.
// app.ts mounts these declarations on Express and openapi.ts publishes the same declarations, so
// every route the server answers is documented, with the schemas it is validated against.
import type { Request, Response } from 'express';
import type { Idempotency } from '../engine/types.js';
import type { Access } from './auth.js';
import type { Principal } from './context.js';
import type { SchemaName } from './schemas.js';

export type HttpMethod = 'get' | 'put' | 'post';

export interface ResponseDoc {
  readonly description: string;
  /** A schema of api/schemas.ts; problem responses use `Problem`. */
  readonly schema?: SchemaName;
  /** Defaults to application/json (application/problem+json for statuses >= 400). */
  readonly contentType?: string;
  /** Response headers this answer sets, documented by name. */
  readonly headers?: readonly ('ETag' | 'Location' | 'Retry-After' | 'Idempotent-Replayed')[];
}

export interface HeaderDoc {
  readonly name: string;
  readonly description: string;
  readonly required?: boolean;
  readonly pattern?: string;
}

export interface RouteMeta {
  readonly operationId: string;
  readonly method: HttpMethod;
  /** OpenAPI path template: `/v1/locations/{locationId}/stock/{sku}`. */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: SchemaName;
  readonly query?: SchemaName;
  readonly body?: SchemaName;
  /** When true a missing body counts as `{}`. */
  readonly bodyOptional?: boolean;
  /** Whether an Idempotency-Key header is required, accepted, or not used. */
  readonly idempotency?: 'required' | 'optional';
  /** Request headers beyond Authorization and Idempotency-Key. */
  readonly headers?: readonly HeaderDoc[];
  readonly responses: Readonly<Record<number, ResponseDoc>>;
  /** Long-lived responses (SSE): no request timeout, not counted as in-flight requests. */
  readonly streaming?: boolean;
}

export interface RouteInput<P, Q, B> {
  readonly params: P;
  readonly query: Q;
  readonly body: B;
  readonly principal: Principal | undefined;
  /** The engine's idempotency for this request, when the route uses keys and one was sent. */
  readonly idempotency: Idempotency | undefined;
}

type Handler<P, Q, B> = (input: RouteInput<P, Q, B>, req: Request, res: Response) => Promise<void> | void;

export interface Route extends RouteMeta {
  readonly handle: Handler<unknown, unknown, unknown>;
}

/**
 * Declares a route. P, Q and B are the TypeScript shapes of the `params`, `query` and `body`
 * schemas; the input reaching the handler has been validated against those schemas.
 */
export function defineRoute<P = Record<string, never>, Q = Record<string, never>, B = undefined>(
  spec: RouteMeta & { readonly handle: Handler<P, Q, B> },
): Route {
  const { handle, ...meta } = spec;
  return { ...meta, handle: (input, req, res) => handle(input as RouteInput<P, Q, B>, req, res) };
}

/** `/v1/locations/{locationId}/stock:batch` -> `/v1/locations/:locationId/stock\:batch` */
export const expressPathOf = (template: string): string =>
  template.replace(/:/g, '\\:').replace(/\{([A-Za-z][A-Za-z0-9]*)\}/g, ':$1');

/** A matcher for the template, as Express matches it (case-insensitive, optional trailing slash). */
export function templateMatcher(template: string): RegExp {
  const parts = template.split(/(\{[A-Za-z][A-Za-z0-9]*\})/);
  const source = parts
    .map((part) => (/^\{.*\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}/?$`, 'i');
}

/** Sends a JSON answer unless the request already got one (for example a timeout). */
export function respond(
  res: Response,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(status).json(body);
}

/** Header for answers that repeat a first answer because of an Idempotency-Key. */
export const replayHeaders = (replayed: boolean): Record<string, string> =>
  replayed ? { 'Idempotent-Replayed': 'true' } : {};

/** `"<version>"`: a strong entity tag from a stock level's (or location's) version. */
export const etagOf = (version: number): string => `"${version}"`;
