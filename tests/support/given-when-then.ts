// Given/when/then for the pure deciders, in the emmett style:
//   givenStock([...events]).when(command).then([...expected events])
//   givenStock([...events]).when(command).thenThrows('STOCK_INSUFFICIENT', { requested: 3 })
// `given` folds the events with the decider's own `evolve`, `when` runs `decide` once, and every
// assertion also checks that `decide` left the state it was given untouched (the domain is pure).
import { expect } from 'chai';
import type { ErrorCode } from '../../engine/errors.js';
import { InventoryError } from '../../engine/errors.js';
import type {
  ReservationCommand,
  ReservationEvent,
  ReservationState,
} from '../../engine/domain/reservation.js';
import {
  decideReservation,
  evolveReservation,
  initialReservationState,
} from '../../engine/domain/reservation.js';
import type { StockCommand } from '../../engine/domain/stock-commands.js';
import { decide } from '../../engine/domain/stock-commands.js';
import type { StockEvent, StockState } from '../../engine/domain/stock.js';
import { evolve, initialStockState } from '../../engine/domain/stock.js';

/** The decider contract shared by the live actor, the replay CLI and these tests. */
export interface Decider<Command, Event, State> {
  readonly decide: (command: Command, state: State) => Event[];
  readonly evolve: (state: State, event: Event) => State;
  readonly initialState: () => State;
}

export const stockDecider: Decider<StockCommand, StockEvent, StockState> = {
  decide,
  evolve,
  initialState: () => initialStockState,
};

export const reservationDecider = (
  id: string,
): Decider<ReservationCommand, ReservationEvent, ReservationState> => ({
  decide: decideReservation,
  evolve: evolveReservation,
  initialState: () => initialReservationState(id),
});

type Outcome<Event> =
  { readonly ok: true; readonly events: Event[] } | { readonly ok: false; readonly error: unknown };

export interface Then<Event, State> {
  /** The command succeeds with exactly these events, in this order (`[]` for a no-op). */
  then(expected: readonly Event[]): void;
  /** The command is refused with an InventoryError of this code whose details include `detailsSubset`. */
  thenThrows(code: ErrorCode, detailsSubset?: Readonly<Record<string, unknown>>): void;
  /**
   * The command succeeds and the state after its events includes `expected` (deep equality per key),
   * or passes the assertions of `expected` when it is a function.
   */
  thenState(expected: Partial<State> | ((state: State) => void)): void;
}

export interface When<Command, Event, State> {
  when(command: Command): Then<Event, State>;
}

export const DeciderSpecification = {
  for<Command, Event, State>(decider: Decider<Command, Event, State>) {
    return (given: readonly Event[]): When<Command, Event, State> => ({
      when(command: Command): Then<Event, State> {
        const state = given.reduce(decider.evolve, decider.initialState());
        const before = structuredClone(state);
        let outcome: Outcome<Event>;
        try {
          outcome = { ok: true, events: decider.decide(command, state) };
        } catch (error) {
          outcome = { ok: false, error };
        }
        expect(state, 'decide must not mutate the state it is given').to.deep.equal(before);
        const succeeded = (): Event[] => {
          if (!outcome.ok) throw new Error(`expected events, but decide threw ${explain(outcome.error)}`);
          return outcome.events;
        };
        return {
          then(expected) {
            expect(succeeded()).to.deep.equal(expected);
          },
          thenThrows(code, detailsSubset) {
            if (outcome.ok) {
              throw new Error(`expected ${code}, but decide returned ${JSON.stringify(outcome.events)}`);
            }
            const error = outcome.error;
            expect(error, explain(error)).to.be.instanceOf(InventoryError);
            expect((error as InventoryError).code).to.equal(code);
            if (detailsSubset) expect((error as InventoryError).details).to.deep.include(detailsSubset);
          },
          thenState(expected) {
            const after = succeeded().reduce(decider.evolve, state);
            if (typeof expected === 'function') expected(after);
            else expect(after).to.deep.include(expected);
          },
        };
      },
    });
  },
};

const explain = (error: unknown): string =>
  error instanceof InventoryError ? `${error.code}: ${error.message}` : String(error);

/** given(stock events).when(stock command).then(...) */
export const givenStock = DeciderSpecification.for(stockDecider);

/** given(reservation events).when(reservation command).then(...), for the reservation `id`. */
export const givenReservation = (
  given: readonly ReservationEvent[],
  id = 'r-1',
): When<ReservationCommand, ReservationEvent, ReservationState> =>
  DeciderSpecification.for(reservationDecider(id))(given);
