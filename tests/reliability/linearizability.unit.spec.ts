// The linearizability checker (tests/reliability/linearizability.ts) must reject what it must: hand-made
// histories with an oversell, a lost update, a stale read, a confirm and an expiry that both won, a hold
// released twice, till events applied out of order. And it must accept every history a sequential
// execution can produce: a property test runs the engine's own pure domain (decide/evolve) one command
// at a time, then stretches each command into a random interval around its instant, so the operations
// overlap as concurrent clients' would, and the checker must still find the order.
import { expect } from 'chai';
import fc from 'fast-check';
import { InventoryError } from '../../engine/errors.js';
import { decide } from '../../engine/domain/stock-commands.js';
import type { StockCommand } from '../../engine/domain/stock-commands.js';
import type { StockState } from '../../engine/domain/stock.js';
import { evolve, holdOf, initialStockState } from '../../engine/domain/stock.js';
import type { Model, Operation, StockInput, StockOutput } from './linearizability.js';
import { checkHistory, describeOperation, stockModel } from './linearizability.js';

type StockOp = Operation<StockInput, StockOutput>;

const ok: StockOutput = { type: 'ok' };
const refused: StockOutput = { type: 'refused' };
const level = (onHand: number, reserved: number): StockOutput => ({ type: 'level', onHand, reserved });
const op = (
  input: StockInput,
  output: StockOutput | undefined,
  invokedAt: number,
  returnedAt: number,
): StockOp =>
  output === undefined
    ? { input, invokedAt, returnedAt: Infinity, unknown: true }
    : { input, output, invokedAt, returnedAt };

const check = (history: readonly StockOp[], onHand = 0) => checkHistory(stockModel({ onHand }), history);

