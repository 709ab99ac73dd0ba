// Plumbing for the cluster tests: a suite that is skipped with a visible message without DATABASE_URL,
// a fresh schema per test, a TCP proxy in front of PostgreSQL that can cut or freeze one node's traffic,
// engine nodes as real processes (`node --import tsx api/server.ts`, JOURNAL=postgres) that can be
// killed, paused and resumed, HTTP helpers, the ownership locks as PostgreSQL sees them, and a
// from-scratch replay of the shared journal with the engine's own Projection.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Projection } from '../../engine/projection.js';
import { PgJournal } from '../../storage/pg-journal.js';
import { ownershipApplicationName, ownershipLockClasses } from '../../storage/pg-ownership.js';
import { DATABASE_URL, dropSchema, freshName, namedPool } from '../contract/pg-support.js';

import { delay, freePort, waitUntil } from '../support/waiting.js';

export { DATABASE_URL, delay, dropSchema, freePort, freshName, namedPool, waitUntil };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SKIP_MESSAGE = 'DATABASE_URL not set: cluster tests skipped';

/** describe() with the real tests, or with one skipped test saying why when DATABASE_URL is unset. */
export function describeCluster(title: string, body: (url: string) => void): void {
  const url = DATABASE_URL;
  if (url === undefined || url === '') {
    describe(title, () => {
      it(SKIP_MESSAGE, function () {
        console.warn(`\n  ${SKIP_MESSAGE}\n`);
        this.skip();
      });
    });
    return;
  }
  describe(title, () => body(url));
}

/** The connection string with another host:port (the proxy's). */
export function viaPort(url: string, port: number): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(port);
  return parsed.toString();
}

/**
 * A TCP proxy to PostgreSQL for one node. `cut()` drops every connection and refuses new ones (the node
 * is partitioned away), `freeze()` keeps the connections open but forwards nothing (a hung network),
 * `heal()` goes back to forwarding.
 */
