// The chain and its day: stores, SKUs, opening stock, and the demand stream both models consume.
// Everything here is drawn from the seed before either model runs, so both see exactly the same
// customers, deliveries, counts and losses; only what each model knows, and so decides, differs.
import type { SimulationConfig } from './config.js';
import { Random, cumulativeOf, deriveSeed } from './prng.js';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

export interface StoreSpec {
  readonly id: string;
  /** Relative size: walk-in traffic scales with it (mean 1 across the chain). */
  readonly size: number;
}

export interface SkuSpec {
  readonly id: string;
  /** Popularity rank from 1 (the best seller). */
  readonly rank: number;
  /** Share of chain demand (Zipf), summing to 1. */
  readonly share: number;
}

export type DemandEvent =
  /** A customer at a store's shelf wanting `quantity` units. */
  | {
      readonly kind: 'walkIn';
      readonly at: number;
      readonly store: number;
      readonly sku: number;
      readonly quantity: number;
    }
  /** An online customer wanting `quantity` units, paying `checkoutMs` after the order is taken. */
  | {
      readonly kind: 'online';
      readonly at: number;
      readonly sku: number;
      readonly quantity: number;
      readonly checkoutMs: number;
      readonly flash: boolean;
    }
  /** A delivery arriving on the store's shelf. */
  | {
      readonly kind: 'restock';
      readonly at: number;
      readonly store: number;
      readonly sku: number;
      readonly quantity: number;
    }
  /** A cycle count of one stock level: the store records what is really on the shelf. */
  | { readonly kind: 'count'; readonly at: number; readonly store: number; readonly sku: number }
  /** A customer bringing one unit back to a store: it goes back on the shelf. */
  | { readonly kind: 'return'; readonly at: number; readonly store: number; readonly sku: number }
  /** One unit vanishing unrecorded (theft, damage): nobody knows until a count or a failed pick. */
  | { readonly kind: 'shrink'; readonly at: number; readonly store: number; readonly sku: number };

export type DemandKind = DemandEvent['kind'];

export interface Scenario {
  readonly config: SimulationConfig;
  readonly startMs: number;
  readonly endMs: number;
  readonly stores: readonly StoreSpec[];
  readonly skus: readonly SkuSpec[];
  /** Opening units on the shelf, [store][sku]. */
  readonly initialStock: readonly (readonly number[])[];
  /** Sorted by time; ties keep generation order. */
  readonly events: readonly DemandEvent[];
  readonly flashSku: number;
  readonly flashWindow: { readonly startMs: number; readonly endMs: number };
}

// ---------------------------------------------------------------- daily rate profiles

const bump = (hour: number, centre: number, width: number) => Math.exp(-(((hour - centre) / width) ** 2));

/** Walk-in traffic by hour of day: shut outside 08:00-21:00, peaks at lunch and after work. */
export function storeProfile(hour: number): number {
  if (hour < 8 || hour >= 21) return 0;
  return 1 + 0.8 * bump(hour, 12.5, 1.2) + 1.1 * bump(hour, 17.5, 1.5);
}

/** Online traffic by hour of day: never shut, quiet at night, a lunch bump and an evening peak. */
export function onlineProfile(hour: number): number {
  const awake = hour >= 7 && hour < 23.5 ? 0.5 : 0.08;
  return awake + 0.5 * bump(hour, 12.5, 1.5) + 1.3 * bump(hour, 20.5, 1.6);
}

/** The integral of a profile over one day, in hours, so a daily volume becomes a rate. */
function dailyIntegral(profile: (hour: number) => number): number {
  const steps = 24 * 60;
  let sum = 0;
  for (let i = 0; i < steps; i++) sum += profile((i + 0.5) / 60) / 60;
  return sum;
}

const STORE_INTEGRAL = dailyIntegral(storeProfile);
const ONLINE_INTEGRAL = dailyIntegral(onlineProfile);
const PROFILE_MAX = 4; // above both profiles' peaks: the thinning envelope

/**
 * Arrival times of a Poisson process whose rate follows `profile`, scaled to `perDay` arrivals per
 * day, within [from, to) (thinning: draw at the envelope rate, keep each with rate/envelope).
 */
