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
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Engine } from '../engine/engine.js';
import { FileJournal } from '../storage/file-journal.js';
import { LowdbSnapshotStore } from '../storage/lowdb-snapshots.js';

const { values } = parseArgs({
  options: {
    'recover-child': { type: 'string' },
    'with-snapshot': { type: 'boolean', default: false },
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

/** Runs this script as a child that only recovers `dir` and reports time and memory. */
function recoverInChild(dir: string, withSnapshot: boolean): Promise<Record<string, unknown>> {
  const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--recover-child', dir];
  if (withSnapshot) args.push('--with-snapshot');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>);
    });
  });
}

if (values['recover-child']) {
  const dir = values['recover-child'];
  global.gc?.();
  const baseline = process.memoryUsage().heapUsed;
  const started = performance.now();
  const engine = await open(dir, values['with-snapshot']);
  const ms = performance.now() - started;
  global.gc?.();
  const heap = process.memoryUsage().heapUsed - baseline;
  const recovery = engine.metrics().recovery;
  const stockLevels = engine.metrics().stockLevels;
  console.log(
    JSON.stringify({
      records: engine.lastSeq,
      replayedRecords: recovery?.replayedRecords,
      ms: Math.round(ms),
      recordsPerSecond: Math.round((recovery?.replayedRecords ?? 0) / (ms / 1000)),
      stockLevels,
      heapBytesPerStockLevel: stockLevels > 0 ? Math.round(heap / stockLevels) : undefined,
      rssMiB: Math.round(process.memoryUsage().rss / 1048576),
    }),
  );
  await engine.stop();
  process.exit(0);
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
  let t = performance.now();
  await engine.stop(); // flushes and writes the snapshot of every level the fill touched
  const snapshotMs = performance.now() - t;

  // Recovery is measured as a real restart: a fresh process, a clean heap.
  progress('recovery from the journal alone (fresh process)');
  results['recoveryJournalOnly'] = await recoverInChild(dir, false);
  progress(JSON.stringify(results['recoveryJournalOnly']));

  // The snapshot written at stop covers the fill; add a tail, then restart from snapshot + tail.
  engine = await open(dir, true);
  await Promise.all(
    Array.from({ length: 256 }, async (_, client) => {
      for (let n = 0; n < 200; n++)
        await engine.execute(`T${client}`, 'L1', { type: 'receive', quantity: 1 });
    }),
  );
  // Active actors: touch 50,000 distinct levels, measure heap growth per activated actor.
  global.gc?.();
  const beforeActors = process.memoryUsage().heapUsed;
  await Promise.all(
    Array.from({ length: 500 }, async (_, client) => {
      for (let n = 0; n < 100; n++)
        await engine.execute(`A${client * 100 + n}`, 'L1', { type: 'receive', quantity: 1 });
    }),
  );
  global.gc?.();
  const active = engine.metrics().activeActors;
  results['actors'] = {
    activeActors: active,
    heapBytesPerActiveActor: Math.round(
      (process.memoryUsage().heapUsed - beforeActors) / Math.max(1, active),
    ),
    note: 'includes the new stock level each actor created in the projection',
  };
  // Restart as after a crash (the engine above is still open): snapshot + the tail written since.
  progress('recovery from snapshot + tail (fresh process)');
  results['recoveryWithSnapshot'] = await recoverInChild(dir, true);
  t = performance.now();
  await engine.stop();
  results['snapshotWriteMs'] = {
    afterFill: Math.round(snapshotMs),
    atStop: Math.round(performance.now() - t),
  };
  progress(JSON.stringify(results['recoveryWithSnapshot']));
} finally {
  await rm(dir, { recursive: true, force: true });
}

if (values.json) {
  console.log(JSON.stringify(results));
} else {
  console.log(JSON.stringify(results, null, 2));
}
