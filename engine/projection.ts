// The durable state: the fold of every acknowledged journal record. The live engine applies a
// record here only after the journal made it durable, recovery applies the same records in the
// same way, and the replay CLI uses this fold too, so replay can never disagree with the live path.
// The state is kept in partitions so a snapshot rewrites only the partitions that changed.
import type { JournalRecord } from '../storage/journal.js';
import { partitionOf } from '../storage/snapshot.js';
import type { LocationEvent, LocationState } from './domain/location.js';
import { evolveLocation } from './domain/location.js';
import type { ReservationEvent, ReservationState } from './domain/reservation.js';
import { evolveReservation, initialReservationState } from './domain/reservation.js';
import type { StockEvent, StockState } from './domain/stock.js';
import { evolve, HoldSet, initialStockState } from './domain/stock.js';
import { holdSetOf } from './domain/holds.js';
import {
  idempotencyKey,
  locationStream,
  parseStream,
  reservationStream,
  stockStream,
  storeKey,
} from './streams.js';

export const DEFAULT_PARTITIONS = 64;

/** The answer an idempotent call gave, stored with the effect it guards. */
export interface IdempotencyEntry {
  readonly fingerprint: string;
  readonly result: unknown;
  /** Epoch ms when the effect became durable, for retention. */
  readonly at: number;
}

export interface StoreProgress {
  readonly lastSeq: number;
  readonly lastEventAt: string | null;
}

export interface IdempotencyMeta {
  readonly key: string;
  readonly fingerprint: string;
  readonly result: unknown;
}

/** A stock state as loaded from a snapshot, its holds in the compact in-memory set (see domain/holds.ts). */
function withHoldSet(state: StockState): StockState {
  if (typeof state !== 'object' || state === null) return state;
  if (typeof state.holds !== 'object' || state.holds === null || state.holds instanceof HoldSet) return state;
  return { ...state, holds: holdSetOf(state.holds) };
}

export class Projection {
  readonly partitionCount: number;
  private readonly partitions: Map<string, unknown>[];
  private readonly dirty = new Set<number>();
  /**
   * Secondary index, rebuilt on load: which locations hold a level for each SKU. Most SKUs are
   * stocked at one location, so that case is the location id itself, not a Set of one.
   */
  private readonly locationsBySku = new Map<string, string | Set<string>>();
  private stockLevels = 0;
  private readonly locationIds = new Map<string, string>();
  lastSeq = 0;

  constructor(partitionCount = DEFAULT_PARTITIONS) {
    this.partitionCount = partitionCount;
    this.partitions = Array.from({ length: partitionCount }, () => new Map<string, unknown>());
  }

  private partition(id: string): Map<string, unknown> {
    return this.partitions[partitionOf(id, this.partitionCount)] as Map<string, unknown>;
  }

  private get<T>(id: string): T | undefined {
    return this.partition(id).get(id) as T | undefined;
  }

  private set(id: string, value: unknown): void {
    const index = partitionOf(id, this.partitionCount);
    const partition = this.partitions[index] as Map<string, unknown>;
    if (!partition.has(id)) this.index(id);
    partition.set(id, value);
    this.dirty.add(index);
  }

  delete(id: string): void {
    const index = partitionOf(id, this.partitionCount);
    if ((this.partitions[index] as Map<string, unknown>).delete(id)) this.dirty.add(index);
  }

  private index(id: string): void {
    const ref = parseStream(id);
    if (ref?.kind !== 'stock') return;
    // A catalogue has many SKUs and few locations: every level of a location shares one id string.
    let locationId = this.locationIds.get(ref.locationId);
    if (locationId === undefined) this.locationIds.set(ref.locationId, (locationId = ref.locationId));
    const locations = this.locationsBySku.get(ref.sku);
    if (locations === undefined) {
      this.locationsBySku.set(ref.sku, locationId);
    } else if (typeof locations === 'string') {
      if (locations === locationId) return;
      this.locationsBySku.set(ref.sku, new Set([locations, locationId]));
    } else {
      if (locations.has(locationId)) return;
      locations.add(locationId);
    }
    this.stockLevels++;
  }

  /** Loads one snapshot entry (before replaying the journal tail). */
  load(id: string, value: unknown): void {
    const partition = this.partition(id);
    if (!partition.has(id)) this.index(id);
    partition.set(id, id.startsWith('stock/') ? withHoldSet(value as StockState) : value);
  }

  stock(sku: string, locationId: string): StockState | undefined {
    return this.get<StockState>(stockStream(sku, locationId));
  }
  stockByStream(stream: string): StockState | undefined {
    return this.get<StockState>(stream);
  }
  locationsOf(sku: string): Iterable<string> {
    const locations = this.locationsBySku.get(sku);
    return locations === undefined ? [] : typeof locations === 'string' ? [locations] : locations;
  }
  reservation(id: string): ReservationState | undefined {
    return this.get<ReservationState>(reservationStream(id));
  }
  location(id: string): LocationState | undefined {
    return this.get<LocationState>(locationStream(id));
  }
  store(storeId: string): StoreProgress {
    return this.get<StoreProgress>(storeKey(storeId)) ?? { lastSeq: 0, lastEventAt: null };
  }
  idempotency(key: string): IdempotencyEntry | undefined {
    return this.get<IdempotencyEntry>(idempotencyKey(key));
  }

