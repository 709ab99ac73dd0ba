// The part of the engine the HTTP API uses: the API is a factory over this port, so the real Engine
// (engine/engine.ts) plugs in as is, and nothing in api/ reaches past it into storage. With
// HTTP_WORKERS the port is a RemoteEngine (api/http-workers/) calling the engine's process over IPC,
// so the reads may answer with a promise: callers always await them.
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

/**
 * A value or a promise of it. The in-process Engine answers reads synchronously; the engine of an
 * HTTP worker (api/http-workers/) answers them over IPC. Callers always `await` these.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Runs `use` on the value now if it is one, else when the promise settles (errors are dropped). */
export function whenResolved<T>(value: MaybePromise<T>, use: (resolved: T) => void): void {
  if (value instanceof Promise) value.then(use, () => undefined);
  else use(value);
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

/** What the store heartbeat answers (engine/engine.ts `heartbeat`). */
export interface StoreHeartbeatResult {
  readonly storeId: string;
  readonly lastSeq: number;
  readonly silentAfterMs: number;
}

export interface InventoryEngine {
  readonly ready: MaybePromise<boolean>;
  readonly clock: { now(): MaybePromise<number> };
  putLocation(
    id: string,
    body: { name: string; type: LocationType },
    idem?: Idempotency,
  ): Promise<{ location: LocationView; created: boolean; replayed: boolean }>;
  location(id: string): MaybePromise<LocationView | undefined>;
  locations(): MaybePromise<LocationView[]>;
  level(sku: string, locationId: string): MaybePromise<StockLevelView | undefined>;
  levelsOf(sku: string): MaybePromise<StockLevelView[]>;
  execute(
    sku: string,
    locationId: string,
    command: StockCommandBody,
    idem?: Idempotency,
  ): Promise<StockCommandResult>;
  reserve(request: ReserveRequest, idem?: Idempotency): Promise<ReservationResult>;
  reservation(id: string): MaybePromise<ReservationView | undefined>;
  confirm(id: string, idem?: Idempotency): Promise<ReservationResult>;
  cancel(id: string, idem?: Idempotency): Promise<ReservationResult>;
  markPaymentPending(id: string, idem?: Idempotency): Promise<ReservationResult>;
  extend(id: string, ttlSeconds: number, idem?: Idempotency): Promise<ReservationResult>;
  applyStoreEvents(
    storeId: string,
    events: StoreEventInput[],
    idem?: Idempotency,
  ): Promise<StoreEventsResult & { replayed: boolean }>;
  lastStoreSeq(storeId: string): MaybePromise<number>;
  readFeed(after: string | undefined, limit: number): Promise<FeedPage>;
  /** Live feed items after now, in journal order, until the returned function is called. */
  subscribe(listener: (item: FeedItem) => void): () => void;
  /**
   * Resolves once the last subscribe() is in effect at the engine. In process it is at once (the
   * Engine has no such method); an HTTP worker's subscription takes one IPC round trip.
   */
  subscribed?(): Promise<void>;
  /** A store agent's heartbeat (optional: the POST /v1/stores/{storeId}/heartbeat route exists with it). */
  heartbeat?(storeId: string): MaybePromise<StoreHeartbeatResult>;
  history(sku: string, locationId: string, options: { after?: string; limit: number }): Promise<FeedPage>;
  levelAt(sku: string, locationId: string, at: string): Promise<StockLevelView | undefined>;
  metrics(): MaybePromise<EngineMetrics>;
}
