// The error catalogue: every expected failure declared once, keyed by a stable code.
// The engine throws or returns these; the API maps each code to an HTTP status and a problem+json
// document in one place (api/problem.ts). Clients code against `code`, never against `message`.

export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  QUANTITY_OUT_OF_RANGE: { status: 400, title: 'Quantity out of range' },
  STOCK_INSUFFICIENT: { status: 409, title: 'Not enough available stock' },
  STOCK_NEGATIVE: { status: 409, title: 'The change would make on-hand stock negative' },
  VERSION_CONFLICT: { status: 412, title: 'The stock level changed since you read it' },
  PRECONDITION_REQUIRED: { status: 428, title: 'If-Match is required for this write' },
  RESERVATION_NOT_FOUND: { status: 404, title: 'No such reservation' },
  RESERVATION_EXPIRED: { status: 409, title: 'The reservation has expired' },
  RESERVATION_STATE_CONFLICT: { status: 409, title: 'The reservation cannot make this transition' },
  RESERVATION_EXISTS: { status: 409, title: 'A reservation with this id already exists' },
  LOCATION_NOT_FOUND: { status: 404, title: 'No such location' },
  STOCK_LEVEL_NOT_FOUND: { status: 404, title: 'No such stock level' },
  CURSOR_EXPIRED: {
    status: 410,
    title: 'The cursor points before the retained journal; resync from a snapshot',
  },
  STORE_SEQUENCE_GAP: { status: 409, title: 'Store events must arrive in sequence' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'The Idempotency-Key was used with a different request' },
  IDEMPOTENCY_IN_FLIGHT: { status: 409, title: 'A request with this Idempotency-Key is still in progress' },
  MAILBOX_FULL: { status: 429, title: 'This stock level is overloaded, retry shortly' },
  ENGINE_OVERLOADED: { status: 503, title: 'The engine is overloaded, retry shortly' },
  STORAGE_UNAVAILABLE: { status: 503, title: 'Storage is unavailable, retry shortly' },
  APPEND_CONFLICT: { status: 503, title: 'Another engine node wrote this first; retry' },
  ENGINE_NOT_READY: { status: 503, title: 'The engine is recovering, retry shortly' },
  ENGINE_STOPPED: { status: 503, title: 'The engine is shutting down' },
} as const;

export type ErrorCode = keyof typeof errorCatalogue;

/** An expected failure with a stable code and optional structured detail for the problem document. */
export class InventoryError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  /** Seconds a client should wait before retrying, for retryable failures. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'InventoryError';
    this.code = code;
    this.details = details;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const isInventoryError = (error: unknown): error is InventoryError => error instanceof InventoryError;
