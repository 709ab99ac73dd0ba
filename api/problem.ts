// Every failure leaves the API as one application/problem+json document (RFC 9457) with a stable
// `code`: the engine's catalogue (engine/errors.ts) plus the few codes only HTTP has (auth, rate
// limits, media types...), declared once here. One Express error middleware does the mapping.
import type { ErrorRequestHandler, Request, Response } from 'express';
import type { Logger } from 'winston';
import { errorCatalogue, isInventoryError } from '../engine/errors.js';
import type { ErrorCode } from '../engine/errors.js';
import { contextOf } from './context.js';

/** Failures that only exist at the HTTP edge. */
export const httpErrorCatalogue = {
  UNAUTHENTICATED: { status: 401, title: 'A valid API key is required' },
  FORBIDDEN: { status: 403, title: 'This API key may not do this' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such resource' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'This method is not allowed on this resource' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, title: 'This request needs an Idempotency-Key header' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The request body must be application/json' },
  BATCH_REJECTED: { status: 409, title: 'The batch was not applied because a row failed' },
  RATE_LIMITED: { status: 429, title: 'Too many requests for this API key' },
  REQUEST_TIMEOUT: { status: 503, title: 'The request took too long; retry with the same Idempotency-Key' },
  SERVER_OVERLOADED: { status: 503, title: 'The server is at capacity, retry shortly' },
  TOO_MANY_STREAMS: { status: 503, title: 'Too many live streams are open, retry shortly' },
  INTERNAL_ERROR: { status: 500, title: 'An unexpected error occurred' },
} as const;

export const problemCatalogue = { ...errorCatalogue, ...httpErrorCatalogue } as const;
export type HttpErrorCode = keyof typeof httpErrorCatalogue;
export type ProblemCode = ErrorCode | HttpErrorCode;

/** An HTTP-edge failure; engine failures stay InventoryError and are mapped the same way. */
export class ApiError extends Error {
  readonly code: ProblemCode;
  readonly details: Readonly<Record<string, unknown>>;
  readonly retryAfterSeconds: number | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ProblemCode,
    message: string,
    options: {
      details?: Record<string, unknown>;
      retryAfterSeconds?: number;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = options.details ?? {};
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.headers = options.headers ?? {};
  }
}

export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ProblemCode;
  readonly instance?: string;
  readonly requestId?: string;
  readonly [extension: string]: unknown;
}

/** `STOCK_INSUFFICIENT` -> `urn:stockline:problem:stock-insufficient` */
export const problemTypeOf = (code: ProblemCode): string =>
  `urn:stockline:problem:${code.toLowerCase().replace(/_/g, '-')}`;

const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'detail', 'code', 'instance', 'requestId']);

export function problemOf(
  code: ProblemCode,
  detail: string,
  details: Readonly<Record<string, unknown>> = {},
  where: { instance?: string; requestId?: string } = {},
): ProblemDocument {
  const entry = problemCatalogue[code];
  const extensions = Object.fromEntries(
    Object.entries(details).filter(([key]) => !STANDARD_MEMBERS.has(key)),
  );
  return {
    ...extensions,
    type: problemTypeOf(code),
    title: entry.title,
    status: entry.status,
    detail,
    code,
    ...(where.instance === undefined ? {} : { instance: where.instance }),
    ...(where.requestId === undefined ? {} : { requestId: where.requestId }),
  };
}

export interface MappedProblem {
  readonly problem: ProblemDocument;
  readonly headers: Record<string, string>;
  /** True for failures the server did not expect (logged with their stack, never sent). */
  readonly unexpected: boolean;
}

interface BodyParserError {
  type: string;
  status?: number;
  limit?: number;
  charset?: string;
  encoding?: string;
}

const isBodyParserError = (error: unknown): error is BodyParserError =>
  typeof error === 'object' &&
  error !== null &&
  typeof (error as { type?: unknown }).type === 'string' &&
  typeof (error as { status?: unknown }).status === 'number';

