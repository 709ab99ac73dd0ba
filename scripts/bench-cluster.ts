// Cluster-mode benchmark: reservations/s and latency through one, two and three engine nodes
// (`node --import tsx api/server.ts` with JOURNAL=postgres) on one PostgreSQL, the time partitions take to
// move after a node's loss, and PostgreSQL statements per reservation.
//
// Everything runs on this machine: the nodes, PostgreSQL and the load generator (autocannon, in this
// process) share its cores, so more nodes add contention for CPU rather than capacity here; the figures
// show the cost of coordination, not the scale-out a cluster of real machines would give.
//
// The benchmark works in a database of its own (created, then dropped), so pg_stat_database counts only
// its traffic: transactions per reservation come from there (every statement the nodes send runs in its
// own transaction), statements per reservation from pg_stat_statements when the server loads it, and
// journal append statements (one per group-commit batch) from each node's /metrics.
//
// Run: DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx scripts/bench-cluster.ts
//      [--duration 10] [--connections 48] [--skus 500] [--kills 3]
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { ownershipLockClasses } from '../storage/pg-ownership.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const API_KEY = 'bench-cluster-admin-key-0123456789';
const SCHEMA = 'inventory';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '48' },
    skus: { type: 'string', default: '500' },
    kills: { type: 'string', default: '3' },
  },
});
const DURATION_S = Number(args.duration);
const WARMUP_S = Number(args.warmup);
const CONNECTIONS = Number(args.connections);
const SKUS = Number(args.skus);
const KILLS = Number(args.kills);

const baseUrl = process.env.DATABASE_URL;
if (!baseUrl) {
  console.error('DATABASE_URL is required, for example postgres://postgres@127.0.0.1:5432/postgres');
  process.exit(1);
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, digits = 1) => Number(value.toFixed(digits));

async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

class Node {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  url = '';
  output = '';
  constructor(
    readonly id: string,
    private readonly databaseUrl: string,
  ) {}

