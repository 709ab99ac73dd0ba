// Commands on one stock level and `decide`, the pure rule book: given the current state and a
// command, the events that happen, or an InventoryError saying why not. Time arrives in `at`.
import { InventoryError } from '../errors.js';
import type { AdjustmentReason, ReleaseReason, StockEvent, StockState, StoreSource } from './stock.js';
import { availableOf, holdOf, holdsOf } from './stock.js';

/** Upper bound for any quantity or count: a sanity limit far above any real shelf. */
export const MAX_QUANTITY = 1_000_000_000;

interface CommandMeta {
  readonly at: string;
  readonly reference?: string | undefined;
  readonly by?: string | undefined;
  readonly source?: StoreSource | undefined;
  /** Optimistic concurrency: refuse with VERSION_CONFLICT unless the level is at this version. */
  readonly expectedVersion?: number | undefined;
}

export type StockCommand =
  | ({
      readonly type: 'receive';
      readonly quantity: number;
      readonly reason?: 'receipt' | 'return';
    } & CommandMeta)
  /** A till sale: the goods are already in the customer's hand, so it is never refused (AP). */
  | ({ readonly type: 'sell'; readonly quantity: number } & CommandMeta)
  | ({
      readonly type: 'adjust';
      readonly delta: number;
      readonly reason: AdjustmentReason;
      /** The store path records what happened even if the books disagree; back office may not go below zero. */
      readonly allowNegative?: boolean;
    } & CommandMeta)
  | ({
      readonly type: 'count';
      readonly onHand: number;
      readonly safetyStock?: number | undefined;
    } & CommandMeta)
  | ({ readonly type: 'setSafetyStock'; readonly safetyStock: number } & CommandMeta)
  | ({
      readonly type: 'reserve';
      readonly reservationId: string;
      readonly quantity: number;
      readonly expiresAt: string;
      /** Units not to promise online on top of safety stock (the offline buffer of a silent store). */
      readonly withhold?: number | undefined;
    } & CommandMeta)
  | ({
      readonly type: 'release';
      readonly reservationId: string;
      readonly reason: ReleaseReason;
    } & CommandMeta)
  | ({ readonly type: 'commit'; readonly reservationId: string } & CommandMeta);

export type StockCommandType = StockCommand['type'];

const checkQuantity = (name: string, value: number, min: number): void => {
  if (!Number.isSafeInteger(value) || value < min || value > MAX_QUANTITY) {
    throw new InventoryError(
      'QUANTITY_OUT_OF_RANGE',
      `${name} must be an integer from ${min} to ${MAX_QUANTITY}`,
      {
        field: name,
        value,
      },
    );
  }
};

/**
 * Holds no longer covered by physical stock after `onHand` drops, newest hold first: the most
 * recent promise is the one that gave least notice, so it is the first to be re-sourced.
 */
function holdsAtRisk(state: StockState, nextOnHand: number, at: string): StockEvent[] {
  let shortBy = state.reserved - Math.max(0, nextOnHand);
  if (shortBy <= 0) return [];
  const events: StockEvent[] = [];
  const newestFirst = holdsOf(state.holds).reverse();
  for (const [reservationId, hold] of newestFirst) {
    if (shortBy <= 0) break;
    if (!hold.atRisk) {
      events.push({
        type: 'ReservationAtRisk',
        reservationId,
        quantity: hold.quantity,
        shortBy: Math.min(shortBy, hold.quantity),
        at,
      });
    }
    shortBy -= hold.quantity;
  }
  return events;
}

interface MovementFields {
  at: string;
  reference?: string;
  by?: string;
  source?: StoreSource;
}

/**
 * Adds the movement fields (time, reference, author, till source) to a new event, in that order and
 * only those that are set: what spreading them in would give, without an object per optional field.
 */
function withMovement<E extends object>(event: E, command: CommandMeta): E & MovementFields {
  const target = event as E & MovementFields;
  target.at = command.at;
  if (command.reference !== undefined) target.reference = command.reference;
  if (command.by !== undefined) target.by = command.by;
  if (command.source !== undefined) target.source = command.source;
  return target;
}

