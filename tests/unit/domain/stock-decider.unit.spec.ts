// The stock rule book, one (SKU, location): every command's events and every refusal, read as
// given(events) / when(command) / then(events or error). Concurrency of these paths is covered by the
// actor tests; here the decider alone must never oversell online and never refuse a till sale.
import type { StockCommand } from '../../../engine/domain/stock-commands.js';
import { MAX_QUANTITY } from '../../../engine/domain/stock-commands.js';
import { expect } from 'chai';
import type { StockEvent, StockState, StoreSource } from '../../../engine/domain/stock.js';
import { holdsOf, releaseReasons } from '../../../engine/domain/stock.js';
import { givenStock as given } from '../../support/given-when-then.js';

const T0 = '2024-05-01T10:00:00.000Z';
const AT = '2024-05-01T10:05:00.000Z';
const EXPIRES = '2024-05-01T10:20:00.000Z';

const received = (quantity: number): StockEvent => ({
  type: 'StockReceived',
  quantity,
  reason: 'receipt',
  at: T0,
});
const sold = (quantity: number): StockEvent => ({ type: 'StockSold', quantity, at: T0 });
const safetyStockSet = (safetyStock: number): StockEvent => ({ type: 'SafetyStockSet', safetyStock, at: T0 });
const held = (reservationId: string, quantity: number): StockEvent => ({
  type: 'StockReserved',
  reservationId,
  quantity,
  expiresAt: EXPIRES,
  at: T0,
});
const released = (reservationId: string, quantity: number): StockEvent => ({
  type: 'ReservationReleased',
  reservationId,
  quantity,
  reason: 'cancelled',
  at: T0,
});
const atRisk = (reservationId: string, quantity: number, shortBy: number, at = AT): StockEvent => ({
  type: 'ReservationAtRisk',
  reservationId,
  quantity,
  shortBy,
  at,
});

/** The active holds, oldest first, read through the domain's accessor (the layout is its own business). */
const holdList = (state: StockState) =>
  holdsOf(state.holds).map(([reservationId, { quantity, expiresAt, atRisk }]) => ({
    reservationId,
    quantity,
    expiresAt,
    atRisk,
  }));
const hold = (reservationId: string, quantity: number, atRisk = false) => ({
  reservationId,
  quantity,
  expiresAt: EXPIRES,
  atRisk,
});

const source: StoreSource = { storeId: 'STORE-1', seq: 42, occurredAt: '2024-05-01T10:04:59.000Z' };

/** Quantities every quantity check must refuse, with a name for the test title. */
const outOfRange: readonly [string, number][] = [
  ['zero', 0],
  ['negative', -1],
  ['fractional', 1.5],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['above MAX_QUANTITY', MAX_QUANTITY + 1],
];