export class PgProxy {
  #server: net.Server | undefined;
  #pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  #mode: 'open' | 'cut' | 'freeze' = 'open';
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  static forUrl(url: string): PgProxy {
    const parsed = new URL(url);
    return new PgProxy({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 5432) });
  }

  async start(): Promise<number> {
    const server = net.createServer((client) => {
      if (this.#mode === 'cut') {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      const pair = { client, upstream };
      this.#pairs.add(pair);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.#pairs.delete(pair);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
      if (this.#mode === 'freeze') this.#freezePair(pair);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this.port;
  }

  #freezePair(pair: { client: net.Socket; upstream: net.Socket }): void {
    pair.client.unpipe(pair.upstream);
    pair.upstream.unpipe(pair.client);
    pair.client.pause();
    pair.upstream.pause();
  }

  cut(): void {
    this.#mode = 'cut';
    for (const pair of [...this.#pairs]) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  freeze(): void {
    this.#mode = 'freeze';
    for (const pair of this.#pairs) this.#freezePair(pair);
  }

  heal(): void {
    const wasFrozen = this.#mode === 'freeze';
    this.#mode = 'open';
    if (!wasFrozen) return;
    for (const pair of this.#pairs) {
      pair.client.pipe(pair.upstream);
      pair.upstream.pipe(pair.client);
      pair.client.resume();
      pair.upstream.resume();
    }
  }

  async close(): Promise<void> {
    this.cut();
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Which ownership session holds which partitions, as PostgreSQL sees it: node id -> partitions. */
export async function partitionLocks(pool: pg.Pool, schema: string): Promise<Map<string, number[]>> {
  const { partitions } = ownershipLockClasses(schema);
  const { rows } = await pool.query<{ app: string; partition: number }>(
    `SELECT a.application_name AS app, l.objid::int AS partition
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND l.classid::bigint = $1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     ORDER BY l.objid`,
    [partitions],
  );
  const byNode = new Map<string, number[]>();
  for (const row of rows) {
    const node = row.app.replace(/^stockline-own:/, '');
    byNode.set(node, [...(byNode.get(node) ?? []), row.partition]);
  }
  return byNode;
}

/** Terminates a node's ownership session (found by its application_name); true if one was found. */
export async function terminateOwnershipSession(pool: pg.Pool, nodeId: string): Promise<boolean> {
  const { rows } = await pool.query<{ done: boolean }>(
    'SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = $1',
    [ownershipApplicationName(nodeId)],
  );
  return rows.some((row) => row.done);
}

// ------------------------------------------------------------------ engine nodes as processes

export const API_KEY = 'cluster-admin-key-0123456789abcdef';
export const API_KEYS = `${API_KEY}:admin`;

export interface NodeOptions {
  readonly url: string;
  readonly schema: string;
  readonly nodeId: string;
  readonly env?: Record<string, string> | undefined;
  /** Another launcher than api/server.ts (relative to the repository root). */
  readonly script?: string | undefined;
}

/** One engine node: `node --import tsx api/server.ts` with JOURNAL=postgres on its own port. */
export class EngineNode {
  readonly nodeId: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  port = 0;
  baseUrl = '';

  constructor(private readonly options: NodeOptions) {
    this.nodeId = options.nodeId;
  }

  get output(): string {
    return this.#output;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.running) throw new Error(`${this.nodeId} is already running`);
    this.port = await freePort();
    this.baseUrl = `http://127.0.0.1:${this.port}`;
    const script = this.options.script ?? 'api/server.ts';
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT,
      env: {
        ...process.env,
        JOURNAL: 'postgres',
        DATABASE_URL: this.options.url,
        PG_SCHEMA: this.options.schema,
        NODE_ID: this.nodeId,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        API_KEYS,
        LOG_LEVEL: 'info',
        RATE_LIMIT_PER_MINUTE: '0',
        // Several nodes starting on an empty schema would each load the demo chain.
        DEMO_DATA: 'false',
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const append = (chunk: string) => {
      this.#output += chunk;
      if (this.#output.length > 4_000_000) this.#output = this.#output.slice(-2_000_000);
    };
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${this.nodeId} not ready in ${timeoutMs} ms:\n${this.#output.slice(-3000)}`));
      }, timeoutMs);
      const onData = () => {
        if (/listening on http/.test(this.#output)) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(`${this.nodeId} exited (${code ?? signal}) before ready:\n${this.#output.slice(-3000)}`),
        );
      });
    });
  }

  /** SIGKILL: nothing of the node's shutdown runs. */
  async kill(): Promise<void> {
    if (!this.#child || !this.running) return;
    this.#child.kill('SIGCONT');
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  signal(signal: NodeJS.Signals): void {
    this.#child?.kill(signal);
  }

  /** The last JSON line of stdout holding `field`, or undefined. */
  lastJson(field: string): Record<string, unknown> | undefined {
    const lines = this.#output.split('\n').filter((line) => line.startsWith(`{"${field}"`));
    const last = lines.at(-1);
    return last === undefined ? undefined : (JSON.parse(last) as Record<string, unknown>);
  }

  pause(): void {
    this.#child?.kill('SIGSTOP');
  }

  resume(): void {
    this.#child?.kill('SIGCONT');
  }

  /** SIGTERM, then SIGKILL after timeoutMs. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.#child || !this.running) return;
    this.#child.kill('SIGCONT');
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** JSON log lines of the node whose message matches. */
  logs(message: string | RegExp): Record<string, unknown>[] {
    const found: Record<string, unknown>[] = [];
    for (const line of this.#output.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const text = String(parsed['message']);
        if (typeof message === 'string' ? text === message : message.test(text)) found.push(parsed);
      } catch {
        // not a log line
      }
    }
    return found;
  }
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: Headers;
}

/** One HTTP request to a node, with the admin key; bounded by timeoutMs. */
export async function call(
  node: EngineNode | string,
  method: string,
  route: string,
  options: {
    body?: unknown;
    idempotencyKey?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<ApiAnswer> {
  const base = typeof node === 'string' ? node : node.baseUrl;
  const headers: Record<string, string> = { authorization: `Bearer ${API_KEY}`, ...options.headers };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    body = { text };
  }
  return { status: response.status, body, headers: response.headers };
}

export const newKey = (): string => randomUUID();

/** Registers a location and receives stock, through one node. */
export async function seedStock(node: EngineNode, locationId: string, sku: string, quantity: number) {
  const put = await call(node, 'PUT', `/v1/locations/${locationId}`, {
    body: { name: `Location ${locationId}`, type: 'store' },
    idempotencyKey: newKey(),
  });
  if (put.status !== 201 && put.status !== 200) throw new Error(`PUT location: ${put.status}`);
  const adjusted = await call(node, 'POST', `/v1/locations/${locationId}/stock/${sku}/adjustments`, {
    body: { delta: quantity, reason: 'receipt' },
    idempotencyKey: newKey(),
  });
  if (adjusted.status !== 200 && adjusted.status !== 201)
    throw new Error(`receive: ${adjusted.status} ${JSON.stringify(adjusted.body)}`);
}

export interface Level {
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
  readonly version: number;
}

export async function levelAt(node: EngineNode, locationId: string, sku: string): Promise<Level> {
  const answer = await call(node, 'GET', `/v1/locations/${locationId}/stock/${sku}`);
  if (answer.status !== 200) throw new Error(`GET level: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body as unknown as Level;
}

/** Every record of the shared journal folded from scratch with the engine's own Projection. */
export async function replayJournal(
  url: string,
  schema: string,
): Promise<{ projection: Projection; records: Awaited<ReturnType<typeof readRecords>> }> {
  const records = await readRecords(url, schema);
  const projection = new Projection();
  for (const record of records) projection.apply(record);
  return { projection, records };
}

export async function readRecords(url: string, schema: string) {
  const journal = new PgJournal({ connectionString: url, schema, logger: quietLogger });
  await journal.open();
  try {
    const records = [];
    for await (const record of journal.read(1)) records.push(record);
    return records;
  } finally {
    await journal.close();
  }
}

export const quietLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Starts the nodes in parallel on one schema; every node started is recorded in `started` for after hooks. */
export async function startNodes(
  url: string,
  schema: string,
  ids: readonly string[],
  started: EngineNode[],
  env: Record<string, string> = {},
  script?: string,
): Promise<EngineNode[]> {
  const nodes = ids.map((nodeId) => new EngineNode({ url, schema, nodeId, env, script }));
  started.push(...nodes);
  // One first, so that it applies the migrations; then the others at once.
  const [first, ...rest] = nodes;
  await first?.start();
  await Promise.all(rest.map((node) => node.start()));
  return nodes;
}

/** SIGKILLs whatever still runs (after hooks): no wait, no leak. */
export async function killAll(nodes: readonly EngineNode[]): Promise<void> {
  await Promise.all(nodes.map((node) => node.kill().catch(() => undefined)));
}

export interface Outcome {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly replayed: boolean;
  /** Which node gave the final answer, and how many attempts (retries on 503/429 or a lost connection). */
  readonly node: string;
  readonly attempts: number;
  readonly retriedCodes: string[];
}

/**
 * A client that behaves as documented: on 503/429 it retries with the same Idempotency-Key after a
 * short pause; on a lost connection (the node died) it retries on the next node. Bounded.
 */
export async function callWithRetry(
  nodes: readonly EngineNode[],
  first: number,
  method: string,
  route: string,
  options: { body?: unknown; idempotencyKey: string; otherNodeOn503?: boolean },
  maxAttempts = 60,
): Promise<Outcome> {
  let index = first;
  const retriedCodes: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const node = nodes[index % nodes.length] as EngineNode;
    try {
      const answer = await call(node, method, route, {
        body: options.body,
        idempotencyKey: options.idempotencyKey,
        timeoutMs: 20_000,
      });
      if ((answer.status === 503 || answer.status === 429) && attempt < maxAttempts) {
        retriedCodes.push(String(answer.body['code']));
        if (options.otherNodeOn503) index++;
        await delay(20 + Math.random() * 80);
        continue;
      }
      return {
        status: answer.status,
        body: answer.body,
        replayed: answer.headers.get('idempotent-replayed') === 'true',
        node: node.nodeId,
        attempts: attempt,
        retriedCodes,
      };
    } catch (error) {
      if (attempt >= maxAttempts) throw error;
      retriedCodes.push('CONNECTION_LOST');
      index++;
      await delay(20);
    }
  }
}

/** Waits until every node serves the same level, and returns it. */
export async function sameLevelEverywhere(
  nodes: readonly EngineNode[],
  locationId: string,
  sku: string,
  timeoutMs = 10_000,
): Promise<Level> {
  return waitUntil(
    `the nodes to agree on ${sku}@${locationId}`,
    async () => {
      const levels = await Promise.all(nodes.map((node) => levelAt(node, locationId, sku)));
      const views = levels.map(({ onHand, reserved, available, version }) =>
        JSON.stringify({ onHand, reserved, available, version }),
      );
      return views.every((view) => view === views[0]) ? levels[0] : undefined;
    },
    timeoutMs,
    50,
  );
}

/**
 * The fixture of a cluster suite: each test gets a fresh schema and the list of node processes it
 * starts; after it, the nodes' output is printed if it failed, the nodes are killed, `cleanup` runs,
 * and the schema is dropped.
 */
export function clusterFixture(
  url: string,
  applicationName: string,
  cleanup?: () => Promise<void>,
): { readonly schema: string; readonly started: EngineNode[] } {
  const fixture = { schema: '', started: [] as EngineNode[] };
  beforeEach(() => {
    fixture.schema = freshName('cluster');
    fixture.started = [];
  });
  afterEach(async function () {
    printLogsOnFailure(this, fixture.started);
    await killAll(fixture.started);
    await cleanup?.();
    const admin = namedPool(url, applicationName, 1);
    await dropSchema(admin, fixture.schema).finally(() => admin.end());
  });
  return fixture;
}

/** In an afterEach: when the test failed, prints each node's output without the access-log lines. */
export function printLogsOnFailure(context: Mocha.Context, nodes: readonly EngineNode[]): void {
  if (context.currentTest?.state !== 'failed') return;
  for (const node of nodes) {
    const lines = node.output.split('\n').filter((line) => !line.includes('"message":"request"'));
    console.log(`--- ${node.nodeId}\n${lines.slice(-60).join('\n')}`);
  }
}

/**
 * Holds still on the stock levels, per reservation, with what the reservation stream says of it:
 * `placed` (active or finished), or `none` (a hold whose reservation was never placed: an orphan).
 */
export function holdsInJournal(
  records: readonly { stream: string; events: readonly { type: string }[] }[],
): Map<string, { units: number; reservation: string }> {
  const units = new Map<string, number>();
  const reservations = new Map<string, string>();
  for (const record of records) {
    for (const event of record.events as readonly {
      type: string;
      reservationId?: string;
      quantity?: number;
    }[]) {
      const id = event.reservationId;
      if (id !== undefined && event.type === 'StockReserved')
        units.set(id, (units.get(id) ?? 0) + (event.quantity ?? 0));
      if (id !== undefined && (event.type === 'ReservationReleased' || event.type === 'ReservationCommitted'))
        units.set(id, (units.get(id) ?? 0) - (event.quantity ?? 0));
      if (record.stream.startsWith('reservation/')) reservations.set(record.stream.slice(12), event.type);
    }
  }
  const held = new Map<string, { units: number; reservation: string }>();
  for (const [id, count] of units) {
    if (count !== 0) held.set(id, { units: count, reservation: reservations.get(id) ?? 'none' });
  }
  return held;
}

export interface SseStream {
  readonly status: number;
  /** The ids of the data messages received so far, in order. */
  readonly ids: string[];
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): void;
}

/** A minimal SSE client (node:http): collects the `id:` of each data message. */
export function openStream(
  node: EngineNode,
  route: string,
  headers: Record<string, string> = {},
): Promise<SseStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      `${node.baseUrl}${route}`,
      { headers: { accept: 'text/event-stream', authorization: `Bearer ${API_KEY}`, ...headers } },
      (response) => {
        const ids: string[] = [];
        let buffer = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          buffer += chunk;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = block.split('\n').find((line) => line.startsWith('id: '));
            if (id && block.includes('\ndata: ')) ids.push(id.slice(4));
          }
        });
        response.on('error', () => undefined);
        resolve({
          status: response.statusCode ?? 0,
          ids,
          waitFor: async (predicate, timeoutMs = 10_000) => {
            await waitUntil('SSE messages', () => predicate(), timeoutMs, 10);
          },
          close: () => request.destroy(),
        });
      },
    );
    request.on('error', reject);
  });
}

/** Every item id of the changes feed of a node, from the start, page by page. */
export async function feedIds(node: EngineNode): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const query = after === undefined ? '?limit=1000' : `?limit=1000&after=${after}`;
    const answer = await call(node, 'GET', `/v1/events${query}`);
    const items = answer.body['items'] as { id: string }[];
    if (items.length === 0) return ids;
    ids.push(...items.map((item) => item.id));
    after = items[items.length - 1]?.id;
  }
  return ids;
}
