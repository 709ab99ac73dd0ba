// The event-driven chain: the real engine, in-process, on virtual time. Each store's agent forwards every
// till event (sale, delivery, count) with its own gap-free sequence number; the engine applies it
// `propagationMs` later. The storefront reserves online orders (the engine refuses what it does not
// have), confirms them when the customer pays, and the store picks each confirmed order as soon as the
// engine's notice reaches it. In-store customers still buy whatever is on the shelf, held or not: the
// till never waits, and the engine re-sources a hold a till sale took.
import { ManualClock } from '../../engine/clock.js';
import { Engine } from '../../engine/engine.js';
import { isInventoryError } from '../../engine/errors.js';
import type { StoreEventInput, StoreEventType } from '../../engine/types.js';
import { Agenda } from './agenda.js';
import { PhysicalChain, ViewLag } from './chain-state.js';
import type { JournalKind } from './config.js';
import { openSimulationJournal } from './journals.js';
import type { ModelReport } from './report.js';
import { ModelRecorder } from './report.js';
import type { DemandEvent, Scenario } from './scenario.js';

export interface EventDrivenOptions {
  readonly propagationMs: number;
  readonly journal: JournalKind;
}

interface OnlineOrder {
  readonly id: string;
  readonly sku: number;
  readonly quantity: number;
  readonly requestedAt: number;
  /** Where the engine first held it (a till sale can move the hold to another store). */
  readonly heldAt: string;
}

type Action =
  | { readonly kind: 'demand'; readonly event: DemandEvent }
  | {
      readonly kind: 'deliver';
      readonly store: number;
      readonly sku: number;
      readonly event: StoreEventInput;
    }
  | { readonly kind: 'heartbeatDue'; readonly store: number }
  | { readonly kind: 'heartbeatArrives'; readonly store: number }
  | { readonly kind: 'payment'; readonly order: OnlineOrder }
  | { readonly kind: 'pick'; readonly order: OnlineOrder; readonly store: number; readonly quantity: number }
  | { readonly kind: 'housekeeping' }
  | { readonly kind: 'trace' };

const TRACE_EVERY_MS = 5 * 60_000;
/** The engine's expiry and maintenance timers, driven on virtual time (the engine runs them every 0.25-1 s live). */
const HOUSEKEEPING_EVERY_MS = 60_000;

