// till-stream: a chain's tills streaming sales. `--stores` stores, one connection each (a store's
// batches must arrive in order, so each store has exactly one sender with one batch in flight), each
// POSTing batches of `--batch-size` events (85% sales, 10% returns, 5% receipts) with gap-free seqs.
// Afterwards each store's lastSeq must equal the last seq it sent, and each level's onHand must equal
// its seeded stock plus the effect of exactly the events acknowledged: nothing lost, nothing twice.
import { mapLimit, prng } from '../client.js';
import type { Check } from '../invariants.js';
import { checkLevels, readLevels } from '../invariants.js';
import { TillStore, levelKey } from '../ledger.js';
import type { Scenario, ScenarioContext } from '../scenario.js';
import { measure } from '../scenario.js';
import type { LocationSpec } from '../seed.js';
import { putLocations, seedStock, skuName } from '../seed.js';
import { tillSteps } from './steps.js';

export const STORE_STOCK = 100_000;

export interface Chain {
  readonly stores: TillStore[];
  readonly skus: string[];
  readonly seeded: Map<string, number>;
}

/** Registers `count` stores, each stocking `perStore` SKUs of `skus` with STORE_STOCK units. */
export async function seedChain(
  context: ScenarioContext,
  prefix: string,
  count: number,
  skus: readonly string[],
  perStore: number,
  batchSize: number,
  seeded = new Map<string, number>(),
): Promise<Chain> {
  const { admin, runId, options } = context;
  const locations: LocationSpec[] = Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-S${String(i).padStart(3, '0')}`,
    name: `Load test store ${i}`,
    type: 'store',
  }));
  await putLocations(admin, locations);
  const stores = await mapLimit(locations, 4, async (location, i) => {
    const random = prng(options.seed * 31 + i);
    const own = new Set<string>();
    const wanted = Math.min(perStore, skus.length);
    for (let draw = 0; own.size < wanted && draw < wanted * 100; draw++) {
      own.add(skus[Math.floor(random() * skus.length)] as string);
    }
    const stocked = [...own];
    await seedStock(
      admin,
      runId,
      location.id,
      stocked.map((sku) => ({ sku, onHand: STORE_STOCK })),
      seeded,
    );
    return new TillStore(location.id, stocked, random, batchSize, runId);
  });
  return { stores, skus: [...skus], seeded };
}

/** Sends every store's unanswered batch until it is answered. */
export async function drainChain(context: ScenarioContext, chain: Chain): Promise<void> {
  await mapLimit(chain.stores, 8, (store) => store.drain(context.admin));
}

/** Sends every unanswered batch again, then compares each store's lastSeq with what it sent. */
export async function verifyChain(
  context: ScenarioContext,
  chain: Chain,
): Promise<{ checks: Check[]; tillDeltas: Map<string, number> }> {
  const tillDeltas = new Map<string, number>();
  let behind = 0;
  let ahead = 0;
  let gaps = 0;
  let events = 0;
  const examples: string[] = [];
  await mapLimit(chain.stores, 8, async (store) => {
    await store.drain(context.admin);
    const body = (await context.admin.expect(
      'GET',
      `/v1/stores/${encodeURIComponent(store.storeId)}`,
      [200],
    )) as {
      lastSeq: number;
    };
    gaps += store.gaps;
    events += body.lastSeq;
    if (body.lastSeq < store.lastSent) behind++;
    if (body.lastSeq > store.lastSent) ahead++;
    if (body.lastSeq !== store.lastSent && examples.length < 3) {
      examples.push(`${store.storeId}: lastSeq ${body.lastSeq}, sent ${store.lastSent}`);
    }
    for (const [sku, delta] of store.deltas(body.lastSeq)) {
      const key = levelKey(sku, store.storeId);
      tillDeltas.set(key, (tillDeltas.get(key) ?? 0) + delta);
    }
  });
  return {
    tillDeltas,
    checks: [
      {
        name: 'every till event applied once, in order',
        ok: behind === 0 && ahead === 0,
        detail: `${chain.stores.length} stores, ${events.toLocaleString('en-US')} events: ${behind} stores behind, ${ahead} ahead of what they sent, ${gaps} gap answers${examples.length ? ` (${examples.join('; ')})` : ''}`,
      },
    ],
  };
}

export const tillStream: Scenario = async (context) => {
  const { options, runId, progress, admin } = context;
  const prefix = `ts${runId}`;
  const skus = Array.from({ length: 1000 }, (_, i) => skuName(prefix, i));
  progress(`till-stream: registering ${options.stores} stores, 50 SKUs each`);
  const chain = await seedChain(context, prefix, options.stores, skus, 50, options.batchSize);
  const phase = await measure(context, {
    label: `till-stream (${options.stores} stores, ${options.batchSize} events per batch)`,
    key: 'admin',
    connections: options.stores,
    seconds: options.duration,
    script: (connection) => tillSteps(chain.stores[connection] as TillStore),
    afterWarmup: () => drainChain(context, chain),
  });
  progress('till-stream: checking invariants');
  const { checks, tillDeltas } = await verifyChain(context, chain);
  const invariants = checkLevels(await readLevels(admin, skus), { seeded: chain.seeded, tillDeltas, checks });
  const batches = phase.byKind['till-batch'];
  const batchesPerSecond = batches ? Math.round((batches.statuses['200'] ?? 0) / phase.seconds) : 0;
  return {
    name: 'till-stream',
    description: `POST /v1/stores/{id}/events, ${options.stores} stores (one connection each, in order), ${options.batchSize} events per batch`,
    phases: [phase],
    figures: {
      batchesPerSecond,
      eventsPerSecond: batchesPerSecond * options.batchSize,
      p99Ms: phase.latency.p99Ms,
      requestsPerSecond: phase.requestsPerSecond,
    },
    invariants,
    notes: [],
  };
};
