// The engine: actors for stock levels, reservations and locations on top of a durable journal.
//
// Write path: a command goes to its stream's actor, which decides synchronously and hands the
// events to `commit`; `commit` appends through the storage breaker and, once the record is durable,
// applies it to the projection (the durable state every read serves) and publishes it to the feed.
// Multi-stream work (a cart across locations, a confirmation that commits each line) is a saga of
// single-stream steps that recovery completes or compensates after a crash.
import CircuitBreaker from 'opossum';
import { randomUUID } from 'node:crypto';
import type { Journal, JournalEntry, JournalRecord } from '../storage/journal.js';
import type { SnapshotStore } from '../storage/snapshot.js';
import { SnapshotsUnreadableError } from '../storage/snapshot.js';
import type { Clock } from './clock.js';
import { isoOf, systemClock } from './clock.js';
import type { LocationEvent, LocationState } from './domain/location.js';
import { decideLocation, evolveLocation } from './domain/location.js';
import type { ReservationCommand, ReservationLine, ReservationState } from './domain/reservation.js';
import {
  decideReservation,
  evolveReservation,
  initialReservationState,
  isActive,
} from './domain/reservation.js';
import type { ReservationEvent } from './domain/reservation.js';
import { adjustmentReasons } from './domain/stock.js';
import type { AdjustmentReason, ReleaseReason, StockEvent, StockState } from './domain/stock.js';
import { availableOf, evolve, holdOf, holdsOf, HoldSet, initialStockState } from './domain/stock.js';
import type { StockCommand } from './domain/stock-commands.js';
import { decide, MAX_QUANTITY } from './domain/stock-commands.js';
import { InventoryError, isInventoryError } from './errors.js';
import type { LevelQuantities } from './feed.js';
import { feedItemsOf, levelView, parseFeedId } from './feed.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { IdempotencyMeta } from './projection.js';
import { DEFAULT_PARTITIONS, Projection } from './projection.js';
import type { Decision } from './runtime/actor.js';
import { ActorRegistry } from './runtime/actor.js';
import { DeadlineHeap } from './runtime/deadline-heap.js';
import { partitionOf } from '../storage/snapshot.js';
import { isValidId, locationStream, parseStream, reservationStream, stockStream } from './streams.js';
import type {
  FeedItem,
  Idempotency,
  LineShortfall,
  LocationType,
  LocationView,
  ReservationView,
  ReserveRequest,
  StockLevelView,
  StoreEventInput,
  StoreEventsResult,
} from './types.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A stock command as callers send it: the engine stamps the time. */
export type StockCommandBody = DistributiveOmit<StockCommand, 'at'>;

/**
 * Which reservation partitions this node looks after (cluster mode). The owner of a partition runs
 * its expiry timers and, when it gains the partition from a node that left, finishes that node's
 * interrupted sagas. Correctness never depends on it: every write is fenced by the shared journal.
 */
export interface PartitionOwnership {
  readonly partitions: number;
  owns(partition: number): boolean;
  /** Registers the listener for partitions gained; returns the unsubscribe function. */
  onGained(listener: (partitions: readonly number[]) => void): () => void;
}

export interface EngineOptions {
  readonly journal: Journal;
  readonly snapshots?: SnapshotStore | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
  readonly newId?: (() => string) | undefined;
  /** Commands in flight per actor before MAILBOX_FULL. */
  readonly mailboxCapacity?: number | undefined;
  /** Commands in flight across the engine before ENGINE_OVERLOADED. */
  readonly maxInFlight?: number | undefined;
  /** An actor idle this long is passivated (its state stays in the projection). */
  readonly actorIdleMs?: number | undefined;
  /** Take a snapshot after this many records; 0 disables periodic snapshots. */
  readonly snapshotEveryRecords?: number | undefined;
  /** After a snapshot, delete journal segments covered by the previous one. */
  readonly compactJournal?: boolean | undefined;
  readonly idempotencyRetentionMs?: number | undefined;
  readonly defaultTtlSeconds?: number | undefined;
  readonly maxTtlSeconds?: number | undefined;
  readonly paymentPendingTtlSeconds?: number | undefined;
  readonly lowStockThreshold?: number | undefined;
  readonly partitions?: number | undefined;
  /** Run the expiry and maintenance timers (tests driving a ManualClock turn them off). */
  readonly timers?: boolean | undefined;
  /** How long the storage breaker stays open before a trial append. */
  readonly breakerResetMs?: number | undefined;
  /** A store whose agent sent no event nor heartbeat for this long may be selling offline. */
  readonly storeSilentAfterMs?: number | undefined;
  /** Units per stock level a silent store keeps back from online promises until its agent returns. */
  readonly offlineBuffer?: number | undefined;
  /** Cluster mode: the partitions this node looks after. Without it, this node looks after all. */
  readonly ownership?: PartitionOwnership | undefined;
}

export interface StockCommandResult {
  readonly level: StockLevelView;
  readonly events: readonly StockEvent[];
  readonly replayed: boolean;
}

export interface EngineMetrics {
  readonly activeActors: number;
  readonly mailboxDepth: number;
  readonly inFlight: number;
  readonly lastSeq: number;
  readonly journal: { readonly health: string } & Journal['stats'];
  readonly breaker: 'closed' | 'open' | 'halfOpen';
  readonly activeReservations: number;
  readonly stockLevels: number;
  readonly pendingFollowUps: number;
  readonly recovery: RecoveryReport | null;
}

export interface RecoveryReport {
  readonly snapshotSeq: number;
  readonly replayedRecords: number;
  readonly lastSeq: number;
  readonly durationMs: number;
  readonly compensated: number;
  readonly completed: number;
  readonly expired: number;
}

const defaults = {
  mailboxCapacity: 10_000,
  maxInFlight: 200_000,
  actorIdleMs: 60_000,
  snapshotEveryRecords: 100_000,
  idempotencyRetentionMs: 24 * 3600_000,
  defaultTtlSeconds: 900,
  maxTtlSeconds: 24 * 3600,
  paymentPendingTtlSeconds: 3600,
  lowStockThreshold: 5,
  breakerResetMs: 1_000,
  storeSilentAfterMs: 120_000,
  offlineBuffer: 2,
};

const MAX_RESERVATION_LINES = 100;
const NO_CLAIMS: readonly string[] = Object.freeze([]);
/** An actor's states around the events it appends (see Projection.apply). */
type Transition = { readonly before: unknown; readonly after: unknown };
const notReplayed = <R>(result: R): { result: R; replayed: boolean } => ({ result, replayed: false });
const FAILURE_MEMO_LIMIT = 50_000;
const retryableCodes = new Set([
  'STORAGE_UNAVAILABLE',
  'MAILBOX_FULL',
  'ENGINE_OVERLOADED',
  'ENGINE_NOT_READY',
  'ENGINE_STOPPED',
  'APPEND_CONFLICT',
]);

const quantitiesOf = (state: StockState): LevelQuantities => ({
  onHand: state.onHand,
  reserved: state.reserved,
  safetyStock: state.safetyStock,
});

export const reservationView = (state: ReservationState): ReservationView => ({
  id: state.id,
  // Views are built only for placed reservations (see `reservation`).
  status: state.status === 'none' || state.status === 'abandoned' ? 'cancelled' : state.status,
  createdAt: state.createdAt,
  expiresAt: state.expiresAt,
  lines: state.lines.map((line) => ({ ...line })),
  ...(state.channel === undefined ? {} : { channel: state.channel }),
  ...(state.reference === undefined ? {} : { reference: state.reference }),
  version: state.version,
});

const locationView = (state: LocationState): LocationView => ({ ...state });

async function* singleRecords(
  records: AsyncIterable<JournalRecord>,
): AsyncGenerator<readonly JournalRecord[]> {
  for await (const record of records) yield [record];
}

function checkId(field: string, value: string): void {
  if (typeof value !== 'string' || !isValidId(value)) {
    throw new InventoryError('VALIDATION_FAILED', `${field} must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`, {
      field,
    });
  }
}

