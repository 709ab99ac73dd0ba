// The engine port in an HTTP worker: every call goes over the cluster IPC channel to the primary,
// which runs it on the one real Engine and answers. One owner per actor stays one owner, so per-SKU
// serialisation and the no-oversell guarantee are the engine's own, unchanged.
//
// Reads answer with a promise (the port's MaybePromise); `ready` is mirrored from the primary and
// `clock.now()` is this process's clock. The live feed is received only while a listener is
// subscribed here: the first listener subscribes at the primary, the last one to leave unsubscribes.
import { InventoryError } from '../../engine/errors.js';
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
} from '../../engine/types.js';
import type {
  EngineMetrics,
  FeedPage,
  InventoryEngine,
  ReservationResult,
  StockCommandBody,
  StoreHeartbeatResult,
} from '../engine-port.js';
import type { Envelope, Hello, Method, PrimaryMessage, WorkerMessage } from './protocol.js';
import { decodeError, encodeArgs, Outbox } from './protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
}

export interface RemoteEngineOptions {
  /** Sends one envelope to the primary (process.send in a worker). */
  readonly send: (envelope: Envelope<WorkerMessage>) => void;
  /** Coalesce the calls of one event-loop turn into one send (default true). */
  readonly coalesce?: boolean;
  /** Called for each feed listener that throws; the others still get the item. */
  readonly onListenerError?: (error: unknown) => void;
}

export class RemoteEngine implements InventoryEngine {
  ready = false;
  readonly clock = { now: (): number => Date.now() };
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly outbox: Outbox<WorkerMessage>;
  private readonly listeners = new Set<(item: FeedItem) => void>();
  private subscription: Promise<void> = Promise.resolve();
  private closedBy: InventoryError | undefined;

  constructor(private readonly options: RemoteEngineOptions) {
    this.outbox = new Outbox(options.send, options.coalesce ?? true);
  }

  /** Calls in flight at the primary. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** One call to the primary; settles with its answer, or rejects when the channel closes. */
  call<T>(method: Method, args: readonly unknown[] = []): Promise<T> {
    if (this.closedBy) return Promise.reject(this.closedBy);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.outbox.push({ k: 'call', id, method, args: encodeArgs(args) });
    });
  }

  /** Handles one envelope from the primary; returns the messages that are not the engine's. */
  receive(envelope: Envelope<PrimaryMessage>): PrimaryMessage[] {
    const others: PrimaryMessage[] = [];
    for (const message of envelope.stockline) {
      switch (message.k) {
        case 'ok': {
          const pending = this.pending.get(message.id);
          this.pending.delete(message.id);
          pending?.resolve(message.value);
          break;
        }
        case 'error': {
          const pending = this.pending.get(message.id);
          this.pending.delete(message.id);
          pending?.reject(decodeError(message.error));
          break;
        }
        case 'feed':
          for (const item of message.items) this.publish(item);
          break;
        default:
          others.push(message);
      }
    }
    return others;
  }

  /** The primary is gone or the worker stops: every call in flight and to come fails with 503. */
  close(reason: string): void {
    this.closedBy ??= new InventoryError('ENGINE_STOPPED', `The engine is not reachable: ${reason}`, {}, 1);
    this.ready = false;
    for (const pending of this.pending.values()) pending.reject(this.closedBy);
    this.pending.clear();
    this.listeners.clear();
  }

  /** The worker's start-up handshake: keys and readiness from the primary. */
  async hello(): Promise<Hello> {
    const hello = await this.call<Hello>('hello');
    this.ready = hello.ready;
    return hello;
  }

  /** Aggregated /metrics of every worker and the primary (prom-client AggregatorRegistry). */
  clusterMetrics(): Promise<string> {
    return this.call<string>('clusterMetrics');
  }

  putLocation(
    id: string,
    body: { name: string; type: LocationType },
    idem?: Idempotency,
  ): Promise<{ location: LocationView; created: boolean; replayed: boolean }> {
    return this.call('putLocation', [id, body, idem]);
  }

  location(id: string): Promise<LocationView | undefined> {
    return this.call('location', [id]);
  }

  locations(): Promise<LocationView[]> {
    return this.call('locations');
  }

  level(sku: string, locationId: string): Promise<StockLevelView | undefined> {
    return this.call('level', [sku, locationId]);
  }

  levelsOf(sku: string): Promise<StockLevelView[]> {
    return this.call('levelsOf', [sku]);
  }

  execute(
    sku: string,
    locationId: string,
    command: StockCommandBody,
    idem?: Idempotency,
  ): Promise<StockCommandResult> {
    return this.call('execute', [sku, locationId, command, idem]);
  }

  reserve(request: ReserveRequest, idem?: Idempotency): Promise<ReservationResult> {
    return this.call('reserve', [request, idem]);
  }

  reservation(id: string): Promise<ReservationView | undefined> {
    return this.call('reservation', [id]);
  }

  confirm(id: string, idem?: Idempotency): Promise<ReservationResult> {
    return this.call('confirm', [id, idem]);
  }

  cancel(id: string, idem?: Idempotency): Promise<ReservationResult> {
    return this.call('cancel', [id, idem]);
  }

  markPaymentPending(id: string, idem?: Idempotency): Promise<ReservationResult> {
    return this.call('markPaymentPending', [id, idem]);
  }

  extend(id: string, ttlSeconds: number, idem?: Idempotency): Promise<ReservationResult> {
    return this.call('extend', [id, ttlSeconds, idem]);
  }

  applyStoreEvents(
    storeId: string,
    events: StoreEventInput[],
    idem?: Idempotency,
  ): Promise<StoreEventsResult & { replayed: boolean }> {
    return this.call('applyStoreEvents', [storeId, events, idem]);
  }

  lastStoreSeq(storeId: string): Promise<number> {
    return this.call('lastStoreSeq', [storeId]);
  }

  heartbeat(storeId: string): Promise<StoreHeartbeatResult> {
    return this.call('heartbeat', [storeId]);
  }

  readFeed(after: string | undefined, limit: number): Promise<FeedPage> {
    return this.call('readFeed', [after, limit]);
  }

  history(sku: string, locationId: string, options: { after?: string; limit: number }): Promise<FeedPage> {
    return this.call('history', [sku, locationId, options]);
  }

  levelAt(sku: string, locationId: string, at: string): Promise<StockLevelView | undefined> {
    return this.call('levelAt', [sku, locationId, at]);
  }

  metrics(): Promise<EngineMetrics> {
    return this.call('metrics');
  }

  subscribe(listener: (item: FeedItem) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) {
      const subscription = this.call<void>('subscribe');
      subscription.catch(() => undefined); // awaited by subscribed(); never an unhandled rejection
      this.subscription = subscription;
    }
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && !this.closedBy) {
        this.subscription = Promise.resolve();
        this.call<void>('unsubscribe').catch(() => undefined);
      }
    };
  }

  subscribed(): Promise<void> {
    return this.subscription;
  }

  private publish(item: FeedItem): void {
    for (const listener of this.listeners) {
      try {
        listener(item);
      } catch (error) {
        this.options.onListenerError?.(error);
      }
    }
  }
}
