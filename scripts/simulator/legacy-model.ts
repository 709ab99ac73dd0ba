// Today's chain: each store keeps its own stock database and syncs with the centre every N minutes.
// Between syncs the storefront sells from the last synced picture, decrementing its own copy as it
// takes orders; the store learns of those orders only at its next sync, when it picks them from a
// shelf that walk-in customers have been buying from all along. With N = 0 every change and every
// order crosses at once: perfect information, the model's own control case.
import { Agenda } from './agenda.js';
import { PhysicalChain, ViewLag } from './chain-state.js';
import type { ModelReport } from './report.js';
import { ModelRecorder } from './report.js';
import type { DemandEvent, Scenario } from './scenario.js';

interface PendingOrder {
  readonly id: string;
  readonly sku: number;
  readonly quantity: number;
  readonly requestedAt: number;
}

type Action =
  | { readonly kind: 'demand'; readonly event: DemandEvent }
  | { readonly kind: 'sync'; readonly store: number }
  | { readonly kind: 'trace' };

const TRACE_EVERY_MS = 5 * 60_000;

export function runLegacy(scenario: Scenario, syncMinutes: number): ModelReport {
  const { config, stores, skus, startMs, endMs } = scenario;
  const safety = config.safetyStock;
  const chain = new PhysicalChain(scenario, safety);
  const lag = new ViewLag(stores.length, skus.length);
  const recorder = new ModelRecorder(startMs, endMs);
  const iso = (at: number) => new Date(at).toISOString();
  // The store's own database: what it recorded (sales, deliveries, counts, picks), blind to unrecorded loss.
  const storeBook = scenario.initialStock.map((row) => [...row]);
  // The centre's picture of every store, which the storefront sells from.
  const picture = scenario.initialStock.map((row) => [...row]);
  const changedSinceSync = stores.map(() => new Set<number>());
  const pending: PendingOrder[][] = stores.map(() => []);
  const intervalMs = syncMinutes * 60_000;
  let ordersTaken = 0;

  const agenda = new Agenda<Action>();
  for (const event of scenario.events) agenda.push(event.at, { kind: 'demand', event });
  if (intervalMs > 0) {
    // Staggered, as real stores are: store i syncs at (i + 0.5)/n of each interval.
    stores.forEach((_, s) =>
      agenda.push(startMs + Math.round(((s + 0.5) / stores.length) * intervalMs), { kind: 'sync', store: s }),
    );
  }
  for (let at = startMs; at < endMs; at += TRACE_EVERY_MS) agenda.push(at, { kind: 'trace' });

  const bookAt = (s: number, k: number) => storeBook[s]?.[k] ?? 0;
  const setBook = (s: number, k: number, value: number) => {
    const row = storeBook[s];
    if (row) row[k] = value;
  };
  const pictureAt = (s: number, k: number) => picture[s]?.[k] ?? 0;
  const setPicture = (s: number, k: number, value: number) => {
    const row = picture[s];
    if (row) row[k] = value;
  };

  /** The store's upload: absolute quantities of the levels that changed, and the orders it could not fill. */
  const upload = (s: number, at: number, levels: readonly number[], cancelled: readonly string[]) => {
    recorder.message('sync upload', {
      storeId: stores[s]?.id,
      syncedAt: iso(at),
      levels: levels.map((k) => ({ sku: skus[k]?.id, onHand: bookAt(s, k) })),
      cancelledOrders: cancelled,
    });
    for (const k of levels) setPicture(s, k, bookAt(s, k));
  };

  /** The store records a change in its own database; the centre sees it at the next sync. */
  const recordChange = (s: number, k: number, at: number) => {
    lag.recorded(s, k, at);
    if (intervalMs > 0) {
      changedSinceSync[s]?.add(k);
      return;
    }
    upload(s, at, [k], []);
    lag.appliedOldest(s, k);
  };

  /** The store picks an order it has just downloaded. */
  const pick = (s: number, order: PendingOrder): boolean => {
    chain.owe(s, order.sku, -order.quantity);
    if (chain.pick(s, order.sku, order.quantity)) {
      setBook(s, order.sku, bookAt(s, order.sku) - order.quantity);
      recorder.fulfilled++;
      return true;
    }
    recorder.oversell(order.requestedAt, chain.shortfallCause(s, order.sku, order.quantity));
    // The picker found the shelf short and recounts the level, as the event-driven store does.
    setBook(s, order.sku, chain.count(s, order.sku));
    return false;
  };

  const sync = (s: number, at: number) => {
    const orders = pending[s] ?? [];
    pending[s] = [];
    recorder.message('sync download', {
      orders: orders.map((order) => ({ id: order.id, sku: skus[order.sku]?.id, quantity: order.quantity })),
    });
    const changed = changedSinceSync[s] ?? new Set<number>();
    const cancelled: string[] = [];
    for (const order of orders) {
      // The centre decremented its picture for this order; a failed pick leaves the store's book as it was,
      // so the level goes up in the upload to correct the picture.
      if (!pick(s, order)) {
        cancelled.push(order.id);
        changed.add(order.sku);
      }
    }
    upload(
      s,
      at,
      [...changed].sort((a, b) => a - b),
      cancelled,
    );
    changed.clear();
    lag.appliedAll(s);
  };

  const online = (event: Extract<DemandEvent, { kind: 'online' }>) => {
    const { at, sku: k, quantity } = event;
    recorder.request(at);
    let chosen = -1;
    stores.forEach((_, s) => {
      recorder.viewAge(lag.ageMs(s, k, at));
      const offered = pictureAt(s, k) - safety;
      if (offered >= quantity && (chosen < 0 || offered > pictureAt(chosen, k) - safety)) chosen = s;
    });
    if (chosen < 0) {
      const existed = stores.some((_, s) => chain.trulyAvailable(s, k) >= quantity);
      recorder.refuse(at, existed, quantity);
      return;
    }
    recorder.accept(at);
    setPicture(chosen, k, pictureAt(chosen, k) - quantity);
    chain.owe(chosen, k, quantity);
    const order: PendingOrder = { id: `o-${++ordersTaken}`, sku: k, quantity, requestedAt: at };
    if (intervalMs > 0) {
      pending[chosen]?.push(order);
      return;
    }
    recorder.message('order to store', { id: order.id, sku: skus[k]?.id, quantity });
    if (!pick(chosen, order)) {
      upload(chosen, at, [k], [order.id]);
    }
  };

  const demand = (event: DemandEvent) => {
    switch (event.kind) {
      case 'walkIn': {
        const sold = chain.walkIn(event.store, event.sku, event.quantity);
        if (sold > 0) {
          setBook(event.store, event.sku, bookAt(event.store, event.sku) - sold);
          recordChange(event.store, event.sku, event.at);
        }
        return;
      }
      case 'restock':
        chain.restock(event.store, event.sku, event.quantity);
        setBook(event.store, event.sku, bookAt(event.store, event.sku) + event.quantity);
        recordChange(event.store, event.sku, event.at);
        return;
      case 'return':
        chain.returned(event.store, event.sku);
        setBook(event.store, event.sku, bookAt(event.store, event.sku) + 1);
        recordChange(event.store, event.sku, event.at);
        return;
      case 'count':
        setBook(event.store, event.sku, chain.count(event.store, event.sku));
        recordChange(event.store, event.sku, event.at);
        return;
      case 'shrink':
        chain.shrink(event.store, event.sku);
        return;
      case 'online':
        online(event);
        return;
      default: {
        const _exhaustive: never = event;
        return _exhaustive;
      }
    }
  };

  for (let next = agenda.pop(); next; next = agenda.pop()) {
    const { at, item } = next;
    switch (item.kind) {
      case 'demand':
        demand(item.event);
        break;
      case 'sync':
        // The first sync after the run ends happens only to pick orders still waiting for it.
        if (at >= endMs && (pending[item.store]?.length ?? 0) === 0) break;
        sync(item.store, at);
        if (at < endMs) agenda.push(at + intervalMs, item);
        break;
      case 'trace': {
        const k = scenario.flashSku;
        let truth = 0;
        let view = 0;
        stores.forEach((_, s) => {
          truth += chain.trulyAvailable(s, k);
          view += Math.max(0, pictureAt(s, k) - safety);
        });
        recorder.trace.push({ minute: Math.round((at - startMs) / 60_000), truth, view });
        break;
      }
      default: {
        const _exhaustive: never = item;
        return _exhaustive;
      }
    }
  }

  return recorder.report(
    {
      model: 'legacy',
      label: syncMinutes === 0 ? 'legacy, instant sync' : `legacy, sync every ${syncMinutes} min`,
      syncMinutes,
      propagationMs: null,
    },
    chain.ledger(),
    {
      customers: chain.walkInCustomers,
      unitsSold: chain.ledger().soldInStore,
      unmetUnits: chain.unmetWalkInUnits,
    },
  );
}
