// Runs the real HTTP API in-process on the real engine over a real FileJournal and snapshot store in
// a temporary directory, listening on 127.0.0.1 port 0, with one API key per role. Tests talk HTTP
// with fetch and read the journal the engine writes to check what a request changed.
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import type { Clock } from '../../engine/clock.js';
import type { EngineOptions } from '../../engine/engine.js';
import { Engine } from '../../engine/engine.js';
import type { FileOps } from '../../storage/file-ops.js';
import { FileJournal } from '../../storage/file-journal.js';
import type { JournalRecord } from '../../storage/journal.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';
import { createApp } from '../../api/app.js';
import type { InventoryApp } from '../../api/app.js';
import type { ApiConfig } from '../../api/config.js';
import { loadConfig } from '../../api/config.js';
import { createLogger } from '../../api/logger.js';
import type { SchemaName } from '../../api/schemas.js';

export const keys = {
  admin: 'admin-key-0123456789abcdef',
  storeS1: 'store-s1-key-0123456789abcdef',
  storeS2: 'store-s2-key-0123456789abcdef',
  storefront: 'storefront-key-0123456789abcdef',
  reader: 'reader-key-0123456789abcdef',
} as const;
export type KeyName = keyof typeof keys;

export const apiKeysEnv = [
  `${keys.admin}:admin`,
  `${keys.storeS1}:store:S1`,
  `${keys.storeS2}:store:S2`,
  `${keys.storefront}:storefront`,
  `${keys.reader}:reader`,
].join(',');

export interface ApiResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The parsed JSON body, or undefined when the body is not JSON. */
  readonly body: unknown;
  readonly json: Record<string, unknown>;
}

export interface RequestOptions {
  /** A role's key, a raw Authorization value via `authorization`, or null for none. Default admin. */
  readonly as?: KeyName | null;
  readonly authorization?: string;
  readonly body?: unknown;
  /** Sent as is (no JSON encoding) when given. */
  readonly rawBody?: string | Buffer;
  readonly headers?: Record<string, string>;
  readonly idempotencyKey?: string;
}

export interface HarnessOptions {
  readonly env?: Record<string, string>;
  readonly engine?: Partial<EngineOptions>;
  readonly clock?: Clock;
  readonly fileOps?: FileOps;
}

export interface ApiHarness {
  readonly dir: string;
  engine: Engine;
  journal: FileJournal;
  app: InventoryApp;
  config: ApiConfig;
  baseUrl: string;
  /** Every log line the app wrote, parsed. */
  readonly logs: Record<string, unknown>[];
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /** Every durable journal record, in order. */
  records(): Promise<JournalRecord[]>;
  /** Stops the listener and the engine (flush + snapshot) and starts both again on the same directory. */
  restart(): Promise<void>;
  cleanup(): Promise<void>;
}

const listen = (app: InventoryApp): Promise<Server> =>
  new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
    server.once('error', reject);
  });

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

