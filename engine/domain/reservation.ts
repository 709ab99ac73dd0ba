// A reservation (a held cart) and its lifecycle. The lifecycle is an xstate statechart, defined once
// and evaluated with xstate's pure transition function: no live actor per reservation, no timers
// inside. `decideReservation` asks the machine whether a transition is allowed and returns the events.
import { setup, transition } from 'xstate';
import { InventoryError } from '../errors.js';
import type { ReservationStatus } from '../types.js';
import { reservationStatuses } from '../types.js';

export interface ReservationLine {
  readonly sku: string;
  readonly locationId: string;
  readonly quantity: number;
  /** What the cart asked for, when a partial fill held less. */
  readonly requested?: number | undefined;
  /** The client chose this location (a pickup store): the engine never moves the line elsewhere. */
  readonly pinned?: boolean | undefined;
  /** A till sale or count took units this line held; it needs re-sourcing before confirmation. */
  readonly atRisk?: boolean | undefined;
}

export type ReservationEvent =
  | {
      readonly type: 'ReservationPlaced';
      readonly lines: readonly ReservationLine[];
      readonly expiresAt: string;
      readonly channel?: string | undefined;
      readonly reference?: string | undefined;
      readonly at: string;
    }
  | { readonly type: 'ReservationPaymentPending'; readonly expiresAt: string; readonly at: string }
  | { readonly type: 'ReservationExtended'; readonly expiresAt: string; readonly at: string }
  | { readonly type: 'ReservationConfirmed'; readonly at: string }
  | { readonly type: 'ReservationCancelled'; readonly at: string }
  | { readonly type: 'ReservationExpired'; readonly at: string }
  | {
      /**
       * Recovery found holds of a cart that was never placed and gave up on it. Written at version 1,
       * it fences out a slow saga's ReservationPlaced, so a reservation never exists without its holds.
       */
      readonly type: 'ReservationAbandoned';
      readonly at: string;
    }
  | {
      /** A till sale or a count took units this reservation held at one of its locations. */
      readonly type: 'ReservationFlaggedAtRisk';
      readonly sku: string;
      readonly locationId: string;
      readonly at: string;
    }
  | {
      /** An at-risk line moved to another location that could hold it. */
      readonly type: 'ReservationLineResourced';
      readonly sku: string;
      readonly fromLocationId: string;
      readonly toLocationId: string;
      readonly at: string;
    };

export interface ReservationState {
  readonly id: string;
  readonly status: ReservationStatus | 'none' | 'abandoned';
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly lines: readonly ReservationLine[];
  readonly channel?: string | undefined;
  readonly reference?: string | undefined;
  readonly version: number;
  readonly updatedAt: string | null;
  /** The status to return to once no line is at risk any more. */
  readonly resumeStatus?: 'held' | 'payment_pending' | undefined;
}

export const initialReservationState = (id: string): ReservationState => ({
  id,
  status: 'none',
  createdAt: '',
  expiresAt: '',
  lines: [],
  version: 0,
  updatedAt: null,
});

/** The lifecycle. Final states accept nothing; `at_risk` needs re-sourcing before it can be confirmed. */
export const reservationLifecycle = setup({
  types: {
    events: {} as
      | { type: 'PAYMENT_PENDING' }
      | { type: 'EXTEND' }
      | { type: 'CONFIRM' }
      | { type: 'CANCEL' }
      | { type: 'EXPIRE' }
      | { type: 'AT_RISK' }
      | { type: 'RESOURCED' },
  },
}).createMachine({
  id: 'reservation',
  initial: 'held',
  states: {
    held: {
      on: {
        PAYMENT_PENDING: 'payment_pending',
        EXTEND: 'held',
        CONFIRM: 'confirmed',
        CANCEL: 'cancelled',
        EXPIRE: 'expired',
        AT_RISK: 'at_risk',
      },
    },
    payment_pending: {
      on: {
        EXTEND: 'payment_pending',
        CONFIRM: 'confirmed',
        CANCEL: 'cancelled',
        EXPIRE: 'expired',
        AT_RISK: 'at_risk',
      },
    },
    at_risk: {
      // RESOURCED leaves at_risk once no line is at risk; the fold returns to held or payment_pending.
      on: { RESOURCED: 'held', AT_RISK: 'at_risk', CANCEL: 'cancelled', EXPIRE: 'expired' },
    },
    confirmed: { type: 'final' },
    cancelled: { type: 'final' },
    expired: { type: 'final' },
  },
});

type LifecycleEvent = Parameters<typeof reservationLifecycle.transition>[1];

