// sse-fanout: many live dashboards and storefront tabs on GET /v1/stream while till events flow.
// `--subscribers` streams, each filtered to the writer's 32 stores, then a steady `--write-rate`
// one-event batches per second for the warm-up plus the measured time. Every subscriber must receive
// every acknowledged event exactly once; the figures are deliveries per second and delivery latency.
import { checkLevels, readLevels } from '../invariants.js';
import type { Scenario } from '../scenario.js';
import { sleep } from '../scenario.js';
import { skuName } from '../seed.js';
import { PacedTillWriter, Propagation, subscribe, subscribeMany } from '../sse.js';
import type { Subscription } from '../sse.js';
import { seedChain, verifyChain } from './till-stream.js';

/** One event in flight per store: enough stores that the write rate holds when answers slow down. */
const FANOUT_STORES = 32;
const SETTLE_MS = 5000;

/** Waits until every expected arrival is in, or arrivals stop for 500 ms, at most `maxMs`. */
export async function settle(propagation: Propagation, expected: number, maxMs = SETTLE_MS): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = -1;
  while (performance.now() < deadline) {
    const count = propagation.arrivalCount;
    if (count >= expected || count === last) return;
    last = count;
    await sleep(500);
  }
}

export const sseFanout: Scenario = async (context) => {
  const { options, runId, progress, admin, target } = context;
  const prefix = `sf${runId}`;
  const skus = Array.from({ length: 200 }, (_, i) => skuName(prefix, i));
  progress(`sse-fanout: registering ${FANOUT_STORES} stores`);
  const chain = await seedChain(context, prefix, FANOUT_STORES, skus, 20, 1);
  await context.settle?.();
  const propagation = new Propagation();
  const query = `?locationId=${chain.stores.map((store) => store.storeId).join(',')}`;
  progress(`sse-fanout: opening ${options.subscribers} streams`);
  let subscriptions: Subscription[] = [];
  try {
    subscriptions = await subscribeMany(options.subscribers, 50, (index) =>
      subscribe(target.url, target.shopKey, query, index, (data, at) => propagation.arrived(data, at)),
    );
    const writer = new PacedTillWriter(admin, chain.stores, options.writeRate, propagation);
    writer.start();
    if (options.warmup > 0) {
      progress(`  [sse-fanout] warming up for ${options.warmup}s`);
      await sleep(options.warmup * 1000);
    }
    writer.resetStats();
    const from = performance.now();
    progress(
      `  [sse-fanout] measuring: ${options.subscribers} subscribers, ${options.writeRate} events/s, ${options.duration}s`,
    );
    for (let second = 1; second <= options.duration; second++) {
      const before = propagation.arrivalCount;
      await sleep(1000);
      progress(
        `  [sse-fanout] ${second}/${options.duration}s  ${(propagation.arrivalCount - before).toLocaleString('en-US')} deliveries/s`,
      );
    }
    const to = performance.now();
    const writes = await writer.stop('sse-fanout writes');
    const expected = propagation.summary(options.subscribers).expectedDeliveries;
    await settle(propagation, expected);
    const summary = propagation.summary(options.subscribers, from, to);
    const all = propagation.summary(options.subscribers);
    for (const subscription of subscriptions) subscription.close();
    subscriptions = [];
    progress('sse-fanout: checking invariants');
    const { checks, tillDeltas } = await verifyChain(context, chain);
    checks.push({
      name: 'every subscriber got every event once',
      ok: all.missing === 0 && all.duplicates === 0,
      detail: `${all.writes} events x ${options.subscribers} subscribers: ${all.delivered.toLocaleString('en-US')} delivered, ${all.missing} missing, ${all.duplicates} duplicates`,
    });
    const invariants = checkLevels(await readLevels(admin, skus), {
      seeded: chain.seeded,
      tillDeltas,
      checks,
    });
    const seconds = (to - from) / 1000;
    return {
      name: 'sse-fanout',
      description: `${options.subscribers} GET /v1/stream subscribers while ${options.writeRate} till events/s are written (${FANOUT_STORES} stores)`,
      phases: [writes],
      figures: {
        subscribers: options.subscribers,
        writesPerSecond: Math.round(summary.writes / seconds),
        deliveriesPerSecond: Math.round(summary.delivered / seconds),
        missing: all.missing,
        responseToArrivalP50Ms: summary.responseToArrival.p50Ms,
        responseToArrivalP99Ms: summary.responseToArrival.p99Ms,
        sendToArrivalP50Ms: summary.sendToArrival.p50Ms,
        sendToArrivalP90Ms: summary.sendToArrival.p90Ms,
        sendToArrivalP99Ms: summary.sendToArrival.p99Ms,
        sendToArrivalMaxMs: summary.sendToArrival.maxMs,
        writeP99Ms: writes.latency.p99Ms,
      },
      invariants,
      notes: [
        `delivery latency: arrival - write answer p50 ${summary.responseToArrival.p50Ms} ms, p99 ${summary.responseToArrival.p99Ms} ms (${summary.responseToArrival.arrivedBeforeAnswer} of ${summary.responseToArrival.count} arrivals beat the write's own answer); arrival - write send p50 ${summary.sendToArrival.p50Ms} ms, p99 ${summary.sendToArrival.p99Ms} ms`,
      ],
    };
  } finally {
    for (const subscription of subscriptions) subscription.close();
  }
};
