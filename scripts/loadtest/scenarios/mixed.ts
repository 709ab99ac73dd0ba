// mixed: a realistic blend on one server. Of `--connections` connections, 70% are storefront readers
// (4 single reads for each batch read of 20 SKUs), 20% are checkouts (reserve, then confirm or
// cancel), 10% are store tills (batches of `--batch-size` events, one connection per store). Beside
// them a probe store sends one till event every 50 ms and 4 storefront streams filtered to it measure
// till-to-storefront propagation (arrival on the stream minus the till's send) under that load. The
// blend runs twice: saturating (closed loop: every connection sends its next request as soon as it
// has an answer, so latency there is mostly queueing), then paced at half the throughput the first
// run reached, the load a server is run at in production (headroom for bursts).
import { prng } from '../client.js';
import { ReservationLedger } from '../ledger.js';
import type { TillStore } from '../ledger.js';
import type { Scenario } from '../scenario.js';
import { measure } from '../scenario.js';
import { runPacedPhase } from '../paced.js';
import { PacedTillWriter, Propagation, subscribe, subscribeMany } from '../sse.js';
import type { Subscription } from '../sse.js';
import type { Step } from '../cannon.js';
import { CONFIRM_SHARE, seedReservable, verifyReservations } from './reserve-spread.js';
import { settle } from './sse-fanout.js';
import { batchReadStep, reserveCycleSteps, singleReadStep, tillSteps } from './steps.js';
import { drainChain, seedChain, verifyChain } from './till-stream.js';

const PROBE_SUBSCRIBERS = 4;
const PROBE_RATE = 20;
/** The probe's events are spread over a few stores, so a slow answer does not slow the probe down. */
const PROBE_STORES = 4;
const MIXED_BATCH_READ = 20;
/** The paced run's rate, as a share of the saturating run's throughput. */
export const PACED_SHARE = 0.5;

export type MixedRole = 'till' | 'checkout' | 'reader';

export const roleOf = (connection: number): MixedRole =>
  connection % 10 === 0 ? 'till' : connection % 10 <= 2 ? 'checkout' : 'reader';

