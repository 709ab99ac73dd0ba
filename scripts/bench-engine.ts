// Engine-only benchmark (no HTTP): durable commands/s with group commit over many SKUs and on one
// hot SKU, records per fsync, latency percentiles, recovery time with and without a snapshot, and
// memory per stock level and per active actor.
//
//   node --expose-gc --import tsx scripts/bench-engine.ts [--events 1000000] [--concurrency 256] [--json]
//
// Every figure is measured in this one run on this machine; the load generator shares its cores.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Engine } from '../engine/engine.js';
import { FileJournal } from '../storage/file-journal.js';
import { LowdbSnapshotStore } from '../storage/lowdb-snapshots.js';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    concurrency: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const recoveryEvents = Number(values.events);
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const progress = (message: string) => process.stderr.write(`${message}\n`);

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;

async function open(dir: string, withSnapshots: boolean) {
  return Engine.start({
    journal: new FileJournal({ dir: join(dir, 'journal') }),
    ...(withSnapshots ? { snapshots: new LowdbSnapshotStore({ dir: join(dir, 'snapshots') }) } : {}),
    snapshotEveryRecords: 0,
    mailboxCapacity: 1_000_000,
    timers: false,
  });
}

/** Runs `concurrency` closed-loop clients for `seconds`, each awaiting its durable answer. */
async function closedLoop(engine: Engine, command: (client: number, n: number) => Promise<unknown>) {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const statsBefore = engine.metrics().journal;
  const started = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, client) => {
      for (let n = 0; performance.now() < deadline; n++) {
        const t = performance.now();
        await command(client, n);
        latencies.push(performance.now() - t);
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const statsAfter = engine.metrics().journal;
  latencies.sort((a, b) => a - b);
  return {
    commands: done,
    perSecond: Math.round(done / elapsed),
    recordsPerFsync: +(
      (statsAfter.appends - statsBefore.appends) /
      Math.max(1, statsAfter.flushes - statsBefore.flushes)
    ).toFixed(1),
    p50Ms: +percentile(latencies, 50).toFixed(2),
    p99Ms: +percentile(latencies, 99).toFixed(2),
    maxMs: +(latencies.at(-1) ?? 0).toFixed(2),
  };
}

const results: Record<string, unknown> = {
  machine: {
    cpus: (await import('node:os')).cpus().length,
    node: process.version,
    date: new Date().toISOString(),
  },
  concurrency,
  seconds,
};
const dir = await mkdtemp(join(tmpdir(), 'bench-engine-'));
try {
  let engine = await open(dir, true);
  await engine.putLocation('L1', { name: 'Bench', type: 'store' });

  progress(`spread: ${concurrency} clients, receive on 10,000 SKUs, ${seconds}s`);
  results['spreadReceive'] = await closedLoop(engine, (client, n) =>
    engine.execute(`S${(client * 7919 + n) % 10_000}`, 'L1', { type: 'receive', quantity: 1 }),
  );
  progress(JSON.stringify(results['spreadReceive']));

  progress(`hot: ${concurrency} clients, receive on one SKU, ${seconds}s`);
  results['hotReceive'] = await closedLoop(engine, () =>
    engine.execute('HOT', 'L1', { type: 'receive', quantity: 1 }),
  );
  progress(JSON.stringify(results['hotReceive']));

  await engine.execute('FLASH', 'L1', { type: 'receive', quantity: 900_000_000 });
  progress(
    `hot reservations: ${concurrency} clients reserving one SKU (2 durable records each), ${seconds}s`,
  );
  results['hotReserve'] = await closedLoop(engine, () =>
    engine.reserve({ lines: [{ sku: 'FLASH', quantity: 1, locationId: 'L1' }], ttlSeconds: 86_400 }),
  );
  progress(JSON.stringify(results['hotReserve']));

  progress(`spread reservations: ${concurrency} clients over 10,000 SKUs, ${seconds}s`);
  results['spreadReserve'] = await closedLoop(engine, (client, n) =>
    engine.reserve({
      lines: [{ sku: `S${(client * 7919 + n) % 10_000}`, quantity: 1, locationId: 'L1' }],
      ttlSeconds: 86_400,
    }),
  );
  progress(JSON.stringify(results['spreadReserve']));

  // Fill the journal up to the recovery size with receives over 100,000 SKUs.
  const target = recoveryEvents;
  progress(`filling the journal to ${target.toLocaleString()} records`);
  let written = engine.lastSeq;
  await Promise.all(
    Array.from({ length: 512 }, async (_, client) => {
      for (let n = 0; written < target; n++) {
        written++;
        await engine.execute(`R${(client * 104_729 + n) % 100_000}`, 'L1', { type: 'receive', quantity: 1 });
      }
    }),
  );
  const records = engine.lastSeq;
  await engine.stop();

  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  let t = performance.now();
  engine = await open(dir, false);
  const replayMs = performance.now() - t;
  global.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const levels = engine.metrics().recovery;
  results['recoveryJournalOnly'] = {
    records,
    ms: Math.round(replayMs),
    recordsPerSecond: Math.round(records / (replayMs / 1000)),
  };
  progress(JSON.stringify(results['recoveryJournalOnly']));
  const stockLevels = 10_000 + 100_000 + 2;
  results['memory'] = {
    heapBytesPerStockLevel: Math.round((heapAfter - heapBefore) / stockLevels),
    note: 'heap growth after recovery / stock levels (includes reservations and idempotency state)',
  };

  // Active actors: touch 50,000 distinct levels, measure heap growth per activated actor.
  global.gc?.();
  const beforeActors = process.memoryUsage().heapUsed;
  await Promise.all(
    Array.from({ length: 500 }, async (_, client) => {
      for (let n = 0; n < 100; n++)
        await engine.execute(`R${client * 100 + n}`, 'L1', { type: 'receive', quantity: 1 });
    }),
  );
  global.gc?.();
  const active = engine.metrics().activeActors;
  (results['memory'] as Record<string, unknown>)['heapBytesPerActiveActor'] = Math.round(
    (process.memoryUsage().heapUsed - beforeActors) / Math.max(1, active),
  );
  (results['memory'] as Record<string, unknown>)['activeActors'] = active;
  (results['memory'] as Record<string, unknown>)['rssMiB'] = Math.round(process.memoryUsage().rss / 1048576);

  t = performance.now();
  await engine.snapshot();
  const snapshotMs = performance.now() - t;
  await engine.stop();
  t = performance.now();
  engine = await open(dir, true);
  const fromSnapshotMs = performance.now() - t;
  results['recoveryWithSnapshot'] = {
    records: engine.lastSeq,
    snapshotWriteMs: Math.round(snapshotMs),
    ms: Math.round(fromSnapshotMs),
    replayedRecords: levels ? engine.metrics().recovery?.replayedRecords : undefined,
  };
  progress(JSON.stringify(results['recoveryWithSnapshot']));
  await engine.stop();
} finally {
  await rm(dir, { recursive: true, force: true });
}

if (values.json) {
  console.log(JSON.stringify(results));
} else {
  console.log(JSON.stringify(results, null, 2));
}
