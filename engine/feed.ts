// Turns a journal record into the items of the changes feed and the live stream: one item per
// event, each with its stream's gap-free version and, for stock events, the level after the event.
// Historical reads and the live stream use this one function, so a resumed consumer sees the same
// items a live one saw.
import type { JournalRecord } from '../storage/journal.js';
import type { StockEvent, StockState } from './domain/stock.js';
import { availableOf, evolve, HoldSet } from './domain/stock.js';
import { parseStream } from './streams.js';
import type { FeedItem, StockLevelView } from './types.js';

/** Quantities of a stock level before a record, carried in the record's meta so the feed is self-contained. */
export interface LevelQuantities {
  readonly onHand: number;
  readonly reserved: number;
  readonly safetyStock: number;
}

export interface FeedOptions {
  /** `low_stock` fires when available drops to this or below (and stays above zero). */
  readonly lowStockThreshold: number;
}

export const feedId = (seq: number, index: number): string => `${seq}.${index}`;

export function parseFeedId(id: string): { seq: number; index: number } | undefined {
  const match = /^(\d{1,15})(?:\.(\d{1,6}))?$/.exec(id);
  if (!match) return undefined;
  return {
    seq: Number(match[1]),
    index: match[2] === undefined ? Number.MAX_SAFE_INTEGER : Number(match[2]),
  };
}

export const levelView = (sku: string, locationId: string, state: StockState): StockLevelView => ({
  sku,
  locationId,
  onHand: state.onHand,
  reserved: state.reserved,
  safetyStock: state.safetyStock,
  available: availableOf(state),
  version: state.version,
  updatedAt: state.updatedAt,
});

function signalsOf(before: number, after: number, options: FeedOptions): string[] | undefined {
  if (before === after) return undefined;
  if (after === 0) return ['out_of_stock'];
  if (before === 0) return ['back_in_stock'];
  if (after <= options.lowStockThreshold && before > options.lowStockThreshold) return ['low_stock'];
  return undefined;
}

export function feedItemsOf(record: JournalRecord, options: FeedOptions): FeedItem[] {
  const ref = parseStream(record.stream);
  const firstVersion = record.version - record.events.length + 1;
  const base = (index: number) => ({
    id: feedId(record.seq, index),
    seq: record.seq,
    index,
    stream: record.stream,
    version: firstVersion + index,
    at: record.at,
  });
  if (ref?.kind === 'stock') {
    const before = record.meta?.['before'] as LevelQuantities | undefined;
    let state: StockState = {
      onHand: before?.onHand ?? 0,
      reserved: before?.reserved ?? 0,
      safetyStock: before?.safetyStock ?? 0,
      version: firstVersion - 1,
      holds: HoldSet.EMPTY,
      updatedAt: null,
    };
    return (record.events as readonly StockEvent[]).map((event, index) => {
      const availableBefore = availableOf(state);
      state = evolve(state, event);
      const reservationId = 'reservationId' in event ? event.reservationId : undefined;
      return {
        ...base(index),
        type: event.type,
        event: event as unknown as Record<string, unknown>,
        level: levelView(ref.sku, ref.locationId, state),
        ...(reservationId === undefined ? {} : { reservationId }),
        ...optionalSignals(signalsOf(availableBefore, availableOf(state), options)),
      };
    });
  }
  return record.events.map((event, index) => ({
    ...base(index),
    type: event.type,
    event: event as unknown as Record<string, unknown>,
    ...(ref?.kind === 'reservation' ? { reservationId: ref.id } : {}),
  }));
}

const optionalSignals = (signals: string[] | undefined) => (signals ? { signals } : {});
