// Properties of the stock decider over random command sequences, valid and invalid mixed: the fold of
// what `decide` produced always equals a reference model written here from the design alone (plain
// numbers and a Map of holds), and the invariants the storefront relies on hold after every step.
// The feed's per-event levels, rebuilt from journal records alone, must agree with that same fold.
import { expect } from 'chai';
import fc from 'fast-check';
import type { ErrorCode } from '../../../engine/errors.js';
import { InventoryError } from '../../../engine/errors.js';
import { feedItemsOf, levelView } from '../../../engine/feed.js';
import type { StockCommand } from '../../../engine/domain/stock-commands.js';
import { MAX_QUANTITY, decide } from '../../../engine/domain/stock-commands.js';
import type { StockEvent, StockState } from '../../../engine/domain/stock.js';
import {
  availableOf,
  evolve,
  holdsOf,
  initialStockState,
  releaseReasons,
} from '../../../engine/domain/stock.js';
import { stockStream } from '../../../engine/streams.js';
import type { JournalRecord } from '../../../storage/journal.js';

// ---------------------------------------------------------------- random commands

type VersionMode = 'none' | 'current' | 'stale';
/** A command without its time and version: both are resolved against the state when it runs. */
type CommandSpec = { readonly command: StockCommand; readonly versionMode: VersionMode };

const EXPIRES = '2030-01-01T00:00:00.000Z';
const START = Date.parse('2024-05-01T10:00:00.000Z');
/** Integer-like ids included: hold age must not depend on how an id sorts (see stock-decider.unit.spec.ts). */
const reservationId = fc.constantFrom('r-a', 'r-b', 'r-c', '10', '9', '0');
const invalid = fc.constantFrom(-3, 1.5, Number.NaN, MAX_QUANTITY + 1);
const positive = (max: number) =>
  fc.oneof(
    { weight: 19, arbitrary: fc.integer({ min: 1, max }) },
    { weight: 1, arbitrary: fc.oneof(fc.constant(0), invalid) },
  );
const natural = (max: number) =>
  fc.oneof({ weight: 19, arbitrary: fc.integer({ min: 0, max }) }, { weight: 1, arbitrary: invalid });
/** Weighted so that sequences build several holds and then lose units under them. */
const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

const commandArbitrary: fc.Arbitrary<StockCommand> = fc.oneof(
  weighted(
    3,
    fc.record({
      type: fc.constant('receive' as const),
      quantity: positive(20),
      reason: fc.constantFrom('receipt' as const, 'return' as const),
      at: fc.constant(''),
    }),
  ),
  weighted(2, fc.record({ type: fc.constant('sell' as const), quantity: positive(15), at: fc.constant('') })),
  weighted(
    1,
    fc.record({
      type: fc.constant('adjust' as const),
      delta: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: -15, max: 15 }) },
        { weight: 1, arbitrary: invalid },
      ),
      reason: fc.constantFrom('damage' as const, 'correction' as const),
      allowNegative: fc.boolean(),
      at: fc.constant(''),
    }),
  ),
  weighted(
    1,
    fc.record({
      type: fc.constant('count' as const),
      onHand: natural(25),
      safetyStock: fc.option(natural(4), { nil: undefined }),
      at: fc.constant(''),
    }),
  ),
  weighted(
    1,
    fc.record({ type: fc.constant('setSafetyStock' as const), safetyStock: natural(4), at: fc.constant('') }),
  ),
  weighted(
    4,
    fc.record({
      type: fc.constant('reserve' as const),
      reservationId,
      quantity: positive(8),
      expiresAt: fc.constant(EXPIRES),
      at: fc.constant(''),
    }),
  ),
  weighted(
    1,
    fc.record({
      type: fc.constant('release' as const),
      reservationId,
      reason: fc.constantFrom(...releaseReasons),
      at: fc.constant(''),
    }),
  ),
  weighted(1, fc.record({ type: fc.constant('commit' as const), reservationId, at: fc.constant('') })),
);