describe('stock decider', () => {
  describe('receive', () => {
    it('records the units received, as a receipt by default', () => {
      given([])
        .when({ type: 'receive', quantity: 5, at: AT })
        .then([{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: AT }]);
    });

    it('records a customer return with its reference, author and store source', () => {
      given([received(3)])
        .when({
          type: 'receive',
          quantity: 2,
          reason: 'return',
          reference: 'RMA-7',
          by: 'store:STORE-1',
          source,
          at: AT,
        })
        .then([
          {
            type: 'StockReceived',
            quantity: 2,
            reason: 'return',
            reference: 'RMA-7',
            by: 'store:STORE-1',
            source,
            at: AT,
          },
        ]);
    });

    it('accepts exactly MAX_QUANTITY', () => {
      given([]).when({ type: 'receive', quantity: MAX_QUANTITY, at: AT }).thenState({ onHand: MAX_QUANTITY });
    });

    for (const [name, quantity] of outOfRange) {
      it(`refuses a ${name} quantity with QUANTITY_OUT_OF_RANGE`, () => {
        given([]).when({ type: 'receive', quantity, at: AT }).thenThrows('QUANTITY_OUT_OF_RANGE', {
          field: 'quantity',
          value: quantity,
        });
      });
    }
  });

  describe('sell (a till sale, never refused)', () => {
    it('records the sale and lowers on-hand', () => {
      given([received(10)])
        .when({ type: 'sell', quantity: 3, source, at: AT })
        .then([{ type: 'StockSold', quantity: 3, source, at: AT }]);
      given([received(10)])
        .when({ type: 'sell', quantity: 3, at: AT })
        .thenState({ onHand: 7, version: 2 });
    });

    it('records a sale of more than the books hold: on-hand goes negative, the till is not blocked', () => {
      given([received(2)])
        .when({ type: 'sell', quantity: 5, at: AT })
        .thenState({ onHand: -3 });
    });

    it('records a sale even while holds take every unit (the holds go at risk instead)', () => {
      given([received(4), held('r-1', 4)])
        .when({ type: 'sell', quantity: 1, at: AT })
        .then([{ type: 'StockSold', quantity: 1, at: AT }, atRisk('r-1', 4, 1)]);
    });

    for (const [name, quantity] of outOfRange) {
      it(`refuses a ${name} quantity with QUANTITY_OUT_OF_RANGE`, () => {
        given([received(10)])
          .when({ type: 'sell', quantity, at: AT })
          .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'quantity', value: quantity });
      });
    }
  });

  describe('adjust', () => {
    it('records a positive delta with its reason', () => {
      given([received(10)])
        .when({ type: 'adjust', delta: 4, reason: 'correction', reference: 'INV-1', at: AT })
        .then([{ type: 'StockAdjusted', delta: 4, reason: 'correction', reference: 'INV-1', at: AT }]);
    });

    it('records a negative delta down to exactly zero', () => {
      given([received(3)])
        .when({ type: 'adjust', delta: -3, reason: 'damage', at: AT })
        .then([{ type: 'StockAdjusted', delta: -3, reason: 'damage', at: AT }]);
    });

    it('refuses a back-office adjustment below zero with STOCK_NEGATIVE', () => {
      given([received(2)])
        .when({ type: 'adjust', delta: -3, reason: 'damage', at: AT })
        .thenThrows('STOCK_NEGATIVE', { onHand: 2, delta: -3 });
    });

    it('records an adjustment below zero when the store path allows it', () => {
      given([received(2)])
        .when({ type: 'adjust', delta: -3, reason: 'damage', allowNegative: true, at: AT })
        .thenState({ onHand: -1 });
    });

    it('refuses an adjustment that would push on-hand above MAX_QUANTITY', () => {
      given([received(MAX_QUANTITY)])
        .when({ type: 'adjust', delta: 1, reason: 'correction', at: AT })
        .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'delta' });
    });

    const badDeltas: readonly [string, number][] = [
      ['zero', 0],
      ['fractional', -0.5],
      ['NaN', Number.NaN],
      ['above MAX_QUANTITY', MAX_QUANTITY + 1],
      ['below -MAX_QUANTITY', -MAX_QUANTITY - 1],
    ];
    for (const [name, delta] of badDeltas) {
      it(`refuses a ${name} delta with QUANTITY_OUT_OF_RANGE, even with allowNegative`, () => {
        given([received(10)])
          .when({ type: 'adjust', delta, reason: 'correction', allowNegative: true, at: AT })
          .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'delta', value: delta });
      });
    }
  });

  describe('count (an absolute physical count)', () => {
    it('records the count and the on-hand it replaces', () => {
      given([received(10), sold(1)])
        .when({ type: 'count', onHand: 7, at: AT })
        .then([{ type: 'StockCounted', onHand: 7, previousOnHand: 9, at: AT }]);
    });

    it('accepts a count of zero', () => {
      given([received(10)])
        .when({ type: 'count', onHand: 0, at: AT })
        .thenState({ onHand: 0 });
    });

    it('sets a new safety stock with the count, after it', () => {
      given([received(10)])
        .when({ type: 'count', onHand: 8, safetyStock: 2, at: AT })
        .then([
          { type: 'StockCounted', onHand: 8, previousOnHand: 10, at: AT },
          { type: 'SafetyStockSet', safetyStock: 2, at: AT },
        ]);
    });

    it('does not repeat an unchanged safety stock', () => {
      given([received(10), safetyStockSet(2)])
        .when({ type: 'count', onHand: 8, safetyStock: 2, at: AT })
        .then([{ type: 'StockCounted', onHand: 8, previousOnHand: 10, at: AT }]);
    });

    for (const [name, onHand] of outOfRange.filter(([name]) => name !== 'zero')) {
      it(`refuses a ${name} count with QUANTITY_OUT_OF_RANGE`, () => {
        given([received(10)])
          .when({ type: 'count', onHand, at: AT })
          .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'onHand', value: onHand });
      });
    }

    it('refuses an invalid safety stock with the count, recording neither', () => {
      given([received(10)])
        .when({ type: 'count', onHand: 8, safetyStock: -1, at: AT })
        .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'safetyStock', value: -1 });
    });
  });

  describe('setSafetyStock', () => {
    it('records a new safety stock', () => {
      given([received(10)])
        .when({ type: 'setSafetyStock', safetyStock: 3, by: 'role:backoffice', at: AT })
        .then([{ type: 'SafetyStockSet', safetyStock: 3, by: 'role:backoffice', at: AT }]);
    });

    it('clears it back to zero', () => {
      given([safetyStockSet(2)])
        .when({ type: 'setSafetyStock', safetyStock: 0, at: AT })
        .thenState({ safetyStock: 0 });
    });

    it('is a no-op when unchanged', () => {
      given([safetyStockSet(2)])
        .when({ type: 'setSafetyStock', safetyStock: 2, at: AT })
        .then([]);
    });

    for (const [name, safetyStock] of outOfRange.filter(([name]) => name !== 'zero')) {
      it(`refuses a ${name} safety stock with QUANTITY_OUT_OF_RANGE`, () => {
        given([])
          .when({ type: 'setSafetyStock', safetyStock, at: AT })
          .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'safetyStock', value: safetyStock });
      });
    }
  });

  describe('reserve (online: CP, never oversells)', () => {
    it('holds available units until the deadline', () => {
      given([received(10)])
        .when({ type: 'reserve', reservationId: 'r-1', quantity: 4, expiresAt: EXPIRES, at: AT })
        .then([{ type: 'StockReserved', reservationId: 'r-1', quantity: 4, expiresAt: EXPIRES, at: AT }]);
    });

    it('holds exactly what is available, leaving zero', () => {
      given([received(10), safetyStockSet(2), held('r-1', 5)])
        .when({ type: 'reserve', reservationId: 'r-2', quantity: 3, expiresAt: EXPIRES, at: AT })
        .thenState((state) => {
          expect(state).to.include({ onHand: 10, reserved: 8 });
          expect(holdList(state)).to.deep.equal([hold('r-1', 5), hold('r-2', 3)]);
        });
    });

    it('refuses more than available with STOCK_INSUFFICIENT, safety stock excluded', () => {
      given([received(10), safetyStockSet(3)])
        .when({ type: 'reserve', reservationId: 'r-1', quantity: 8, expiresAt: EXPIRES, at: AT })
        .thenThrows('STOCK_INSUFFICIENT', { requested: 8, available: 7 });
    });

    it('refuses more than available with STOCK_INSUFFICIENT, existing holds excluded', () => {
      given([received(10), held('r-1', 6)])
        .when({ type: 'reserve', reservationId: 'r-2', quantity: 5, expiresAt: EXPIRES, at: AT })
        .thenThrows('STOCK_INSUFFICIENT', { requested: 5, available: 4 });
    });

    it('refuses with STOCK_INSUFFICIENT counting safety stock and holds together', () => {
      given([received(10), safetyStockSet(2), held('r-1', 5)])
        .when({ type: 'reserve', reservationId: 'r-2', quantity: 4, expiresAt: EXPIRES, at: AT })
        .thenThrows('STOCK_INSUFFICIENT', { requested: 4, available: 3 });
    });

    it('reports zero available, not a negative number, when till sales took held units', () => {
      given([received(4), held('r-1', 4), sold(6)])
        .when({ type: 'reserve', reservationId: 'r-2', quantity: 1, expiresAt: EXPIRES, at: AT })
        .thenThrows('STOCK_INSUFFICIENT', { requested: 1, available: 0 });
    });

    it('refuses a second hold under the same reservation id with RESERVATION_EXISTS', () => {
      given([received(10), held('r-1', 2)])
        .when({ type: 'reserve', reservationId: 'r-1', quantity: 1, expiresAt: EXPIRES, at: AT })
        .thenThrows('RESERVATION_EXISTS', { reservationId: 'r-1' });
    });

    it('accepts a reservation id again once its hold was released', () => {
      given([received(10), held('r-1', 2), released('r-1', 2)])
        .when({ type: 'reserve', reservationId: 'r-1', quantity: 1, expiresAt: EXPIRES, at: AT })
        .thenState({ reserved: 1 });
    });

    for (const [name, quantity] of outOfRange) {
      it(`refuses a ${name} quantity with QUANTITY_OUT_OF_RANGE`, () => {
        given([received(10)])
          .when({ type: 'reserve', reservationId: 'r-1', quantity, expiresAt: EXPIRES, at: AT })
          .thenThrows('QUANTITY_OUT_OF_RANGE', { field: 'quantity', value: quantity });
      });
    }
  });

  describe('release', () => {
    for (const reason of releaseReasons) {
      it(`releases the whole hold (${reason})`, () => {
        given([received(10), held('r-1', 4)])
          .when({ type: 'release', reservationId: 'r-1', reason, at: AT })
          .then([{ type: 'ReservationReleased', reservationId: 'r-1', quantity: 4, reason, at: AT }]);
      });
    }

    it('gives the units back to available', () => {
      given([received(10), held('r-1', 4), held('r-2', 1)])
        .when({ type: 'release', reservationId: 'r-1', reason: 'expired', at: AT })
        .thenState((state) => {
          expect(state).to.include({ onHand: 10, reserved: 1 });
          expect(holdList(state)).to.deep.equal([hold('r-2', 1)]);
        });
    });

    it('is a no-op for a hold that is not here (compensation may repeat it)', () => {
      given([received(10)])
        .when({ type: 'release', reservationId: 'r-9', reason: 'compensated', at: AT })
        .then([]);
    });

    it('is a no-op for a hold already released', () => {
      given([received(10), held('r-1', 4), released('r-1', 4)])
        .when({ type: 'release', reservationId: 'r-1', reason: 'cancelled', at: AT })
        .then([]);
    });
  });

  describe('commit', () => {
    it('turns the hold into a shipped sale', () => {
      given([received(10), held('r-1', 4)])
        .when({ type: 'commit', reservationId: 'r-1', at: AT })
        .then([{ type: 'ReservationCommitted', reservationId: 'r-1', quantity: 4, at: AT }]);
      given([received(10), held('r-1', 4)])
        .when({ type: 'commit', reservationId: 'r-1', at: AT })
        .thenState((state) => {
          expect(state).to.include({ onHand: 6, reserved: 0, version: 3 });
          expect(holdList(state)).to.deep.equal([]);
        });
    });

    it('is a no-op for a hold that is not here', () => {
      given([received(10)])
        .when({ type: 'commit', reservationId: 'r-9', at: AT })
        .then([]);
    });

    it('is a no-op for a hold already committed', () => {
      given([
        received(10),
        held('r-1', 4),
        { type: 'ReservationCommitted', reservationId: 'r-1', quantity: 4, at: T0 },
      ])
        .when({ type: 'commit', reservationId: 'r-1', at: AT })
        .then([]);
    });
  });

  describe('optimistic concurrency (expectedVersion)', () => {
    const history = [received(10), safetyStockSet(1), held('r-1', 3)];

    it('refuses a stale version with VERSION_CONFLICT and the current level', () => {
      given(history)
        .when({ type: 'count', onHand: 8, expectedVersion: 2, at: AT })
        .thenThrows('VERSION_CONFLICT', {
          expectedVersion: 2,
          currentVersion: 3,
          onHand: 10,
          reserved: 3,
          safetyStock: 1,
          available: 6,
        });
    });

    it('refuses a version from the future too', () => {
      given(history)
        .when({ type: 'count', onHand: 8, expectedVersion: 4, at: AT })
        .thenThrows('VERSION_CONFLICT', { expectedVersion: 4, currentVersion: 3 });
    });

    it('accepts the current version', () => {
      given(history)
        .when({ type: 'count', onHand: 8, expectedVersion: 3, at: AT })
        .then([{ type: 'StockCounted', onHand: 8, previousOnHand: 10, at: AT }]);
    });

    it('accepts version 0 on a level that has never changed', () => {
      given([])
        .when({ type: 'count', onHand: 8, expectedVersion: 0, at: AT })
        .thenState({ onHand: 8, version: 1 });
    });

    const everyCommand: readonly StockCommand[] = [
      { type: 'receive', quantity: 1, at: AT },
      { type: 'sell', quantity: 1, at: AT },
      { type: 'adjust', delta: 1, reason: 'correction', at: AT },
      { type: 'count', onHand: 1, at: AT },
      { type: 'setSafetyStock', safetyStock: 2, at: AT },
      { type: 'reserve', reservationId: 'r-2', quantity: 1, expiresAt: EXPIRES, at: AT },
      { type: 'release', reservationId: 'r-1', reason: 'cancelled', at: AT },
      { type: 'commit', reservationId: 'r-1', at: AT },
    ];
    for (const command of everyCommand) {
      it(`checks the version before deciding ${command.type}`, () => {
        given(history)
          .when({ ...command, expectedVersion: 1 })
          .thenThrows('VERSION_CONFLICT', { expectedVersion: 1, currentVersion: 3 });
      });
    }
  });

  describe('holds at risk (a till sale or a count takes units held online)', () => {
    // onHand 10, two holds: r-1 (4, older) and r-2 (3, newest); 3 units free.
    const twoHolds = [received(10), held('r-1', 4), held('r-2', 3)];

    it('flags nothing while on-hand still covers every hold', () => {
      given(twoHolds)
        .when({ type: 'sell', quantity: 3, at: AT })
        .then([{ type: 'StockSold', quantity: 3, at: AT }]);
    });

    it('flags the newest hold first when a sale leaves on-hand below reserved', () => {
      given(twoHolds)
        .when({ type: 'sell', quantity: 5, at: AT })
        .then([{ type: 'StockSold', quantity: 5, at: AT }, atRisk('r-2', 3, 2)]);
    });

    it('flags older holds too when the newest does not cover the shortfall', () => {
      given(twoHolds)
        .when({ type: 'sell', quantity: 8, at: AT })
        .then([{ type: 'StockSold', quantity: 8, at: AT }, atRisk('r-2', 3, 3), atRisk('r-1', 4, 2)]);
    });

    it('flags every hold when the sale drives on-hand negative', () => {
      given(twoHolds)
        .when({ type: 'sell', quantity: 12, at: AT })
        .then([{ type: 'StockSold', quantity: 12, at: AT }, atRisk('r-2', 3, 3), atRisk('r-1', 4, 4)]);
    });

    it('marks the flagged holds in the state, keeping their quantities reserved', () => {
      given(twoHolds)
        .when({ type: 'sell', quantity: 5, at: AT })
        .thenState((state) => {
          expect(state).to.include({ onHand: 5, reserved: 7 });
          expect(holdList(state)).to.deep.equal([hold('r-1', 4), hold('r-2', 3, true)]);
        });
    });

    it('flags holds after a negative adjustment', () => {
      given(twoHolds)
        .when({ type: 'adjust', delta: -6, reason: 'damage', at: AT })
        .then([{ type: 'StockAdjusted', delta: -6, reason: 'damage', at: AT }, atRisk('r-2', 3, 3)]);
    });

    it('flags holds after a count, after the count and safety stock events', () => {
      given(twoHolds)
        .when({ type: 'count', onHand: 3, safetyStock: 1, at: AT })
        .then([
          { type: 'StockCounted', onHand: 3, previousOnHand: 10, at: AT },
          { type: 'SafetyStockSet', safetyStock: 1, at: AT },
          atRisk('r-2', 3, 3),
          atRisk('r-1', 4, 1),
        ]);
    });

    it('does not flag holds because of safety stock: only physical units count', () => {
      given(twoHolds)
        .when({ type: 'count', onHand: 7, safetyStock: 5, at: AT })
        .then([
          { type: 'StockCounted', onHand: 7, previousOnHand: 10, at: AT },
          { type: 'SafetyStockSet', safetyStock: 5, at: AT },
        ]);
    });

    it('does not flag a hold already at risk again, but counts its units against the shortfall', () => {
      const r2AtRisk = [...twoHolds, sold(5), atRisk('r-2', 3, 2, T0)];
      given(r2AtRisk)
        .when({ type: 'sell', quantity: 1, at: AT })
        .then([{ type: 'StockSold', quantity: 1, at: AT }]);
      given(r2AtRisk)
        .when({ type: 'sell', quantity: 3, at: AT })
        .then([{ type: 'StockSold', quantity: 3, at: AT }, atRisk('r-1', 4, 2)]);
    });

    it('does not flag a released hold', () => {
      given([...twoHolds, released('r-2', 3)])
        .when({ type: 'sell', quantity: 8, at: AT })
        .then([{ type: 'StockSold', quantity: 8, at: AT }, atRisk('r-1', 4, 2)]);
    });

    it('lists holds oldest first, a re-held id counting as the newest', () => {
      given([...twoHolds, released('r-1', 4)])
        .when({ type: 'reserve', reservationId: 'r-1', quantity: 4, expiresAt: EXPIRES, at: AT })
        .thenState((state) => expect(holdList(state)).to.deep.equal([hold('r-2', 3), hold('r-1', 4)]));
    });

    it('treats a reservation id held again after its release as the newest hold', () => {
      given([...twoHolds, released('r-1', 4), held('r-1', 4)])
        .when({ type: 'sell', quantity: 5, at: AT })
        .then([{ type: 'StockSold', quantity: 5, at: AT }, atRisk('r-1', 4, 2)]);
    });

    // Regression: "newest first" was once read from Object.entries(holds).reverse(), but JavaScript
    // orders integer-like keys ("9", "10") numerically before other keys, not by insertion, so the
    // older hold "10" was flagged instead of the newest, "9". Hold age must not depend on the id.
    it('flags the newest hold first even when reservation ids look like numbers', () => {
      given([received(10), held('10', 4), held('9', 3)])
        .when({ type: 'sell', quantity: 5, at: AT })
        .then([{ type: 'StockSold', quantity: 5, at: AT }, atRisk('9', 3, 2)]);
    });
  });
});
