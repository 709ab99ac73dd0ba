// The engine's public surface: what the API, the replay CLI, the store agent and the load test use.
// Views are plain JSON objects with the field names clients code against (DESIGN.md "Representations").
import type { StockCommand } from './domain/stock-commands.js';
import type { StockEvent } from './domain/stock.js';

export const locationTypes = ['store', 'warehouse', 'online'] as const;
export type LocationType = (typeof locationTypes)[number];

export interface LocationView {
  readonly id: string;
  readonly name: string;
  readonly type: LocationType;
  readonly version: number;
  readonly updatedAt: string | null;
}

export interface StockLevelView {
  readonly sku: string;
  readonly locationId: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly safetyStock: number;
  readonly available: number;
  readonly version: number;
  readonly updatedAt: string | null;
  /**
   * Set when the location is a store whose agent has gone silent: it may be selling offline, so
   * `available` already withholds the offline buffer. The time is the store's last contact.
   */
  readonly staleSince?: string | undefined;
}

export const reservationStatuses = [
  'held',
  'payment_pending',
  'confirmed',
  'cancelled',
  'expired',
  'at_risk',
] as const;
export type ReservationStatus = (typeof reservationStatuses)[number];

export interface ReservationLineView {
  readonly sku: string;
  readonly locationId: string;
  readonly quantity: number;
  readonly requested?: number | undefined;
  readonly pinned?: boolean | undefined;
}

export interface ReservationView {
  readonly id: string;
  readonly status: ReservationStatus;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly lines: readonly ReservationLineView[];
  readonly channel?: string | undefined;
  readonly reference?: string | undefined;
  readonly version: number;
}

export interface ReservationLineRequest {
  readonly sku: string;
  readonly quantity: number;
  /** Without it the engine sources the line (see docs/api.md "Sourcing"). */
  readonly locationId?: string | undefined;
}

export interface ReserveRequest {
  readonly lines: readonly ReservationLineRequest[];
  readonly ttlSeconds: number;
  readonly allowPartial?: boolean | undefined;
  readonly channel?: string | undefined;
  readonly reference?: string | undefined;
}

/** Per-line shortfall in a STOCK_INSUFFICIENT error's details.lines. */
export interface LineShortfall {
  readonly sku: string;
  readonly locationId?: string | undefined;
  readonly requested: number;
  readonly available: number;
}

export const storeEventTypes = ['sale', 'return', 'receipt', 'adjustment', 'count'] as const;
export type StoreEventType = (typeof storeEventTypes)[number];

export interface StoreEventInput {
  /** The store's own gap-free sequence number, from 1. */
  readonly seq: number;
  readonly type: StoreEventType;
  readonly sku: string;
  /** Units sold/returned/received; the signed delta for an adjustment; the counted units for a count. */
  readonly quantity: number;
  readonly occurredAt: string;
  readonly reason?: string | undefined;
}

export interface StoreEventsResult {
  readonly applied: number;
  readonly duplicates: number;
  readonly lastSeq: number;
}

/** An idempotent call: the key scoped by the caller, and a fingerprint of the request body. */
export interface Idempotency {
  readonly key: string;
  readonly fingerprint: string;
}

/** One item of the changes feed and the live stream: one event of one journal record. */
export interface FeedItem {
  /** Cursor and SSE id: `${seq}.${index}`; resuming after it yields what follows, in order. */
  readonly id: string;
  readonly seq: number;
  readonly index: number;
  readonly stream: string;
  readonly type: string;
  /** The stream's version after this event: gap-free per stream, so consumers can detect a gap. */
  readonly version: number;
  readonly at: string;
  readonly event: Readonly<Record<string, unknown>>;
  /** For stock events: the level after this event. */
  readonly level?: StockLevelView | undefined;
  readonly reservationId?: string | undefined;
  /** Threshold crossings caused by this event: `low_stock`, `out_of_stock`, `back_in_stock`. */
  readonly signals?: readonly string[] | undefined;
}

export interface StockCommandResult {
  readonly level: StockLevelView;
  readonly events: readonly StockEvent[];
  /** True when an Idempotency-Key matched an earlier call and its first answer is returned. */
  readonly replayed: boolean;
}

export type StockCommandInput = StockCommand;