/** Asks the statechart itself (xstate's pure transition) where `event` takes `status`, or null. */
export function nextStatusByMachine(
  status: ReservationStatus,
  event: LifecycleEvent['type'],
): ReservationStatus | null {
  const snapshot = reservationLifecycle.resolveState({ value: status, context: {} });
  if (!snapshot.can({ type: event })) return null;
  const [next] = transition(reservationLifecycle, snapshot, { type: event });
  return next.value as ReservationStatus;
}

const lifecycleEvents = [
  'PAYMENT_PENDING',
  'EXTEND',
  'CONFIRM',
  'CANCEL',
  'EXPIRE',
  'AT_RISK',
  'RESOURCED',
] as const satisfies readonly LifecycleEvent['type'][];

/**
 * Every (status, event) answer of the statechart, computed once from the machine at load: the
 * machine stays the one definition of the lifecycle, and a command costs a lookup instead of
 * resolving an xstate snapshot and running its transition (about 10 µs and a dozen objects each).
 */
const transitionTable: ReadonlyMap<string, ReservationStatus | null> = new Map(
  reservationStatuses.flatMap((status) =>
    lifecycleEvents.map((event) => [`${status} ${event}`, nextStatusByMachine(status, event)] as const),
  ),
);

/** The status the lifecycle reaches from `status` on `event`, or null when the machine refuses it. */
export function nextStatus(
  status: ReservationStatus,
  event: LifecycleEvent['type'],
): ReservationStatus | null {
  const next = transitionTable.get(`${status} ${event}`);
  return next === undefined ? nextStatusByMachine(status, event) : next;
}

export const isActive = (status: ReservationState['status']): boolean =>
  status === 'held' || status === 'payment_pending' || status === 'at_risk';

export function evolveReservation(state: ReservationState, event: ReservationEvent): ReservationState {
  const version = state.version + 1;
  const updatedAt = event.at;
  switch (event.type) {
    case 'ReservationPlaced':
      return {
        ...state,
        status: 'held',
        createdAt: event.at,
        expiresAt: event.expiresAt,
        lines: event.lines,
        channel: event.channel,
        reference: event.reference,
        version,
        updatedAt,
      };
    case 'ReservationPaymentPending':
      return { ...state, status: 'payment_pending', expiresAt: event.expiresAt, version, updatedAt };
    case 'ReservationExtended':
      return { ...state, expiresAt: event.expiresAt, version, updatedAt };
    case 'ReservationConfirmed':
      return { ...state, status: 'confirmed', version, updatedAt };
    case 'ReservationCancelled':
      return { ...state, status: 'cancelled', version, updatedAt };
    case 'ReservationExpired':
      return { ...state, status: 'expired', version, updatedAt };
    case 'ReservationAbandoned':
      return { ...state, status: 'abandoned', version, updatedAt };
    case 'ReservationFlaggedAtRisk':
      return {
        ...state,
        status: 'at_risk',
        resumeStatus:
          state.status === 'held' || state.status === 'payment_pending' ? state.status : state.resumeStatus,
        lines: state.lines.map((line) =>
          line.sku === event.sku && line.locationId === event.locationId ? { ...line, atRisk: true } : line,
        ),
        version,
        updatedAt,
      };
    case 'ReservationLineResourced': {
      const lines = state.lines.map((line) => {
        if (line.sku !== event.sku || line.locationId !== event.fromLocationId) return line;
        const { atRisk: _cleared, ...rest } = line;
        return { ...rest, locationId: event.toLocationId };
      });
      const stillAtRisk = lines.some((line) => line.atRisk);
      return {
        ...state,
        status: stillAtRisk ? 'at_risk' : (state.resumeStatus ?? 'held'),
        resumeStatus: stillAtRisk ? state.resumeStatus : undefined,
        lines,
        version,
        updatedAt,
      };
    }
    default: {
      const _exhaustive: never = event;
      throw new Error(`unknown event type ${(_exhaustive as { type: string }).type}`);
    }
  }
}

export type ReservationCommand =
  | { readonly type: 'markPaymentPending'; readonly expiresAt: string; readonly at: string }
  | { readonly type: 'extend'; readonly expiresAt: string; readonly at: string }
  | { readonly type: 'confirm'; readonly at: string }
  | { readonly type: 'cancel'; readonly at: string }
  | { readonly type: 'expire'; readonly at: string }
  | { readonly type: 'flagAtRisk'; readonly sku: string; readonly locationId: string; readonly at: string }
  | {
      readonly type: 'resource';
      readonly sku: string;
      readonly fromLocationId: string;
      readonly toLocationId: string;
      readonly at: string;
    };

