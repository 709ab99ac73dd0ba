// Stock level of one (SKU, location): its events, its state and `evolve`, the pure fold.
// No I/O, no clock, no randomness: every time and id arrives inside the event.

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

export interface Hold {
  readonly quantity: number;
  readonly expiresAt: string;
  readonly atRisk: boolean;
  /** The level's version when the hold was taken: orders holds oldest to newest. */
  readonly order: number;
}

/**
 * Active holds by reservation id, split into buckets by a hash of the id. A flash sale puts
 * thousands of holds on one level; with buckets, taking or releasing one copies a single small
 * bucket instead of every hold, keeping each change cheap while the state stays immutable.
 */
export type Holds = Readonly<Record<number, Readonly<Record<string, Hold>>>>;

const HOLD_BUCKETS = 64;

function bucketOf(reservationId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < reservationId.length; i++) {
    hash ^= reservationId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % HOLD_BUCKETS;
}

export const holdOf = (holds: Holds, reservationId: string): Hold | undefined =>
  holds[bucketOf(reservationId)]?.[reservationId];

function withHold(holds: Holds, reservationId: string, hold: Hold): Holds {
  const bucket = bucketOf(reservationId);
  return { ...holds, [bucket]: { ...holds[bucket], [reservationId]: hold } };
}

function withoutHold(holds: Holds, reservationId: string): Holds {
  const bucket = bucketOf(reservationId);
  const current = holds[bucket];
  if (!current || !(reservationId in current)) return holds;
  const nextBucket = { ...current };
  delete nextBucket[reservationId];
  const next: Record<number, Readonly<Record<string, Hold>>> = { ...holds };
  if (Object.keys(nextBucket).length > 0) next[bucket] = nextBucket;
  else delete next[bucket];
  return next;
}

/** Every active hold as [reservationId, hold], oldest first. */
export function holdsOf(holds: Holds): [string, Hold][] {
  const all: [string, Hold][] = [];
  for (const bucket of Object.values(holds)) all.push(...Object.entries(bucket));
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
  holds: Object.freeze({}),
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
        holds: withHold(state.holds, event.reservationId, {
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
        holds: withoutHold(state.holds, event.reservationId),
        version,
        updatedAt,
      };
    case 'ReservationCommitted':
      return {
        ...state,
        onHand: state.onHand - event.quantity,
        reserved: state.reserved - event.quantity,
        holds: withoutHold(state.holds, event.reservationId),
        version,
        updatedAt,
      };
    case 'ReservationAtRisk': {
      const hold = holdOf(state.holds, event.reservationId);
      const holds = hold
        ? withHold(state.holds, event.reservationId, { ...hold, atRisk: true })
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
