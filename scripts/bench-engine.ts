// Engine-only benchmark (no HTTP): durable commands/s with group commit over many SKUs and on one
// hot SKU, records per fsync, latency percentiles and CPU per command, reservations (held, and the
// whole cycle reserve then confirm or cancel), recovery time with and without a snapshot, and memory
// per stock level and per active actor.
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
  const cpuBefore = process.cpuUsage();
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
  const cpu = process.cpuUsage(cpuBefore);
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
    // CPU of this process (engine, load generator, journal syscalls) per command: less sensitive to
    // what else the machine runs than commands/s.
    cpuUsPerCommand: +((cpu.user + cpu.system) / Math.max(1, done)).toFixed(1),
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
  const metrics = engine.metrics();
  const recovery = metrics.recovery;
  const stockLevels = metrics.stockLevels;
  console.log(
    JSON.stringify({
      records: engine.lastSeq,
      replayedRecords: recovery?.replayedRecords,
      ms: Math.round(ms),
      recordsPerSecond: Math.round((recovery?.replayedRecords ?? 0) / (ms / 1000)),
      stockLevels,
      // What the journal holds depends on how fast the phases before ran: say how many reservations.
      activeReservations: metrics.activeReservations,
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
/** Runs exactly `count` calls of `command` over `clients` concurrent clients. */
async function exactly(
  count: number,
  clients: number,
  command: (client: number, n: number) => Promise<unknown>,
) {
  let left = count;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let n = 0; left > 0; n++) {
        left--;
        await command(client, n);
      }
    }),
  );
}

const root = await mkdtemp(join(tmpdir(), 'bench-engine-'));
const dir = join(root, 'recovery');
try {
  let engine = await open(join(root, 'throughput'), true);
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

  await engine.stop();

  // The recovery journal is written apart, with a fixed mix, so what recovery reads does not depend on
  // how fast the phases above ran (the mix of the 2026-11-29 run, scaled to --events): 20% receives
  // over 10,000 SKUs, 20% on one hot SKU, 5% hot reservations and 10% reservations over 10,000 SKUs
  // (two records each: half as many reservations), the rest receives over 100,000 SKUs.
  const target = recoveryEvents;
  const share = (fraction: number) => Math.floor(target * fraction);
  progress(`writing the recovery journal: ${target.toLocaleString()} records`);
  engine = await open(dir, true);
  await engine.putLocation('L1', { name: 'Bench', type: 'store' });
  await engine.execute('FLASH', 'L1', { type: 'receive', quantity: 900_000_000 });
  await exactly(share(0.2), concurrency, (client, n) =>
    engine.execute(`S${(client * 7919 + n) % 10_000}`, 'L1', { type: 'receive', quantity: 1 }),
  );
  await exactly(share(0.2), concurrency, () => engine.execute('HOT', 'L1', { type: 'receive', quantity: 1 }));
  await exactly(share(0.05) / 2, concurrency, () =>
    engine.reserve({ lines: [{ sku: 'FLASH', quantity: 1, locationId: 'L1' }], ttlSeconds: 86_400 }),
  );
  await exactly(share(0.1) / 2, concurrency, (client, n) =>
    engine.reserve({
      lines: [{ sku: `S${(client * 7919 + n) % 10_000}`, quantity: 1, locationId: 'L1' }],
      ttlSeconds: 86_400,
    }),
  );
  await exactly(Math.max(0, target - engine.lastSeq), 512, (client, n) =>
    engine.execute(`R${(client * 104_729 + n) % 100_000}`, 'L1', { type: 'receive', quantity: 1 }),
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
  await rm(root, { recursive: true, force: true });
}

// The whole life of a cart, on a fresh engine of its own (so the recovery journal above is unchanged):
// reserve (StockReserved, ReservationPlaced), then confirm or cancel (the decision, then the stock step).
const cycleDir = await mkdtemp(join(tmpdir(), 'bench-engine-cycle-'));
try {
  const engine = await open(cycleDir, false);
  await engine.putLocation('L1', { name: 'Bench', type: 'store' });
  await Promise.all(
    Array.from({ length: 250 }, async (_, client) => {
      for (let sku = client; sku < 10_000; sku += 250)
        await engine.execute(`S${sku}`, 'L1', { type: 'receive', quantity: 100_000 });
    }),
  );
  progress(
    `reservation cycle: ${concurrency} clients over 10,000 SKUs, reserve then confirm or cancel (4 durable records), ${seconds}s`,
  );
  results['reserveThenConfirmOrCancel'] = await closedLoop(engine, async (client, n) => {
    const { reservation } = await engine.reserve({
      lines: [{ sku: `S${(client * 7919 + n) % 10_000}`, quantity: 1, locationId: 'L1' }],
      ttlSeconds: 86_400,
    });
    await (n % 2 === 0 ? engine.confirm(reservation.id) : engine.cancel(reservation.id));
  });
  progress(JSON.stringify(results['reserveThenConfirmOrCancel']));
  await engine.stop();
} finally {
  await rm(cycleDir, { recursive: true, force: true });
}

if (values.json) {
  console.log(JSON.stringify(results));
} else {
  console.log(JSON.stringify(results, null, 2));
}