const lifecycleEventOf = {
  markPaymentPending: 'PAYMENT_PENDING',
  extend: 'EXTEND',
  confirm: 'CONFIRM',
  cancel: 'CANCEL',
  expire: 'EXPIRE',
  flagAtRisk: 'AT_RISK',
  resource: 'RESOURCED',
} as const satisfies Record<ReservationCommand['type'], LifecycleEvent['type']>;

const later = (a: string, b: string): string => (Date.parse(a) >= Date.parse(b) ? a : b);

const lineAt = (state: ReservationState, sku: string, locationId: string): ReservationLine | undefined =>
  state.lines.find((line) => line.sku === sku && line.locationId === locationId);

/** Commands that keep working after the deadline: giving up a hold, and bookkeeping of its lines. */
const allowedAfterDeadline = new Set<ReservationCommand['type']>(['cancel', 'flagAtRisk', 'resource']);

/**
 * Decides a lifecycle command. Time-sensitive rules compare ISO instants from the command (`at`),
 * never a clock: an expired hold cannot be confirmed or extended even if the expiry worker has not
 * run yet, and `expire` before the deadline is refused, so a clock jump cannot expire a hold early.
 * A reservation is confirmable only when none of its lines is at risk.
 */
export function decideReservation(command: ReservationCommand, state: ReservationState): ReservationEvent[] {
  if (state.status === 'none' || state.status === 'abandoned') {
    throw new InventoryError('RESERVATION_NOT_FOUND', `reservation ${state.id} does not exist`, {
      reservationId: state.id,
    });
  }
  const pastDeadline = Date.parse(command.at) >= Date.parse(state.expiresAt);
  if (command.type === 'expire') {
    if (!isActive(state.status) || !pastDeadline) return [];
  } else if (pastDeadline && isActive(state.status) && !allowedAfterDeadline.has(command.type)) {
    throw new InventoryError('RESERVATION_EXPIRED', `reservation ${state.id} expired at ${state.expiresAt}`, {
      reservationId: state.id,
      expiresAt: state.expiresAt,
    });
  }
  if (command.type === 'flagAtRisk') {
    // Only a line this reservation holds there, once per line, while the hold is alive.
    const line = lineAt(state, command.sku, command.locationId);
    if (!isActive(state.status) || !line || line.atRisk) return [];
  }
  if (command.type === 'resource') {
    const line = lineAt(state, command.sku, command.fromLocationId);
    if (state.status !== 'at_risk' || !line?.atRisk || line.pinned) {
      throw new InventoryError(
        'RESERVATION_STATE_CONFLICT',
        `reservation ${state.id} has no movable at-risk line there`,
        {
          reservationId: state.id,
          status: state.status,
        },
      );
    }
  }
  // Neither extending nor going to payment ever shortens a hold.
  if (
    command.type === 'extend' &&
    isActive(state.status) &&
    Date.parse(command.expiresAt) <= Date.parse(state.expiresAt)
  ) {
    if (state.status !== 'at_risk') return [];
  }
  const next = nextStatus(state.status, lifecycleEventOf[command.type]);
  if (next === null) {
    const code = state.status === 'expired' ? 'RESERVATION_EXPIRED' : 'RESERVATION_STATE_CONFLICT';
    throw new InventoryError(code, `reservation ${state.id} is ${state.status}: cannot ${command.type}`, {
      reservationId: state.id,
      status: state.status,
    });
  }
  switch (command.type) {
    case 'markPaymentPending':
      return [
        {
          type: 'ReservationPaymentPending',
          expiresAt: later(command.expiresAt, state.expiresAt),
          at: command.at,
        },
      ];
    case 'extend':
      return [
        { type: 'ReservationExtended', expiresAt: later(command.expiresAt, state.expiresAt), at: command.at },
      ];
    case 'confirm':
      return [{ type: 'ReservationConfirmed', at: command.at }];
    case 'cancel':
      return [{ type: 'ReservationCancelled', at: command.at }];
    case 'expire':
      return [{ type: 'ReservationExpired', at: command.at }];
    case 'flagAtRisk':
      return [
        {
          type: 'ReservationFlaggedAtRisk',
          sku: command.sku,
          locationId: command.locationId,
          at: command.at,
        },
      ];
    case 'resource':
      return [
        {
          type: 'ReservationLineResourced',
          sku: command.sku,
          fromLocationId: command.fromLocationId,
          toLocationId: command.toLocationId,
          at: command.at,
        },
      ];
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}