describe('linearizability checker', () => {
  describe('a small register model', () => {
    // The classic example: a write and a read of one register.
    const register: Model<number, { kind: 'write' | 'read'; value: number }, number> = {
      init: () => 0,
      step: (state, input, output) =>
        input.kind === 'write' ? [input.value] : output === undefined || output === state ? [state] : [],
      key: (state) => String(state),
    };
    it('accepts a read concurrent with a write seeing either value', () => {
      for (const seen of [0, 1]) {
        const result = checkHistory(register, [
          { input: { kind: 'write', value: 1 }, output: 0, invokedAt: 0, returnedAt: 10 },
          { input: { kind: 'read', value: 0 }, output: seen, invokedAt: 5, returnedAt: 6 },
        ]);
        expect(result.ok, `read ${seen}`).to.equal(true);
      }
    });
    it('rejects a read after a completed write that sees the old value', () => {
      const result = checkHistory(register, [
        { input: { kind: 'write', value: 1 }, output: 0, invokedAt: 0, returnedAt: 10 },
        { input: { kind: 'read', value: 0 }, output: 0, invokedAt: 11, returnedAt: 12 },
      ]);
      expect(result.ok).to.equal(false);
      if (result.ok === false) expect(result.stuck).to.deep.equal([1]);
    });
    it('treats an answer at the very instant of an invocation as concurrent', () => {
      const result = checkHistory(register, [
        { input: { kind: 'write', value: 1 }, output: 0, invokedAt: 0, returnedAt: 10 },
        { input: { kind: 'read', value: 0 }, output: 0, invokedAt: 10, returnedAt: 12 },
      ]);
      expect(result.ok).to.equal(true);
    });
    it('gives up with ok: unknown when the step budget runs out', () => {
      const history = Array.from({ length: 14 }, (_, i) => ({
        input: { kind: 'write' as const, value: i },
        output: 0,
        invokedAt: 0,
        returnedAt: 100,
      }));
      const result = checkHistory(
        register,
        [...history, { input: { kind: 'read', value: 0 }, output: 99, invokedAt: 0, returnedAt: 100 }],
        {
          maxSteps: 500,
        },
      );
      expect(result.ok).to.equal('unknown');
    });
  });

  describe('the stock model: histories it must accept', () => {
    it('two clients race for the last unit: one wins, one is told insufficient', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, refused, 0, 10),
          op({ type: 'reserve', reservation: 'r2', quantity: 1 }, ok, 1, 9),
          op({ type: 'read' }, level(1, 1), 11, 12),
        ],
        1,
      );
      expect(result.ok).to.equal(true);
    });

    it('a reservation confirmed, its stock committed, then read', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 2 }, ok, 0, 1),
          op({ type: 'confirm', reservation: 'r1' }, ok, 2, 3),
          op({ type: 'commit', reservation: 'r1' }, ok, 2, 3),
          op({ type: 'read' }, level(3, 0), 4, 5),
          op({ type: 'status', reservation: 'r1' }, { type: 'status', status: 'confirmed' }, 4, 5),
        ],
        5,
      );
      expect(result.ok).to.equal(true);
    });

    it('an operation of unknown outcome may have taken effect, or not', () => {
      const applied = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 2 }, undefined, 0, 0),
          op({ type: 'read' }, level(5, 2), 10, 11),
        ],
        5,
      );
      const notApplied = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 2 }, undefined, 0, 0),
          op({ type: 'read' }, level(5, 0), 10, 11),
        ],
        5,
      );
      expect(applied.ok).to.equal(true);
      expect(notApplied.ok).to.equal(true);
    });

    it('an expiry decided by the engine, its hold released later, seen by reads in between', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'expire', reservation: 'r1' }, ok, 5, Infinity),
          op({ type: 'release', reservation: 'r1' }, ok, 5, Infinity),
          op({ type: 'status', reservation: 'r1' }, { type: 'status', status: 'expired' }, 6, 7),
          op({ type: 'read' }, level(4, 1), 7, 8),
          op({ type: 'read' }, level(4, 0), 9, 10),
          op({ type: 'confirm', reservation: 'r1' }, refused, 9, 10),
        ],
        4,
      );
      expect(result.ok).to.equal(true);
    });

    it('till events apply in their store order, whenever they arrive', () => {
      const result = check(
        [
          op({ type: 'sale', quantity: 1, order: 1 }, ok, 0, Infinity),
          op({ type: 'receive', quantity: 10, order: 0 }, ok, 0, Infinity),
          op({ type: 'read' }, level(10, 0), 5, 6),
          op({ type: 'read' }, level(9, 0), 7, 8),
        ],
        0,
      );
      expect(result.ok).to.equal(true);
    });

    it('a sale takes held units: the confirm may then be refused (the hold is at risk)', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'sale', quantity: 1, order: 0 }, ok, 2, Infinity),
          op({ type: 'read' }, level(0, 1), 3, 4),
          op({ type: 'confirm', reservation: 'r1' }, refused, 5, 6),
        ],
        1,
      );
      expect(result.ok).to.equal(true);
    });
  });

  describe('the stock model: histories it must reject', () => {
    it('an oversell: two reservations of the last unit both succeed', () => {
      const history = [
        op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 10),
        op({ type: 'reserve', reservation: 'r2', quantity: 1 }, ok, 1, 9),
      ];
      const result = check(history, 1);
      expect(result.ok).to.equal(false);
      if (result.ok === false) {
        expect(result.longestPrefix).to.have.length(1);
        expect(result.stuck).to.have.length(1);
        const text = describeOperation(stockModel(), history[result.stuck[0] as number] as StockOp);
        expect(text).to.match(/reserve reservation=r\d quantity=1 -> ok/);
      }
    });

    it('an oversell through an operation of unknown outcome and a later success', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'read' }, level(1, 1), 2, 3),
          op({ type: 'reserve', reservation: 'r2', quantity: 1 }, ok, 4, 5),
        ],
        1,
      );
      expect(result.ok).to.equal(false);
    });

    it('a lost update: two concurrent receipts both acknowledged, only one counted', () => {
      const result = check(
        [
          op({ type: 'adjust', delta: 5 }, ok, 0, 10),
          op({ type: 'adjust', delta: 5 }, ok, 1, 9),
          op({ type: 'read' }, level(15, 0), 11, 12),
        ],
        10,
      );
      expect(result.ok).to.equal(false);
    });

    it('a stale read: a completed sale is not seen by a later read', () => {
      const result = check(
        [op({ type: 'adjust', delta: -1 }, ok, 0, 1), op({ type: 'read' }, level(5, 0), 2, 3)],
        5,
      );
      expect(result.ok).to.equal(false);
    });

    it('a read that goes back in time: new value seen, then the old one again', () => {
      const result = check(
        [
          op({ type: 'adjust', delta: 3 }, ok, 0, 20),
          op({ type: 'read' }, level(8, 0), 2, 3),
          op({ type: 'read' }, level(5, 0), 4, 5),
        ],
        5,
      );
      expect(result.ok).to.equal(false);
    });

    it('a refusal with stock to spare (a lost sale)', () => {
      const result = check([op({ type: 'reserve', reservation: 'r1', quantity: 2 }, refused, 0, 1)], 5);
      expect(result.ok).to.equal(false);
    });

    it('a confirm and an expiry of the same reservation both win', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'confirm', reservation: 'r1', mayBeLate: true }, ok, 5, 6),
          op({ type: 'expire', reservation: 'r1' }, ok, 5, Infinity),
        ],
        3,
      );
      expect(result.ok).to.equal(false);
    });

    it('a confirm accepted after the deadline surely passed', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'confirm', reservation: 'r1', surelyLate: true }, ok, 5, 6),
        ],
        3,
      );
      expect(result.ok).to.equal(false);
    });

    it('stock released twice for one cancellation', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'cancel', reservation: 'r1' }, ok, 2, 3),
          op({ type: 'release', reservation: 'r1' }, ok, 2, Infinity),
          op({ type: 'release', reservation: 'r1' }, ok, 2, Infinity),
        ],
        3,
      );
      expect(result.ok).to.equal(false);
    });

    it('a confirm refused while the hold was active, in time and covered', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'confirm', reservation: 'r1' }, refused, 2, 3),
        ],
        3,
      );
      expect(result.ok).to.equal(false);
    });

    it('till events applied out of their store order', () => {
      const result = check(
        [
          op({ type: 'count', onHand: 7, order: 0 }, ok, 0, Infinity),
          op({ type: 'receive', quantity: 1, order: 1 }, ok, 0, Infinity),
          op({ type: 'read' }, level(1, 0), 5, 6),
          op({ type: 'read' }, level(7, 0), 7, 8),
        ],
        0,
      );
      expect(result.ok).to.equal(false);
    });

    it('operations that carry journal positions, taking effect out of that order', () => {
      const history = [
        op({ type: 'count', onHand: 7, seq: 10 }, ok, 0, 10),
        op({ type: 'receive', quantity: 1, seq: 11 }, ok, 0, 10),
        op({ type: 'read' }, level(7, 0), 11, 12),
      ];
      expect(check(history, 0).ok, 'count then receive can only end at 8').to.equal(false);
      const swapped = [
        history[0],
        { ...history[1], input: { type: 'receive', quantity: 1, seq: 9 } },
        history[2],
      ] as StockOp[];
      expect(check(swapped, 0).ok, 'receive then count ends at 7').to.equal(true);
    });

    it('an acknowledged reservation that disappears', () => {
      const result = check(
        [
          op({ type: 'reserve', reservation: 'r1', quantity: 1 }, ok, 0, 1),
          op({ type: 'read' }, level(3, 0), 2, 3),
        ],
        3,
      );
      expect(result.ok).to.equal(false);
    });
  });

  describe('property: every history of a sequential execution is accepted', () => {
    // The sequential execution runs the engine's own pure domain, not the checker's model.
    type Command =
      | { kind: 'reserve'; quantity: number }
      | { kind: 'confirm'; pick: number }
      | { kind: 'cancel'; pick: number }
      | { kind: 'expire'; pick: number }
      | { kind: 'sale'; quantity: number }
      | { kind: 'receive'; quantity: number }
      | { kind: 'adjust'; delta: number }
      | { kind: 'count'; onHand: number }
      | { kind: 'read' }
      | { kind: 'status'; pick: number };

    const command: fc.Arbitrary<Command> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('reserve' as const),
          quantity: fc.integer({ min: 1, max: 4 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), pick: fc.nat() }) },
      {
        weight: 2,
        arbitrary: fc.record({
          kind: fc.constant('sale' as const),
          quantity: fc.integer({ min: 1, max: 3 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('receive' as const),
          quantity: fc.integer({ min: 1, max: 6 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('adjust' as const),
          delta: fc.integer({ min: -4, max: 4 }).filter((d) => d !== 0),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('count' as const), onHand: fc.integer({ min: 0, max: 8 }) }),
      },
      { weight: 3, arbitrary: fc.constant({ kind: 'read' as const }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('status' as const), pick: fc.nat() }) },
    );

    interface Step {
      readonly command: Command;
      /** How the operation is timed around its instant, and whether its answer was lost. */
      readonly before: number;
      readonly after: number;
      readonly lost: boolean;
    }
    const step: fc.Arbitrary<Step> = fc.record({
      command,
      before: fc.integer({ min: 0, max: 90 }),
      after: fc.integer({ min: 0, max: 90 }),
      lost: fc.integer({ min: 0, max: 9 }).map((value) => value < 3),
    });

    /** Runs the steps on the domain one at a time; returns the history, stretched around each instant. */
    function execute(steps: readonly Step[], lostSkips: readonly boolean[], startOnHand: number): StockOp[] {
      let stock: StockState = evolve(initialStockState, {
        type: 'StockCounted',
        onHand: startOnHand,
        previousOnHand: 0,
        at: '2026-01-01T00:00:00.000Z',
      });
      const status = new Map<string, 'active' | 'confirmed' | 'cancelled' | 'expired'>();
      const ids: string[] = [];
      const history: StockOp[] = [];
      let till = 0;
      const at = '2026-01-01T00:00:01.000Z';
      const run = (stockCommand: StockCommand): boolean => {
        try {
          stock = decide(stockCommand, stock).reduce(evolve, stock);
          return true;
        } catch (error) {
          if (error instanceof InventoryError) return false;
          throw error;
        }
      };
      steps.forEach((item, index) => {
        const instant = index * 20 + 100;
        const invokedAt = instant - item.before;
        const returnedAt = instant + item.after;
        // An operation whose answer was lost: sometimes it took effect, sometimes it never ran.
        const lost = item.lost && item.command.kind !== 'read' && item.command.kind !== 'status';
        const notRun = lost && (lostSkips[index] ?? false);
        const push = (input: StockInput, output: StockOutput, engineStep = false) =>
          history.push(
            lost && !engineStep
              ? { input, invokedAt, returnedAt: Infinity, unknown: true }
              : { input, output, invokedAt, returnedAt: engineStep ? Infinity : returnedAt },
          );
        const pickId = (pick: number) => ids[pick % Math.max(1, ids.length)];
        const c = item.command;
        switch (c.kind) {
          case 'reserve': {
            const id = `r${index}`;
            if (notRun) {
              push({ type: 'reserve', reservation: id, quantity: c.quantity }, ok);
              return;
            }
            const held = run({ type: 'reserve', reservationId: id, quantity: c.quantity, expiresAt: at, at });
            if (held) {
              ids.push(id);
              status.set(id, 'active');
            }
            push({ type: 'reserve', reservation: id, quantity: c.quantity }, held ? ok : refused);
            return;
          }
          case 'confirm':
          case 'cancel':
          case 'expire': {
            const id = pickId(c.pick);
            if (id === undefined) return;
            const current = status.get(id);
            const input: StockInput = { type: c.kind, reservation: id };
            if (notRun) {
              push(input, ok);
              return;
            }
            const atRisk = holdOf(stock.holds, id)?.atRisk === true;
            if (current !== 'active' || (c.kind === 'confirm' && atRisk)) {
              push(input, refused, c.kind === 'expire');
              return;
            }
            status.set(
              id,
              c.kind === 'confirm' ? 'confirmed' : c.kind === 'cancel' ? 'cancelled' : 'expired',
            );
            push(input, ok, c.kind === 'expire');
            // The stock step follows the decision, as the engine's saga does.
            const committed =
              c.kind === 'confirm'
                ? run({ type: 'commit', reservationId: id, at })
                : run({ type: 'release', reservationId: id, reason: 'cancelled', at });
            expect(committed).to.equal(true);
            history.push({
              input: { type: c.kind === 'confirm' ? 'commit' : 'release', reservation: id },
              output: ok,
              invokedAt,
              returnedAt: c.kind === 'expire' ? Infinity : returnedAt,
            });
            return;
          }
          case 'sale':
          case 'receive':
          case 'adjust':
          case 'count': {
            // The till path: applied whatever the books say, in the store's order, at an unknown time.
            const order = till++;
            const stockCommand: StockCommand =
              c.kind === 'sale'
                ? { type: 'sell', quantity: c.quantity, at }
                : c.kind === 'receive'
                  ? { type: 'receive', quantity: c.quantity, at }
                  : c.kind === 'adjust'
                    ? { type: 'adjust', delta: c.delta, reason: 'correction', allowNegative: true, at }
                    : { type: 'count', onHand: c.onHand, at };
            expect(run(stockCommand)).to.equal(true);
            const input: StockInput =
              c.kind === 'sale'
                ? { type: 'sale', quantity: c.quantity, order }
                : c.kind === 'receive'
                  ? { type: 'receive', quantity: c.quantity, order }
                  : c.kind === 'adjust'
                    ? { type: 'adjust', delta: c.delta, allowNegative: true, order }
                    : { type: 'count', onHand: c.onHand, order };
            history.push({ input, output: ok, invokedAt, returnedAt: Infinity });
            // A store that waits for its agent's answer sees the effect by then: read it back at once.
            history.push({
              input: { type: 'read' },
              output: level(stock.onHand, stock.reserved),
              invokedAt: instant,
              returnedAt: instant + 1,
            });
            return;
          }
          case 'read':
            push({ type: 'read' }, level(stock.onHand, stock.reserved));
            return;
          case 'status': {
            const id = pickId(c.pick);
            const current = id === undefined ? undefined : status.get(id);
            if (id === undefined || current === undefined) return;
            push({ type: 'status', reservation: id }, { type: 'status', status: current });
            return;
          }
        }
      });
      return history;
    }

    it('accepts them all (the engine domain as the sequential execution)', () => {
      fc.assert(
        fc.property(
          fc.array(step, { minLength: 1, maxLength: 40 }),
          fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
          fc.integer({ min: 0, max: 8 }),
          (steps, skips, start) => {
            const history = execute(steps, skips, start);
            const result = check(history, start);
            if (result.ok !== true) {
              const model = stockModel({ onHand: start });
              const text = history
                .map((item, index) => `${index}: ${describeOperation(model, item)}`)
                .join('\n');
              expect.fail(`rejected a sequential history:\n${text}\n${JSON.stringify(result)}`);
            }
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
