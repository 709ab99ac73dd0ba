// Till events as the store records them: what the till sends, how one is validated (with the same
// rules as the engine's POST /v1/stores/{storeId}/events, so nothing recorded here can be refused
// there), and how one is kept in the local journal: one record per event, whose journal position is
// the store's gap-free sequence number.
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { adjustmentReasons } from '../engine/domain/stock.js';
import { MAX_QUANTITY } from '../engine/domain/stock-commands.js';
import { ID_PATTERN } from '../engine/streams.js';
import { storeEventTypes } from '../engine/types.js';
import type { StoreEventInput, StoreEventType } from '../engine/types.js';
import type { JournalEntry, JournalRecord } from '../storage/journal.js';

/** A till event as the till sends it; the agent stamps `occurredAt` when the till does not. */
export interface TillEventInput {
  readonly type: StoreEventType;
  readonly sku: string;
  readonly quantity: number;
  readonly occurredAt?: string | undefined;
  readonly reason?: string | undefined;
}

/** A recorded till event: what the agent forwards, exactly as it lies in the local journal. */
export type TillEvent = StoreEventInput & {
  /** When the agent recorded it durably (epoch ms): the start of its forwarding latency. */
  readonly recordedAtMs: number;
};

/** The journal event: `type` is the event's name, the till's own type travels as `kind`. */
export interface TillEventRecorded {
  readonly type: 'TillEventRecorded';
  readonly seq: number;
  readonly kind: StoreEventType;
  readonly sku: string;
  readonly quantity: number;
  readonly occurredAt: string;
  readonly reason?: string | undefined;
}

export const tillStream = (storeId: string): string => `till/${storeId}`;

export const MAX_TILL_BATCH = 1000;

// ajv-formats is CommonJS: under NodeNext its default import may arrive wrapped.
const addFormats = addFormatsModule.default ?? addFormatsModule;

const quantity = (minimum: number) => ({ type: 'integer', minimum, maximum: MAX_QUANTITY });
const tillEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'sku', 'quantity'],
  properties: {
    type: { type: 'string', enum: [...storeEventTypes] },
    sku: { type: 'string', pattern: ID_PATTERN },
    quantity: { type: 'integer', minimum: -MAX_QUANTITY, maximum: MAX_QUANTITY },
    occurredAt: { type: 'string', format: 'date-time' },
    reason: { type: 'string', enum: [...adjustmentReasons] },
  },
  allOf: [
    {
      if: { properties: { type: { const: 'adjustment' } } },
      then: { properties: { quantity: { type: 'integer', not: { const: 0 } } } },
    },
    { if: { properties: { type: { const: 'count' } } }, then: { properties: { quantity: quantity(0) } } },
    {
      if: { properties: { type: { enum: ['sale', 'return', 'receipt'] } } },
      then: { properties: { quantity: quantity(1) } },
    },
  ],
};
const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
addFormats(ajv);
const validateEvent = ajv.compile(tillEventSchema);

export class TillEventInvalid extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid till event: ${problems.join('; ')}`);
    this.name = 'TillEventInvalid';
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Validates a till request body: one event, `{ "events": [...] }`, or a bare array (1 to 1000
 * events). Returns its events and whether it was a single event; throws TillEventInvalid.
 */
export function parseTillBody(body: unknown): { events: TillEventInput[]; single: boolean } {
  let items: unknown[];
  let prefix: string;
  let single = false;
  if (Array.isArray(body)) {
    items = body;
    prefix = '';
  } else if (isObject(body) && 'events' in body) {
    const extra = Object.keys(body).filter((key) => key !== 'events');
    if (extra.length > 0) throw new TillEventInvalid([`/ has unknown properties: ${extra.join(', ')}`]);
    if (!Array.isArray(body['events'])) throw new TillEventInvalid(['/events must be an array']);
    items = body['events'];
    prefix = '/events';
  } else {
    items = [body];
    prefix = '';
    single = true;
  }
  if (items.length === 0 || items.length > MAX_TILL_BATCH) {
    throw new TillEventInvalid([`${prefix || '/'} must hold 1 to ${MAX_TILL_BATCH} events`]);
  }
  const problems: string[] = [];
  items.forEach((item, index) => {
    if (validateEvent(item)) return;
    const where = single ? '' : `${prefix}/${index}`;
    for (const error of validateEvent.errors ?? []) {
      if (error.keyword === 'if') continue; // the failing branch's own error says what is wrong
      const detail =
        error.keyword === 'additionalProperties'
          ? `has an unknown property ${String((error.params as { additionalProperty?: unknown }).additionalProperty)}`
          : (error.message ?? 'is invalid');
      problems.push(`${where}${error.instancePath || (where ? '' : '/')} ${detail}`);
    }
  });
  if (problems.length > 0) throw new TillEventInvalid(problems.slice(0, 10));
  return { events: items as TillEventInput[], single };
}

/** The journal entry of a till event at `seq` (the store's sequence = the record's journal position). */
export function tillEntry(
  storeId: string,
  seq: number,
  event: TillEventInput,
  occurredAt: string,
  request?: TillRequestMeta,
): JournalEntry {
  const recorded: TillEventRecorded = {
    type: 'TillEventRecorded',
    seq,
    kind: event.type,
    sku: event.sku,
    quantity: event.quantity,
    occurredAt,
    ...(event.reason === undefined ? {} : { reason: event.reason }),
  };
  return {
    stream: tillStream(storeId),
    version: seq,
    events: [recorded],
    ...(request === undefined ? {} : { meta: { tillRequest: request } }),
  };
}

/** Kept with each record of a till request sent with an Idempotency-Key, so a retry is recognised. */
export interface TillRequestMeta {
  readonly key: string;
  readonly fingerprint: string;
  /** Events in the request: its records are consecutive and were made durable together. */
  readonly count: number;
}

export const tillRequestOf = (record: JournalRecord): TillRequestMeta | undefined => {
  const meta = record.meta?.['tillRequest'] as Partial<TillRequestMeta> | undefined;
  return typeof meta?.key === 'string' &&
    typeof meta.fingerprint === 'string' &&
    typeof meta.count === 'number'
    ? { key: meta.key, fingerprint: meta.fingerprint, count: meta.count }
    : undefined;
};

/** The till event a journal record holds, or an error naming what is wrong with it. */
export function tillEventOf(record: JournalRecord): TillEvent {
  const event = record.events[0] as Partial<TillEventRecorded> | undefined;
  if (
    record.events.length !== 1 ||
    event?.type !== 'TillEventRecorded' ||
    event.seq !== record.seq ||
    event.kind === undefined ||
    typeof event.sku !== 'string' ||
    typeof event.quantity !== 'number' ||
    typeof event.occurredAt !== 'string'
  ) {
    throw new Error(`local journal record ${record.seq} is not a till event at seq ${record.seq}`);
  }
  return {
    seq: event.seq,
    type: event.kind,
    sku: event.sku,
    quantity: event.quantity,
    occurredAt: event.occurredAt,
    ...(event.reason === undefined ? {} : { reason: event.reason }),
    recordedAtMs: Date.parse(record.at),
  };
}

/** The wire form the engine takes (no agent-only fields). */
export const wireEvent = (event: TillEvent): StoreEventInput => ({
  seq: event.seq,
  type: event.type,
  sku: event.sku,
  quantity: event.quantity,
  occurredAt: event.occurredAt,
  ...(event.reason === undefined ? {} : { reason: event.reason }),
});
