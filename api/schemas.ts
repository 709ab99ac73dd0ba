// The API's JSON Schemas (draft 2020-12), written once: ajv validates requests with them and the
// OpenAPI 3.1 document (api/openapi.ts) publishes the very same objects as its components, so the
// documentation cannot drift from what the server accepts. Response schemas are published too and
// the integration tests check every answer against them.
import { MAX_QUANTITY } from '../engine/domain/stock-commands.js';
import { adjustmentReasons } from '../engine/domain/stock.js';
import { locationTypes, reservationStatuses, storeEventTypes } from '../engine/types.js';

/** Ids of SKUs, locations, stores and reservations. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const ID_BODY = '[A-Za-z0-9][A-Za-z0-9._-]{0,63}';
/** Feed cursor: the id of a feed item, `<seq>.<index>`, or a bare journal sequence number. */
export const CURSOR_PATTERN = '^[0-9]{1,15}(\\.[0-9]{1,6})?$';

/** Documented size limits. */
export const limits = {
  stockBatchRows: 500,
  storeEventsPerBatch: 1000,
  reservationLines: 100,
  batchReadSkus: 100,
  streamFilterIds: 100,
  feedPageMax: 1000,
  feedPageDefault: 100,
  textMax: 200,
} as const;

export type JsonSchema = Record<string, unknown>;

const id = { type: 'string', pattern: ID_PATTERN } as const;
const idList = (max: number) => ({
  type: 'string',
  pattern: `^${ID_BODY}(,${ID_BODY}){0,${max - 1}}$`,
  description: `Comma-separated ids, at most ${max}`,
});
const text = { type: 'string', minLength: 1, maxLength: limits.textMax } as const;
const count = { type: 'integer', minimum: 0, maximum: MAX_QUANTITY } as const;
const quantity = { type: 'integer', minimum: 1, maximum: MAX_QUANTITY } as const;
const delta = {
  type: 'integer',
  minimum: -MAX_QUANTITY,
  maximum: MAX_QUANTITY,
  not: { const: 0 },
  description: 'Signed, non-zero change of on-hand units',
} as const;
const version = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const timestamp = { type: 'string', format: 'date-time' } as const;
const cursor = { type: 'string', pattern: CURSOR_PATTERN } as const;
const reason = { type: 'string', enum: [...adjustmentReasons] } as const;

const object = (properties: Record<string, unknown>, required: string[] = [], extra: JsonSchema = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  required,
  ...extra,
});

/** Response objects stay open (no additionalProperties: false) so new fields do not break clients. */
const view = (properties: Record<string, unknown>, required: string[], description?: string) => ({
  type: 'object',
  properties,
  required,
  ...(description ? { description } : {}),
});

export interface SchemaOptions {
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
}