export function decide(command: StockCommand, state: StockState): StockEvent[] {
  if (command.expectedVersion !== undefined && command.expectedVersion !== state.version) {
    throw new InventoryError(
      'VERSION_CONFLICT',
      `expected version ${command.expectedVersion}, found ${state.version}`,
      {
        expectedVersion: command.expectedVersion,
        currentVersion: state.version,
        onHand: state.onHand,
        reserved: state.reserved,
        safetyStock: state.safetyStock,
        available: availableOf(state),
      },
    );
  }
  const at = command.at;
  switch (command.type) {
    case 'receive':
      checkQuantity('quantity', command.quantity, 1);
      if (state.onHand + command.quantity > MAX_QUANTITY) {
        throw new InventoryError('QUANTITY_OUT_OF_RANGE', `on-hand would exceed ${MAX_QUANTITY}`, {
          field: 'quantity',
        });
      }
      return [
        withMovement(
          { type: 'StockReceived' as const, quantity: command.quantity, reason: command.reason ?? 'receipt' },
          command,
        ),
      ];
    case 'sell': {
      checkQuantity('quantity', command.quantity, 1);
      const nextOnHand = state.onHand - command.quantity;
      return [
        withMovement({ type: 'StockSold' as const, quantity: command.quantity }, command),
        ...holdsAtRisk(state, nextOnHand, at),
      ];
    }
    case 'adjust': {
      if (
        !Number.isSafeInteger(command.delta) ||
        command.delta === 0 ||
        Math.abs(command.delta) > MAX_QUANTITY
      ) {
        throw new InventoryError(
          'QUANTITY_OUT_OF_RANGE',
          `delta must be a non-zero integer within ±${MAX_QUANTITY}`,
          {
            field: 'delta',
            value: command.delta,
          },
        );
      }
      const nextOnHand = state.onHand + command.delta;
      if (nextOnHand < 0 && !command.allowNegative) {
        throw new InventoryError('STOCK_NEGATIVE', `on-hand would become ${nextOnHand}`, {
          onHand: state.onHand,
          delta: command.delta,
        });
      }
      if (nextOnHand > MAX_QUANTITY) {
        throw new InventoryError('QUANTITY_OUT_OF_RANGE', `on-hand would exceed ${MAX_QUANTITY}`, {
          field: 'delta',
        });
      }
      return [
        withMovement(
          { type: 'StockAdjusted' as const, delta: command.delta, reason: command.reason },
          command,
        ),
        ...holdsAtRisk(state, nextOnHand, at),
      ];
    }
    case 'count': {
      checkQuantity('onHand', command.onHand, 0);
      const events: StockEvent[] = [
        withMovement(
          { type: 'StockCounted' as const, onHand: command.onHand, previousOnHand: state.onHand },
          command,
        ),
      ];
      if (command.safetyStock !== undefined && command.safetyStock !== state.safetyStock) {
        checkQuantity('safetyStock', command.safetyStock, 0);
        events.push(
          withMovement({ type: 'SafetyStockSet' as const, safetyStock: command.safetyStock }, command),
        );
      }
      return [...events, ...holdsAtRisk(state, command.onHand, at)];
    }
    case 'setSafetyStock':
      checkQuantity('safetyStock', command.safetyStock, 0);
      if (command.safetyStock === state.safetyStock) return [];
      return [withMovement({ type: 'SafetyStockSet' as const, safetyStock: command.safetyStock }, command)];
    case 'reserve': {
      checkQuantity('quantity', command.quantity, 1);
      if (holdOf(state.holds, command.reservationId)) {
        throw new InventoryError(
          'RESERVATION_EXISTS',
          `reservation ${command.reservationId} already holds stock here`,
          {
            reservationId: command.reservationId,
          },
        );
      }
      const available = Math.max(0, availableOf(state) - (command.withhold ?? 0));
      if (command.quantity > available) {
        throw new InventoryError(
          'STOCK_INSUFFICIENT',
          `requested ${command.quantity}, available ${available}`,
          {
            requested: command.quantity,
            available,
          },
        );
      }
      return [
        {
          type: 'StockReserved',
          reservationId: command.reservationId,
          quantity: command.quantity,
          expiresAt: command.expiresAt,
          at,
        },
      ];
    }
    case 'release': {
      // Releasing a hold that is not here is a no-op: compensation and recovery may repeat it safely.
      const hold = holdOf(state.holds, command.reservationId);
      if (!hold) return [];
      return [
        {
          type: 'ReservationReleased',
          reservationId: command.reservationId,
          quantity: hold.quantity,
          reason: command.reason,
          at,
        },
      ];
    }
    case 'commit': {
      const hold = holdOf(state.holds, command.reservationId);
      if (!hold) return [];
      return [
        { type: 'ReservationCommitted', reservationId: command.reservationId, quantity: hold.quantity, at },
      ];
    }
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}