export class Engine {
  readonly clock: Clock;
  private readonly journal: Journal;
  private readonly snapshots: SnapshotStore | undefined;
  private readonly logger: Logger;
  private readonly newId: () => string;
  private readonly settings: typeof defaults & {
    snapshotEveryRecords: number;
    compactJournal: boolean;
    partitions: number;
    timers: boolean;
  };
  private projection: Projection;
  private readonly breaker: CircuitBreaker<[JournalEntry, Transition | undefined], JournalRecord>;
  private readonly stockActors: ActorRegistry<StockState>;
  private readonly reservationActors: ActorRegistry<ReservationState>;
  private readonly locationActors: ActorRegistry<LocationState | undefined>;
  private readonly listeners = new Set<(item: FeedItem) => void>();
  private readonly idempotencyInFlight = new Map<string, string>();
  private readonly idempotencyFailures = new Map<string, { fingerprint: string; error: InventoryError }>();
  private readonly deadlines = new DeadlineHeap();
  private readonly storeChains = new Map<string, Promise<void>>();
  /** Saga steps that failed (storage down) and must be retried: each is idempotent. */
  private followUps: { describe: string; run: () => Promise<unknown> }[] = [];
  private recovering: Promise<void> | undefined;
  private catchingUp: Promise<void> | undefined;
  private unwatch: (() => Promise<void>) | undefined;
  private snapshotting: Promise<void> | undefined;
  private lastSnapshotSeq = 0;
  private recordsSinceSnapshot = 0;
  private inFlight = 0;
  private isReady = false;
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private lastIdempotencySweep = 0;
  private recoveryReport: RecoveryReport | null = null;
  /** Last heartbeat or till batch per store (memory only: after a restart, stores get a fresh grace period). */
  private readonly storeContact = new Map<string, number>();
  private startedAt = 0;
  private readonly ownership: PartitionOwnership | undefined;
  private unsubscribeOwnership: (() => void) | undefined;

  private constructor(options: EngineOptions) {
    this.journal = options.journal;
    this.snapshots = options.snapshots;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.newId = options.newId ?? (() => randomUUID());
    this.ownership = options.ownership;
    this.settings = {
      mailboxCapacity: options.mailboxCapacity ?? defaults.mailboxCapacity,
      maxInFlight: options.maxInFlight ?? defaults.maxInFlight,
      actorIdleMs: options.actorIdleMs ?? defaults.actorIdleMs,
      snapshotEveryRecords: options.snapshotEveryRecords ?? defaults.snapshotEveryRecords,
      idempotencyRetentionMs: options.idempotencyRetentionMs ?? defaults.idempotencyRetentionMs,
      defaultTtlSeconds: options.defaultTtlSeconds ?? defaults.defaultTtlSeconds,
      maxTtlSeconds: options.maxTtlSeconds ?? defaults.maxTtlSeconds,
      paymentPendingTtlSeconds: options.paymentPendingTtlSeconds ?? defaults.paymentPendingTtlSeconds,
      lowStockThreshold: options.lowStockThreshold ?? defaults.lowStockThreshold,
      breakerResetMs: options.breakerResetMs ?? defaults.breakerResetMs,
      storeSilentAfterMs: options.storeSilentAfterMs ?? defaults.storeSilentAfterMs,
      offlineBuffer: options.offlineBuffer ?? defaults.offlineBuffer,
      compactJournal: options.compactJournal ?? false,
      partitions: options.partitions ?? DEFAULT_PARTITIONS,
      timers: options.timers ?? true,
    };
    this.projection = new Projection(this.settings.partitions);
    this.breaker = new CircuitBreaker(
      (entry: JournalEntry, transition: Transition | undefined) => this.appendDurably(entry, transition),
      {
        timeout: false, // an fsync that outlives a timeout may still land: failing its caller would lie
        resetTimeout: this.settings.breakerResetMs,
        errorThresholdPercentage: 50,
        volumeThreshold: 5,
        name: 'journal',
        // Only the open/closed decision is used: no latency percentiles (they sort every latency of the
        // 10 s window each second) and no per-second snapshot events.
        rollingPercentilesEnabled: false,
        enableSnapshots: false,
        // Losing a race to another node is not a storage failure.
        errorFilter: (error: unknown) => isInventoryError(error) && error.code === 'APPEND_CONFLICT',
      },
    );
    this.breaker.on('open', () => this.logger.warn('storage breaker open: writes fail fast'));
    this.breaker.on('close', () => this.logger.info('storage breaker closed: writes resumed'));
    const host = <S>(
      durable: (stream: string) => S,
      evolveAll: (state: S, events: readonly { readonly type: string }[], stream: string) => S,
      versionOf: (state: S) => number,
    ) => ({
      commit: (entry: JournalEntry, before: S, after: S) => this.commit(entry, { before, after }),
      durable,
      evolveAll,
      versionOf,
      mailboxCapacity: this.settings.mailboxCapacity,
      now: () => this.clock.now(),
    });
    this.stockActors = new ActorRegistry<StockState>(
      host(
        (stream) => this.projection.stockByStream(stream) ?? initialStockState,
        (state, events) => (events as readonly StockEvent[]).reduce(evolve, state),
        (state) => state.version,
      ),
    );
    this.reservationActors = new ActorRegistry<ReservationState>(
      host(
        (stream) =>
          this.projection.reservation(stream.slice('reservation/'.length)) ??
          initialReservationState(stream.slice('reservation/'.length)),
        (state, events) => (events as readonly ReservationEvent[]).reduce(evolveReservation, state),
        (state) => state.version,
      ),
    );
    this.locationActors = new ActorRegistry<LocationState | undefined>(
      host(
        (stream) => this.projection.location(stream.slice('location/'.length)),
        (state, events, stream) =>
          (events as readonly LocationEvent[]).reduce<LocationState | undefined>(
            (current, event) => evolveLocation(current, stream.slice('location/'.length), event),
            state,
          ),
        (state) => state?.version ?? 0,
      ),
    );
  }

  /** Opens the journal, loads the newest snapshot, replays the tail, finishes interrupted sagas. */
  static async start(options: EngineOptions): Promise<Engine> {
    const engine = new Engine(options);
    await engine.recover();
    if (engine.journal.watch) {
      engine.unwatch = await engine.journal.watch((lastSeq) => {
        engine
          .catchUp(lastSeq)
          .catch((error: unknown) =>
            engine.logger.error('could not apply records from other writers', { error: String(error) }),
          );
      });
    }
    engine.unsubscribeOwnership = engine.ownership?.onGained((partitions) => {
      const gained = new Set(partitions);
      const ownership = engine.ownership as PartitionOwnership;
      const inGained = (id: string) => gained.has(partitionOf(reservationStream(id), ownership.partitions));
      engine
        .finishInterruptedSagas(inGained)
        .then(({ compensated, completed }) => {
          engine.logger.info('partitions gained: interrupted sagas finished', {
            partitions,
            compensated,
            completed,
          });
          return engine.expireDue();
        })
        .catch((error: unknown) =>
          engine.logger.error('taking over partitions failed', { error: String(error) }),
        );
    });
    if (engine.settings.timers) engine.startTimers();
    return engine;
  }

  get ready(): boolean {
    return this.isReady && !this.stopped;
  }

  // ---------------------------------------------------------------- recovery

  private async recover(): Promise<void> {
    const started = performance.now();
    await this.journal.open();
    const snapshot = this.snapshots ? await this.latestSnapshotOrJournalAlone(this.snapshots) : null;
    if (snapshot) {
      this.projection = new Projection(snapshot.partitionCount);
      for await (const [id, value] of snapshot.entries()) this.projection.load(id, value);
      this.projection.lastSeq = snapshot.seq;
      this.lastSnapshotSeq = snapshot.seq;
    }
    if (this.journal.lastSeq < this.projection.lastSeq) {
      throw new Error(
        `the journal ends at seq ${this.journal.lastSeq} but the snapshot covers seq ${this.projection.lastSeq}: ` +
          'journal records are missing; restore the journal or remove the snapshot',
      );
    }
    let replayed = 0;
    const fromSeq = this.projection.lastSeq + 1;
    const batches: AsyncIterable<readonly JournalRecord[]> = this.journal.readBatches
      ? this.journal.readBatches(fromSeq)
      : singleRecords(this.journal.read(fromSeq));
    for await (const batch of batches) {
      for (const record of batch) {
        if (record.seq !== this.projection.lastSeq + 1) {
          throw new Error(
            `journal gap: expected seq ${this.projection.lastSeq + 1}, found ${record.seq} (segments removed without a covering snapshot?)`,
          );
        }
        this.projection.apply(record);
        replayed++;
      }
    }
    this.recordsSinceSnapshot = replayed;
    for (const [, reservation] of this.projection.entries<ReservationState>('reservation/')) {
      if (isActive(reservation.status))
        this.deadlines.push(Date.parse(reservation.expiresAt), reservation.id);
    }
    this.isReady = true;
    this.startedAt = this.clock.now();
    const { compensated, completed } = await this.finishInterruptedSagas();
    const expired = await this.expireDue();
    this.recoveryReport = {
      snapshotSeq: snapshot?.seq ?? 0,
      replayedRecords: replayed,
      lastSeq: this.projection.lastSeq,
      durationMs: Math.round(performance.now() - started),
      compensated,
      completed,
      expired,
    };
    this.logger.info('engine recovered', { ...this.recoveryReport });
  }