/** Every named schema, requests, parameters and responses alike. */
export function buildSchemas(options: SchemaOptions) {
  const ttlSeconds = { type: 'integer', minimum: 1, maximum: options.maxTtlSeconds };
  const stockLevel = view(
    {
      sku: id,
      locationId: id,
      onHand: { type: 'integer' },
      reserved: { type: 'integer', minimum: 0 },
      safetyStock: { type: 'integer', minimum: 0 },
      available: { type: 'integer', minimum: 0, description: 'onHand - reserved - safetyStock, at least 0' },
      version: { type: 'integer', minimum: 0, description: 'Gap-free event count; the ETag' },
      updatedAt: { type: ['string', 'null'], format: 'date-time' },
    },
    ['sku', 'locationId', 'onHand', 'reserved', 'safetyStock', 'available', 'version', 'updatedAt'],
  );
  const totals = view(
    {
      onHand: { type: 'integer' },
      reserved: { type: 'integer' },
      safetyStock: { type: 'integer' },
      available: { type: 'integer', minimum: 0 },
    },
    ['onHand', 'reserved', 'safetyStock', 'available'],
  );
  const storefrontStock = view(
    {
      sku: id,
      totals,
      locations: { type: 'array', items: { $ref: '#/components/schemas/StockLevel' } },
    },
    ['sku', 'totals', 'locations'],
  );
  const feedItem = view(
    {
      id: { type: 'string', description: 'Cursor and SSE id `<seq>.<index>`' },
      seq: { type: 'integer', minimum: 1 },
      index: { type: 'integer', minimum: 0 },
      stream: { type: 'string' },
      type: { type: 'string' },
      version: { type: 'integer', minimum: 1, description: "The stream's version after this event" },
      at: timestamp,
      event: { type: 'object' },
      level: { $ref: '#/components/schemas/StockLevel' },
      reservationId: { type: 'string' },
      signals: {
        type: 'array',
        items: { type: 'string', enum: ['low_stock', 'out_of_stock', 'back_in_stock'] },
      },
    },
    ['id', 'seq', 'index', 'stream', 'type', 'version', 'at', 'event'],
  );
  const problemFields = {
    type: { type: 'string', format: 'uri-reference' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable error code; see docs/api.md "Error codes"' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
  };
  return {
    // Parameters
    LocationParams: object({ locationId: id }, ['locationId']),
    SkuParams: object({ sku: id }, ['sku']),
    StockParams: object({ locationId: id, sku: id }, ['locationId', 'sku']),
    ReservationParams: object({ reservationId: id }, ['reservationId']),
    StoreParams: object({ storeId: id }, ['storeId']),
    NoQuery: object({}),
    StockBatchReadQuery: object({ skus: idList(limits.batchReadSkus) }, ['skus']),
    LevelQuery: object({
      at: { ...timestamp, description: 'Answer the level as it was at this time' },
    }),
    PageQuery: object({
      after: { ...cursor, description: 'Cursor: the `id` of the last item seen, or `next` of the last page' },
      limit: { type: 'integer', minimum: 1, maximum: limits.feedPageMax, default: limits.feedPageDefault },
    }),
    StreamQuery: object({
      locationId: idList(limits.streamFilterIds),
      sku: idList(limits.streamFilterIds),
      after: { ...cursor, description: 'Resume after this item id (the Last-Event-ID header wins)' },
    }),
    // Request bodies
    LocationBody: object(
      { name: text, type: { type: 'string', enum: [...locationTypes] } },
      ['name', 'type'],
      { description: 'Registers a location or renames/retypes it' },
    ),
    CountBody: object({ onHand: count, safetyStock: count }, ['onHand'], {
      description: 'Absolute physical count; needs If-Match with the ETag of the level',
    }),
    AdjustmentBody: object(
      { delta, reason, reference: text, expectedVersion: version },
      ['delta', 'reason'],
      { description: 'A relative change of on-hand units' },
    ),
    StockBatchBody: object(
      {
        policy: {
          type: 'string',
          enum: ['all_or_nothing', 'per_row'],
          default: 'all_or_nothing',
          description:
            'all_or_nothing: every row is checked first and any failure applies none; per_row: each row stands alone',
        },
        rows: {
          type: 'array',
          minItems: 1,
          maxItems: limits.stockBatchRows,
          items: {
            oneOf: [
              object(
                {
                  type: { const: 'count' },
                  sku: id,
                  onHand: count,
                  safetyStock: count,
                  expectedVersion: version,
                  reference: text,
                },
                ['type', 'sku', 'onHand'],
              ),
              object(
                {
                  type: { const: 'adjustment' },
                  sku: id,
                  delta,
                  reason,
                  expectedVersion: version,
                  reference: text,
                },
                ['type', 'sku', 'delta', 'reason'],
              ),
            ],
          },
        },
      },
      ['rows'],
    ),
    ReservationBody: object(
      {
        lines: {
          type: 'array',
          minItems: 1,
          maxItems: limits.reservationLines,
          items: object({ sku: id, quantity, locationId: id }, ['sku', 'quantity']),
        },
        ttlSeconds: { ...ttlSeconds, default: options.defaultTtlSeconds },
        allowPartial: { type: 'boolean', default: false },
        channel: id,
        reference: text,
      },
      ['lines'],
    ),
    EmptyBody: object({}, [], { description: 'No fields; the body may be omitted' }),
    ExtendBody: object({ ttlSeconds }, ['ttlSeconds']),
    StoreEventsBody: object(
      {
        events: {
          type: 'array',
          minItems: 1,
          maxItems: limits.storeEventsPerBatch,
          items: object(
            {
              seq: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
              type: { type: 'string', enum: [...storeEventTypes] },
              sku: id,
              quantity: { type: 'integer', minimum: -MAX_QUANTITY, maximum: MAX_QUANTITY },
              occurredAt: timestamp,
              reason,
            },
            ['seq', 'type', 'sku', 'quantity', 'occurredAt'],
            {
              description:
                'quantity: units for sale/return/receipt (>= 1), the signed non-zero delta for adjustment, the counted units for count (>= 0)',
              allOf: [
                {
                  if: { properties: { type: { const: 'adjustment' } } },
                  then: { properties: { quantity: { type: 'integer', not: { const: 0 } } } },
                },
                {
                  if: { properties: { type: { const: 'count' } } },
                  then: { properties: { quantity: { type: 'integer', minimum: 0 } } },
                },
                {
                  if: { properties: { type: { enum: ['sale', 'return', 'receipt'] } } },
                  then: { properties: { quantity: { type: 'integer', minimum: 1 } } },
                },
              ],
            },
          ),
        },
      },
      ['events'],
    ),
    // Responses
    StockLevel: stockLevel,
    StorefrontStock: storefrontStock,
    StockBatchRead: view(
      { items: { type: 'array', items: { $ref: '#/components/schemas/StorefrontStock' } } },
      ['items'],
    ),
    AdjustmentResult: view(
      {
        level: { $ref: '#/components/schemas/StockLevel' },
        events: { type: 'array', items: { type: 'object' } },
      },
      ['level', 'events'],
    ),
    StockBatchResult: view(
      {
        policy: { type: 'string', enum: ['all_or_nothing', 'per_row'] },
        applied: { type: 'integer', minimum: 0 },
        failed: { type: 'integer', minimum: 0 },
        rows: {
          type: 'array',
          items: view(
            {
              index: { type: 'integer', minimum: 0 },
              sku: id,
              outcome: { type: 'string', enum: ['applied', 'failed', 'not_applied', 'rolled_back'] },
              level: { $ref: '#/components/schemas/StockLevel' },
              problem: { $ref: '#/components/schemas/Problem' },
            },
            ['index', 'sku', 'outcome'],
          ),
        },
      },
      ['policy', 'applied', 'failed', 'rows'],
    ),
    Location: view(
      {
        id,
        name: { type: 'string' },
        type: { type: 'string', enum: [...locationTypes] },
        version: { type: 'integer', minimum: 0 },
        updatedAt: { type: ['string', 'null'], format: 'date-time' },
      },
      ['id', 'name', 'type', 'version', 'updatedAt'],
    ),
    LocationList: view({ items: { type: 'array', items: { $ref: '#/components/schemas/Location' } } }, [
      'items',
    ]),
    Reservation: view(
      {
        id,
        status: { type: 'string', enum: [...reservationStatuses] },
        createdAt: timestamp,
        expiresAt: timestamp,
        lines: {
          type: 'array',
          items: view({ sku: id, locationId: id, quantity: { type: 'integer' } }, [
            'sku',
            'locationId',
            'quantity',
          ]),
        },
        channel: { type: 'string' },
        reference: { type: 'string' },
        version: { type: 'integer', minimum: 0 },
      },
      ['id', 'status', 'createdAt', 'expiresAt', 'lines', 'version'],
    ),
    StoreEventsResult: view(
      {
        applied: { type: 'integer', minimum: 0 },
        duplicates: { type: 'integer', minimum: 0 },
        lastSeq: { type: 'integer', minimum: 0 },
      },
      ['applied', 'duplicates', 'lastSeq'],
    ),
    StoreStatus: view({ storeId: id, lastSeq: { type: 'integer', minimum: 0 } }, ['storeId', 'lastSeq']),
    FeedItem: feedItem,
    FeedPage: view(
      {
        items: { type: 'array', items: { $ref: '#/components/schemas/FeedItem' } },
        next: {
          type: ['string', 'null'],
          description:
            "Pass as `after` for the next page: the last item's id, or the cursor given when nothing followed it",
        },
      },
      ['items', 'next'],
    ),
    Problem: {
      type: 'object',
      description: 'RFC 9457 problem details; extra members carry the structured detail of the error',
      properties: problemFields,
      required: ['type', 'title', 'status', 'code'],
    },
    Health: view({ status: { type: 'string', enum: ['ok'] } }, ['status']),
    Readiness: view(
      {
        ready: { type: 'boolean' },
        engine: { type: 'boolean' },
        journal: { type: 'string' },
        breaker: { type: 'string', enum: ['closed', 'open', 'halfOpen'] },
        draining: { type: 'boolean' },
      },
      ['ready', 'engine', 'journal', 'breaker'],
    ),
  } satisfies Record<string, JsonSchema>;
}

export type Schemas = ReturnType<typeof buildSchemas>;
export type SchemaName = keyof Schemas;

// The TypeScript shapes of validated input. Each matches its schema above.
export interface LocationParams {
  locationId: string;
}
export interface SkuParams {
  sku: string;
}
export interface StockParams {
  locationId: string;
  sku: string;
}
export interface ReservationParams {
  reservationId: string;
}
export interface StoreParams {
  storeId: string;
}
export interface StockBatchReadQuery {
  skus: string;
}
export interface LevelQuery {
  at?: string;
}
export interface PageQuery {
  after?: string;
  limit: number;
}
export interface StreamQuery {
  locationId?: string;
  sku?: string;
  after?: string;
}
export interface LocationBody {
  name: string;
  type: (typeof locationTypes)[number];
}
export interface CountBody {
  onHand: number;
  safetyStock?: number;
}
export interface AdjustmentBody {
  delta: number;
  reason: (typeof adjustmentReasons)[number];
  reference?: string;
  expectedVersion?: number;
}
export type StockBatchRow =
  | {
      type: 'count';
      sku: string;
      onHand: number;
      safetyStock?: number;
      expectedVersion?: number;
      reference?: string;
    }
  | {
      type: 'adjustment';
      sku: string;
      delta: number;
      reason: (typeof adjustmentReasons)[number];
      expectedVersion?: number;
      reference?: string;
    };
export interface StockBatchBody {
  policy: 'all_or_nothing' | 'per_row';
  rows: StockBatchRow[];
}
export interface ReservationBody {
  lines: { sku: string; quantity: number; locationId?: string }[];
  ttlSeconds: number;
  allowPartial: boolean;
  channel?: string;
  reference?: string;
}
export type EmptyBody = Record<string, never>;
export interface ExtendBody {
  ttlSeconds: number;
}
export interface StoreEventsBody {
  events: {
    seq: number;
    type: (typeof storeEventTypes)[number];
    sku: string;
    quantity: number;
    occurredAt: string;
    reason?: (typeof adjustmentReasons)[number];
  }[];
}