  /** Every entry whose id starts with `prefix` (a full scan: for recovery, sweeps and tools). */
  *entries<T>(prefix: string): Generator<[string, T]> {
    for (const partition of this.partitions) {
      for (const [id, value] of partition) if (id.startsWith(prefix)) yield [id, value as T];
    }
  }

  /**
   * Applies one durable record. Records must arrive in journal order. `transition`, from the live
   * path, is the deciding actor's state before and after the record's events: when this projection
   * still holds exactly (the same object as) `before`, folding the same events with the same pure
   * `evolve` would give a value equal to `after`, so `after` itself is kept, and the actor and the
   * projection share one state instead of two. Otherwise (recovery, another node's record, an actor
   * that started from an older state) the events are folded as always.
   */
  apply(record: JournalRecord, transition?: { readonly before: unknown; readonly after: unknown }): void {
    const stream = record.stream;
    // Stock records are nearly all of the journal: one partition lookup, no parsing.
    const slash = stream.indexOf('/', 6);
    if (
      stream.startsWith('stock/') &&
      slash > 6 &&
      slash < stream.length - 1 &&
      stream.indexOf('/', slash + 1) === -1
    ) {
      const index = partitionOf(stream, this.partitionCount);
      const partition = this.partitions[index] as Map<string, unknown>;
      const previous = partition.get(stream) as StockState | undefined;
      let state = previous ?? initialStockState;
      const adopt = transition !== undefined && transition.before === state;
      for (const event of record.events as readonly StockEvent[]) {
        if (!adopt) state = evolve(state, event);
        const source = 'source' in event ? event.source : undefined;
        if (source !== undefined) this.advanceStore(source.storeId, source.seq, event.at);
      }
      if (adopt) state = transition.after as StockState;
      if (previous === undefined) this.index(stream);
      partition.set(stream, state);
      this.dirty.add(index);
    } else {
      this.applyOther(record, transition);
    }
    const idempotency = record.meta?.['idempotency'] as IdempotencyMeta | undefined;
    if (idempotency) {
      this.set(idempotencyKey(idempotency.key), {
        fingerprint: idempotency.fingerprint,
        result: idempotency.result,
        at: Date.parse(record.at),
      } satisfies IdempotencyEntry);
    }
    this.lastSeq = record.seq;
  }

  private advanceStore(storeId: string, seq: number, at: string): void {
    if (seq > this.store(storeId).lastSeq) this.set(storeKey(storeId), { lastSeq: seq, lastEventAt: at });
  }

  private applyOther(
    record: JournalRecord,
    transition?: { readonly before: unknown; readonly after: unknown },
  ): void {
    const ref = parseStream(record.stream);
    if (!ref) throw new Error(`record ${record.seq}: unknown stream ${record.stream}`);
    switch (ref.kind) {
      case 'reservation': {
        // One partition lookup for the read and the write; reservations are not in the SKU index.
        const index = partitionOf(record.stream, this.partitionCount);
        const partition = this.partitions[index] as Map<string, unknown>;
        const previous = partition.get(record.stream) as ReservationState | undefined;
        let state: ReservationState;
        const before = transition?.before as ReservationState | undefined;
        // A new reservation's actor starts from its own initialReservationState(id): the same value.
        const sameStart =
          before !== undefined &&
          (previous === undefined
            ? before.status === 'none' && before.version === 0 && before.id === ref.id
            : before === previous);
        if (transition !== undefined && sameStart) {
          state = transition.after as ReservationState;
        } else {
          state = previous ?? initialReservationState(ref.id);
          for (const event of record.events as readonly ReservationEvent[])
            state = evolveReservation(state, event);
        }
        partition.set(record.stream, state);
        this.dirty.add(index);
        return;
      }
      case 'location': {
        let state = this.get<LocationState>(record.stream);
        for (const event of record.events as readonly LocationEvent[])
          state = evolveLocation(state, ref.id, event);
        this.set(record.stream, state);
        return;
      }
      case 'stock':
      case 'store':
      case 'idempotency':
        throw new Error(`record ${record.seq}: ${ref.kind} is not a journal stream here`);
      default: {
        const _exhaustive: never = ref;
        return _exhaustive;
      }
    }
  }

  /** The partitions changed since the last call, copied (values are immutable, so a shallow copy is exact). */
  takeDirty(): Map<number, Map<string, unknown>> {
    const changed = new Map<number, Map<string, unknown>>();
    for (const index of this.dirty) changed.set(index, new Map(this.partitions[index]));
    this.dirty.clear();
    return changed;
  }

  /** Marks partitions dirty again after a failed snapshot write. */
  markDirty(indexes: Iterable<number>): void {
    for (const index of indexes) this.dirty.add(index);
  }

  /** Stock levels held (each SKU at each location it has a level). */
  get stockLevelCount(): number {
    return this.stockLevels;
  }

  get size(): number {
    let total = 0;
    for (const partition of this.partitions) total += partition.size;
    return total;
  }
}