  /**
   * When every snapshot is damaged, the journal alone is enough only if it still holds every record
   * from seq 1 up to what the snapshots covered; otherwise starting would silently serve less than
   * was acknowledged, so recovery stops and says why.
   */
  private async latestSnapshotOrJournalAlone(store: SnapshotStore) {
    try {
      return await store.latest();
    } catch (error) {
      if (!(error instanceof SnapshotsUnreadableError)) throw error;
      let firstSeq = 0;
      for await (const record of this.journal.read(1)) {
        firstSeq = record.seq;
        break;
      }
      if (firstSeq !== 1 || this.journal.lastSeq < error.newestSeq) {
        throw new Error(
          `${error.message}, and the journal does not hold every record up to seq ${error.newestSeq} ` +
            `(it holds ${firstSeq === 0 ? 'none' : `${firstSeq} to ${this.journal.lastSeq}`}): refusing to start ` +
            'from less than was acknowledged. Restore the journal or the snapshots (docs/operations.md).',
          { cause: error },
        );
      }
      this.logger.warn('every snapshot is damaged: recovering from the whole journal', {
        newestSnapshotSeq: error.newestSeq,
        lastSeq: this.journal.lastSeq,
      });
      return null;
    }
  }

  /**
   * A crash can interrupt a saga between its steps. Holds whose reservation was never placed are
   * released (compensated); holds of confirmed, cancelled or expired reservations are committed or
   * released (completed); holds taken by a till sale are flagged on their reservation.
   */
  private async finishInterruptedSagas(
    looksAfter: (reservationId: string) => boolean = (id) => this.looksAfter(id),
  ): Promise<{ compensated: number; completed: number }> {
    const steps: { kind: 'compensate' | 'complete'; run: () => Promise<unknown> }[] = [];
    for (const [stream, state] of this.projection.entries<StockState>('stock/')) {
      if (state.holds === HoldSet.EMPTY) continue; // most levels hold nothing
      const ref = parseStream(stream);
      if (ref?.kind !== 'stock') continue;
      for (const [reservationId, hold] of holdsOf(state.holds)) {
        if (!looksAfter(reservationId)) continue;
        const reservation = this.projection.reservation(reservationId);
        const release = (reason: ReleaseReason) => () =>
          this.runStock(ref.sku, ref.locationId, { type: 'release', reservationId, reason }, undefined, true);
        if (!reservation || reservation.status === 'abandoned') {
          steps.push({
            kind: 'compensate',
            run: async () => {
              if (await this.abandonUnplaced(reservationId)) await release('compensated')();
            },
          });
        } else if (reservation.status === 'confirmed') {
          steps.push({
            kind: 'complete',
            run: () =>
              this.runStock(ref.sku, ref.locationId, { type: 'commit', reservationId }, undefined, true),
          });
        } else if (reservation.status === 'cancelled' || reservation.status === 'expired') {
          steps.push({ kind: 'complete', run: release(reservation.status) });
        } else if (
          !reservation.lines.some((line) => line.sku === ref.sku && line.locationId === ref.locationId)
        ) {
          steps.push({ kind: 'complete', run: release('resourced') });
        } else if (
          hold.atRisk &&
          !reservation.lines.some(
            (line) => line.sku === ref.sku && line.locationId === ref.locationId && line.atRisk,
          )
        ) {
          steps.push({
            kind: 'complete',
            run: () => this.flagAtRisk(reservationId, ref.sku, ref.locationId),
          });
        }
      }
    }
    // Each step may lose a race to another node (cluster mode) or meet failing storage: retry it on
    // conflicts, and queue it for the maintenance loop if it still fails, never drop it.
    await Promise.all(
      steps.map((step, index) =>
        this.followUp(`recovery step ${index} (${step.kind})`, () => this.retryOnConflict(step.run)),
      ),
    );
    return {
      compensated: steps.filter((step) => step.kind === 'compensate').length,
      completed: steps.filter((step) => step.kind === 'complete').length,
    };
  }

  // ---------------------------------------------------------------- the commit path

  /** The breaker's action: recover a failed journal first, then append and apply in journal order. */
  private async appendDurably(entry: JournalEntry, transition?: Transition): Promise<JournalRecord> {
    if (this.journal.health === 'failed') {
      this.recovering ??= this.journal.recover().finally(() => {
        this.recovering = undefined;
      });
      await this.recovering;
      this.logger.warn('journal recovered after a failure: undurable records were cut', {
        lastSeq: this.journal.lastSeq,
      });
    }
    const record = await this.journal.append(entry);
    if (record.seq === this.projection.lastSeq + 1 && this.catchingUp === undefined) {
      this.applyDurable(record, transition);
    } else if (record.seq > this.projection.lastSeq) {
      // Another writer appended in between (a shared journal): apply everything up to it, in order.
      await this.catchUp(record.seq);
    }
    return record;
  }

  /**
   * Applies every durable record up to `through`, in sequence order, reading the journal. The
   * projection therefore always equals a replay of the journal's prefix, on every node, and the
   * feed it publishes is the same everywhere.
   */
  private catchUp(through: number): Promise<void> {
    const run = async () => {
      if (this.projection.lastSeq >= through) return;
      for await (const record of this.journal.read(this.projection.lastSeq + 1)) {
        if (record.seq <= this.projection.lastSeq) continue;
        if (record.seq !== this.projection.lastSeq + 1) {
          throw new Error(
            `journal gap while catching up: expected ${this.projection.lastSeq + 1}, got ${record.seq}`,
          );
        }
        this.applyDurable(record);
        if (record.seq >= through) break;
      }
    };
    const next = (this.catchingUp ?? Promise.resolve()).then(run);
    const tracked = next.finally(() => {
      if (this.catchingUp === tracked) this.catchingUp = undefined;
    });
    this.catchingUp = tracked;
    return tracked;
  }

  /**
   * On a shared journal another node may write a stream first: the append is refused with
   * APPEND_CONFLICT, this node catches up with the journal and runs the whole operation again on
   * the fresh state. Nothing of the refused attempt was written.
   */
  private retryOnConflict<R>(work: () => Promise<R>, attempt = 1): Promise<R> {
    // A promise chain rather than an async loop: the first attempt (nearly always the only one)
    // costs no extra async frame on the command path.
    let attempted: Promise<R>;
    try {
      attempted = work();
    } catch (error) {
      attempted = Promise.reject(error);
    }
    return attempted.catch(async (error: unknown) => {
      if (!isInventoryError(error) || error.code !== 'APPEND_CONFLICT' || attempt >= 8) throw error;
      await this.catchUp(this.journal.headSeq ? await this.journal.headSeq() : this.journal.lastSeq);
      return this.retryOnConflict(work, attempt + 1);
    });
  }

  private commit(entry: JournalEntry, transition?: Transition): Promise<JournalRecord> {
    this.inFlight++;
    return this.breaker.fire(entry, transition).then(
      (record) => {
        this.inFlight--;
        return record;
      },
      (error: unknown) => {
        this.inFlight--;
        if (isInventoryError(error)) throw error;
        const open = this.breaker.opened;
        throw new InventoryError(
          'STORAGE_UNAVAILABLE',
          open
            ? 'storage is failing: writes are refused until it recovers'
            : `journal append failed: ${String(error)}`,
          {},
          Math.max(1, Math.ceil(this.settings.breakerResetMs / 1000)),
        );
      },
    );
  }