export async function runEventDriven(scenario: Scenario, options: EventDrivenOptions): Promise<ModelReport> {
  const { config, stores, skus, startMs, endMs } = scenario;
  const delay = options.propagationMs;
  const heartbeatMs = config.heartbeatSeconds * 1000;
  const clock = new ManualClock(startMs);
  const storage = await openSimulationJournal(options.journal, clock);
  let reservations = 0;
  let engine: Engine;
  try {
    engine = await Engine.start({
      journal: storage.journal,
      clock,
      timers: false,
      newId: () => `r-${++reservations}`,
    });
  } catch (error) {
    await storage.cleanup();
    throw error;
  }
  const chain = new PhysicalChain(scenario, config.safetyStock);
  const lag = new ViewLag(stores.length, skus.length);
  const recorder = new ModelRecorder(startMs, endMs);
  const storeIndex = new Map(stores.map((store, s) => [store.id, s]));
  const storeId = (s: number) => stores[s]?.id ?? '';
  const skuId = (k: number) => skus[k]?.id ?? '';
  const iso = (at: number) => new Date(at).toISOString();
  const seq = stores.map(() => 0);
  let heartbeats = 0;
  let expiredHolds = 0;

  try {
    // The chain as it opens: stores registered, every level counted (and its safety stock set).
    for (const [s, store] of stores.entries()) {
      await engine.putLocation(store.id, { name: `Store ${s + 1}`, type: 'store' });
      await Promise.all(
        skus.map((sku, k) =>
          engine.execute(sku.id, store.id, {
            type: 'count',
            onHand: scenario.initialStock[s]?.[k] ?? 0,
            safetyStock: config.safetyStock,
          }),
        ),
      );
    }
    await storage.settle();

    const agenda = new Agenda<Action>();
    for (const event of scenario.events) agenda.push(event.at, { kind: 'demand', event });
    stores.forEach((_, s) => agenda.push(startMs + heartbeatMs, { kind: 'heartbeatDue', store: s }));
    for (let at = startMs; at < endMs; at += HOUSEKEEPING_EVERY_MS) agenda.push(at, { kind: 'housekeeping' });
    for (let at = startMs; at < endMs; at += TRACE_EVERY_MS) agenda.push(at, { kind: 'trace' });

    /** Runs an action `after` ms from now: at once when there is no delay, so "instant" really is. */
    const later = async (now: number, after: number, action: Action) => {
      if (after <= 0) await handle(now, action);
      else agenda.push(now + after, action);
    };

    const reservedAt = (s: number, k: number) => engine.level(skuId(k), storeId(s))?.reserved ?? 0;

    /** The store agent records a till event and forwards it at once; it reaches the engine `delay` later. */
    const sendTill = async (now: number, s: number, k: number, type: StoreEventType, quantity: number) => {
      const next = (seq[s] ?? 0) + 1;
      seq[s] = next;
      const event: StoreEventInput = { seq: next, type, sku: skuId(k), quantity, occurredAt: iso(now) };
      recorder.message('till event', { events: [event] });
      lag.recorded(s, k, now);
      await later(now, delay, { kind: 'deliver', store: s, sku: k, event });
    };

    const online = async (event: Extract<DemandEvent, { kind: 'online' }>) => {
      const { at, sku: k, quantity } = event;
      recorder.request(at);
      stores.forEach((_, s) => recorder.viewAge(lag.ageMs(s, k, at)));
      let reservation;
      try {
        ({ reservation } = await engine.reserve({
          lines: [{ sku: skuId(k), quantity }],
          ttlSeconds: config.holdSeconds,
          channel: 'online',
        }));
      } catch (error) {
        if (!isInventoryError(error) || error.code !== 'STOCK_INSUFFICIENT') throw error;
        await storage.settle();
        const existed = stores.some((_, s) => chain.trulyAvailable(s, k, reservedAt(s, k)) >= quantity);
        recorder.refuse(at, existed, quantity);
        return;
      }
      await storage.settle();
      recorder.accept(at);
      const heldAt = reservation.lines[0]?.locationId ?? '';
      const order: OnlineOrder = { id: reservation.id, sku: k, quantity, requestedAt: at, heldAt };
      await later(at, event.checkoutMs, { kind: 'payment', order });
    };

    const payment = async (now: number, order: OnlineOrder) => {
      let reservation;
      try {
        ({ reservation } = await engine.confirm(order.id));
      } catch (error) {
        // A till sale took the held units and no other store could take the hold over: the customer is
        // told at payment, before paying; nothing is oversold.
        if (!isInventoryError(error)) throw error;
        if (error.code !== 'RESERVATION_STATE_CONFLICT' && error.code !== 'RESERVATION_EXPIRED') throw error;
        const status = engine.reservation(order.id)?.status;
        if (status === 'held' || status === 'payment_pending' || status === 'at_risk')
          await engine.cancel(order.id);
        await storage.settle();
        recorder.cancelledBeforePayment++;
        recorder.cancelledOrders++;
        return;
      }
      await storage.settle();
      for (const line of reservation.lines) {
        const s = storeIndex.get(line.locationId);
        if (s === undefined)
          throw new Error(`reservation ${order.id} holds stock at unknown ${line.locationId}`);
        if (line.locationId !== order.heldAt) recorder.resourced++;
        chain.owe(s, order.sku, line.quantity);
        recorder.message('order to store', { reservationId: reservation.id, lines: reservation.lines });
        await later(now, delay, { kind: 'pick', order, store: s, quantity: line.quantity });
      }
    };

    const pick = async (now: number, order: OnlineOrder, s: number, quantity: number) => {
      chain.owe(s, order.sku, -quantity);
      if (chain.pick(s, order.sku, quantity)) {
        recorder.fulfilled++;
        return;
      }
      recorder.oversell(order.requestedAt, chain.shortfallCause(s, order.sku, quantity));
      // The picker found the shelf short: the store counts the level, which corrects the engine's books.
      await sendTill(now, s, order.sku, 'count', chain.count(s, order.sku));
    };

    const demand = async (event: DemandEvent) => {
      switch (event.kind) {
        case 'walkIn': {
          const sold = chain.walkIn(event.store, event.sku, event.quantity);
          if (sold > 0) await sendTill(event.at, event.store, event.sku, 'sale', sold);
          return;
        }
        case 'restock':
          chain.restock(event.store, event.sku, event.quantity);
          await sendTill(event.at, event.store, event.sku, 'receipt', event.quantity);
          return;
        case 'return':
          chain.returned(event.store, event.sku);
          await sendTill(event.at, event.store, event.sku, 'return', 1);
          return;
        case 'count':
          await sendTill(event.at, event.store, event.sku, 'count', chain.count(event.store, event.sku));
          return;
        case 'shrink':
          chain.shrink(event.store, event.sku);
          return;
        case 'online':
          await online(event);
          return;
        default: {
          const _exhaustive: never = event;
          return _exhaustive;
        }
      }
    };

    async function handle(now: number, action: Action): Promise<void> {
      clock.set(now);
      switch (action.kind) {
        case 'demand':
          await demand(action.event);
          return;
        case 'deliver': {
          const result = await engine.applyStoreEvents(storeId(action.store), [action.event]);
          await storage.settle();
          recorder.message('till ack', {
            applied: result.applied,
            duplicates: result.duplicates,
            lastSeq: result.lastSeq,
          });
          lag.appliedOldest(action.store, action.sku);
          return;
        }
        case 'heartbeatDue':
          // As the store agent does (store-agent/agent.ts): a heartbeat every interval, busy or not.
          heartbeats++;
          recorder.message('heartbeat', {});
          await later(now, delay, { kind: 'heartbeatArrives', store: action.store });
          if (now + heartbeatMs < endMs) agenda.push(now + heartbeatMs, action);
          return;
        case 'heartbeatArrives':
          recorder.message('heartbeat ack', engine.heartbeat(storeId(action.store)));
          return;
        case 'payment':
          await payment(now, action.order);
          return;
        case 'pick':
          await pick(now, action.order, action.store, action.quantity);
          return;
        case 'housekeeping':
          expiredHolds += await engine.expireDue();
          await engine.maintain();
          await storage.settle();
          return;
        case 'trace': {
          const k = scenario.flashSku;
          let truth = 0;
          let view = 0;
          stores.forEach((_, s) => {
            truth += chain.trulyAvailable(s, k, reservedAt(s, k));
            view += engine.level(skuId(k), storeId(s))?.available ?? 0;
          });
          recorder.trace.push({ minute: Math.round((now - startMs) / 60_000), truth, view });
          return;
        }
        default: {
          const _exhaustive: never = action;
          return _exhaustive;
        }
      }
    }

    const appendsNothing = new Set<Action['kind']>(['heartbeatDue', 'heartbeatArrives', 'trace']);
    for (let next = agenda.pop(); next; next = agenda.pop()) {
      await handle(next.at, next.item);
      if (!appendsNothing.has(next.item.kind)) await storage.settle();
    }

    const units = chain.ledger();
    return recorder.report(
      {
        model: 'event-driven',
        label: `event-driven, ${delay} ms propagation`,
        syncMinutes: null,
        propagationMs: delay,
        engine: { journal: options.journal, journalRecords: engine.lastSeq, heartbeats, expiredHolds },
      },
      units,
      { customers: chain.walkInCustomers, unitsSold: units.soldInStore, unmetUnits: chain.unmetWalkInUnits },
    );
  } finally {
    await engine.stop();
    await storage.cleanup();
  }
}
