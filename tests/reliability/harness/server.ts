// One engine process for the promise tests: api/server.ts as a child process on 127.0.0.1 with its own
// data directory, its HTTP API, and its journal read without changing it.
import path from 'node:path';
import type { JournalRecord } from '../../../storage/journal.js';
import type { HttpResult } from '../../support/store-agent-processes.js';
import {
  EngineProcess,
  freePort,
  http,
  keys,
  makeTemp,
  removeTemp,
} from '../../support/store-agent-processes.js';
import { readJournalRecords } from './observe.js';

export type KeyName = keyof typeof keys;

export class TestServer {
  engine!: EngineProcess;
  dir = '';

  constructor(readonly env: Readonly<Record<string, string>> = {}) {}

  get url(): string {
    return this.engine.url;
  }

  get dataDir(): string {
    return path.join(this.dir, 'engine');
  }

  /** Starts on a fresh data directory (or `dataDir`), FAULT_INJECTION and DEMO_DATA off unless `env` says. */
  async start(dataDir?: string): Promise<this> {
    if (!this.dir) this.dir = await makeTemp('reliability');
    this.engine = new EngineProcess({
      dataDir: dataDir ?? this.dataDir,
      port: this.engine?.options.port ?? (await freePort()),
      env: { DEMO_DATA: 'false', ...this.env },
    });
    await this.engine.start(60_000);
    return this;
  }

  /** SIGKILL and start again on the same directory and port. */
  async crashAndRestart(env: Readonly<Record<string, string>> = {}): Promise<void> {
    await this.engine.kill();
    const port = this.engine.options.port;
    this.engine = new EngineProcess({
      dataDir: this.engine.options.dataDir,
      port,
      env: { DEMO_DATA: 'false', ...this.env, ...env },
    });
    await this.engine.start(60_000);
  }

  request(
    method: string,
    route: string,
    options: { as?: KeyName; body?: unknown; idempotencyKey?: string; headers?: Record<string, string> } = {},
  ): Promise<HttpResult> {
    return http(this.url, method, route, {
      key: keys[options.as ?? 'admin'],
      body: options.body,
      idempotencyKey: options.idempotencyKey,
      headers: options.headers,
    });
  }

  async journal(): Promise<JournalRecord[]> {
    return readJournalRecords(path.join(this.engine.options.dataDir, 'journal'));
  }

  async faults(command: {
    failNextFsyncs?: number;
    failNextWrites?: number;
    clockOffsetMs?: number;
  }): Promise<HttpResult> {
    const result = await this.request('POST', '/v1/_faults', { body: command });
    if (result.status !== 200) throw new Error(`POST /v1/_faults: ${result.status} ${result.text}`);
    return result;
  }

  async close(): Promise<void> {
    await this.engine?.kill();
    await removeTemp(this.dir);
  }
}

/** Registers locations and sets each level's on-hand with a first count. */
export async function seedStock(
  server: TestServer,
  levels: readonly { sku: string; locationId: string; onHand: number }[],
  locations: readonly { id: string; type: 'store' | 'warehouse' | 'online' }[],
): Promise<void> {
  for (const location of locations) {
    const result = await server.request('PUT', `/v1/locations/${location.id}`, {
      body: { name: `Location ${location.id}`, type: location.type },
      idempotencyKey: `seed-location-${location.id}`,
    });
    if (result.status !== 201 && result.status !== 200)
      throw new Error(`location ${location.id}: ${result.text}`);
  }
  for (const level of levels) {
    const result = await server.request('PUT', `/v1/locations/${level.locationId}/stock/${level.sku}`, {
      body: { onHand: level.onHand },
      idempotencyKey: `seed-${level.sku}-${level.locationId}`,
      headers: { 'if-none-match': '*' },
    });
    if (result.status !== 200) throw new Error(`count ${level.sku}@${level.locationId}: ${result.text}`);
  }
}

export { removeTemp };