  /** Runs once per durable record, in journal order. */
  private applyDurable(record: JournalRecord, transition?: Transition): void {
    this.projection.apply(record, transition);
    this.recordsSinceSnapshot++;
    const stream = record.stream;
    if (stream.startsWith('stock/')) {
      this.stockActors.dropIfBehind(stream, record.version);
      for (const event of record.events as readonly StockEvent[]) {
        // A hold outlives its saga only if the node running it died: it expires on its own deadline.
        if (event.type === 'StockReserved')
          this.deadlines.push(Date.parse(event.expiresAt), event.reservationId);
        if (event.type === 'ReservationAtRisk') {
          const ref = parseStream(stream);
          if (ref?.kind !== 'stock') continue;
          const { reservationId } = event;
          setImmediate(() => {
            this.flagAtRisk(reservationId, ref.sku, ref.locationId)
              .then(() => this.resource(reservationId, ref.sku, ref.locationId))
              .catch((error: unknown) =>
                this.logger.warn('could not flag reservation at risk', {
                  reservationId,
                  error: String(error),
                }),
              );
          });
        }
      }
    } else if (stream.startsWith('reservation/')) {
      this.reservationActors.dropIfBehind(stream, record.version);
      const id = stream.slice('reservation/'.length);
      for (const event of record.events as readonly ReservationEvent[]) {
        if ('expiresAt' in event) this.deadlines.push(Date.parse(event.expiresAt), id);
      }
    } else if (stream.startsWith('location/')) {
      this.locationActors.dropIfBehind(stream, record.version);
    }
    if (this.listeners.size > 0) {
      for (const item of feedItemsOf(record, this.settings)) {
        for (const listener of this.listeners) listener(item);
      }
    }
    if (
      this.snapshots &&
      this.settings.snapshotEveryRecords > 0 &&
      this.recordsSinceSnapshot >= this.settings.snapshotEveryRecords &&
      !this.snapshotting
    ) {
      setImmediate(() =>
        this.snapshot().catch((error: unknown) =>
          this.logger.error('snapshot failed', { error: String(error) }),
        ),
      );
    }
  }

  private assertWritable(): void {
    if (this.stopped) throw new InventoryError('ENGINE_STOPPED', 'the engine is shutting down', {}, 1);
    if (!this.isReady) throw new InventoryError('ENGINE_NOT_READY', 'the engine is recovering', {}, 1);
    if (this.inFlight >= this.settings.maxInFlight) {
      throw new InventoryError('ENGINE_OVERLOADED', `${this.inFlight} commands in flight`, {}, 1);
    }
  }

  private now(): string {
    return isoOf(this.clock.now());
  }

  // ---------------------------------------------------------------- idempotency

  /**
   * Runs `work` once per idempotency key. A success is stored durably in the meta of the record that
   * carries its effect (so it survives restarts with the effect); a non-retryable failure is
   * remembered in memory (it changed nothing, so re-running it after a restart is harmless).
   */
  private async idempotent<R>(
    idempotency: Idempotency | undefined,
    work: (idempotency: Idempotency | undefined) => Promise<R>,
  ): Promise<{ result: R; replayed: boolean }> {
    if (!idempotency) return work(undefined).then(notReplayed);
    const { key, fingerprint } = idempotency;
    const reused = () =>
      new InventoryError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request');
    const stored = this.projection.idempotency(key);
    if (stored) {
      if (stored.fingerprint !== fingerprint) throw reused();
      return { result: stored.result as R, replayed: true };
    }
    const flying = this.idempotencyInFlight.get(key);
    if (flying !== undefined) {
      if (flying !== fingerprint) throw reused();
      throw new InventoryError(
        'IDEMPOTENCY_IN_FLIGHT',
        'a request with this Idempotency-Key is in progress',
        {},
        1,
      );
    }
    const failed = this.idempotencyFailures.get(key);
    if (failed) {
      if (failed.fingerprint !== fingerprint) throw reused();
      throw failed.error;
    }
    this.idempotencyInFlight.set(key, fingerprint);
    try {
      return { result: await work(idempotency), replayed: false };
    } catch (error) {
      if (isInventoryError(error) && !retryableCodes.has(error.code)) {
        if (this.idempotencyFailures.size >= FAILURE_MEMO_LIMIT) {
          const oldest = this.idempotencyFailures.keys().next().value;
          if (oldest !== undefined) this.idempotencyFailures.delete(oldest);
        }
        this.idempotencyFailures.set(key, { fingerprint, error });
      }
      throw error;
    } finally {
      this.idempotencyInFlight.delete(key);
    }
  }

  /** The names a record takes for good: its till event's sequence number, its idempotency key. */
  private static claimsOf(
    idempotency: Idempotency | undefined,
    source?: { storeId: string; seq: number },
  ): readonly string[] {
    if (!idempotency && !source) return NO_CLAIMS;
    const claims: string[] = [];
    if (source) claims.push(`store/${source.storeId}/${source.seq}`);
    if (idempotency) claims.push(`idempotency/${idempotency.key}`);
    return claims;
  }

  private static idempotencyMeta(
    idempotency: Idempotency | undefined,
    result: unknown,
  ): Record<string, unknown> {
    if (!idempotency) return {};
    return { idempotency: { ...idempotency, result } satisfies IdempotencyMeta };
  }

  // ---------------------------------------------------------------- locations

  async putLocation(
    id: string,
    body: { readonly name: string; readonly type: LocationType },
    idempotency?: Idempotency,
  ): Promise<{ location: LocationView; created: boolean; replayed: boolean }> {
    checkId('locationId', id);
    this.assertWritable();
    const { result, replayed } = await this.retryOnConflict(() =>
      this.idempotent(idempotency, (idem) => {
        const at = this.now();
        return this.locationActors.run(locationStream(id), (state) => {
          const events = decideLocation(state, body, at);
          return {
            events,
            answer: (after) => ({
              location: locationView(
                after ?? { id, name: body.name, type: body.type, version: 0, updatedAt: null },
              ),
              created: state === undefined,
            }),
            meta: (_before, _after, answer) => Engine.idempotencyMeta(idem, answer),
            claims: Engine.claimsOf(idem),
          };
        });
      }),
    );
    // The actor's fold is a shortcut; answer with the projection's view, the durable one.
    const durable = this.projection.location(id);
    const location = durable && !replayed ? locationView(durable) : result.location;
    return { location, created: result.created, replayed };
  }

  location(id: string): LocationView | undefined {
    const state = this.projection.location(id);
    return state ? locationView(state) : undefined;
  }

