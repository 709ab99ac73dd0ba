// Request steps shared by the scenarios: the storefront's reads, the reservation cycle (hold a cart,
// then confirm or cancel it), and a store's ordered till batches.
import type { Step } from '../cannon.js';
import type { ReservationLedger, TillStore } from '../ledger.js';

export const RESERVATION_TTL_SECONDS = 3600;

let scripts = 0;

export function singleReadStep(pickSku: () => string): Step {
  return {
    build: () => ({ kind: 'single', method: 'GET', path: `/v1/stock/${encodeURIComponent(pickSku())}` }),
  };
}

export function batchReadStep(pickSku: () => string, size: number, kind = 'batch'): Step {
  return {
    build: () => {
      const skus = new Set<string>();
      for (let i = 0; skus.size < size && i < size * 4; i++) skus.add(pickSku());
      return { kind, method: 'GET', path: `/v1/stock?skus=${[...skus].join(',')}` };
    },
  };
}

export interface ReserveCycle {
  readonly ledger: ReservationLedger;
  /** Prefix of the Idempotency-Keys: unique per run, scenario and connection. */
  readonly keyPrefix: string;
  readonly pickSku: () => string;
  readonly quantity: () => number;
  readonly random: () => number;
  /** Share of held carts that are confirmed; the rest are cancelled. */
  readonly confirmShare: number;
  readonly kind?: string;
}

/** POST /v1/reservations, then confirm or cancel the reservation it created (nothing after a 409). */
export function reserveCycleSteps(cycle: ReserveCycle): Step[] {
  // Each call (one connection of one phase) gets its own key space: warm-up and measured phases
  // build new scripts, and a key must never be reused for a different request.
  const prefix = `${cycle.keyPrefix}-${++scripts}`;
  let counter = 0;
  let createKey = '';
  let transitionKey = '';
  let held: string | undefined;
  const kind = cycle.kind ?? 'reserve';
  return [
    {
      build: () => {
        createKey = `${prefix}-${++counter}`;
        const body = JSON.stringify({
          lines: [{ sku: cycle.pickSku(), quantity: cycle.quantity() }],
          ttlSeconds: RESERVATION_TTL_SECONDS,
          channel: 'web',
        });
        cycle.ledger.createSent(createKey, body);
        return {
          kind,
          method: 'POST',
          path: '/v1/reservations',
          body,
          headers: { 'idempotency-key': createKey },
        };
      },
      onResponse: (status, body) => {
        held = cycle.ledger.createAnswered(createKey, status, body);
      },
    },
    {
      build: () => {
        const id = held;
        held = undefined;
        if (id === undefined) return null;
        const action = cycle.random() < cycle.confirmShare ? 'confirm' : 'cancel';
        transitionKey = `${prefix}-${++counter}`;
        cycle.ledger.transitionSent(transitionKey, id, action);
        return {
          kind: action,
          method: 'POST',
          path: `/v1/reservations/${encodeURIComponent(id)}/${action}`,
          headers: { 'idempotency-key': transitionKey },
        };
      },
      onResponse: (status, body) => cycle.ledger.transitionAnswered(transitionKey, status, body),
    },
  ];
}

/** One store's batches, in order, one in flight: the connection running it is the store's only sender. */
export function tillSteps(
  store: TillStore,
  headers: Readonly<Record<string, string>> = {},
  kind = 'till-batch',
): Step[] {
  return [
    {
      build: () => {
        const batch = store.nextBatch();
        return {
          kind,
          method: 'POST',
          path: `/v1/stores/${encodeURIComponent(store.storeId)}/events`,
          body: batch.body,
          headers: { ...headers, 'idempotency-key': batch.key },
        };
      },
      onResponse: (status, body) => store.answered(status, body),
    },
  ];
}
