// Journal benchmark: durable appends/s, average group-commit batch size and ack latency with 1, 64 and
// 1,024 concurrent producers (each run bounded by a fixed record count), then the replay rate of a
// 1,000,000-record journal (open with tail scan, full read, and a read near the end via the sparse index).
// Run: node --import tsx scripts/bench-journal.ts   Prints a table, then one JSON line.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FileJournal, listSegments } from '../storage/file-journal.js';
import type { JournalEntry } from '../storage/journal.js';

const RUNS = [
  { producers: 1, records: 10_000 },
  { producers: 64, records: 200_000 },
  { producers: 1024, records: 1_000_000 },
] as const;
const REPLAY_RECORDS = 1_000_000;

/** A record shaped like the engine's: one stock event with its idempotency key. */
const entry = (n: number): JournalEntry => ({
  stream: `stock/SKU-${n % 5000}/STORE-${n % 40}`,
  version: Math.floor(n / 5000) + 1,
  events: [{ type: 'StockReserved', quantity: (n % 5) + 1, reservationId: `r-${n}` } as { type: string }],
  meta: { idempotencyKey: `key-${n}` },
});

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface AppendResult {
  producers: number;
  records: number;
  seconds: number;
  appendsPerSecond: number;
  flushes: number;
  averageBatch: number;
  p50AckMs: number;
  p99AckMs: number;
}

async function benchAppends(dir: string, producers: number, records: number): Promise<AppendResult> {
  const journal = new FileJournal({ dir });
  await journal.open();
  const latencies = new Float64Array(records);
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (issued < records) {
        const n = issued++;
        const sent = performance.now();
        await journal.append(entry(n + 1));
        latencies[n] = performance.now() - sent;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const { flushes, recordsFlushed } = journal.stats;
  await journal.close();
  latencies.sort();
  return {
    producers,
    records,
    seconds: round(seconds, 2),
    appendsPerSecond: Math.round(records / seconds),
    flushes,
    averageBatch: round(recordsFlushed / flushes, 1),
    p50AckMs: round(percentile(latencies, 50), 2),
    p99AckMs: round(percentile(latencies, 99), 2),
  };
}

interface ReplayResult {
  records: number;
  segments: number;
  megabytes: number;
  openMs: number;
  replaySeconds: number;
  recordsPerSecond: number;
  tailReadMs: number;
}

async function benchReplay(dir: string): Promise<ReplayResult> {
  const segments = await listSegments(dir);
  const journal = new FileJournal({ dir });
  const openStarted = performance.now();
  await journal.open();
  const openMs = performance.now() - openStarted;

  const started = performance.now();
  let count = 0;
  let expected = 1;
  for await (const record of journal.read()) {
    if (record.seq !== expected++) throw new Error(`replay out of order at ${record.seq}`);
    count++;
  }
  const replaySeconds = (performance.now() - started) / 1000;
  if (count !== REPLAY_RECORDS) throw new Error(`replayed ${count} records, expected ${REPLAY_RECORDS}`);

  // What the changes feed does: read from a cursor near the end.
  const tailStarted = performance.now();
  let tail = 0;
  for await (const _record of journal.read(journal.lastSeq - 99)) tail++;
  const tailReadMs = performance.now() - tailStarted;
  if (tail !== 100) throw new Error(`tail read returned ${tail} records`);
  await journal.close();
  return {
    records: count,
    segments: segments.length,
    megabytes: round(segments.reduce((sum, segment) => sum + segment.bytes, 0) / 1024 / 1024, 1),
    openMs: round(openMs, 1),
    replaySeconds: round(replaySeconds, 2),
    recordsPerSecond: Math.round(count / replaySeconds),
    tailReadMs: round(tailReadMs, 2),
  };
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

const root = await mkdtemp(path.join(os.tmpdir(), 'stockline-bench-journal-'));
try {
  const appends: AppendResult[] = [];
  for (const run of RUNS) {
    appends.push(await benchAppends(path.join(root, `p${run.producers}`), run.producers, run.records));
  }
  // The 1,024-producer run wrote exactly REPLAY_RECORDS records: replay that journal.
  const replay = await benchReplay(path.join(root, 'p1024'));

  console.log(`node ${process.version}, ${os.cpus().length} cpus, ${os.tmpdir()}`);
  console.log('\nDurable appends (one write + one fdatasync per batch)');
  console.table(appends);
  console.log('Replay');
  console.table([replay]);
  console.log(
    JSON.stringify({ bench: 'journal', node: process.version, cpus: os.cpus().length, appends, replay }),
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