  locations(): LocationView[] {
    return [...this.projection.entries<LocationState>('location/')]
      .map(([, state]) => locationView(state))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  private requireLocation(locationId: string): void {
    if (!this.projection.location(locationId)) {
      throw new InventoryError('LOCATION_NOT_FOUND', `location ${locationId} is not registered`, {
        locationId,
      });
    }
  }

  // ---------------------------------------------------------------- stock

  level(sku: string, locationId: string): StockLevelView | undefined {
    const state = this.projection.stock(sku, locationId);
    return state ? this.liveLevel(sku, locationId, state) : undefined;
  }

  /** The level as the storefront may promise it now: a silent store's offline buffer is withheld. */
  private liveLevel(sku: string, locationId: string, state: StockState): StockLevelView {
    const view = levelView(sku, locationId, state);
    const staleSince = this.staleSince(locationId);
    if (staleSince === undefined) return view;
    return { ...view, available: Math.max(0, view.available - this.settings.offlineBuffer), staleSince };
  }

  levelsOf(sku: string): StockLevelView[] {
    const levels: StockLevelView[] = [];
    for (const locationId of this.projection.locationsOf(sku)) {
      const state = this.projection.stock(sku, locationId);
      if (state) levels.push(this.liveLevel(sku, locationId, state));
    }
    return levels.sort((a, b) => a.locationId.localeCompare(b.locationId));
  }

  async execute(
    sku: string,
    locationId: string,
    command: StockCommandBody,
    idempotency?: Idempotency,
  ): Promise<StockCommandResult> {
    checkId('sku', sku);
    checkId('locationId', locationId);
    this.assertWritable();
    this.requireLocation(locationId);
    const { result, replayed } = await this.retryOnConflict(() =>
      this.idempotent(idempotency, (idem) => this.runStock(sku, locationId, command, idem)),
    );
    return { ...result, replayed };
  }

  /** One turn on a stock actor. `storedResult` replaces the answer stored with the idempotency key. */
  private runStock(
    sku: string,
    locationId: string,
    body: StockCommandBody,
    idempotency?: Idempotency,
    bypassCapacity = false,
    storedResult?: unknown,
  ): Promise<{ level: StockLevelView; events: readonly StockEvent[] }> {
    const command = { ...body, at: this.now() } as StockCommand;
    return this.stockActors.run(
      stockStream(sku, locationId),
      (state): Decision<StockState, { level: StockLevelView; events: readonly StockEvent[] }> => {
        const events = decide(command, state);
        return {
          events,
          answer: (after) => ({ level: levelView(sku, locationId, after), events }),
          meta: (before, _after, answer) =>
            idempotency
              ? {
                  before: quantitiesOf(before),
                  ...Engine.idempotencyMeta(idempotency, storedResult ?? answer),
                }
              : { before: quantitiesOf(before) },
          claims: Engine.claimsOf(idempotency, 'source' in command ? command.source : undefined),
        };
      },
      bypassCapacity,
    );
  }

  // ---------------------------------------------------------------- reservations

  reservation(id: string): ReservationView | undefined {
    const state = this.projection.reservation(id);
    return state && state.status !== 'none' && state.status !== 'abandoned'
      ? reservationView(state)
      : undefined;
  }

  async reserve(
    request: ReserveRequest,
    idempotency?: Idempotency,
  ): Promise<{ reservation: ReservationView; replayed: boolean }> {
    this.assertWritable();
    const { result, replayed } = await this.retryOnConflict(() =>
      this.idempotent(idempotency, (idem) => this.placeReservation(request, idem)),
    );
    return { reservation: result, replayed };
  }

  /** Candidate locations for a line without one: most available first, ties by id (docs/api.md "Sourcing"). */
  private sourcingCandidates(
    sku: string,
    exclude: ReadonlySet<string>,
  ): { locationId: string; available: number }[] {
    const candidates: { locationId: string; available: number }[] = [];
    for (const locationId of this.projection.locationsOf(sku)) {
      if (exclude.has(locationId) || !this.projection.location(locationId)) continue;
      const state = this.projection.stock(sku, locationId);
      if (state) {
        candidates.push({
          locationId,
          available: Math.max(0, availableOf(state) - this.withheldAt(locationId)),
        });
      }
    }
    return candidates.sort((a, b) => b.available - a.available || a.locationId.localeCompare(b.locationId));
  }

  private async placeReservation(
    request: ReserveRequest,
    idempotency: Idempotency | undefined,
  ): Promise<ReservationView> {
    const ttlSeconds = request.ttlSeconds ?? this.settings.defaultTtlSeconds;
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > this.settings.maxTtlSeconds) {
      throw new InventoryError(
        'VALIDATION_FAILED',
        `ttlSeconds must be an integer from 1 to ${this.settings.maxTtlSeconds}`,
        {
          field: 'ttlSeconds',
        },
      );
    }
    if (
      !Array.isArray(request.lines) ||
      request.lines.length === 0 ||
      request.lines.length > MAX_RESERVATION_LINES
    ) {
      throw new InventoryError('VALIDATION_FAILED', `a reservation has 1 to ${MAX_RESERVATION_LINES} lines`, {
        field: 'lines',
      });
    }
    // Lines of the same SKU and location are summed before the check.
    const pinned = new Map<string, { sku: string; locationId: string; quantity: number }>();
    const open = new Map<string, number>();
    for (const line of request.lines) {
      checkId('sku', line.sku);
      if (!Number.isSafeInteger(line.quantity) || line.quantity < 1 || line.quantity > MAX_QUANTITY) {
        throw new InventoryError(
          'QUANTITY_OUT_OF_RANGE',
          `quantity must be an integer from 1 to ${MAX_QUANTITY}`,
          {
            field: 'quantity',
            sku: line.sku,
          },
        );
      }
      if (line.locationId !== undefined) {
        checkId('locationId', line.locationId);
        this.requireLocation(line.locationId);
        const key = `${line.sku}/${line.locationId}`;
        const existing = pinned.get(key);
        pinned.set(key, {
          sku: line.sku,
          locationId: line.locationId,
          quantity: (existing?.quantity ?? 0) + line.quantity,
        });
      } else {
        open.set(line.sku, (open.get(line.sku) ?? 0) + line.quantity);
      }
    }
    for (const line of pinned.values()) this.requireTotal(line.quantity);
    for (const quantity of open.values()) this.requireTotal(quantity);

    const id = this.newId();
    const nowMs = this.clock.now();
    const expiresAt = isoOf(nowMs + ttlSeconds * 1000);
    const allowPartial = request.allowPartial === true;
    const held: ReservationLine[] = [];
    const shortfalls: LineShortfall[] = [];
    let failure: unknown;

    const hold = async (sku: string, locationId: string, quantity: number): Promise<number> => {
      await this.runStock(sku, locationId, {
        type: 'reserve',
        reservationId: id,
        quantity,
        expiresAt,
        withhold: this.withheldAt(locationId),
      });
      return quantity;
    };
    /** Holds the line, or with allowPartial what is available; returns the units held and the shortfall. */
    const holdLine = async (sku: string, locationId: string, requested: number) => {
      try {
        return { held: await hold(sku, locationId, requested), available: requested };
      } catch (error) {
        if (!isInventoryError(error) || error.code !== 'STOCK_INSUFFICIENT') throw error;
        const available = Number(error.details['available'] ?? 0);
        if (allowPartial && available > 0) {
          try {
            return { held: await hold(sku, locationId, available), available };
          } catch (retryError) {
            if (!isInventoryError(retryError) || retryError.code !== 'STOCK_INSUFFICIENT') throw retryError;
          }
        }
        return { held: 0, available };
      }
    };
    const record = (
      sku: string,
      locationId: string | undefined,
      requested: number,
      outcome: { held: number; available: number },
      pinned = false,
    ) => {
      if (outcome.held > 0 && locationId !== undefined) {
        held.push({
          sku,
          locationId,
          quantity: outcome.held,
          ...(outcome.held < requested ? { requested } : {}),
          ...(pinned ? { pinned } : {}),
        });
      }
      if (outcome.held < requested) {
        shortfalls.push({
          sku,
          ...(locationId === undefined ? {} : { locationId }),
          requested,
          available: outcome.available,
        });
      }
    };

    await Promise.all(
      [...pinned.values()].map(async (line) => {
        try {
          record(
            line.sku,
            line.locationId,
            line.quantity,
            await holdLine(line.sku, line.locationId, line.quantity),
            true,
          );
        } catch (error) {
          failure ??= error;
        }
      }),
    );
    if (failure === undefined && open.size > 0) {
      await Promise.all(
        [...open].map(async ([sku, quantity]) => {
          const used = new Set(
            [...pinned.values()].filter((line) => line.sku === sku).map((line) => line.locationId),
          );
          let best = 0;
          try {
            for (const candidate of this.sourcingCandidates(sku, used)) {
              if (candidate.available < quantity && !allowPartial) {
                best = Math.max(best, candidate.available);
                continue;
              }
              const outcome = await holdLine(sku, candidate.locationId, quantity);
              best = Math.max(best, outcome.available);
              if (outcome.held === quantity || (allowPartial && outcome.held > 0)) {
                record(sku, candidate.locationId, quantity, outcome);
                return;
              }
            }
            record(sku, undefined, quantity, { held: 0, available: best });
          } catch (error) {
            failure ??= error;
          }
        }),
      );
    }
    if (failure !== undefined) {
      await this.compensate(id, held);
      throw failure;
    }
    if (held.length === 0 || (shortfalls.length > 0 && !allowPartial)) {
      await this.compensate(id, held);
      throw new InventoryError('STOCK_INSUFFICIENT', 'not enough available stock for the reservation', {
        lines: shortfalls,
      });
    }
    let placed: ReservationView;
    try {
      placed = await this.reservationActors.run(reservationStream(id), (state) => {
        if (state.status === 'abandoned') {
          // Recovery on another node gave this cart up while it was being held: start over.
          throw new InventoryError('APPEND_CONFLICT', `reservation ${id} was abandoned by recovery`, {}, 0);
        }
        if (state.status !== 'none') {
          throw new InventoryError('RESERVATION_EXISTS', `reservation ${id} already exists`, {
            reservationId: id,
          });
        }
        const events: ReservationEvent[] = [
          {
            type: 'ReservationPlaced',
            lines: held,
            expiresAt,
            ...(request.channel === undefined ? {} : { channel: request.channel }),
            ...(request.reference === undefined ? {} : { reference: request.reference }),
            at: isoOf(nowMs),
          },
        ];
        return {
          events,
          answer: (after) => reservationView(after),
          meta: (_before, _after, answer) => Engine.idempotencyMeta(idempotency, answer),
          claims: Engine.claimsOf(idempotency),
        };
      });
    } catch (error) {
      await this.compensate(id, held);
      throw error;
    }
    // A till sale may have taken a line's units while the cart was being placed, before the
    // reservation existed to be flagged: flag it now (and try to re-source it).
    for (const line of held) {
      const stream = stockStream(line.sku, line.locationId);
      const stock = this.stockActors.peek(stream) ?? this.projection.stockByStream(stream);
      if (stock && holdOf(stock.holds, id)?.atRisk) {
        setImmediate(() => {
          this.flagAtRisk(id, line.sku, line.locationId)
            .then(() => this.resource(id, line.sku, line.locationId))
            .catch((error: unknown) =>
              this.logger.warn('could not flag reservation at risk', { error: String(error) }),
            );
        });
      }
    }
    return placed;
  }

