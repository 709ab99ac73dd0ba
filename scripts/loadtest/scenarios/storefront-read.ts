// storefront-read: the storefront reading availability for every page view. Two measured phases over
// a catalogue of `--catalogue` SKUs, each stocked at three locations: single reads
// (GET /v1/stock/{sku}) and batch reads of 100 SKUs (GET /v1/stock?skus=...), SKUs drawn uniformly,
// both saturating; then batch reads paced at a steady rate, whose p99 is the batch-read target.
import { prng } from '../client.js';
import { checkLevels, readLevels } from '../invariants.js';
import type { Scenario } from '../scenario.js';
import { measure } from '../scenario.js';
import { catalogueLocations, seedStock, skuName } from '../seed.js';
import { runPacedPhase } from '../paced.js';
import { batchReadStep, singleReadStep } from './steps.js';

export const BATCH_READ_SIZE = 100;
/**
 * The paced batch phase: a storefront's category pages at a steady 100 batch reads a second
 * (10,000 SKU views a second), open loop (scripts/loadtest/paced.ts), at most 8 connections. Its p99 is the service time of a batch read under
 * load; at 64 saturating connections the p99 is mostly the queue (64 / throughput).
 */
export const PACED_BATCH_RATE = 100;
export const PACED_BATCH_CONNECTIONS = 8;

export const storefrontRead: Scenario = async (context) => {
  const { options, admin, runId, progress } = context;
  const prefix = `sr${runId}`;
  const skus = Array.from({ length: options.catalogue }, (_, i) => skuName(prefix, i));
  const seeded = new Map<string, number>();
  progress(
    `storefront-read: seeding ${skus.length.toLocaleString('en-US')} SKUs x ${catalogueLocations.length} locations`,
  );
  const random = prng(options.seed);
  for (const location of catalogueLocations) {
    await seedStock(
      admin,
      runId,
      location.id,
      skus.map((sku) => ({ sku, onHand: 1 + Math.floor(random() * 200) })),
      seeded,
    );
  }
  const picker = (connection: number) => {
    const next = prng(options.seed * 7919 + connection);
    return () => skus[Math.floor(next() * skus.length)] as string;
  };
  const single = await measure(context, {
    label: 'storefront-read single',
    key: 'shop',
    connections: options.connections,
    seconds: options.duration,
    script: (connection) => [singleReadStep(picker(connection))],
  });
  const batch = await measure(context, {
    label: `storefront-read batch of ${BATCH_READ_SIZE}`,
    key: 'shop',
    connections: options.connections,
    seconds: options.duration,
    script: (connection) => [batchReadStep(picker(connection + 100_000), BATCH_READ_SIZE)],
  });
  await context.settle?.();
  const pacedStep = batchReadStep(picker(200_000), BATCH_READ_SIZE);
  progress(`  [storefront-read paced] ${PACED_BATCH_RATE} batch reads/s for ${options.duration}s`);
  const paced = await runPacedPhase({
    label: `storefront-read batch of ${BATCH_READ_SIZE} at ${PACED_BATCH_RATE}/s`,
    url: context.target.url,
    headers: { authorization: `Bearer ${context.target.shopKey}` },
    rate: PACED_BATCH_RATE,
    seconds: options.duration,
    connections: PACED_BATCH_CONNECTIONS,
    script: () => [pacedStep],
    progress,
  });
  progress('storefront-read: checking invariants');
  const invariants = checkLevels(await readLevels(admin, skus), { seeded });
  return {
    name: 'storefront-read',
    description: `GET /v1/stock/{sku} and GET /v1/stock?skus=<${BATCH_READ_SIZE}> over ${skus.length} SKUs x ${catalogueLocations.length} locations`,
    phases: [single, batch, paced],
    figures: {
      singleRequestsPerSecond: single.requestsPerSecond,
      singleP99Ms: single.latency.p99Ms,
      batchRequestsPerSecond: batch.requestsPerSecond,
      batchSkusPerSecond: batch.requestsPerSecond * BATCH_READ_SIZE,
      batchP99Ms: batch.latency.p99Ms,
      pacedBatchRequestsPerSecond: paced.requestsPerSecond,
      pacedBatchP50Ms: paced.latency.p50Ms,
      pacedBatchP99Ms: paced.latency.p99Ms,
    },
    invariants,
    notes: [],
  };
};
