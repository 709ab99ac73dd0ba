// What route handlers are given: the engine port and the app's shared services. No storage.
import type { Logger } from 'winston';
import type { ApiConfig } from '../config.js';
import type { InventoryEngine } from '../engine-port.js';
import type { ApiMetrics } from '../metrics.js';
import type { StreamHub } from '../stream.js';

/** Mutable app-wide state: set while the listener drains before shutdown. */
export interface AppState {
  draining: boolean;
}

export interface RouteDeps {
  readonly engine: InventoryEngine;
  readonly config: ApiConfig;
  readonly metrics: ApiMetrics;
  readonly logger: Logger;
  readonly streams: StreamHub;
  readonly state: AppState;
  /** The OpenAPI document, built once; a function so the routes that serve it can be declared first. */
  readonly openApi: () => Record<string, unknown>;
}

/** The standard problem answers most routes can give, for the OpenAPI document. */
export const problems = {
  400: { description: 'Invalid request (VALIDATION_FAILED, MALFORMED_JSON...)', schema: 'Problem' },
  401: { description: 'No valid API key (UNAUTHENTICATED)', schema: 'Problem' },
  403: { description: 'The key may not do this (FORBIDDEN)', schema: 'Problem' },
  404: { description: 'Unknown location, level or reservation', schema: 'Problem' },
  409: { description: 'Conflict with the current state', schema: 'Problem' },
  412: { description: 'If-Match or expectedVersion is stale (VERSION_CONFLICT)', schema: 'Problem' },
  413: { description: 'Body too large (PAYLOAD_TOO_LARGE)', schema: 'Problem' },
  415: { description: 'Body is not application/json (UNSUPPORTED_MEDIA_TYPE)', schema: 'Problem' },
  422: {
    description: 'Idempotency-Key reused with a different request (IDEMPOTENCY_KEY_REUSED)',
    schema: 'Problem',
  },
  428: { description: 'If-Match missing (PRECONDITION_REQUIRED)', schema: 'Problem' },
  429: {
    description: 'Rate limit or overloaded stock level; see Retry-After',
    schema: 'Problem',
    headers: ['Retry-After'],
  },
  503: {
    description: 'Storage unavailable, engine not ready, overloaded or timed out; see Retry-After',
    schema: 'Problem',
    headers: ['Retry-After'],
  },
} as const;

export const readProblems = {
  400: problems[400],
  401: problems[401],
  429: problems[429],
  503: problems[503],
} as const;
export const writeProblems = {
  ...readProblems,
  403: problems[403],
  413: problems[413],
  415: problems[415],
  422: problems[422],
} as const;