  private requireTotal(quantity: number): void {
    if (quantity > MAX_QUANTITY) {
      throw new InventoryError('QUANTITY_OUT_OF_RANGE', `a line's total must not exceed ${MAX_QUANTITY}`, {
        field: 'quantity',
      });
    }
  }

  /**
   * Releases a failed cart's holds before the refusal is answered, so a client that reads after a 409
   * sees the stock free again. A release that fails is retried by maintenance (and by recovery).
   */
  private async compensate(reservationId: string, held: readonly ReservationLine[]): Promise<void> {
    await Promise.all(
      held.map((line) =>
        this.followUp(`compensate ${reservationId} ${line.sku}@${line.locationId}`, () =>
          this.runStock(
            line.sku,
            line.locationId,
            { type: 'release', reservationId, reason: 'compensated' },
            undefined,
            true,
          ),
        ),
      ),
    );
  }

  /** Runs a saga step now; if it fails, queues it for retry. */
  private followUp(describe: string, run: () => Promise<unknown>): Promise<void> {
    return run().then(
      () => undefined,
      (error: unknown) => {
        this.logger.warn('saga step failed, will retry', { step: describe, error: String(error) });
        this.followUps.push({ describe, run });
      },
    );
  }

  confirm(id: string, idempotency?: Idempotency) {
    return this.transition(
      id,
      idempotency,
      (at) => ({ type: 'confirm', at }),
      (view) =>
        Promise.all(
          view.lines.map((line) =>
            this.followUp(`commit ${id} ${line.sku}@${line.locationId}`, () =>
              this.runStock(
                line.sku,
                line.locationId,
                { type: 'commit', reservationId: id },
                undefined,
                true,
              ),
            ),
          ),
        ),
    );
  }

  cancel(id: string, idempotency?: Idempotency) {
    return this.transition(
      id,
      idempotency,
      (at) => ({ type: 'cancel', at }),
      (view) => this.releaseLines(view, 'cancelled'),
    );
  }

  markPaymentPending(id: string, idempotency?: Idempotency) {
    return this.transition(id, idempotency, (at, nowMs) => ({
      type: 'markPaymentPending',
      at,
      expiresAt: isoOf(nowMs + this.settings.paymentPendingTtlSeconds * 1000),
    }));
  }