export const mixed: Scenario = async (context) => {
  const { options, runId, progress, admin, target } = context;
  const prefix = `mx${runId}`;
  const tills = Array.from({ length: options.connections }, (_, i) => i).filter(
    (i) => roleOf(i) === 'till',
  ).length;
  progress(
    `mixed: seeding ${options.catalogue.toLocaleString('en-US')} SKUs x 3 locations and ${tills + PROBE_STORES} stores`,
  );
  const { skus, seeded } = await seedReservable(context, prefix, options.catalogue);
  const chain = await seedChain(context, prefix, tills + PROBE_STORES, skus, 200, options.batchSize, seeded);
  const probeStores = chain.stores.slice(tills);
  const probeQuery = `?locationId=${probeStores.map((store) => store.storeId).join(',')}`;
  const ledger = new ReservationLedger();
  const admins = { authorization: `Bearer ${target.adminKey}` };
  const script = (connection: number): Step[] => {
    const random = prng(options.seed * 1_299_709 + connection);
    const pick = () => skus[Math.floor(random() * skus.length)] as string;
    const role = roleOf(connection);
    // Store events need the admin (or the store's own) key; the other connections use the shop's.
    if (role === 'till') return tillSteps(chain.stores[Math.floor(connection / 10)] as TillStore, admins);
    if (role === 'checkout') {
      return reserveCycleSteps({
        ledger,
        keyPrefix: `${runId}-mx-${connection}`,
        pickSku: pick,
        quantity: () => (random() < 0.8 ? 1 : 2),
        random,
        confirmShare: CONFIRM_SHARE,
      });
    }
    const single = singleReadStep(pick);
    return [
      single,
      single,
      single,
      single,
      batchReadStep(pick, MIXED_BATCH_READ, `batch-${MIXED_BATCH_READ}`),
    ];
  };

  // Seeding wrote tens of thousands of records: let the snapshot they trigger finish before the probe
  // starts, or its window would include it.
  await context.settle?.();
  const propagation = new Propagation();
  let subscriptions: Subscription[] = [];
  try {
    subscriptions = await subscribeMany(PROBE_SUBSCRIBERS, PROBE_SUBSCRIBERS, (index) =>
      subscribe(target.url, target.shopKey, probeQuery, index, (data, at) => propagation.arrived(data, at)),
    );
    const probe = new PacedTillWriter(admin, probeStores, PROBE_RATE, propagation);
    probe.start();
    if (options.warmup > 0) {
      await measure(context, {
        label: 'mixed warm-up',
        key: 'shop',
        connections: options.connections,
        seconds: options.warmup,
        warmup: 0,
        script,
      });
      await drainChain(context, { ...chain, stores: chain.stores.slice(0, tills) });
    }
    probe.resetStats();
    const from = performance.now();
    const phase = await measure(context, {
      label: 'mixed',
      key: 'shop',
      connections: options.connections,
      seconds: options.duration,
      warmup: 0,
      script,
    });
    const to = performance.now();
    const pacedRate = Math.max(1, Math.round(phase.requestsPerSecond * PACED_SHARE));
    const pacedFrom = performance.now();
    progress(`  [mixed paced] ${pacedRate} req/s for ${options.duration}s`);
    const paced = await runPacedPhase({
      label: `mixed at ${pacedRate} req/s`,
      url: target.url,
      headers: { authorization: `Bearer ${target.shopKey}` },
      rate: pacedRate,
      seconds: options.duration,
      connections: options.connections,
      script,
      progress,
    });
    const pacedTo = performance.now();
    const probeWrites = await probe.stop('mixed propagation probe');
    await settle(propagation, propagation.summary(PROBE_SUBSCRIBERS).expectedDeliveries, 3000);
    const summary = propagation.summary(PROBE_SUBSCRIBERS, from, to);
    const pacedSummary = propagation.summary(PROBE_SUBSCRIBERS, pacedFrom, pacedTo);
    for (const subscription of subscriptions) subscription.close();
    subscriptions = [];

    progress('mixed: checking invariants');
    const { checks, tillDeltas } = await verifyChain(context, chain);
    const all = propagation.summary(PROBE_SUBSCRIBERS);
    checks.push({
      name: 'probe streams got every probe event once',
      ok: all.missing === 0 && all.duplicates === 0,
      detail: `${all.writes} events x ${PROBE_SUBSCRIBERS} streams: ${all.missing} missing, ${all.duplicates} duplicates`,
    });
    const invariants = await verifyReservations(context, ledger, skus, seeded, { tillDeltas, checks });
    const kind = (name: string) => phase.byKind[name];
    return {
      name: 'mixed',
      description: `${options.connections} connections: 70% readers (4 single : 1 batch of ${MIXED_BATCH_READ}), 20% checkouts, 10% tills (${tills} stores); probe: ${PROBE_RATE} till events/s (${PROBE_STORES} stores) to ${PROBE_SUBSCRIBERS} SSE streams`,
      phases: [phase, paced, probeWrites],
      figures: {
        requestsPerSecond: phase.requestsPerSecond,
        p99Ms: phase.latency.p99Ms,
        singleRequestsPerSecond: kind('single')?.requestsPerSecond ?? 0,
        reservationsPerSecond: Math.round((kind('reserve')?.statuses['201'] ?? 0) / phase.seconds),
        tillEventsPerSecond: Math.round(
          ((kind('till-batch')?.statuses['200'] ?? 0) * options.batchSize) / phase.seconds,
        ),
        propagationP50Ms: summary.sendToArrival.p50Ms,
        propagationP90Ms: summary.sendToArrival.p90Ms,
        propagationP99Ms: summary.sendToArrival.p99Ms,
        propagationMaxMs: summary.sendToArrival.maxMs,
        responseToArrivalP99Ms: summary.responseToArrival.p99Ms,
        propagationSamples: summary.sendToArrival.count,
        pacedRequestsPerSecond: paced.requestsPerSecond,
        pacedP99Ms: paced.latency.p99Ms,
        pacedPropagationP50Ms: pacedSummary.sendToArrival.p50Ms,
        pacedPropagationP99Ms: pacedSummary.sendToArrival.p99Ms,
        pacedPropagationMaxMs: pacedSummary.sendToArrival.maxMs,
        pacedPropagationSamples: pacedSummary.sendToArrival.count,
      },
      invariants,
      notes: [
        `propagation = arrival on the storefront stream - the till's send (durable commit included); arrival - the till's answer: p50 ${summary.responseToArrival.p50Ms} ms, p99 ${summary.responseToArrival.p99Ms} ms`,
        `paced at ${pacedRate} req/s (${PACED_SHARE * 100}% of the saturating run): propagation p50 ${pacedSummary.sendToArrival.p50Ms} ms, p99 ${pacedSummary.sendToArrival.p99Ms} ms over ${pacedSummary.sendToArrival.count} arrivals`,
      ],
    };
  } finally {
    for (const subscription of subscriptions) subscription.close();
  }
};
