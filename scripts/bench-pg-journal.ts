// PostgreSQL journal benchmark: durable appends/s, records per group-commit batch, ack latency and SQL
// statements per append with 1, 64 and 512 concurrent producers on one node, then 512 producers split over
// two nodes (two PgJournal instances, two pools: their batches take turns on the head lock), and the read
// rate of the result. Each run works in a fresh schema, dropped afterwards.
// Server-side figures come from pg_stat_database (transactions committed) and pg_stat_wal (WAL bytes and
// WAL fsyncs), sampled around each run; they include the few queries the benchmark itself sends.
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx scripts/bench-pg-journal.ts
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { JournalEntry } from '../storage/journal.js';
import { PgJournal } from '../storage/pg-journal.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const RUNS = [
  { producers: 1, nodes: 1, records: 3_000 },
  { producers: 64, nodes: 1, records: 100_000 },
  { producers: 512, nodes: 1, records: 300_000 },
  { producers: 512, nodes: 2, records: 300_000 },
] as const;

/** A record shaped like the engine's: one stock event with its idempotency key. */
const entry = (n: number): JournalEntry => ({
  stream: `stock/SKU-${n % 5000}/STORE-${n % 40}`,
  version: Math.floor(n / 5000) + 1,
  events: [{ type: 'StockReserved', quantity: (n % 5) + 1, reservationId: `r-${n}` } as { type: string }],
  meta: { idempotencyKey: `key-${n}` },
});

const round = (value: number, digits: number): number => Number(value.toFixed(digits));
const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface ServerCounters {
  commits: number;
  walBytes: number;
  walSyncs: number;
}

async function serverCounters(pool: pg.Pool): Promise<ServerCounters> {
  const { rows } = await pool.query<{ commits: string; wal_bytes: string; wal_sync: string }>(
    `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits,
            wal_bytes, wal_sync FROM pg_stat_wal`,
  );
  const row = rows[0];
  return { commits: Number(row?.commits), walBytes: Number(row?.wal_bytes), walSyncs: Number(row?.wal_sync) };
}

/** Backends flush their statistics on exit at the latest: sample after the measured connections closed. */
async function settledCounters(pool: pg.Pool): Promise<ServerCounters> {
  await new Promise((resolve) => setTimeout(resolve, 300));
  await pool.query('SELECT pg_stat_clear_snapshot()');
  return serverCounters(pool);
}

interface RunResult {
  producers: number;
  nodes: number;
  records: number;
  seconds: number;
  appendsPerSecond: number;
  batches: number;
  recordsPerBatch: number;
  p50AckMs: number;
  p99AckMs: number;
  statementsPerAppend: number;
  serverCommitsPerAppend: number;
  walBytesPerAppend: number;
  walFsyncsPerAppend: number;
  readRecordsPerSecond: number;
}

async function benchRun(
  admin: pg.Pool,
  run: { producers: number; nodes: number; records: number },
): Promise<RunResult> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const pools = Array.from({ length: run.nodes }, () => new pg.Pool({ connectionString: DATABASE_URL }));
  const journals = pools.map((pool) => new PgJournal({ pool, schema }));
  const reader = new PgJournal({ connectionString: DATABASE_URL, schema });
  try {
    for (const journal of journals) await journal.open();
    const before = await settledCounters(admin);
    const latencies = new Float64Array(run.records);
    let issued = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: run.producers }, async (_, producer) => {
        const journal = journals[producer % journals.length];
        if (!journal) throw new Error('no journal');
        while (issued < run.records) {
          const n = issued++;
          const sent = performance.now();
          await journal.append(entry(n + 1));
          latencies[n] = performance.now() - sent;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const batches = journals.reduce((sum, journal) => sum + journal.stats.flushes, 0);
    const statements = journals.reduce((sum, journal) => sum + journal.stats.statements, 0);
    const flushed = journals.reduce((sum, journal) => sum + journal.stats.recordsFlushed, 0);
    if (flushed !== run.records) throw new Error(`flushed ${flushed} of ${run.records}`);
    for (const journal of journals) await journal.close();
    for (const pool of pools.splice(0)) await pool.end();
    const after = await settledCounters(admin);

    await reader.open();
    const readStarted = performance.now();
    let read = 0;
    for await (const record of reader.read(1)) {
      if (record.seq !== ++read) throw new Error(`read out of order at ${record.seq}`);
    }
    const readSeconds = (performance.now() - readStarted) / 1000;
    if (read !== run.records) throw new Error(`read ${read} of ${run.records}`);

    latencies.sort();
    return {
      producers: run.producers,
      nodes: run.nodes,
      records: run.records,
      seconds: round(seconds, 2),
      appendsPerSecond: Math.round(run.records / seconds),
      batches,
      recordsPerBatch: round(run.records / batches, 1),
      p50AckMs: round(percentile(latencies, 50), 2),
      p99AckMs: round(percentile(latencies, 99), 2),
      statementsPerAppend: round(statements / run.records, 4),
      serverCommitsPerAppend: round((after.commits - before.commits) / run.records, 4),
      walBytesPerAppend: Math.round((after.walBytes - before.walBytes) / run.records),
      walFsyncsPerAppend: round((after.walSyncs - before.walSyncs) / run.records, 4),
      readRecordsPerSecond: Math.round(read / readSeconds),
    };
  } finally {
    for (const journal of journals) await journal.close();
    for (const pool of pools) await pool.end();
    await reader.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}

const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
try {
  const { rows } = await admin.query<{ version: string; sync: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('synchronous_commit') AS sync",
  );
  const results: RunResult[] = [];
  for (const run of RUNS) results.push(await benchRun(admin, run));
  console.log(
    `node ${process.version}, ${os.cpus().length} cpus, PostgreSQL ${rows[0]?.version} on the same machine, ` +
      `synchronous_commit=${rows[0]?.sync}`,
  );
  console.log('\nDurable appends (one statement, one transaction, one WAL flush per batch)');
  console.table(results);
  console.log(
    JSON.stringify({
      bench: 'pg-journal',
      node: process.version,
      cpus: os.cpus().length,
      postgres: rows[0]?.version,
      results,
    }),
  );
} finally {
  await admin.end();
}
