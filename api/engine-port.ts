// The part of the engine the HTTP API uses: the API is a factory over this port, so the real Engine
// (engine/engine.ts) plugs in as is, and nothing in api/ reaches past it into storage.
import type { StockCommand } from '../engine/domain/stock-commands.js';
import type {
  FeedItem,
  Idempotency,
  LocationType,
  LocationView,
  ReservationView,
  ReserveRequest,
  StockCommandResult,
  StockLevelView,
  StoreEventInput,
  StoreEventsResult,
} from '../engine/types.js';

type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;
/** A stock command as the API sends it: the engine stamps the time. */
export type StockCommandBody = WithoutAt<StockCommand>;

export interface ReservationResult {
  readonly reservation: ReservationView;
  readonly replayed: boolean;
}

export interface FeedPage {
  readonly items: FeedItem[];
  readonly next: string | null;
}

export type BreakerState = 'closed' | 'open' | 'halfOpen';

export interface EngineMetrics {
  readonly activeActors: number;
  readonly mailboxDepth: number;
  readonly lastSeq: number;
  readonly journal: {
    readonly health: string;
    readonly appends: number;
    readonly flushes: number;
    readonly lastFlushMs: number;
    readonly lastBatchSize: number;
  };
  readonly breaker: BreakerState;
}

export interface InventoryEngine {
  readonly ready: boolean;
  readonly clock: { now(): number };
  putLocation(
    id: string,
    body: { name: string; type: LocationType },
    idem?: Idempotency,
  ): Promise<{ location: LocationView; created: boolean; replayed: boolean }>;
  location(id: string): LocationView | undefined;
  locations(): LocationView[];
  level(sku: string, locationId: string): StockLevelView | undefined;
  levelsOf(sku: string): StockLevelView[];
  execute(
    sku: string,
    locationId: string,
    command: StockCommandBody,
    idem?: Idempotency,
  ): Promise<StockCommandResult>;
  reserve(request: ReserveRequest, idem?: Idempotency): Promise<ReservationResult>;
  reservation(id: string): ReservationView | undefined;
  confirm(id: string, idem?: Idempotency): Promise<ReservationResult>;
  cancel(id: string, idem?: Idempotency): Promise<ReservationResult>;
  markPaymentPending(id: string, idem?: Idempotency): Promise<ReservationResult>;
  extend(id: string, ttlSeconds: number, idem?: Idempotency): Promise<ReservationResult>;
  applyStoreEvents(
    storeId: string,
    events: StoreEventInput[],
    idem?: Idempotency,
  ): Promise<StoreEventsResult & { replayed: boolean }>;
  lastStoreSeq(storeId: string): number;
  readFeed(after: string | undefined, limit: number): Promise<FeedPage>;
  subscribe(listener: (item: FeedItem) => void): () => void;
  history(sku: string, locationId: string, options: { after?: string; limit: number }): Promise<FeedPage>;
  levelAt(sku: string, locationId: string, at: string): Promise<StockLevelView | undefined>;
  metrics(): EngineMetrics;
}
