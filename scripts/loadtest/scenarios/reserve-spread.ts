// reserve-spread: online checkouts across a large catalogue. Each connection holds a one-line cart
// (POST /v1/reservations, Idempotency-Key, 1 or 2 units, the engine sources the location), then
// confirms it (60%) or cancels it (40%). 5% of the SKUs are nearly sold out, so some carts are
// refused with 409 STOCK_INSUFFICIENT, the one non-2xx answer expected. Every write is durable
// (group-committed and fsynced) before it is answered.
import { ApiClient, prng } from '../client.js';
import { checkLevels, readLevels, waitUntilIdle } from '../invariants.js';
import { ReservationLedger } from '../ledger.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { measure } from '../scenario.js';
import { catalogueLocations, seedStock, skuName } from '../seed.js';
import type { Check } from '../invariants.js';
import type { InvariantReport } from '../invariants.js';
import { reserveCycleSteps } from './steps.js';

export const CONFIRM_SHARE = 0.6;

/** Seeds `count` SKUs at the catalogue locations: 95% with 1,000 units per location, 5% nearly sold out (0 to 2). */
export async function seedReservable(context: ScenarioContext, prefix: string, count: number) {
  const skus = Array.from({ length: count }, (_, i) => skuName(prefix, i));
  const seeded = new Map<string, number>();
  const random = prng(context.options.seed + count);
  const scarce = new Set(skus.filter(() => random() < 0.05));
  for (const location of catalogueLocations) {
    await seedStock(
      context.admin,
      context.runId,
      location.id,
      skus.map((sku) => ({ sku, onHand: scarce.has(sku) ? Math.floor(random() * 3) : 1000 })),
      seeded,
    );
  }
  return { skus, seeded };
}

/** Resends lost requests, reads every reservation back, then every level of `skus`. */
export async function verifyReservations(
  context: ScenarioContext,
  ledger: ReservationLedger,
  skus: readonly string[],
  seeded: ReadonlyMap<string, number>,
  extra: { tillDeltas?: ReadonlyMap<string, number>; checks?: Check[] } = {},
): Promise<InvariantReport> {
  // Idempotency-Keys are scoped by API key: lost requests are resent with the storefront's key.
  const shop = new ApiClient(context.target.url, context.target.shopKey);
  await ledger.recoverPending(shop);
  await waitUntilIdle(context.target.url);
  context.progress(
    `  reading back ${ledger.size.toLocaleString('en-US')} reservations and ${skus.length.toLocaleString('en-US')} SKUs`,
  );
  const check = async () =>
    checkLevels(await readLevels(context.admin, skus), {
      seeded,
      ledger: await ledger.readBack(shop),
      created: ledger.created,
      resent: ledger.recovered,
      ...(extra.tillDeltas ? { tillDeltas: extra.tillDeltas } : {}),
      ...(extra.checks ? { checks: extra.checks } : {}),
    });
  const first = await check();
  if (first.ok) return first;
  // Saga steps cut off by the end of the phase may still be retried by the engine: read again, twice
  // at most, and say so. A difference that stays is a failure.
  for (let attempt = 1; attempt <= 2; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await waitUntilIdle(context.target.url);
    const again = await check();
    if (again.ok || attempt === 2) {
      return {
        ...again,
        examples: [
          `first read-back: ${first.reservedMismatches} levels and ${first.reservations.statusMismatches} reservations differed; ${again.ok ? 'consistent' : 'still inconsistent'} after ${attempt} more read${attempt > 1 ? 's' : ''} ${attempt * 2}+ s later`,
          ...first.examples.slice(0, 4),
          ...again.examples,
        ].slice(0, 10),
      };
    }
  }
  return first;
}

export const reserveSpread: Scenario = async (context) => {
  const { options, runId, progress } = context;
  const prefix = `rs${runId}`;
  progress(
    `reserve-spread: seeding ${options.catalogue.toLocaleString('en-US')} SKUs x ${catalogueLocations.length} locations`,
  );
  const { skus, seeded } = await seedReservable(context, prefix, options.catalogue);
  const ledger = new ReservationLedger();
  const phase = await measure(context, {
    label: 'reserve-spread',
    key: 'shop',
    connections: options.connections,
    seconds: options.duration,
    script: (connection) => {
      const random = prng(options.seed * 104_729 + connection);
      return reserveCycleSteps({
        ledger,
        keyPrefix: `${runId}-rs-${connection}`,
        pickSku: () => skus[Math.floor(random() * skus.length)] as string,
        quantity: () => (random() < 0.8 ? 1 : 2),
        random,
        confirmShare: CONFIRM_SHARE,
      });
    },
  });
  progress('reserve-spread: checking invariants');
  const invariants = await verifyReservations(context, ledger, skus, seeded);
  const reserve = phase.byKind['reserve'];
  return {
    name: 'reserve-spread',
    description: `POST /v1/reservations (1 line, ${skus.length} SKUs x ${catalogueLocations.length} locations) then confirm ${CONFIRM_SHARE * 100}% / cancel ${100 - CONFIRM_SHARE * 100}%, each with an Idempotency-Key`,
    phases: [phase],
    figures: {
      requestsPerSecond: phase.requestsPerSecond,
      reservationsPerSecond: reserve ? Math.round((reserve.statuses['201'] ?? 0) / phase.seconds) : 0,
      p99Ms: phase.latency.p99Ms,
      reserveP99Ms: reserve?.latency.p99Ms ?? null,
      refused409: phase.statuses['409'] ?? 0,
    },
    invariants,
    notes: [],
  };
};
