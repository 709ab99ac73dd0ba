// The durable fold: what Projection.apply builds from journal records must equal the domain's own
// evolve over the same events, for every stream kind, plus the derived entries (store progress,
// idempotency answers) that recovery and snapshots rely on.
import { expect } from 'chai';
import type { LocationEvent } from '../../../engine/domain/location.js';
import type { ReservationEvent } from '../../../engine/domain/reservation.js';
import { evolveReservation, initialReservationState } from '../../../engine/domain/reservation.js';
import type { StockEvent, StoreSource } from '../../../engine/domain/stock.js';
import { foldStock, holdOf } from '../../../engine/domain/stock.js';
import { Projection } from '../../../engine/projection.js';
import {
  idempotencyKey,
  locationStream,
  reservationStream,
  stockStream,
  storeKey,
} from '../../../engine/streams.js';
import type { JournalRecord } from '../../../storage/journal.js';
import { partitionOf } from '../../../storage/snapshot.js';

const T0 = '2024-05-01T10:00:00.000Z';
const T1 = '2024-05-01T10:01:00.000Z';
const EXPIRES = '2024-05-01T10:20:00.000Z';

/** Builds records in journal order, tracking each stream's version as an actor would. */
class RecordLog {
  private seq = 0;
  private readonly versions = new Map<string, number>();

  record(
    stream: string,
    events: readonly (StockEvent | ReservationEvent | LocationEvent)[],
    meta?: Record<string, unknown>,
    at = T1,
  ): JournalRecord {
    const version = (this.versions.get(stream) ?? 0) + events.length;
    this.versions.set(stream, version);
    return { seq: ++this.seq, stream, version, events, at, ...(meta ? { meta } : {}) };
  }
}

const till = (storeId: string, seq: number): StoreSource => ({ storeId, seq, occurredAt: T0 });

