// Stock level of one (SKU, location): its events, its state and `evolve`, the pure fold.
// No I/O, no clock, no randomness: every time and id arrives inside the event.
import type { Hold, Holds, LegacyHolds } from './holds.js';
import { asHoldSet, HoldSet, hashOfId, holdSetOf } from './holds.js';

/** A till event's origin: the store and its gap-free sequence number. */
export interface StoreSource {
  readonly storeId: string;
  readonly seq: number;
  readonly occurredAt: string;
}

export const adjustmentReasons = ['receipt', 'sale', 'return', 'damage', 'correction', 'transfer'] as const;
export type AdjustmentReason = (typeof adjustmentReasons)[number];

export const releaseReasons = ['cancelled', 'expired', 'compensated', 'resourced'] as const;
export type ReleaseReason = (typeof releaseReasons)[number];

interface Movement {
  readonly at: string;
  readonly reference?: string | undefined;
  /** Who caused it: an API key's role and location, a store id. */
  readonly by?: string | undefined;
  readonly source?: StoreSource | undefined;
}

export type StockEvent =
  | ({
      readonly type: 'StockReceived';
      readonly quantity: number;
      readonly reason: 'receipt' | 'return';
    } & Movement)
  | ({ readonly type: 'StockSold'; readonly quantity: number } & Movement)
  | ({ readonly type: 'StockAdjusted'; readonly delta: number; readonly reason: AdjustmentReason } & Movement)
  | ({ readonly type: 'StockCounted'; readonly onHand: number; readonly previousOnHand: number } & Movement)
  | ({ readonly type: 'SafetyStockSet'; readonly safetyStock: number } & Movement)
  | {
      readonly type: 'StockReserved';
      readonly reservationId: string;
      readonly quantity: number;
      readonly expiresAt: string;
      readonly at: string;
    }
  | {
      readonly type: 'ReservationReleased';
      readonly reservationId: string;
      readonly quantity: number;
      readonly reason: ReleaseReason;
      readonly at: string;
    }
  | {
      readonly type: 'ReservationCommitted';
      readonly reservationId: string;
      readonly quantity: number;
      readonly at: string;
    }
  | {
      /** Units held for this reservation are no longer physically covered (a till sale or a count took them). */
      readonly type: 'ReservationAtRisk';
      readonly reservationId: string;
      readonly quantity: number;
      readonly shortBy: number;
      readonly at: string;
    };

export type StockEventType = StockEvent['type'];

export type { Hold, Holds, LegacyHolds } from './holds.js';
export { HoldSet } from './holds.js';

const LEGACY_BUCKETS = 64;

/** The hold of `reservationId` on a level, if any. */
export function holdOf(holds: Holds, reservationId: string): Hold | undefined {
  const set = asHoldSet(holds);
  if (set !== undefined) return set.get(reservationId);
  return (holds as LegacyHolds)[hashOfId(reservationId) % LEGACY_BUCKETS]?.[reservationId];
}

/** Every active hold as [reservationId, hold], oldest first. */
export function holdsOf(holds: Holds): [string, Hold][] {
  let all: [string, Hold][];
  const set = asHoldSet(holds);
  if (set !== undefined) {
    all = set.entries();
  } else {
    all = [];
    for (const bucket of Object.values(holds as LegacyHolds)) all.push(...Object.entries(bucket));
  }
  return all.sort((a, b) => a[1].order - b[1].order);
}

export interface StockState {
  readonly onHand: number;
  /** Sum of the active holds' quantities, kept alongside for O(1) reads. */
  readonly reserved: number;
  readonly safetyStock: number;
  /** Number of events applied to this stock level: its optimistic-concurrency version. */
  readonly version: number;
  readonly holds: Holds;
  readonly updatedAt: string | null;
}

export const initialStockState: StockState = Object.freeze({
  onHand: 0,
  reserved: 0,
  safetyStock: 0,
  version: 0,
  holds: HoldSet.EMPTY,
  updatedAt: null,
});

/** Units the storefront may still promise: never negative. */
export const availableOf = (state: StockState): number =>
  Math.max(0, state.onHand - state.reserved - state.safetyStock);

export function evolve(state: StockState, event: StockEvent): StockState {
  const version = state.version + 1;
  const updatedAt = event.at;
  switch (event.type) {
    case 'StockReceived':
      return { ...state, onHand: state.onHand + event.quantity, version, updatedAt };
    case 'StockSold':
      return { ...state, onHand: state.onHand - event.quantity, version, updatedAt };
    case 'StockAdjusted':
      return { ...state, onHand: state.onHand + event.delta, version, updatedAt };
    case 'StockCounted':
      return { ...state, onHand: event.onHand, version, updatedAt };
    case 'SafetyStockSet':
      return { ...state, safetyStock: event.safetyStock, version, updatedAt };
    case 'StockReserved':
      return {
        ...state,
        reserved: state.reserved + event.quantity,
        holds: holdSetOf(state.holds).with(event.reservationId, {
          quantity: event.quantity,
          expiresAt: event.expiresAt,
          atRisk: false,
          order: version,
        }),
        version,
        updatedAt,
      };
    case 'ReservationReleased':
      return {
        ...state,
        reserved: state.reserved - event.quantity,
        holds: holdSetOf(state.holds).without(event.reservationId),
        version,
        updatedAt,
      };
    case 'ReservationCommitted':
      return {
        ...state,
        onHand: state.onHand - event.quantity,
        reserved: state.reserved - event.quantity,
        holds: holdSetOf(state.holds).without(event.reservationId),
        version,
        updatedAt,
      };
    case 'ReservationAtRisk': {
      const hold = holdOf(state.holds, event.reservationId);
      const holds = hold
        ? holdSetOf(state.holds).with(event.reservationId, { ...hold, atRisk: true })
        : state.holds;
      return { ...state, holds, version, updatedAt };
    }
    default: {
      const _exhaustive: never = event;
      throw new Error(`unknown event type ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export const foldStock = (events: Iterable<StockEvent>, from: StockState = initialStockState): StockState => {
  let state = from;
  for (const event of events) state = evolve(state, event);
  return state;
};