function arrivals(
  random: Random,
  perDay: number,
  profile: (hour: number) => number,
  integral: number,
  startMs: number,
  from: number,
  to: number,
): number[] {
  if (perDay <= 0 || to <= from) return [];
  const perHourAtOne = perDay / integral;
  const envelopePerMs = (perHourAtOne * PROFILE_MAX) / HOUR_MS;
  const times: number[] = [];
  for (
    let t = from + random.exponential(1 / envelopePerMs);
    t < to;
    t += random.exponential(1 / envelopePerMs)
  ) {
    const hour = ((t - startMs) % DAY_MS) / HOUR_MS;
    if (random.float() * PROFILE_MAX < profile(hour)) times.push(Math.floor(t));
  }
  return times;
}

/** Every time in [startMs, endMs) at `hour`:`minute` of some day. */
function dailyAt(startMs: number, endMs: number, hour: number, minute = 0): number[] {
  const times: number[] = [];
  for (let day = startMs; day < endMs; day += DAY_MS) {
    const t = day + hour * HOUR_MS + minute * 60_000;
    if (t >= startMs && t < endMs) times.push(t);
  }
  return times;
}

const pad = (value: number, width: number) => String(value).padStart(width, '0');
const WALK_IN_QUANTITY = [
  [1, 75],
  [2, 20],
  [3, 5],
] as const;
const ONLINE_QUANTITY = [
  [1, 85],
  [2, 15],
] as const;
const meanOf = (table: readonly (readonly [number, number])[]) =>
  table.reduce((sum, [value, weight]) => sum + value * weight, 0) /
  table.reduce((sum, [, weight]) => sum + weight, 0);