const specArbitrary: fc.Arbitrary<CommandSpec> = fc.record({
  command: commandArbitrary,
  versionMode: fc.oneof(
    weighted(8, fc.constant<VersionMode>('none')),
    weighted(1, fc.constant<VersionMode>('current')),
    weighted(1, fc.constant<VersionMode>('stale')),
  ),
});
const sequences = fc.array(specArbitrary, { minLength: 1, maxLength: 80, size: 'max' });

// ---------------------------------------------------------------- the reference model

type Expected = { readonly refused: ErrorCode } | { readonly events: readonly string[] };

/** One stock level as the design describes it, written without looking at `decide`. */
class ReferenceLevel {
  onHand = 0;
  safetyStock = 0;
  version = 0;
  /** Insertion order is hold age: the last entry is the newest hold. */
  readonly holds = new Map<string, { quantity: number; atRisk: boolean }>();

  get reserved(): number {
    let sum = 0;
    for (const hold of this.holds.values()) sum += hold.quantity;
    return sum;
  }

  get available(): number {
    return Math.max(0, this.onHand - this.reserved - this.safetyStock);
  }

  run(command: StockCommand): Expected {
    if (command.expectedVersion !== undefined && command.expectedVersion !== this.version) {
      return { refused: 'VERSION_CONFLICT' };
    }
    const valid = (value: number, min: number) =>
      Number.isInteger(value) && value >= min && value <= MAX_QUANTITY;
    const events: string[] = [];
    switch (command.type) {
      case 'receive':
        if (!valid(command.quantity, 1)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        this.onHand += command.quantity;
        events.push(`StockReceived ${command.quantity}`);
        break;
      case 'sell':
        if (!valid(command.quantity, 1)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        events.push(`StockSold ${command.quantity}`, ...this.takeUnits(this.onHand - command.quantity));
        break;
      case 'adjust': {
        if (
          !Number.isInteger(command.delta) ||
          command.delta === 0 ||
          Math.abs(command.delta) > MAX_QUANTITY
        ) {
          return { refused: 'QUANTITY_OUT_OF_RANGE' };
        }
        const next = this.onHand + command.delta;
        if (next < 0 && !command.allowNegative) return { refused: 'STOCK_NEGATIVE' };
        if (next > MAX_QUANTITY) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        events.push(`StockAdjusted ${command.delta}`, ...this.takeUnits(next));
        break;
      }
      case 'count': {
        if (!valid(command.onHand, 0)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        const newSafety = command.safetyStock !== undefined && command.safetyStock !== this.safetyStock;
        if (newSafety && !valid(command.safetyStock, 0)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        events.push(`StockCounted ${command.onHand}`);
        if (newSafety) {
          this.safetyStock = command.safetyStock;
          events.push(`SafetyStockSet ${command.safetyStock}`);
        }
        events.push(...this.takeUnits(command.onHand));
        break;
      }
      case 'setSafetyStock':
        if (!valid(command.safetyStock, 0)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        if (command.safetyStock !== this.safetyStock) {
          this.safetyStock = command.safetyStock;
          events.push(`SafetyStockSet ${command.safetyStock}`);
        }
        break;
      case 'reserve':
        if (!valid(command.quantity, 1)) return { refused: 'QUANTITY_OUT_OF_RANGE' };
        if (this.holds.has(command.reservationId)) return { refused: 'RESERVATION_EXISTS' };
        if (command.quantity > this.available) return { refused: 'STOCK_INSUFFICIENT' };
        this.holds.set(command.reservationId, { quantity: command.quantity, atRisk: false });
        events.push(`StockReserved ${command.reservationId} ${command.quantity}`);
        break;
      case 'release': {
        const hold = this.holds.get(command.reservationId);
        if (hold) {
          this.holds.delete(command.reservationId);
          events.push(`ReservationReleased ${command.reservationId} ${hold.quantity}`);
        }
        break;
      }
      case 'commit': {
        const hold = this.holds.get(command.reservationId);
        if (hold) {
          this.holds.delete(command.reservationId);
          this.onHand -= hold.quantity;
          events.push(`ReservationCommitted ${command.reservationId} ${hold.quantity}`);
        }
        break;
      }
    }
    this.version += events.length;
    return { events };
  }

  /** On-hand becomes `next`; holds it no longer covers go at risk, newest first, each flagged once. */
  private takeUnits(next: number): string[] {
    this.onHand = next;
    let uncovered = this.reserved - Math.max(0, next);
    const flagged: string[] = [];
    for (const [id, hold] of [...this.holds].reverse()) {
      if (uncovered <= 0) break;
      if (!hold.atRisk) {
        hold.atRisk = true;
        flagged.push(`ReservationAtRisk ${id} ${hold.quantity} short ${Math.min(uncovered, hold.quantity)}`);
      }
      uncovered -= hold.quantity;
    }
    return flagged;
  }
}

const summary = (event: StockEvent): string => {
  switch (event.type) {
    case 'StockReceived':
    case 'StockSold':
      return `${event.type} ${event.quantity}`;
    case 'StockAdjusted':
      return `${event.type} ${event.delta}`;
    case 'StockCounted':
      return `${event.type} ${event.onHand}`;
    case 'SafetyStockSet':
      return `${event.type} ${event.safetyStock}`;
    case 'StockReserved':
    case 'ReservationReleased':
    case 'ReservationCommitted':
      return `${event.type} ${event.reservationId} ${event.quantity}`;
    case 'ReservationAtRisk':
      return `${event.type} ${event.reservationId} ${event.quantity} short ${event.shortBy}`;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
};

// ---------------------------------------------------------------- running a sequence

interface Step {
  readonly command: StockCommand;
  readonly before: StockState;
  /** A deep copy of `before` taken before `decide` ran: decide must leave its input untouched. */
  readonly untouched: StockState;
  /** Empty when refused or a no-op. */
  readonly events: readonly StockEvent[];
  /** The state after each event, in order. */
  readonly states: readonly StockState[];
  readonly refused?: ErrorCode;
}

function run(specs: readonly CommandSpec[]): Step[] {
  let state = initialStockState;
  return specs.map(({ command: base, versionMode }, index) => {
    const expectedVersion =
      versionMode === 'current' ? state.version : versionMode === 'stale' ? state.version - 1 : undefined;
    const command: StockCommand = {
      ...base,
      at: new Date(START + index * 1000).toISOString(),
      expectedVersion,
    };
    const before = state;
    const untouched = structuredClone(state);
    try {
      const events = decide(command, state);
      const states = events.map((event) => (state = evolve(state, event)));
      return { command, before, untouched, events, states };
    } catch (error) {
      if (!(error instanceof InventoryError)) throw error;
      return { command, before, untouched, events: [], states: [], refused: error.code };
    }
  });
}

const SKU = 'SKU-1';
const LOCATION = 'LOC-1';

/** The journal records an actor would append: one per decision that produced events. */
function recordsOf(steps: readonly Step[]): { record: JournalRecord; step: Step }[] {
  return steps
    .filter((step) => step.events.length > 0)
    .map((step, index) => {
      const after = step.states[step.states.length - 1] as StockState;
      const record: JournalRecord = {
        seq: index + 1,
        stream: stockStream(SKU, LOCATION),
        version: after.version,
        events: step.events,
        at: step.command.at,
        meta: {
          before: {
            onHand: step.before.onHand,
            reserved: step.before.reserved,
            safetyStock: step.before.safetyStock,
          },
        },
      };
      return { record, step };
    });
}

/** Active holds oldest first, through the domain's accessor. */
const holdList = (state: StockState) =>
  holdsOf(state.holds).map(([id, hold]) => [id, hold.quantity, hold.atRisk] as const);

// ---------------------------------------------------------------- the properties

describe('stock decider properties', () => {
  it('folds to the reference model after every command, valid or not', () => {
    fc.assert(
      fc.property(sequences, (specs) => {
        const model = new ReferenceLevel();
        for (const step of run(specs)) {
          const expected = model.run(step.command);
          const label = `${JSON.stringify(step.command)} on ${JSON.stringify(step.before)}`;
          if ('refused' in expected) {
            expect(step.refused, label).to.equal(expected.refused);
          } else {
            expect(step.refused, label).to.equal(undefined);
            expect(step.events.map(summary), label).to.deep.equal(expected.events);
          }
          const state = step.states[step.states.length - 1] ?? step.before;
          expect(state.onHand, label).to.equal(model.onHand);
          expect(state.reserved, label).to.equal(model.reserved);
          expect(state.safetyStock, label).to.equal(model.safetyStock);
          expect(state.version, label).to.equal(model.version);
          expect(holdList(state), label).to.deep.equal(
            [...model.holds].map(([id, h]) => [id, h.quantity, h.atRisk]),
          );
          expect(availableOf(state), label).to.equal(model.available);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the invariants after every step', () => {
    fc.assert(
      fc.property(sequences, (specs) => {
        let applied = 0;
        for (const step of run(specs)) {
          const label = JSON.stringify(step.command);
          // A refusal is all-or-nothing: no events (the model property checks refusals match the
          // design), and no half-applied change to the state decide was given.
          expect(step.before, label).to.deep.equal(step.untouched);
          for (const state of step.states) {
            applied++;
            // version === number of events applied
            expect(state.version, label).to.equal(applied);
            // reserved === sum of hold quantities
            const sum = holdsOf(state.holds).reduce((total, [, hold]) => total + hold.quantity, 0);
            expect(state.reserved, label).to.equal(sum);
            // available is never negative, and is onHand - reserved - safetyStock when that is not
            expect(availableOf(state), label).to.equal(
              Math.max(0, state.onHand - state.reserved - state.safetyStock),
            );
          }
          const after = step.states[step.states.length - 1] ?? step.before;
          // online never oversells: a hold is only taken out of free units
          if (step.command.type === 'reserve' && !step.refused) {
            expect(after.onHand - after.reserved - after.safetyStock, label).to.be.at.least(0);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives feed items the same level as evolve, from the records alone', () => {
    const lowStockThreshold = 3;
    fc.assert(
      fc.property(sequences, (specs) => {
        for (const { record, step } of recordsOf(run(specs))) {
          const items = feedItemsOf(record, { lowStockThreshold });
          expect(items).to.have.length(step.events.length);
          let availableBefore = availableOf(step.before);
          items.forEach((item, index) => {
            const state = step.states[index] as StockState;
            expect(item.type).to.equal(step.events[index]?.type);
            expect(item.id).to.equal(`${record.seq}.${index}`);
            expect(item.version).to.equal(state.version);
            expect(item.level).to.deep.equal(levelView(SKU, LOCATION, state));
            const availableAfter = availableOf(state);
            expect(item.signals ?? [], JSON.stringify(item)).to.deep.equal(
              expectedSignals(availableBefore, availableAfter, lowStockThreshold),
            );
            availableBefore = availableAfter;
          });
          const last = items[items.length - 1];
          expect(last?.level).to.deep.equal(
            levelView(SKU, LOCATION, step.states[step.states.length - 1] as StockState),
          );
        }
      }),
      { numRuns: 200 },
    );
  });
});

/** Threshold crossings as the feed documents them. */
function expectedSignals(before: number, after: number, threshold: number): string[] {
  if (after === before) return [];
  if (after === 0) return ['out_of_stock'];
  if (before === 0) return ['back_in_stock'];
  return before > threshold && after <= threshold ? ['low_stock'] : [];
}