  async start(): Promise<void> {
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    const child = spawn(process.execPath, ['--import', 'tsx', 'api/server.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        JOURNAL: 'postgres',
        DATABASE_URL: this.databaseUrl,
        PG_SCHEMA: SCHEMA,
        NODE_ID: this.id,
        PORT: String(port),
        HOST: '127.0.0.1',
        API_KEYS: `${API_KEY}:admin`,
        LOG_LEVEL: 'warn',
        RATE_LIMIT_PER_MINUTE: '0',
        DEMO_DATA: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout
      ?.setEncoding('utf8')
      .on('data', (chunk: string) => (this.output = (this.output + chunk).slice(-20_000)));
    child.stderr
      ?.setEncoding('utf8')
      .on('data', (chunk: string) => (this.output = (this.output + chunk).slice(-20_000)));
    await waitUntil(`${this.id} to listen`, async () => /listening on http/.test(this.output), 60_000);
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  async stop(): Promise<void> {
    this.child?.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  async request(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${this.url}${route}`, {
      method,
      headers: {
        authorization: `Bearer ${API_KEY}`,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  }

  /** One gauge of /metrics. */
  async metric(name: string): Promise<number> {
    const response = await fetch(`${this.url}/metrics`);
    const text = await response.text();
    const line = text.split('\n').find((row) => row.startsWith(`${name} `));
    return Number(line?.split(' ')[1] ?? NaN);
  }
}

interface LoadResult {
  readonly ok: number;
  readonly failed: Record<string, number>;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly okTotal: number;
}

/** Closed-loop load through every node at once; latencies of the measured window only. */
async function load(nodes: readonly Node[], skuOf: () => string): Promise<LoadResult> {
  const started = Date.now();
  const measureFrom = started + WARMUP_S * 1000;
  const latencies: number[] = [];
  const failed: Record<string, number> = {};
  let ok = 0;
  let okTotal = 0;
  const perNode = Math.max(1, Math.floor(CONNECTIONS / nodes.length));
  await Promise.all(
    nodes.map(
      (node) =>
        new Promise<void>((resolve, reject) => {
          const instance = autocannon(
            {
              url: node.url,
              connections: perNode,
              duration: WARMUP_S + DURATION_S,
              requests: [
                {
                  method: 'POST',
                  path: '/v1/reservations',
                  setupRequest: (request) => ({
                    ...request,
                    headers: {
                      authorization: `Bearer ${API_KEY}`,
                      'content-type': 'application/json',
                      'idempotency-key': randomUUID(),
                    },
                    body: JSON.stringify({
                      lines: [{ sku: skuOf(), quantity: 1, locationId: 'S1' }],
                      ttlSeconds: 900,
                    }),
                  }),
                },
              ],
            },
            (error) => (error ? reject(error) : resolve()),
          );
          instance.on('response', (_client, statusCode, _bytes, responseTime) => {
            const now = Date.now();
            if (statusCode === 201) okTotal++;
            if (now < measureFrom) return;
            if (statusCode === 201) {
              ok++;
              latencies.push(responseTime);
            } else {
              failed[String(statusCode)] = (failed[String(statusCode)] ?? 0) + 1;
            }
          });
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { ok, failed, perSecond: ok / DURATION_S, p50: round(at(0.5)), p99: round(at(0.99)), okTotal };
}

interface Counters {
  transactions: number;
  statements: number | undefined;
}

async function counters(admin: pg.Pool): Promise<Counters> {
  await delay(1500); // backends report their statistics about once a second
  await admin.query('SELECT pg_stat_clear_snapshot()');
  const { rows } = await admin.query<{ n: string }>(
    'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  let statements: number | undefined;
  try {
    const result = await admin.query<{ n: string }>(
      `SELECT sum(calls) AS n FROM pg_stat_statements
       WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    );
    statements = Number(result.rows[0]?.n ?? 0);
  } catch {
    statements = undefined; // pg_stat_statements is not loaded (shared_preload_libraries)
  }
  return { transactions: Number(rows[0]?.n), statements };
}

async function partitionCounts(admin: pg.Pool): Promise<Map<number, number>> {
  const { partitions } = ownershipLockClasses(SCHEMA);
  const { rows } = await admin.query<{ pid: number; n: string }>(
    `SELECT pid, count(*) AS n FROM pg_locks
     WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid::bigint = $1
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
     GROUP BY pid`,
    [partitions],
  );
  return new Map(rows.map((row) => [row.pid, Number(row.n)]));
}

const spreadOver = (nodes: number) => async (admin: pg.Pool) => {
  const counts = [...(await partitionCounts(admin)).values()];
  const share = Math.ceil(16 / nodes);
  return (
    counts.length === nodes && counts.reduce((a, b) => a + b, 0) === 16 && counts.every((n) => n <= share)
  );
};

interface RunFigures extends LoadResult {
  readonly nodes: number;
  readonly workload: string;
  readonly transactionsPerReservation: number;
  readonly statementsPerReservation: number | undefined;
  readonly appendStatementsPerReservation: number;
  readonly journalRecordsPerReservation: number;
}

async function run(workload: 'spread' | 'hot', count: number, databaseUrl: string, admin: pg.Pool) {
  await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  const nodes = Array.from({ length: count }, (_, i) => new Node(`n${i + 1}`, databaseUrl));
  try {
    await nodes[0]?.start();
    await Promise.all(nodes.slice(1).map((node) => node.start()));
    const [first] = nodes as [Node];
    await first.request('PUT', '/v1/locations/S1', { name: 'Store 1', type: 'store' });
    const skus = workload === 'hot' ? ['HOT'] : Array.from({ length: SKUS }, (_, i) => `SKU-${i}`);
    for (let i = 0; i < skus.length; i += 50) {
      await Promise.all(
        skus.slice(i, i + 50).map((sku) =>
          first.request('POST', `/v1/locations/S1/stock/${sku}/adjustments`, {
            delta: 1_000_000,
            reason: 'receipt',
          }),
        ),
      );
    }
    const last = skus[skus.length - 1] as string;
    await waitUntil('every node to see the stock', async () => {
      const levels = await Promise.all(
        nodes.map((node) => node.request('GET', `/v1/locations/S1/stock/${last}`)),
      );
      return levels.every((level) => level.status === 200);
    });
    await waitUntil('the partitions to spread', () => spreadOver(count)(admin));
    const flushesBefore = await Promise.all(nodes.map((node) => node.metric('stockline_journal_flushes')));
    const headBefore = await admin.query<{ last_seq: string }>(`SELECT last_seq FROM ${SCHEMA}.journal_head`);
    const before = await counters(admin);
    const result = await load(nodes, () => skus[Math.floor(Math.random() * skus.length)] as string);
    const after = await counters(admin);
    const headAfter = await admin.query<{ last_seq: string }>(`SELECT last_seq FROM ${SCHEMA}.journal_head`);
    const flushesAfter = await Promise.all(nodes.map((node) => node.metric('stockline_journal_flushes')));
    const flushes = flushesAfter.reduce((sum, n, i) => sum + n - (flushesBefore[i] ?? 0), 0);
    const records = Number(headAfter.rows[0]?.last_seq) - Number(headBefore.rows[0]?.last_seq);
    const per = (n: number) => round(n / Math.max(1, result.okTotal), 2);
    const figures: RunFigures = {
      ...result,
      nodes: count,
      workload,
      transactionsPerReservation: per(after.transactions - before.transactions),
      statementsPerReservation:
        after.statements === undefined || before.statements === undefined
          ? undefined
          : per(after.statements - before.statements),
      appendStatementsPerReservation: per(flushes),
      journalRecordsPerReservation: per(records),
    };
    return { figures, nodes };
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    throw error;
  }
}

/** SIGKILL (or SIGTERM) the last node and time until the others hold all 16 partitions. */
async function moveTime(nodes: Node[], admin: pg.Pool, how: 'SIGKILL' | 'SIGTERM'): Promise<number> {
  const victim = nodes[nodes.length - 1] as Node;
  await waitUntil('the partitions to spread', () => spreadOver(nodes.length)(admin));
  const started = Date.now();
  const gone = how === 'SIGKILL' ? victim.kill() : victim.stop();
  const survivors = nodes.length - 1;
  const moved = await waitUntil(
    'the survivors to hold all 16',
    async () => {
      const counts = [...(await partitionCounts(admin)).values()];
      return counts.length === survivors && counts.reduce((a, b) => a + b, 0) === 16
        ? Date.now() - started
        : undefined;
    },
    30_000,
  );
  await gone;
  return moved;
}

async function main(): Promise<void> {
  const database = `stockline_bench_${randomBytes(4).toString('hex')}`;
  const serverPool = new pg.Pool({ connectionString: baseUrl, max: 1 });
  await serverPool.query(`CREATE DATABASE ${database}`);
  const parsed = new URL(baseUrl as string);
  parsed.pathname = `/${database}`;
  const databaseUrl = parsed.toString();
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const all: RunFigures[] = [];
  const moves: { how: string; ms: number }[] = [];
  let running: Node[] = [];
  try {
    const version = await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    console.log(
      `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ` +
        `PostgreSQL ${version.rows[0]?.v} on the same machine; ${CONNECTIONS} connections split over the nodes, ` +
        `${WARMUP_S} s warm-up + ${DURATION_S} s measured per run; load average ${os
          .loadavg()
          .map((n) => round(n, 2))
          .join(' ')}`,
    );
    for (const workload of ['spread', 'hot'] as const) {
      for (const count of [1, 2, 3]) {
        const { figures, nodes } = await run(workload, count, databaseUrl, admin);
        running = nodes;
        all.push(figures);
        console.log(
          `${workload.padEnd(6)} ${count} node(s): ${round(figures.perSecond)} reservations/s, ` +
            `p50 ${figures.p50} ms, p99 ${figures.p99} ms, failed ${JSON.stringify(figures.failed)}, ` +
            `${figures.transactionsPerReservation} transactions, ${figures.statementsPerReservation ?? 'n/a'} statements, ` +
            `${figures.appendStatementsPerReservation} append statements, ${figures.journalRecordsPerReservation} records per reservation`,
        );
        if (workload === 'spread' && count === 3) {
          for (let i = 0; i < KILLS; i++) {
            moves.push({ how: 'SIGKILL', ms: await moveTime(running, admin, 'SIGKILL') });
            await running[running.length - 1]?.start();
          }
          moves.push({ how: 'SIGTERM', ms: await moveTime(running, admin, 'SIGTERM') });
          console.log(
            `partitions moved after a node's loss: ${moves.map((m) => `${m.how} ${m.ms} ms`).join(', ')}`,
          );
        }
        await Promise.all(running.map((node) => node.stop()));
        running = [];
      }
    }
    console.log(
      '\n| workload | nodes | reservations/s | p50 ms | p99 ms | not 201 | transactions / reservation | append statements / reservation | journal records / reservation |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const f of all) {
      const failed =
        Object.entries(f.failed)
          .map(([status, n]) => `${n} x ${status}`)
          .join(', ') || '0';
      console.log(
        `| ${f.workload} | ${f.nodes} | ${round(f.perSecond, 0)} | ${f.p50} | ${f.p99} | ${failed} | ` +
          `${f.transactionsPerReservation} | ${f.appendStatementsPerReservation} | ${f.journalRecordsPerReservation} |`,
      );
    }
    console.log(
      `\nload average at the end: ${os
        .loadavg()
        .map((n) => round(n, 2))
        .join(' ')}`,
    );
    if (all.every((f) => f.statementsPerReservation === undefined)) {
      console.log(
        '\npg_stat_statements is not loaded: statements counted as transactions (each runs in its own).',
      );
    }
  } finally {
    await Promise.all(running.map((node) => node.kill()));
    await admin.end();
    await serverPool.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await serverPool.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
