// The price of HTTP_WORKERS per engine call: a RemoteEngine in a child process calls an EngineHost
// in this process over a Node IPC channel, as an HTTP worker calls the cluster primary. The engine
// is a stub that answers at once with realistic views, so what is measured is the channel alone:
//
// - sequential round trip (one call at a time): latency a request pays per engine call;
// - 64 calls in flight: calls per second, and CPU time per call in this process (the engine's core,
//   the scarce one) and in the child (a worker's core);
//
// for JSON and `advanced` (structured clone) serialization, with and without coalescing the
// messages of one event-loop turn into one send. One short run, no loop:
//   node --import tsx scripts/bench-ipc.ts [--calls 20000]
import { fork } from 'node:child_process';
import type { ChildProcess, SerializationType } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../api/logger.js';
import type { InventoryEngine } from '../api/engine-port.js';
import { EngineHost } from '../api/http-workers/engine-host.js';
import type { Envelope, PrimaryMessage, WorkerMessage } from '../api/http-workers/protocol.js';
import { isEnvelope } from '../api/http-workers/protocol.js';
import { RemoteEngine } from '../api/http-workers/remote-engine.js';

const level = {
  sku: 'TEE-RED-M',
  locationId: 'MAD-01',
  onHand: 120,
  reserved: 7,
  safetyStock: 2,
  available: 111,
  version: 42,
  updatedAt: '2026-11-30T00:10:00.000Z',
};
const reservation = {
  reservation: {
    id: 'res_01JDXK3R8Q8Z6Y1N2M3B4V5C6X',
    status: 'held',
    createdAt: '2026-11-30T00:10:00.000Z',
    expiresAt: '2026-11-30T00:25:00.000Z',
    lines: [
      { sku: 'TEE-RED-M', locationId: 'ONLINE-DC', quantity: 1, requested: 1 },
      { sku: 'CAP-BLK', locationId: 'ONLINE-DC', quantity: 2, requested: 2 },
    ],
    channel: 'web',
    reference: 'order-123456',
    version: 1,
  },
  replayed: false,
};
const reserveRequest = {
  lines: [
    { sku: 'TEE-RED-M', quantity: 1 },
    { sku: 'CAP-BLK', quantity: 2 },
  ],
  ttlSeconds: 900,
  channel: 'web',
  reference: 'order-123456',
};
const idem = { key: 'k1:0123456789abcdef:checkout-7f3a', fingerprint: 'a3f1c9e0b7d24e68a1f0c3b5d7e9f1a2' };

/** Answers like the engine would, at once. Only the methods the benchmark calls. */
const stubEngine = {
  level: () => level,
  reserve: () => Promise.resolve(reservation),
} as unknown as InventoryEngine;

interface Mode {
  readonly serialization: SerializationType;
  readonly coalesce: boolean;
}

interface ChildReport {
  readonly sequentialUs: number;
  readonly concurrentCallsPerSecond: number;
  readonly childCpuUsPerCall: number;
  readonly concurrentWallMs: number;
}

async function child(): Promise<void> {
  const coalesce = process.env['BENCH_COALESCE'] === '1';
  const calls = Number(process.env['BENCH_CALLS'] ?? 20_000);
  const remote = new RemoteEngine({
    coalesce,
    send: (envelope) => process.send?.(envelope),
  });
  process.on('message', (message: unknown) => {
    if (isEnvelope<PrimaryMessage>(message)) remote.receive(message);
  });
  // Warm up both paths.
  for (let i = 0; i < 500; i++)
    await Promise.all([remote.level('TEE-RED-M', 'MAD-01'), remote.reserve(reserveRequest, idem)]);

  const sequential = Math.min(2_000, calls);
  let started = performance.now();
  for (let i = 0; i < sequential; i++) await remote.level('TEE-RED-M', 'MAD-01');
  const sequentialUs = ((performance.now() - started) * 1000) / sequential;

  // Half reads, half reservations, 64 in flight: each wave is issued in one turn, as a busy worker would.
  const cpu = process.cpuUsage();
  started = performance.now();
  for (let done = 0; done < calls; done += 64) {
    const wave: Promise<unknown>[] = [];
    for (let i = 0; i < 64; i++)
      wave.push(i % 2 === 0 ? remote.level('TEE-RED-M', 'MAD-01') : remote.reserve(reserveRequest, idem));
    await Promise.all(wave);
  }
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const report: ChildReport = {
    sequentialUs,
    concurrentCallsPerSecond: (calls / wallMs) * 1000,
    childCpuUsPerCall: (used.user + used.system) / calls,
    concurrentWallMs: wallMs,
  };
  process.send?.({ report });
}

async function measure(mode: Mode, calls: number): Promise<ChildReport & { primaryCpuUsPerCall: number }> {
  const logger = createLogger({ level: 'error', silent: true });
  const host = new EngineHost(stubEngine, { logger, services: {}, coalesce: mode.coalesce });
  const worker: ChildProcess = fork(fileURLToPath(import.meta.url), ['child'], {
    serialization: mode.serialization,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_COALESCE: mode.coalesce ? '1' : '0', BENCH_CALLS: String(calls) },
  });
  const connection = host.connect((envelope: Envelope<PrimaryMessage>) => worker.send(envelope));
  let cpuAtStart = process.cpuUsage();
  let seen = 0;
  const report = await new Promise<ChildReport>((resolve, reject) => {
    worker.on('message', (message: unknown) => {
      if (isEnvelope<WorkerMessage>(message)) {
        // The concurrent phase starts after the warm-up and sequential calls: restart the clock.
        seen += message.stockline.length;
        if (seen === 1_000 + Math.min(2_000, calls)) cpuAtStart = process.cpuUsage();
        connection.receive(message);
      } else if (typeof message === 'object' && message !== null && 'report' in message) {
        resolve((message as { report: ChildReport }).report);
      }
    });
    worker.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
  const used = process.cpuUsage(cpuAtStart);
  worker.kill();
  return { ...report, primaryCpuUsPerCall: (used.user + used.system) / calls };
}

async function main(): Promise<void> {
  const index = process.argv.indexOf('--calls');
  const calls = index > 0 ? Number(process.argv[index + 1]) : 20_000;
  if (process.argv.includes('--help')) {
    console.log(
      'node --import tsx scripts/bench-ipc.ts [--calls N]: the per-call cost of the HTTP workers IPC',
    );
    return;
  }
  console.log(`${calls} calls (half level reads, half reservations), 64 in flight; sequential: 2000 reads`);
  console.log(
    'serialization  coalesce  round trip (µs)  calls/s   engine-core CPU µs/call  worker CPU µs/call',
  );
  const modes: Mode[] = [
    { serialization: 'json', coalesce: true },
    { serialization: 'advanced', coalesce: true },
    { serialization: 'json', coalesce: false },
    { serialization: 'advanced', coalesce: false },
  ];
  for (const mode of modes) {
    const result = await measure(mode, calls);
    console.log(
      [
        mode.serialization.padEnd(13),
        String(mode.coalesce).padEnd(8),
        result.sequentialUs.toFixed(1).padStart(15),
        Math.round(result.concurrentCallsPerSecond).toString().padStart(9),
        result.primaryCpuUsPerCall.toFixed(1).padStart(24),
        result.childCpuUsPerCall.toFixed(1).padStart(19),
      ].join('  '),
    );
  }
}

if (process.argv[2] === 'child') await child();
else await main();
