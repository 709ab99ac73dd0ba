// What the replay CLI computes from journal records, with no I/O: recovery into the engine's own
// Projection (the one fold the live engine uses), a summary of the recovered state, a stock level
// as it was at a point of the journal, and the event history of a level through feedItemsOf (the
// same items the API's changes feed serves). Records come in as any async iterable, in journal order.
import type { LocationState } from '../../engine/domain/location.js';
import { isActive, type ReservationState } from '../../engine/domain/reservation.js';
import { availableOf, holdsOf, type StockState } from '../../engine/domain/stock.js';
import { feedItemsOf, levelView, type FeedOptions, type LevelQuantities } from '../../engine/feed.js';
import type { Projection } from '../../engine/projection.js';
import { parseStream, stockStream } from '../../engine/streams.js';
import {
  reservationStatuses,
  type FeedItem,
  type LocationType,
  type ReservationStatus,
} from '../../engine/types.js';
import type { StockLevelView } from '../../engine/types.js';
import type { JournalRecord } from '../../storage/journal.js';
import type { JournalPoint } from './args.js';
import { CliError } from './errors.js';

/**
 * Applies records to the projection in order, as the engine's recovery does, and returns how many.
 * The first record must follow the projection's lastSeq: a later one means the records in between
 * were compacted away (the file journal itself refuses any gap after the first record).
 */
export async function replayInto(
  projection: Projection,
  records: AsyncIterable<JournalRecord>,
  onRecord?: (replayed: number) => void,
): Promise<number> {
  let replayed = 0;
  for await (const record of records) {
    if (record.seq !== projection.lastSeq + 1) {
      throw new CliError(
        'NOT_FOUND',
        `the state needs journal records from seq ${projection.lastSeq + 1}, but the journal continues at seq ` +
          `${record.seq}: older segments were compacted away; rebuild --from-snapshot with a snapshot ` +
          `at seq ${record.seq - 1} or later`,
        { expectedSeq: projection.lastSeq + 1, foundSeq: record.seq },
      );
    }
    projection.apply(record);
    replayed++;
    onRecord?.(replayed);
  }
  return replayed;
}

export interface LocationSummary {
  readonly id: string;
  /** Null for a location that holds stock but was never registered (not possible through the engine). */
  readonly name: string | null;
  readonly type: LocationType | null;
  readonly stockLevels: number;
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
}

export interface StateSummary {
  readonly lastSeq: number;
  readonly stockLevels: number;
  readonly skus: number;
  readonly totals: {
    readonly onHand: number;
    readonly reserved: number;
    readonly safetyStock: number;
    readonly available: number;
  };
  readonly locations: readonly LocationSummary[];
  readonly reservations: {
    readonly total: number;
    readonly byStatus: Readonly<Record<ReservationStatus, number>>;
    /** Held, payment-pending or at-risk past their expiry: the engine expires them when it starts. */
    readonly activePastExpiry: number;
  };
  /** Stores whose till sequence the engine tracks. */
  readonly stores: number;
  readonly idempotencyKeys: number;
}

const countOf = (entries: Iterable<unknown>): number => {
  let count = 0;
  for (const _entry of entries) count++;
  return count;
};

/** Totals of the recovered state. `nowMs` only decides which active reservations are past expiry. */
export function summarize(projection: Projection, nowMs: number): StateSummary {
  const byLocation = new Map<
    string,
    { stockLevels: number; onHand: number; reserved: number; available: number }
  >();
  const skus = new Set<string>();
  const totals = { onHand: 0, reserved: 0, safetyStock: 0, available: 0 };
  let stockLevels = 0;
  for (const [stream, state] of projection.entries<StockState>('stock/')) {
    const ref = parseStream(stream);
    if (ref?.kind !== 'stock') continue;
    stockLevels++;
    skus.add(ref.sku);
    const available = availableOf(state);
    totals.onHand += state.onHand;
    totals.reserved += state.reserved;
    totals.safetyStock += state.safetyStock;
    totals.available += available;
    const location = byLocation.get(ref.locationId) ?? {
      stockLevels: 0,
      onHand: 0,
      reserved: 0,
      available: 0,
    };
    location.stockLevels++;
    location.onHand += state.onHand;
    location.reserved += state.reserved;
    location.available += available;
    byLocation.set(ref.locationId, location);
  }
  const registered = new Map<string, LocationState>();
  for (const [, state] of projection.entries<LocationState>('location/')) registered.set(state.id, state);
  const locationIds = [...new Set([...registered.keys(), ...byLocation.keys()])].sort();
  const locations = locationIds.map((id): LocationSummary => {
    const state = registered.get(id);
    const stock = byLocation.get(id) ?? { stockLevels: 0, onHand: 0, reserved: 0, available: 0 };
    return { id, name: state?.name ?? null, type: state?.type ?? null, ...stock };
  });

  const byStatus = Object.fromEntries(reservationStatuses.map((status) => [status, 0])) as Record<
    ReservationStatus,
    number
  >;
  let total = 0;
  let activePastExpiry = 0;
  for (const [, reservation] of projection.entries<ReservationState>('reservation/')) {
    if (reservation.status === 'none' || reservation.status === 'abandoned') continue;
    total++;
    byStatus[reservation.status]++;
    if (isActive(reservation.status) && Date.parse(reservation.expiresAt) <= nowMs) activePastExpiry++;
  }
  return {
    lastSeq: projection.lastSeq,
    stockLevels,
    skus: skus.size,
    totals,
    locations,
    reservations: { total, byStatus, activePastExpiry },
    stores: countOf(projection.entries('store/')),
    idempotencyKeys: countOf(projection.entries('idempotency/')),
  };
}