export async function startApi(options: HarnessOptions = {}): Promise<ApiHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'stockline-api-'));
  const logs: Record<string, unknown>[] = [];
  const logStream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const config = loadConfig({
    API_KEYS: apiKeysEnv,
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'info',
    DATA_DIR: dir,
    ...options.env,
  });
  const logger = createLogger({ level: config.logLevel, stream: logStream });

  const openEngine = async () => {
    const journal = new FileJournal({
      dir: join(dir, 'journal'),
      logger,
      ...(options.fileOps ? { fileOps: options.fileOps } : {}),
    });
    const engine = await Engine.start({
      journal,
      snapshots: new LowdbSnapshotStore({ dir: join(dir, 'snapshots'), logger }),
      logger,
      timers: false,
      mailboxCapacity: 100_000,
      defaultTtlSeconds: config.defaultTtlSeconds,
      maxTtlSeconds: config.maxTtlSeconds,
      paymentPendingTtlSeconds: config.paymentPendingTtlSeconds,
      lowStockThreshold: config.lowStockThreshold,
      ...(options.clock ? { clock: options.clock } : {}),
      ...options.engine,
    });
    return { journal, engine };
  };

  const boot = async () => {
    const { journal, engine } = await openEngine();
    const app = createApp({ engine, config, logger });
    const server = await listen(app);
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('no address');
    return { journal, engine, app, server, baseUrl: `http://127.0.0.1:${address.port}` };
  };

  let running = await boot();
  const harness: ApiHarness = {
    dir,
    engine: running.engine,
    journal: running.journal,
    app: running.app,
    config,
    baseUrl: running.baseUrl,
    logs,
    async request(method, path, requestOptions = {}) {
      const headers: Record<string, string> = { ...requestOptions.headers };
      const as = requestOptions.as === undefined ? 'admin' : requestOptions.as;
      if (requestOptions.authorization !== undefined) headers.authorization = requestOptions.authorization;
      else if (as !== null) headers.authorization = `Bearer ${keys[as]}`;
      if (requestOptions.idempotencyKey !== undefined)
        headers['idempotency-key'] = requestOptions.idempotencyKey;
      let body: string | Buffer | undefined;
      if (requestOptions.rawBody !== undefined) body = requestOptions.rawBody;
      else if (requestOptions.body !== undefined) {
        body = JSON.stringify(requestOptions.body);
        headers['content-type'] ??= 'application/json';
      }
      const response = await fetch(`${harness.baseUrl}${path}`, { method, headers, body });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text.length > 0 ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return {
        status: response.status,
        headers: response.headers,
        text,
        body: parsed,
        json: (parsed ?? {}) as Record<string, unknown>,
      };
    },
    async records() {
      const records: JournalRecord[] = [];
      for await (const record of harness.journal.read(1)) records.push(record);
      return records;
    },
    async restart() {
      await close(running.server);
      running.app.stockline.drain();
      await running.engine.stop();
      running = await boot();
      harness.engine = running.engine;
      harness.journal = running.journal;
      harness.app = running.app;
      harness.baseUrl = running.baseUrl;
    },
    async cleanup() {
      running.app.stockline.drain();
      await close(running.server);
      await running.engine.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Asserts a JSON body matches its documented schema (the schema the OpenAPI document publishes). */
export function expectSchema(harness: ApiHarness, name: SchemaName, value: unknown): void {
  const errors = harness.app.stockline.registry.check(name, value);
  expect(errors, `${name}: ${JSON.stringify(errors)} in ${JSON.stringify(value)}`).to.deep.equal([]);
}

/** Asserts a problem+json answer with the given status and code, checked against the Problem schema. */
export function expectProblem(
  harness: ApiHarness,
  response: ApiResponse,
  status: number,
  code: string,
): void {
  expect(response.status, response.text).to.equal(status);
  expect(response.headers.get('content-type')).to.match(/^application\/problem\+json/);
  expect(response.json.code, response.text).to.equal(code);
  expect(response.json.status).to.equal(status);
  expect(response.json).to.not.have.property('stack');
  expectSchema(harness, 'Problem', response.json);
}

/** Registers S1, S2 (stores) and W1 (warehouse). */
export async function registerLocations(harness: ApiHarness): Promise<void> {
  for (const [id, type] of [
    ['S1', 'store'],
    ['S2', 'store'],
    ['W1', 'warehouse'],
  ] as const) {
    const response = await harness.request('PUT', `/v1/locations/${id}`, {
      body: { name: `Location ${id}`, type },
    });
    expect(response.status, response.text).to.equal(201);
  }
}

/** Sets on-hand by a count with If-Match from the current ETag; returns the level. */
export async function setOnHand(
  harness: ApiHarness,
  locationId: string,
  sku: string,
  onHand: number,
  safetyStock?: number,
): Promise<Record<string, unknown>> {
  const current = await harness.request('GET', `/v1/locations/${locationId}/stock/${sku}`);
  const etag = current.status === 200 ? (current.headers.get('etag') ?? '"0"') : '"0"';
  const response = await harness.request('PUT', `/v1/locations/${locationId}/stock/${sku}`, {
    body: safetyStock === undefined ? { onHand } : { onHand, safetyStock },
    headers: { 'if-match': etag },
  });
  expect(response.status, response.text).to.equal(200);
  return response.json;
}