/** Builds the chain and draws its demand from the seed. */
export function buildScenario(config: SimulationConfig): Scenario {
  const { seed } = config;
  const startMs = Date.parse(`${config.startDate}T00:00:00.000Z`);
  const endMs = startMs + Math.round(config.hours * HOUR_MS);
  const chain = new Random(deriveSeed(seed, 'chain'));

  const rawSizes = Array.from({ length: config.stores }, () => chain.between(0.5, 1.5));
  const meanSize = rawSizes.reduce((sum, size) => sum + size, 0) / rawSizes.length;
  const stores: StoreSpec[] = rawSizes.map((size, index) => ({
    id: `S${pad(index + 1, 3)}`,
    size: size / meanSize,
  }));
  const zipf = Array.from({ length: config.skus }, (_, index) => 1 / (index + 1) ** config.zipfExponent);
  const zipfTotal = zipf.reduce((sum, weight) => sum + weight, 0);
  const skus: SkuSpec[] = zipf.map((weight, index) => ({
    id: `SKU-${pad(index + 1, 4)}`,
    rank: index + 1,
    share: weight / zipfTotal,
  }));
  // Local taste: each store's demand for a SKU differs from the chain's by up to ±40%.
  const localShare = stores.map(() => skus.map((sku) => sku.share * chain.between(0.6, 1.4)));
  const localCumulative = localShare.map((shares) => cumulativeOf(shares));
  const localTotal = localShare.map((shares) => shares.reduce((sum, share) => sum + share, 0));
  const chainCumulative = cumulativeOf(skus.map((sku) => sku.share));

  // Expected units per day at each level, which sizes opening stock and deliveries.
  const walkInUnits = meanOf(WALK_IN_QUANTITY);
  const onlineUnits = meanOf(ONLINE_QUANTITY);
  const dailyUnits = stores.map((store, s) =>
    skus.map(
      (sku, k) =>
        config.storeCustomersPerDay *
          store.size *
          walkInUnits *
          ((localShare[s]?.[k] ?? 0) / (localTotal[s] ?? 1)) +
        (config.onlineOrdersPerDay * onlineUnits * sku.share) / config.stores,
    ),
  );
  const initialStock = dailyUnits.map((row) =>
    row.map((units) => Math.round(units * chain.between(0.25, 0.8))),
  );

  // The flash sale: one SKU promoted for a window (placed inside short runs), online and in store.
  const flashSku = Math.min(config.skus - 1, 4);
  const flashOffset =
    config.flashStartHour * HOUR_MS < endMs - startMs
      ? config.flashStartHour * HOUR_MS
      : (endMs - startMs) * 0.4;
  const flashWindow = {
    startMs: startMs + flashOffset,
    endMs: Math.min(endMs, startMs + flashOffset + config.flashMinutes * 60_000),
  };

  const events: DemandEvent[] = [];
  stores.forEach((store, s) => {
    const random = new Random(deriveSeed(seed, `walk-ins/${store.id}`));
    const cumulative = localCumulative[s] ?? [];
    for (const at of arrivals(
      random,
      config.storeCustomersPerDay * store.size,
      storeProfile,
      STORE_INTEGRAL,
      startMs,
      startMs,
      endMs,
    )) {
      events.push({
        kind: 'walkIn',
        at,
        store: s,
        sku: random.weighted(cumulative),
        quantity: random.choose(WALK_IN_QUANTITY),
      });
    }
  });

  stores.forEach((store, s) => {
    const random = new Random(deriveSeed(seed, `flash-walk-ins/${store.id}`));
    const share = (localShare[s]?.[flashSku] ?? 0) / (localTotal[s] ?? 1);
    const extraPerDay = config.storeCustomersPerDay * store.size * share * (config.flashStoreMultiplier - 1);
    for (const at of arrivals(
      random,
      extraPerDay,
      storeProfile,
      STORE_INTEGRAL,
      startMs,
      flashWindow.startMs,
      flashWindow.endMs,
    )) {
      events.push({ kind: 'walkIn', at, store: s, sku: flashSku, quantity: random.choose(WALK_IN_QUANTITY) });
    }
  });

  const checkout = (random: Random) =>
    Math.round(Math.min(random.exponential(config.checkoutSeconds), 4 * config.checkoutSeconds) * 1000);
  const online = new Random(deriveSeed(seed, 'online'));
  for (const at of arrivals(
    online,
    config.onlineOrdersPerDay,
    onlineProfile,
    ONLINE_INTEGRAL,
    startMs,
    startMs,
    endMs,
  )) {
    events.push({
      kind: 'online',
      at,
      sku: online.weighted(chainCumulative),
      quantity: online.choose(ONLINE_QUANTITY),
      checkoutMs: checkout(online),
      flash: false,
    });
  }

  const flash = new Random(deriveSeed(seed, 'flash'));
  const flashPerDay = config.onlineOrdersPerDay * (skus[flashSku]?.share ?? 0) * (config.flashMultiplier - 1);
  for (const at of arrivals(
    flash,
    flashPerDay,
    onlineProfile,
    ONLINE_INTEGRAL,
    startMs,
    flashWindow.startMs,
    flashWindow.endMs,
  )) {
    events.push({
      kind: 'online',
      at,
      sku: flashSku,
      quantity: flash.choose(ONLINE_QUANTITY),
      checkoutMs: checkout(flash),
      flash: true,
    });
  }

  // A delivery before opening and one during the day at a time of each store's own; cycle counts before
  // opening and mid-afternoon.
  const supply = new Random(deriveSeed(seed, 'supply'));
  const deliver = (s: number, at: number) =>
    skus.forEach((_, k) => {
      const quantity = Math.round((dailyUnits[s]?.[k] ?? 0) * supply.between(0.15, 0.45));
      if (quantity > 0) events.push({ kind: 'restock', at, store: s, sku: k, quantity });
    });
  for (const day of dailyAt(startMs, endMs, 0)) {
    stores.forEach((_, s) => {
      const morning = day + 6 * HOUR_MS;
      const daytime = day + Math.round(supply.between(10, 17) * HOUR_MS);
      if (morning < endMs) deliver(s, morning);
      if (daytime < endMs) deliver(s, daytime);
    });
  }
  for (const at of [...dailyAt(startMs, endMs, 7, 30), ...dailyAt(startMs, endMs, 15, 30)]) {
    stores.forEach((_, s) =>
      skus.forEach((_, k) => {
        if (supply.chance(config.countShare)) events.push({ kind: 'count', at, store: s, sku: k });
      }),
    );
  }
  stores.forEach((store, s) => {
    const random = new Random(deriveSeed(seed, `returns/${store.id}`));
    const cumulative = localCumulative[s] ?? [];
    for (const at of arrivals(
      random,
      config.storeCustomersPerDay * store.size * config.returnRate,
      storeProfile,
      STORE_INTEGRAL,
      startMs,
      startMs,
      endMs,
    )) {
      events.push({ kind: 'return', at, store: s, sku: random.weighted(cumulative) });
    }
  });
  stores.forEach((store, s) => {
    const random = new Random(deriveSeed(seed, `shrink/${store.id}`));
    const cumulative = localCumulative[s] ?? [];
    for (const at of arrivals(
      random,
      config.shrinkPerStorePerDay,
      storeProfile,
      STORE_INTEGRAL,
      startMs,
      startMs,
      endMs,
    )) {
      events.push({ kind: 'shrink', at, store: s, sku: random.weighted(cumulative) });
    }
  });

  events.sort((a, b) => a.at - b.at); // Array.prototype.sort is stable: ties keep generation order
  return { config, startMs, endMs, stores, skus, initialStock, events, flashSku, flashWindow };
}