export interface HoldView {
  readonly reservationId: string;
  readonly quantity: number;
  readonly expiresAt: string;
  readonly atRisk: boolean;
}

export interface LevelAtResult {
  readonly level: StockLevelView;
  readonly holds: readonly HoldView[];
  /** The last journal record at or before the point (of any stream). */
  readonly asOf: { readonly seq: number; readonly at: string };
  /** The last record of this level at or before the point. */
  readonly lastChange: { readonly seq: number; readonly at: string };
  /** Set when the level's first events were compacted away and its quantities came from a record's meta.before. */
  readonly seededFrom?: { readonly seq: number; readonly missingEvents: number } | undefined;
}

/** True while `record` is at or before the point. Records are in journal (append) order. */
export const isAtOrBefore = (record: JournalRecord, point: JournalPoint): boolean =>
  point.kind === 'seq' ? record.seq <= point.seq : Date.parse(record.at) <= point.ms;

/**
 * The level of (sku, locationId) after the journal's records up to the point, folded by a Projection
 * fed only with this level's records (a stock level's state depends on its own events alone).
 * Undefined when the level had no event by then.
 */
export async function levelAt(
  projection: Projection,
  records: AsyncIterable<JournalRecord>,
  sku: string,
  locationId: string,
  point: JournalPoint,
  onRecord?: (read: number) => void,
): Promise<LevelAtResult | undefined> {
  const stream = stockStream(sku, locationId);
  let asOf: JournalRecord | undefined;
  let lastChange: JournalRecord | undefined;
  let seededFrom: LevelAtResult['seededFrom'];
  let read = 0;
  for await (const record of records) {
    if (!isAtOrBefore(record, point)) break;
    asOf = record;
    onRecord?.(++read);
    if (record.stream !== stream) continue;
    const firstVersion = record.version - record.events.length + 1;
    if (lastChange === undefined && firstVersion > 1) {
      seedFromMeta(projection, record, stream, firstVersion);
      seededFrom = { seq: record.seq, missingEvents: firstVersion - 1 };
    }
    projection.apply(record);
    lastChange = record;
  }
  const state = projection.stockByStream(stream);
  if (!state || !asOf || !lastChange) return undefined;
  return {
    level: levelView(sku, locationId, state),
    holds: holdsOf(state.holds).map(([reservationId, hold]) => ({
      reservationId,
      quantity: hold.quantity,
      expiresAt: hold.expiresAt,
      atRisk: hold.atRisk,
    })),
    asOf: { seq: asOf.seq, at: asOf.at },
    lastChange: { seq: lastChange.seq, at: lastChange.at },
    ...(seededFrom ? { seededFrom } : {}),
  };
}

/** A compacted journal lacks a level's first events; the engine records the quantities before each record. */
function seedFromMeta(
  projection: Projection,
  record: JournalRecord,
  stream: string,
  firstVersion: number,
): void {
  const before = record.meta?.['before'] as LevelQuantities | undefined;
  if (!before || typeof before.onHand !== 'number') {
    throw new CliError(
      'NOT_FOUND',
      `the journal no longer holds the first ${firstVersion - 1} events of ${stream} (compacted), and record ` +
        `${record.seq} carries no meta.before to start from`,
      { stream, seq: record.seq },
    );
  }
  const seeded: StockState = {
    onHand: before.onHand,
    reserved: before.reserved,
    safetyStock: before.safetyStock,
    version: firstVersion - 1,
    holds: {},
    updatedAt: null,
  };
  projection.load(stream, seeded);
}

/** Does this record belong to the history asked for (one level, or the SKU at every location)? */
export function isHistoryRecord(record: JournalRecord, sku: string, locationId: string | undefined): boolean {
  if (locationId !== undefined) return record.stream === stockStream(sku, locationId);
  if (!record.stream.startsWith(`stock/${sku}/`)) return false;
  const ref = parseStream(record.stream);
  return ref?.kind === 'stock' && ref.sku === sku;
}

/** The history's items in journal order: one per event, each with the level after it. */
export async function historyOf(
  records: AsyncIterable<JournalRecord>,
  sku: string,
  locationId: string | undefined,
  options: FeedOptions,
  onRecord?: (read: number) => void,
): Promise<FeedItem[]> {
  const items: FeedItem[] = [];
  let read = 0;
  for await (const record of records) {
    onRecord?.(++read);
    if (isHistoryRecord(record, sku, locationId)) items.push(...feedItemsOf(record, options));
  }
  return items;
}