  extend(id: string, ttlSeconds: number, idempotency?: Idempotency) {
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > this.settings.maxTtlSeconds) {
      throw new InventoryError(
        'VALIDATION_FAILED',
        `ttlSeconds must be an integer from 1 to ${this.settings.maxTtlSeconds}`,
        {
          field: 'ttlSeconds',
        },
      );
    }
    return this.transition(id, idempotency, (at, nowMs) => ({
      type: 'extend',
      at,
      expiresAt: isoOf(nowMs + ttlSeconds * 1000),
    }));
  }

  private releaseLines(view: ReservationView, reason: ReleaseReason): Promise<unknown> {
    return Promise.all(
      view.lines.map((line) =>
        this.followUp(`release ${view.id} ${line.sku}@${line.locationId}`, () =>
          this.runStock(
            line.sku,
            line.locationId,
            { type: 'release', reservationId: view.id, reason },
            undefined,
            true,
          ),
        ),
      ),
    );
  }

  /**
   * A lifecycle step: the decision is journaled on the reservation's stream first (so exactly one of
   * confirm/cancel/expire wins), then the stock steps follow; recovery completes them after a crash.
   */
  private async transition(
    id: string,
    idempotency: Idempotency | undefined,
    command: (at: string, nowMs: number) => ReservationCommand,
    then?: (view: ReservationView) => Promise<unknown>,
  ): Promise<{ reservation: ReservationView; replayed: boolean }> {
    checkId('reservationId', id);
    this.assertWritable();
    const { result, replayed } = await this.retryOnConflict(() =>
      this.idempotent(idempotency, async (idem) => {
        if (!this.projection.reservation(id)) {
          throw new InventoryError('RESERVATION_NOT_FOUND', `reservation ${id} does not exist`, {
            reservationId: id,
          });
        }
        const nowMs = this.clock.now();
        let changed = false;
        const view = await this.reservationActors.run(reservationStream(id), (state) => {
          const decided = command(isoOf(nowMs), nowMs);
          if (decided.type === 'confirm') this.refuseIfAnyLineAtRisk(state);
          const events = decideReservation(decided, state);
          changed = events.length > 0;
          return {
            events,
            answer: (after) => reservationView(after),
            meta: (_before, _after, answer) => Engine.idempotencyMeta(idem, answer),
            claims: Engine.claimsOf(idem),
          };
        });
        if (changed && then) await then(view);
        return view;
      }),
    );
    return { reservation: result, replayed };
  }

  /**
   * A till sale flags a hold at risk on its stock level at once, but the reservation learns it a
   * moment later. Confirmation must not slip into that moment: it checks every line's hold on the
   * stock levels' current state, in the same synchronous turn as the decision, so a sale decided
   * before it is always seen.
   */
  private refuseIfAnyLineAtRisk(reservation: ReservationState): void {
    const atRisk = reservation.lines.filter((line) => {
      const stream = stockStream(line.sku, line.locationId);
      const stock = this.stockActors.peek(stream) ?? this.projection.stockByStream(stream);
      return stock ? holdOf(stock.holds, reservation.id)?.atRisk === true : false;
    });
    if (atRisk.length === 0) return;
    for (const line of atRisk) {
      setImmediate(() => {
        this.flagAtRisk(reservation.id, line.sku, line.locationId)
          .then(() => this.resource(reservation.id, line.sku, line.locationId))
          .catch((error: unknown) =>
            this.logger.warn('could not flag reservation at risk', { error: String(error) }),
          );
      });
    }
    throw new InventoryError(
      'RESERVATION_STATE_CONFLICT',
      `reservation ${reservation.id} has a line at risk`,
      {
        reservationId: reservation.id,
        status: 'at_risk',
        atRisk: atRisk.map((line) => ({ sku: line.sku, locationId: line.locationId })),
      },
    );
  }

  /**
   * Moves an at-risk line to another location that can hold it: hold there first, then record the
   * move on the reservation (the decision), then release the old hold. A crash between the steps
   * leaves a hold that recovery releases, because the reservation's lines say where it really is.
   * Lines the client pinned to a location (a pickup store) are never moved: they stay at risk.
   */
  private async resource(reservationId: string, sku: string, fromLocationId: string): Promise<boolean> {
    const state = this.projection.reservation(reservationId);
    const line = state?.lines.find(
      (candidate) => candidate.sku === sku && candidate.locationId === fromLocationId,
    );
    if (!state || state.status !== 'at_risk' || !line?.atRisk || line.pinned) return false;
    const used = new Set(state.lines.filter((other) => other.sku === sku).map((other) => other.locationId));
    for (const candidate of this.sourcingCandidates(sku, used)) {
      if (candidate.available < line.quantity) continue;
      try {
        await this.runStock(sku, candidate.locationId, {
          type: 'reserve',
          reservationId,
          quantity: line.quantity,
          expiresAt: state.expiresAt,
          withhold: this.withheldAt(candidate.locationId),
        });
      } catch (error) {
        if (isInventoryError(error) && error.code === 'STOCK_INSUFFICIENT') continue;
        throw error;
      }
      const at = this.now();
      let moved = false;
      await this.reservationActors
        .run(reservationStream(reservationId), (current) => {
          const events = decideReservation(
            { type: 'resource', sku, fromLocationId, toLocationId: candidate.locationId, at },
            current,
          );
          moved = true;
          return { events, answer: () => undefined };
        })
        .catch((error: unknown) => {
          // The reservation moved on (cancelled, expired, already re-sourced): give the new hold back.
          if (!isInventoryError(error) || error.code !== 'RESERVATION_STATE_CONFLICT') throw error;
        });
      const release = moved
        ? { location: fromLocationId, reason: 'resourced' as const }
        : { location: candidate.locationId, reason: 'compensated' as const };
      await this.followUp(`release ${reservationId} ${sku}@${release.location}`, () =>
        this.runStock(
          sku,
          release.location,
          { type: 'release', reservationId, reason: release.reason },
          undefined,
          true,
        ),
      );
      if (moved)
        this.logger.info('reservation line re-sourced', {
          reservationId,
          sku,
          fromLocationId,
          toLocationId: candidate.locationId,
        });
      return moved;
    }
    this.logger.warn('reservation at risk: no other location can hold it', {
      reservationId,
      sku,
      fromLocationId,
    });
    return false;
  }

  // ---------------------------------------------------------------- silent stores

  /** A store agent says it is alive (and not selling offline). */
  heartbeat(storeId: string): { storeId: string; lastSeq: number; silentAfterMs: number } {
    checkId('storeId', storeId);
    this.requireLocation(storeId);
    this.storeContact.set(storeId, this.clock.now());
    return { storeId, lastSeq: this.lastStoreSeq(storeId), silentAfterMs: this.settings.storeSilentAfterMs };
  }

  /**
   * When a store's agent last made contact, if it has been silent too long: it may be selling
   * offline. Stores that never had an agent (no till event, no heartbeat) are not judged.
   */
  staleSince(locationId: string): string | undefined {
    if (this.projection.location(locationId)?.type !== 'store') return undefined;
    const heartbeat = this.storeContact.get(locationId);
    const lastEventAt = this.projection.store(locationId).lastEventAt;
    if (heartbeat === undefined && lastEventAt === null) return undefined;
    const lastContact = Math.max(
      heartbeat ?? 0,
      lastEventAt === null ? 0 : Date.parse(lastEventAt),
      this.startedAt,
    );
    if (this.clock.now() - lastContact <= this.settings.storeSilentAfterMs) return undefined;
    return isoOf(lastContact);
  }

  private withheldAt(locationId: string): number {
    return this.staleSince(locationId) === undefined ? 0 : this.settings.offlineBuffer;
  }

  /**
   * Gives up a cart whose saga left holds but never placed it: writes the tombstone at version 1 of
   * its stream, unless the saga placed it meanwhile. True when the cart is (now) abandoned.
   */
  private abandonUnplaced(reservationId: string): Promise<boolean> {
    const at = this.now();
    return this.reservationActors.run(reservationStream(reservationId), (state) =>
      state.status === 'none'
        ? { events: [{ type: 'ReservationAbandoned', at }], answer: () => true }
        : { events: [], answer: () => state.status === 'abandoned' },
    );
  }

  private async flagAtRisk(reservationId: string, sku: string, locationId: string): Promise<void> {
    const state = this.projection.reservation(reservationId);
    if (!state || !isActive(state.status)) return;
    const at = this.now();
    await this.reservationActors.run(reservationStream(reservationId), (current) => ({
      events: isActive(current.status)
        ? decideReservation({ type: 'flagAtRisk', sku, locationId, at }, current)
        : [],
      answer: () => undefined,
    }));
  }

  private looksAfter(reservationId: string): boolean {
    const ownership = this.ownership;
    return !ownership || ownership.owns(partitionOf(reservationStream(reservationId), ownership.partitions));
  }

  /** Expires every active reservation whose deadline has passed; returns how many expired. */
  async expireDue(): Promise<number> {
    const nowMs = this.clock.now();
    const due = new Set<string>();
    const othersDue: { at: number; id: string }[] = [];
    const orphans = new Set<string>();
    for (let next = this.deadlines.peek(); next && next.at <= nowMs; next = this.deadlines.peek()) {
      this.deadlines.pop();
      const state = this.projection.reservation(next.id);
      if (!state || state.status === 'none') {
        if (this.looksAfter(next.id)) orphans.add(next.id);
        else othersDue.push(next);
        continue;
      }
      if (!isActive(state.status) || Date.parse(state.expiresAt) > nowMs) continue;
      if (this.looksAfter(next.id)) due.add(next.id);
      else othersDue.push(next);
    }
    // Another node looks after these; keep them in case this node gains their partition.
    for (const entry of othersDue) this.deadlines.push(entry.at + 1_000, entry.id);
    if (orphans.size > 0) await this.finishInterruptedSagas((id) => orphans.has(id));
    let expired = 0;
    await Promise.all(
      [...due].map(async (id) => {
        try {
          const before = this.projection.reservation(id)?.version;
          const { reservation } = await this.transition(
            id,
            undefined,
            (at) => ({ type: 'expire', at }),
            (view) => this.releaseLines(view, 'expired'),
          );
          if (reservation.status === 'expired' && reservation.version !== before) expired++;
        } catch (error) {
          const state = this.projection.reservation(id);
          if (state && isActive(state.status)) this.deadlines.push(Date.parse(state.expiresAt), id);
          this.logger.warn('expiry failed, will retry', { reservationId: id, error: String(error) });
        }
      }),
    );
    return expired;
  }

  // ---------------------------------------------------------------- the store path

  lastStoreSeq(storeId: string): number {
    return this.projection.store(storeId).lastSeq;
  }

  /** When the store's last till event reached the engine (for staleness), or null. */
  lastStoreEventAt(storeId: string): string | null {
    return this.projection.store(storeId).lastEventAt;
  }

  /**
   * Applies an ordered batch of till events (AP: a sale is recorded whatever the books say).
   * Events at or below the store's last applied sequence are duplicates: acknowledged, not reapplied.
   * The rest must continue the sequence without a gap, or nothing is applied.
   */
  async applyStoreEvents(
    storeId: string,
    events: readonly StoreEventInput[],
    idempotency?: Idempotency,
  ): Promise<StoreEventsResult & { replayed: boolean }> {
    checkId('storeId', storeId);
    this.assertWritable();
    this.requireLocation(storeId);
    events.forEach((event, index) => this.checkStoreEvent(event, index));
    this.storeContact.set(storeId, this.clock.now());
    const { result, replayed } = await this.retryOnConflict(() =>
      this.idempotent(idempotency, (idem) =>
        this.serialForStore(storeId, () => this.applyStoreBatch(storeId, events, idem)),
      ),
    );
    return { ...result, replayed };
  }

  private checkStoreEvent(event: StoreEventInput, index: number): void {
    const invalid = (message: string) =>
      new InventoryError('VALIDATION_FAILED', `events[${index}]: ${message}`, { field: `events[${index}]` });
    if (!Number.isSafeInteger(event.seq) || event.seq < 1) throw invalid('seq must be a positive integer');
    checkId(`events[${index}].sku`, event.sku);
    if (Number.isNaN(Date.parse(event.occurredAt))) throw invalid('occurredAt must be an ISO-8601 time');
    const limit = event.type === 'adjustment' ? -MAX_QUANTITY : event.type === 'count' ? 0 : 1;
    if (
      !Number.isSafeInteger(event.quantity) ||
      event.quantity < limit ||
      event.quantity > MAX_QUANTITY ||
      (event.type === 'adjustment' && event.quantity === 0)
    ) {
      throw invalid(`quantity out of range for a ${event.type}`);
    }
  }

  private serialForStore<R>(storeId: string, task: () => Promise<R>): Promise<R> {
    const previous = this.storeChains.get(storeId) ?? Promise.resolve();
    const run = previous.then(task);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.storeChains.set(storeId, settled);
    void settled.then(() => {
      if (this.storeChains.get(storeId) === settled) this.storeChains.delete(storeId);
    });
    return run;
  }

  private async applyStoreBatch(
    storeId: string,
    events: readonly StoreEventInput[],
    idempotency: Idempotency | undefined,
  ): Promise<StoreEventsResult> {
    const lastSeq = this.projection.store(storeId).lastSeq;
    const fresh = events.filter((event) => event.seq > lastSeq);
    fresh.forEach((event, index) => {
      if (event.seq !== lastSeq + 1 + index) {
        throw new InventoryError(
          'STORE_SEQUENCE_GAP',
          `expected seq ${lastSeq + 1 + index}, got ${event.seq}`,
          {
            expectedSeq: lastSeq + 1 + index,
            receivedSeq: event.seq,
            lastSeq,
          },
        );
      }
    });
    const result: StoreEventsResult = {
      applied: fresh.length,
      duplicates: events.length - fresh.length,
      lastSeq: fresh.length > 0 ? lastSeq + fresh.length : lastSeq,
    };
    // Every decision is taken in this synchronous loop, so the journal holds the store's events in order.
    const appends = fresh.map((event, index) =>
      this.runStock(
        event.sku,
        storeId,
        this.tillCommand(storeId, event),
        index === fresh.length - 1 ? idempotency : undefined,
        true,
        result,
      ),
    );
    const outcomes = await Promise.allSettled(appends);
    const failed = outcomes.find(
      (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected',
    );
    if (failed) throw failed.reason;
    return result;
  }

  private tillCommand(storeId: string, event: StoreEventInput): StockCommandBody {
    const source = { storeId, seq: event.seq, occurredAt: event.occurredAt };
    const by = `store:${storeId}`;
    switch (event.type) {
      case 'sale':
        return { type: 'sell', quantity: event.quantity, source, by };
      case 'return':
        return { type: 'receive', quantity: event.quantity, reason: 'return', source, by };
      case 'receipt':
        return { type: 'receive', quantity: event.quantity, reason: 'receipt', source, by };
      case 'adjustment': {
        const reason = (adjustmentReasons as readonly string[]).includes(event.reason ?? '')
          ? (event.reason as AdjustmentReason)
          : 'correction';
        return { type: 'adjust', delta: event.quantity, reason, allowNegative: true, source, by };
      }
      case 'count':
        return { type: 'count', onHand: event.quantity, source, by };
      default: {
        const _exhaustive: never = event.type;
        return _exhaustive;
      }
    }
  }

  // ---------------------------------------------------------------- feed, history

  /** Live feed items after now, in journal order. Returns the unsubscribe function. */
  subscribe(listener: (item: FeedItem) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lastSeq(): number {
    return this.projection.lastSeq;
  }

  /** Feed items after the cursor (`seq.index`), read from the journal. */
  async readFeed(
    after: string | undefined,
    limit: number,
    filter?: (item: FeedItem) => boolean,
  ): Promise<{ items: FeedItem[]; next: string | null }> {
    const from = after === undefined ? { seq: 0, index: Number.MAX_SAFE_INTEGER } : parseFeedId(after);
    if (!from)
      throw new InventoryError('VALIDATION_FAILED', 'after must be a cursor such as 42.0', {
        field: 'after',
      });
    const items: FeedItem[] = [];
    const startSeq = Math.max(1, from.seq);
    let first = true;
    outer: for await (const record of this.journal.read(startSeq)) {
      if (first && record.seq > startSeq && from.seq > 0) {
        throw new InventoryError('CURSOR_EXPIRED', `records up to ${record.seq - 1} are no longer retained`, {
          firstRetainedSeq: record.seq,
        });
      }
      first = false;
      if (record.seq > this.projection.lastSeq) break;
      for (const item of feedItemsOf(record, this.settings)) {
        if (item.seq === from.seq && item.index <= from.index) continue;
        if (filter && !filter(item)) continue;
        items.push(item);
        if (items.length >= limit) break outer;
      }
    }
    return { items, next: items.at(-1)?.id ?? after ?? null };
  }

  /** The movement ledger of one stock level, oldest first (reads the journal). */
  history(sku: string, locationId: string, options: { after?: string | undefined; limit: number }) {
    const stream = stockStream(sku, locationId);
    return this.readFeed(options.after, options.limit, (item) => item.stream === stream);
  }

  /** The level as it was at `at`, folded from the journal alone. */
  async levelAt(sku: string, locationId: string, at: string): Promise<StockLevelView | undefined> {
    const limit = Date.parse(at);
    if (Number.isNaN(limit))
      throw new InventoryError('VALIDATION_FAILED', 'at must be an ISO-8601 time', { field: 'at' });
    const stream = stockStream(sku, locationId);
    let state: StockState | undefined;
    for await (const record of this.journal.read(1)) {
      if (Date.parse(record.at) > limit || record.seq > this.projection.lastSeq) break;
      if (record.stream !== stream) continue;
      state = (record.events as readonly StockEvent[]).reduce(evolve, state ?? initialStockState);
    }
    return state ? levelView(sku, locationId, state) : undefined;
  }

  // ---------------------------------------------------------------- operations

  metrics(): EngineMetrics {
    const registries = [this.stockActors, this.reservationActors, this.locationActors];
    let activeReservations = 0;
    for (const [, state] of this.projection.entries<ReservationState>('reservation/')) {
      if (isActive(state.status)) activeReservations++;
    }
    return {
      activeActors: registries.reduce((sum, registry) => sum + registry.active, 0),
      mailboxDepth: registries.reduce((sum, registry) => sum + registry.depth, 0),
      inFlight: this.inFlight,
      lastSeq: this.projection.lastSeq,
      journal: { health: this.journal.health, ...this.journal.stats },
      breaker: this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'halfOpen' : 'closed',
      activeReservations,
      stockLevels: this.projection.stockLevelCount,
      pendingFollowUps: this.followUps.length,
      recovery: this.recoveryReport,
    };
  }

  /** Writes a snapshot of what changed since the last one (off the hot path: values are immutable). */
  snapshot(): Promise<void> {
    const store = this.snapshots;
    if (!store) return Promise.resolve();
    this.snapshotting ??= (async () => {
      const seq = this.projection.lastSeq;
      if (seq === this.lastSnapshotSeq) return;
      const changed = this.projection.takeDirty();
      try {
        await store.write({
          seq,
          takenAt: this.now(),
          partitionCount: this.projection.partitionCount,
          changed,
          background: !this.stopped,
        });
      } catch (error) {
        this.projection.markDirty(changed.keys());
        throw error;
      }
      const previous = this.lastSnapshotSeq;
      this.lastSnapshotSeq = seq;
      this.recordsSinceSnapshot = 0;
      this.logger.info('snapshot written', { seq, partitions: changed.size });
      if (this.settings.compactJournal && previous > 0) {
        const { removedSegments } = await this.journal.compact(previous);
        if (removedSegments > 0)
          this.logger.info('journal segments compacted', { upToSeq: previous, removedSegments });
      }
    })().finally(() => {
      this.snapshotting = undefined;
    });
    return this.snapshotting;
  }

  /** Retries failed saga steps, passivates idle actors, forgets expired idempotency keys. */
  async maintain(): Promise<void> {
    const nowMs = this.clock.now();
    for (const registry of [this.stockActors, this.reservationActors, this.locationActors]) {
      registry.passivateIdle(this.settings.actorIdleMs);
    }
    const pending = this.followUps;
    this.followUps = [];
    await Promise.all(pending.map((step) => this.followUp(step.describe, step.run)));
    if (nowMs - this.lastIdempotencySweep >= 60_000) {
      this.lastIdempotencySweep = nowMs;
      const cutoff = nowMs - this.settings.idempotencyRetentionMs;
      const expired: string[] = [];
      for (const [id, entry] of this.projection.entries<{ at: number }>('idempotency/')) {
        if (entry.at < cutoff) expired.push(id);
      }
      for (const id of expired) this.projection.delete(id);
    }
  }

  private startTimers(): void {
    const every = (ms: number, task: () => Promise<unknown>) => {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        task()
          .catch((error: unknown) => this.logger.error('background task failed', { error: String(error) }))
          .finally(() => {
            running = false;
          });
      }, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(250, () => this.expireDue());
    every(1_000, () => this.maintain());
  }

  /** Stops taking writes, waits for in-flight commands, writes a snapshot and closes the journal. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const deadline = Date.now() + 10_000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.snapshotting;
    if (this.journal.health === 'open') {
      await this.snapshot().catch((error: unknown) =>
        this.logger.error('final snapshot failed', { error: String(error) }),
      );
    }
    this.breaker.shutdown();
    this.unsubscribeOwnership?.();
    await this.unwatch?.();
    await this.catchingUp?.catch(() => undefined);
    await this.journal.close();
    this.listeners.clear();
  }
}