describe('Projection.apply', () => {
  let log: RecordLog;
  let projection: Projection;
  beforeEach(() => {
    log = new RecordLog();
    projection = new Projection(16);
  });

  describe('stock records', () => {
    it('folds every record of a level with evolve, across records', () => {
      const first: StockEvent[] = [
        { type: 'StockReceived', quantity: 10, reason: 'receipt', at: T0 },
        { type: 'SafetyStockSet', safetyStock: 2, at: T0 },
      ];
      const second: StockEvent[] = [
        { type: 'StockReserved', reservationId: 'r-1', quantity: 3, expiresAt: EXPIRES, at: T1 },
        { type: 'StockSold', quantity: 6, at: T1 },
        { type: 'ReservationAtRisk', reservationId: 'r-1', quantity: 3, shortBy: 1, at: T1 },
      ];
      projection.apply(log.record(stockStream('SKU-1', 'LOC-1'), first));
      projection.apply(log.record(stockStream('SKU-1', 'LOC-1'), second));

      const level = projection.stock('SKU-1', 'LOC-1');
      expect(level).to.deep.equal(foldStock([...first, ...second]));
      expect(level).to.include({ onHand: 4, reserved: 3, safetyStock: 2, version: 5, updatedAt: T1 });
      expect(level && holdOf(level.holds, 'r-1')).to.deep.include({
        quantity: 3,
        expiresAt: EXPIRES,
        atRisk: true,
      });
      expect(projection.stockByStream(stockStream('SKU-1', 'LOC-1'))).to.equal(level);
      expect(projection.lastSeq).to.equal(2);
    });

    it('keeps levels of different locations and SKUs apart, and indexes locations by SKU', () => {
      projection.apply(
        log.record(stockStream('SKU-1', 'LOC-1'), [
          { type: 'StockReceived', quantity: 1, reason: 'receipt', at: T0 },
        ]),
      );
      projection.apply(
        log.record(stockStream('SKU-1', 'LOC-2'), [
          { type: 'StockReceived', quantity: 2, reason: 'receipt', at: T0 },
        ]),
      );
      projection.apply(
        log.record(stockStream('SKU-2', 'LOC-1'), [
          { type: 'StockReceived', quantity: 3, reason: 'receipt', at: T0 },
        ]),
      );

      expect(projection.stock('SKU-1', 'LOC-1')?.onHand).to.equal(1);
      expect(projection.stock('SKU-1', 'LOC-2')?.onHand).to.equal(2);
      expect(projection.stock('SKU-2', 'LOC-1')?.onHand).to.equal(3);
      expect(projection.stock('SKU-2', 'LOC-2')).to.equal(undefined);
      expect([...projection.locationsOf('SKU-1')].sort()).to.deep.equal(['LOC-1', 'LOC-2']);
      expect([...projection.locationsOf('SKU-2')]).to.deep.equal(['LOC-1']);
      expect([...projection.locationsOf('SKU-9')]).to.deep.equal([]);
    });
  });

  describe('store progress from till events', () => {
    it('starts at zero for a store never heard from', () => {
      expect(projection.store('STORE-1')).to.deep.equal({ lastSeq: 0, lastEventAt: null });
    });

    it('records the highest store sequence applied, per store, with the time it was applied', () => {
      projection.apply(
        log.record(stockStream('SKU-1', 'STORE-1'), [
          { type: 'StockReceived', quantity: 5, reason: 'receipt', source: till('STORE-1', 1), at: T0 },
          { type: 'StockSold', quantity: 1, source: till('STORE-1', 2), at: T0 },
        ]),
      );
      projection.apply(
        log.record(stockStream('SKU-2', 'STORE-1'), [
          { type: 'StockAdjusted', delta: -1, reason: 'damage', source: till('STORE-1', 3), at: T1 },
        ]),
      );
      projection.apply(
        log.record(stockStream('SKU-1', 'STORE-2'), [
          { type: 'StockCounted', onHand: 4, previousOnHand: 0, source: till('STORE-2', 7), at: T0 },
        ]),
      );
      expect(projection.store('STORE-1')).to.deep.equal({ lastSeq: 3, lastEventAt: T1 });
      expect(projection.store('STORE-2')).to.deep.equal({ lastSeq: 7, lastEventAt: T0 });
    });

    it('never moves a store backwards on an older sequence', () => {
      projection.apply(
        log.record(stockStream('SKU-1', 'STORE-1'), [
          { type: 'StockSold', quantity: 1, source: till('STORE-1', 5), at: T0 },
        ]),
      );
      projection.apply(
        log.record(stockStream('SKU-2', 'STORE-1'), [
          { type: 'StockSold', quantity: 1, source: till('STORE-1', 4), at: T1 },
        ]),
      );
      expect(projection.store('STORE-1')).to.deep.equal({ lastSeq: 5, lastEventAt: T0 });
    });

    it('ignores events without a store source (API writes, holds)', () => {
      projection.apply(
        log.record(stockStream('SKU-1', 'LOC-1'), [
          { type: 'StockReceived', quantity: 5, reason: 'receipt', by: 'role:backoffice', at: T0 },
          { type: 'StockReserved', reservationId: 'r-1', quantity: 1, expiresAt: EXPIRES, at: T0 },
        ]),
      );
      expect([...projection.entries('store/')]).to.deep.equal([]);
    });
  });

  describe('reservation and location records', () => {
    it('folds a reservation with evolveReservation from its initial state', () => {
      const events: ReservationEvent[] = [
        {
          type: 'ReservationPlaced',
          lines: [{ sku: 'SKU-1', locationId: 'LOC-1', quantity: 2 }],
          expiresAt: EXPIRES,
          reference: 'cart-9',
          at: T0,
        },
        { type: 'ReservationConfirmed', at: T1 },
      ];
      projection.apply(log.record(reservationStream('r-1'), events.slice(0, 1)));
      projection.apply(log.record(reservationStream('r-1'), events.slice(1)));
      expect(projection.reservation('r-1')).to.deep.equal(
        events.reduce(evolveReservation, initialReservationState('r-1')),
      );
      expect(projection.reservation('r-1')).to.include({
        id: 'r-1',
        status: 'confirmed',
        version: 2,
        createdAt: T0,
      });
      expect(projection.reservation('r-2')).to.equal(undefined);
    });

    it('registers then updates a location', () => {
      const registered: LocationEvent = {
        type: 'LocationRegistered',
        name: 'Main St',
        locationType: 'store',
        at: T0,
      };
      const updated: LocationEvent = {
        type: 'LocationUpdated',
        name: 'Main Street',
        locationType: 'store',
        at: T1,
      };
      projection.apply(log.record(locationStream('STORE-1'), [registered]));
      expect(projection.location('STORE-1')).to.deep.equal({
        id: 'STORE-1',
        name: 'Main St',
        type: 'store',
        version: 1,
        updatedAt: T0,
      });
      projection.apply(log.record(locationStream('STORE-1'), [updated]));
      expect(projection.location('STORE-1')).to.deep.equal({
        id: 'STORE-1',
        name: 'Main Street',
        type: 'store',
        version: 2,
        updatedAt: T1,
      });
    });

    it('refuses a record for an unknown stream or a snapshot-only key', () => {
      const bad = (stream: string): JournalRecord => ({
        seq: 1,
        stream,
        version: 1,
        events: [{ type: 'X' }],
        at: T0,
      });
      expect(() => projection.apply(bad('cart/r-1'))).to.throw(/unknown stream/);
      expect(() => projection.apply(bad('stock/SKU-1'))).to.throw(/unknown stream/);
      expect(() => projection.apply(bad(storeKey('STORE-1')))).to.throw(/not a journal stream/);
      expect(() => projection.apply(bad(idempotencyKey('k')))).to.throw(/not a journal stream/);
      expect(projection.lastSeq).to.equal(0);
      expect(projection.size).to.equal(0);
    });
  });

  describe('idempotency entries', () => {
    it('stores the answer an idempotent call gave, with the time it became durable', () => {
      const result = { level: { onHand: 5 }, replayed: false };
      projection.apply(
        log.record(
          stockStream('SKU-1', 'LOC-1'),
          [{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: T0 }],
          { idempotency: { key: 'backoffice:abc', fingerprint: 'sha-1', result } },
          T1,
        ),
      );
      expect(projection.idempotency('backoffice:abc')).to.deep.equal({
        fingerprint: 'sha-1',
        result,
        at: Date.parse(T1),
      });
      expect(projection.idempotency('backoffice:other')).to.equal(undefined);
    });

    it('stores nothing for a record without idempotency meta', () => {
      projection.apply(
        log.record(
          stockStream('SKU-1', 'LOC-1'),
          [{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: T0 }],
          {
            before: { onHand: 0, reserved: 0, safetyStock: 0 },
          },
        ),
      );
      expect([...projection.entries('idempotency/')]).to.deep.equal([]);
    });
  });

  describe('takeDirty', () => {
    it('returns only the partitions that changed, once', () => {
      const stream = stockStream('SKU-1', 'LOC-1');
      projection.apply(
        log.record(stream, [{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: T0 }]),
      );

      const dirty = projection.takeDirty();
      const index = partitionOf(stream, 16);
      expect([...dirty.keys()]).to.deep.equal([index]);
      expect(dirty.get(index)?.get(stream)).to.deep.include({ onHand: 5 });
      expect(projection.takeDirty().size).to.equal(0);
    });

    it('includes the partitions of store progress and idempotency entries a record touched', () => {
      const stream = stockStream('SKU-1', 'STORE-1');
      projection.apply(
        log.record(stream, [{ type: 'StockSold', quantity: 1, source: till('STORE-1', 1), at: T0 }], {
          idempotency: { key: 'store:k1', fingerprint: 'f', result: null },
        }),
      );
      const expected = new Set(
        [stream, storeKey('STORE-1'), idempotencyKey('store:k1')].map((id) => partitionOf(id, 16)),
      );
      expect(new Set(projection.takeDirty().keys())).to.deep.equal(expected);
    });

    it('hands out a copy: later changes do not alter a partition already taken', () => {
      const stream = stockStream('SKU-1', 'LOC-1');
      projection.apply(
        log.record(stream, [{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: T0 }]),
      );
      const taken = projection.takeDirty().get(partitionOf(stream, 16));
      projection.apply(log.record(stream, [{ type: 'StockSold', quantity: 2, at: T1 }]));
      expect(taken?.get(stream)).to.deep.include({ onHand: 5 });
      expect(projection.takeDirty().get(partitionOf(stream, 16))?.get(stream)).to.deep.include({ onHand: 3 });
    });

    it('does not count snapshot loads as changes, but counts deletes and markDirty', () => {
      projection.load(stockStream('SKU-1', 'LOC-1'), { onHand: 1 });
      expect(projection.takeDirty().size).to.equal(0);
      expect([...projection.locationsOf('SKU-1')]).to.deep.equal(['LOC-1']);

      projection.delete(stockStream('SKU-1', 'LOC-1'));
      expect([...projection.takeDirty().keys()]).to.deep.equal([
        partitionOf(stockStream('SKU-1', 'LOC-1'), 16),
      ]);
      projection.delete(stockStream('SKU-1', 'LOC-1'));
      expect(projection.takeDirty().size).to.equal(0);

      projection.markDirty([3, 5]);
      expect([...projection.takeDirty().keys()].sort()).to.deep.equal([3, 5]);
    });
  });

  describe('entries(prefix)', () => {
    it('yields every entry under the prefix and nothing else', () => {
      for (const sku of ['SKU-1', 'SKU-2', 'SKU-3']) {
        projection.apply(
          log.record(stockStream(sku, 'LOC-1'), [
            { type: 'StockReceived', quantity: 1, reason: 'receipt', at: T0 },
          ]),
        );
      }
      projection.apply(
        log.record(locationStream('LOC-1'), [
          { type: 'LocationRegistered', name: 'Hub', locationType: 'warehouse', at: T0 },
        ]),
      );
      projection.apply(
        log.record(reservationStream('r-1'), [
          { type: 'ReservationPlaced', lines: [], expiresAt: EXPIRES, at: T0 },
        ]),
      );

      const ids = (prefix: string) => [...projection.entries(prefix)].map(([id]) => id).sort();
      expect(ids('stock/')).to.deep.equal(['stock/SKU-1/LOC-1', 'stock/SKU-2/LOC-1', 'stock/SKU-3/LOC-1']);
      expect(ids('stock/SKU-2/')).to.deep.equal(['stock/SKU-2/LOC-1']);
      expect(ids('location/')).to.deep.equal(['location/LOC-1']);
      expect(ids('reservation/')).to.deep.equal(['reservation/r-1']);
      expect(ids('')).to.have.length(5);
      expect(projection.size).to.equal(5);
      const [, level] = [...projection.entries<{ onHand: number }>('stock/SKU-3/')][0] ?? [];
      expect(level?.onHand).to.equal(1);
    });
  });
});