const clientErrorStatusOf = (error: unknown): number | undefined => {
  if (typeof error !== 'object' || error === null) return undefined;
  const { status, statusCode } = error as { status?: unknown; statusCode?: unknown };
  const value = typeof status === 'number' ? status : typeof statusCode === 'number' ? statusCode : undefined;
  return value !== undefined && value >= 400 && value < 500 ? value : undefined;
};

/** Maps any thrown value to its problem document and headers. Pure: used by the middleware and tests. */
export function mapError(
  error: unknown,
  where: { instance?: string; requestId?: string } = {},
): MappedProblem {
  const headers: Record<string, string> = {};
  if (isInventoryError(error) || error instanceof ApiError) {
    if (error.retryAfterSeconds !== undefined) {
      headers['Retry-After'] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
    }
    if (error instanceof ApiError) Object.assign(headers, error.headers);
    const currentVersion = error.details.currentVersion;
    if (error.code === 'VERSION_CONFLICT' && typeof currentVersion === 'number') {
      // The stale write's answer carries the entity tag to retry with.
      headers.ETag = `"${currentVersion}"`;
    }
    return {
      problem: problemOf(error.code, error.message, error.details, where),
      headers,
      unexpected: false,
    };
  }
  if (isBodyParserError(error)) {
    switch (error.type) {
      case 'entity.parse.failed':
        return {
          problem: problemOf('MALFORMED_JSON', 'The body could not be parsed as JSON', {}, where),
          headers,
          unexpected: false,
        };
      case 'entity.too.large':
        return {
          problem: problemOf(
            'PAYLOAD_TOO_LARGE',
            `The body exceeds ${error.limit ?? 'the limit of'} bytes`,
            { limit: error.limit },
            where,
          ),
          headers,
          unexpected: false,
        };
      case 'charset.unsupported':
      case 'encoding.unsupported':
        return {
          problem: problemOf(
            'UNSUPPORTED_MEDIA_TYPE',
            `Unsupported ${error.type === 'charset.unsupported' ? `charset ${error.charset ?? ''}` : `content encoding ${error.encoding ?? ''}`}`.trim(),
            {},
            where,
          ),
          headers,
          unexpected: false,
        };
      case 'request.aborted':
      case 'request.size.invalid':
      case 'stream.encoding.set':
      case 'stream.not.readable':
        return {
          problem: problemOf('MALFORMED_JSON', 'The request body could not be read', {}, where),
          headers,
          unexpected: false,
        };
      default:
        break;
    }
  }
  const clientStatus = clientErrorStatusOf(error);
  if (clientStatus !== undefined) {
    // Other client errors raised by Express itself, such as a path that is not valid percent-encoding.
    const code: ProblemCode =
      clientStatus === 413
        ? 'PAYLOAD_TOO_LARGE'
        : clientStatus === 415
          ? 'UNSUPPORTED_MEDIA_TYPE'
          : 'VALIDATION_FAILED';
    return {
      problem: problemOf(code, 'The request could not be read: it is malformed', {}, where),
      headers,
      unexpected: false,
    };
  }
  return {
    problem: problemOf('INTERNAL_ERROR', 'The server could not complete the request', {}, where),
    headers,
    unexpected: true,
  };
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function sendProblem(res: Response, mapped: MappedProblem): void {
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(mapped.headers)) res.setHeader(name, value);
  res.status(mapped.problem.status);
  res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
  res.send(JSON.stringify(mapped.problem));
}

export const instanceOf = (req: Request): string => req.originalUrl.split('?')[0] ?? req.originalUrl;

/** The one error middleware. Never sends a stack trace; logs unexpected failures with theirs. */
export function problemMiddleware(logger: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    const context = contextOf(req);
    const mapped = mapError(error, { instance: instanceOf(req), requestId: context?.requestId });
    if (context) context.errorCode = mapped.problem.code;
    if (mapped.unexpected) {
      logger.error('unexpected error', {
        requestId: context?.requestId,
        error:
          error instanceof Error ? { name: error.name, message: error.message, stack: error.stack } : error,
      });
    }
    if (res.headersSent) {
      // An answer already went out (a timeout, or a stream that started): nothing more can be sent.
      if (!res.writableEnded) res.end();
      return;
    }
    sendProblem(res, mapped);
  };
}
