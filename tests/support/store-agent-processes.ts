// Real processes for the store agent's integration tests and benchmark: the engine's HTTP API
// (`node --import tsx api/server.ts`) and the store agent (`node --import tsx store-agent/main.ts`),
// each a child process on 127.0.0.1 with its own temporary data directory, started, killed
// (SIGKILL) and restarted on command. Also: HTTP helpers, bounded waits, and the checks that the
// engine's state equals the store's journal.
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { FileJournal } from '../../storage/file-journal.js';
import type { StorageLogger } from '../../storage/logger.js';
import type { TillEvent } from '../../store-agent/till-events.js';
import { tillEventOf } from '../../store-agent/till-events.js';
import { delay, freePort, waitUntil } from './waiting.js';

export { delay, freePort, waitUntil };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const keys = {
  admin: 'agent-admin-key-0123456789abcdef',
  storeS1: 'agent-store-s1-key-0123456789abcdef',
  storeS2: 'agent-store-s2-key-0123456789abcdef',
  storefront: 'agent-storefront-key-0123456789abcdef',
  reader: 'agent-reader-key-0123456789abcdef',
} as const;

export const apiKeysEnv = [
  `${keys.admin}:admin`,
  `${keys.storeS1}:store:S1`,
  `${keys.storeS2}:store:S2`,
  `${keys.storefront}:storefront`,
  `${keys.reader}:reader`,
].join(',');

export async function makeTemp(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `stockline-${prefix}-`));
}

export async function removeTemp(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/** A child process that prints a line matching `ready` on stdout once it serves. */
export class ManagedProcess {
  #child: ChildProcess | undefined;
  #output = '';
  #exit: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly name: string,
    private readonly command: () => { args: string[]; env: Record<string, string> },
    private readonly ready: RegExp,
  ) {}

  get output(): string {
    return this.#output;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Starts the process and resolves with the ready line's match. */
  async start(timeoutMs = 30_000): Promise<RegExpMatchArray> {
    if (this.running) throw new Error(`${this.name} is already running`);
    const { args, env } = this.command();
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let stdout = '';
    const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`${this.name} did not become ready in ${timeoutMs} ms:\n${this.#output.slice(-3000)}`),
        );
      }, timeoutMs);
      child.stdout?.setEncoding('utf8');
      child.stderr?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        stdout += chunk;
        this.#output += chunk;
        const found = this.ready.exec(stdout);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child.stderr?.on('data', (chunk: string) => {
        this.#output += chunk;
        // Bound the memory a chatty child can take in a long run.
        if (this.#output.length > 2_000_000) this.#output = this.#output.slice(-1_000_000);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(
          new Error(
            `${this.name} exited (${code ?? signal}) before it was ready:\n${this.#output.slice(-3000)}`,
          ),
        );
      });
    });
    return match;
  }

  /** SIGKILL: no shutdown code runs. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGKILL');
    await this.#exit;
  }

  /** SIGTERM and wait for a graceful exit (SIGKILL after `timeoutMs`). Resolves with the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.#child?.exitCode ?? null;
    this.#child?.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), timeoutMs);
    const code = await this.#exit;
    clearTimeout(timer);
    return code;
  }
}

export interface EngineProcessOptions {
  readonly dataDir: string;
  readonly port: number;
  readonly env?: Record<string, string>;
}

export class EngineProcess extends ManagedProcess {
  readonly url: string;
  constructor(readonly options: EngineProcessOptions) {
    super(
      'engine',
      () => ({
        args: ['api/server.ts'],
        env: {
          PORT: String(options.port),
          HOST: '127.0.0.1',
          DATA_DIR: options.dataDir,
          API_KEYS: apiKeysEnv,
          LOG_LEVEL: 'warn',
          // The default 6000 requests/min per key would throttle an agent forwarding hundreds of events/s.
          RATE_LIMIT_PER_MINUTE: '0',
          // An empty engine: the demo chain's locations and stock would blur what the tests compare.
          DEMO_DATA: 'false',
          ...options.env,
        },
      }),
      /listening on (http:\/\/\S+)/,
    );
    this.url = `http://127.0.0.1:${options.port}`;
  }
}

export interface AgentProcessOptions {
  readonly storeId: string;
  readonly engineUrl: string;
  readonly dataDir: string;
  readonly key?: string;
  readonly extraArgs?: readonly string[];
}

export class AgentProcess extends ManagedProcess {
  #url = '';
  constructor(readonly options: AgentProcessOptions) {
    super(
      `agent ${options.storeId}`,
      () => ({
        args: [
          'store-agent/main.ts',
          '--store',
          options.storeId,
          '--engine',
          options.engineUrl,
          '--key',
          options.key ?? (options.storeId === 'S2' ? keys.storeS2 : keys.storeS1),
          '--data',
          options.dataDir,
          '--port',
          '0',
          '--log-level',
          'warn',
          ...(options.extraArgs ?? []),
        ],
        env: {},
      }),
      /listening on (http:\/\/\S+)/,
    );
  }

  get url(): string {
    return this.#url;
  }

  override async start(timeoutMs = 30_000): Promise<RegExpMatchArray> {
    const match = await super.start(timeoutMs);
    this.#url = match[1] ?? '';
    return match;
  }
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly json: Record<string, unknown>;
  readonly text: string;
}

/** One HTTP call with a JSON body and answer; `key` is sent as a Bearer token. */
export async function http(
  base: string,
  method: string,
  route: string,
  options: { key?: string; body?: unknown; idempotencyKey?: string; headers?: Record<string, string> } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers['authorization'] = `Bearer ${options.key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const response = await fetch(`${base}${route}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let json: Record<string, unknown>;
  try {
    json = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    json = {};
  }
  return { status: response.status, headers: response.headers, json, text };
}

let idempotencyCounter = 0;
export const uniqueKey = (prefix: string): string =>
  `${prefix}-${process.pid}-${Date.now()}-${++idempotencyCounter}`;

/** Registers a location with the admin key. */
export async function registerLocation(
  engineUrl: string,
  id: string,
  type: 'store' | 'warehouse' = 'store',
): Promise<void> {
  const result = await http(engineUrl, 'PUT', `/v1/locations/${id}`, {
    key: keys.admin,
    body: { name: `Location ${id}`, type },
    idempotencyKey: uniqueKey(`loc-${id}`),
  });
  if (result.status !== 200 && result.status !== 201)
    throw new Error(`register ${id}: ${result.status} ${result.text}`);
}

/** Posts till events to an agent; resolves with the seqs it assigned. */
export async function till(
  agentUrl: string,
  events: readonly { type: string; sku: string; quantity: number; reason?: string }[],
  idempotencyKey?: string,
): Promise<number[]> {
  const result = await http(agentUrl, 'POST', '/till/events', { body: { events }, idempotencyKey });
  if (result.status !== 201) throw new Error(`till: ${result.status} ${result.text}`);
  return (result.json['events'] as { seq: number }[]).map((event) => event.seq);
}

export interface AgentHealth {
  status: string;
  journal: { lastSeq: number };
  forwarding: {
    ackedSeq: number;
    backlog: number;
    breaker: string;
    diverged: string | null;
    lastError: unknown;
  };
}

/** The agent's GET /healthz body (its shape is the agent's; see StoreAgent.health). */
export async function agentHealth(agentUrl: string): Promise<AgentHealth> {
  const result = await http(agentUrl, 'GET', '/healthz');
  return result.json as unknown as AgentHealth;
}

/** Reads a stopped agent's journal (opening a FileJournal repairs a torn tail, as the agent would). */
export async function readAgentJournal(dataDir: string): Promise<TillEvent[]> {
  const quiet: StorageLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const journal = new FileJournal({ dir: path.join(dataDir, 'journal'), logger: quiet });
  await journal.open();
  const events: TillEvent[] = [];
  try {
    for await (const record of journal.read(1)) events.push(tillEventOf(record));
  } finally {
    await journal.close();
  }
  return events;
}

/** On-hand per SKU after folding the till events over the starting figures. */
export function foldTill(
  events: readonly TillEvent[],
  start: ReadonlyMap<string, number> = new Map(),
): Map<string, number> {
  const onHand = new Map(start);
  for (const event of events) {
    const current = onHand.get(event.sku) ?? 0;
    switch (event.type) {
      case 'sale':
        onHand.set(event.sku, current - event.quantity);
        break;
      case 'return':
      case 'receipt':
      case 'adjustment':
        onHand.set(event.sku, current + event.quantity);
        break;
      case 'count':
        onHand.set(event.sku, event.quantity);
        break;
      default: {
        const _exhaustive: never = event.type;
        return _exhaustive;
      }
    }
  }
  return onHand;
}

export interface AppliedStoreEvent {
  readonly seq: number;
  readonly sku: string;
  readonly type: string;
}

/** Every till event of `storeId` the engine journaled, in journal order (from the changes feed). */
export async function engineStoreEvents(engineUrl: string, storeId: string): Promise<AppliedStoreEvent[]> {
  const applied: AppliedStoreEvent[] = [];
  let after: string | undefined;
  for (let page = 0; page < 100_000; page++) {
    const result = await http(engineUrl, 'GET', `/v1/events?limit=1000${after ? `&after=${after}` : ''}`, {
      key: keys.reader,
    });
    if (result.status !== 200) throw new Error(`feed: ${result.status} ${result.text}`);
    const items = result.json['items'] as {
      id: string;
      type: string;
      stream: string;
      event: { source?: { storeId?: string; seq?: number } };
    }[];
    for (const item of items) {
      const source = item.event.source;
      if (source?.storeId === storeId && typeof source.seq === 'number') {
        applied.push({ seq: source.seq, sku: item.stream.split('/')[1] ?? '', type: item.type });
      }
    }
    if (items.length === 0) return applied;
    after = items[items.length - 1]?.id;
  }
  throw new Error('feed did not end within 100,000 pages');
}

export async function engineOnHand(
  engineUrl: string,
  storeId: string,
  sku: string,
): Promise<number | undefined> {
  const result = await http(engineUrl, 'GET', `/v1/locations/${storeId}/stock/${sku}`, { key: keys.reader });
  if (result.status === 404) return undefined;
  if (result.status !== 200) throw new Error(`level ${sku}@${storeId}: ${result.status} ${result.text}`);
  return result.json['onHand'] as number;
}

export interface JournalComparison {
  readonly journalEvents: number;
  readonly engineLastSeq: number;
  /** Store seqs as the engine applied them, in the engine's journal order. */
  readonly appliedSeqs: number[];
  readonly journalOnHand: Map<string, number>;
  readonly engineOnHand: Map<string, number | undefined>;
}

/** Gathers both sides: the agent's journal (agent stopped) and what the engine applied and holds. */
export async function compareEngineWithJournal(
  engineUrl: string,
  agentDataDir: string,
  storeId: string,
): Promise<JournalComparison> {
  const events = await readAgentJournal(agentDataDir);
  const store = await http(engineUrl, 'GET', `/v1/stores/${storeId}`, { key: keys.reader });
  const applied = await engineStoreEvents(engineUrl, storeId);
  const journalOnHand = foldTill(events);
  const engineLevels = new Map<string, number | undefined>();
  for (const sku of journalOnHand.keys()) engineLevels.set(sku, await engineOnHand(engineUrl, storeId, sku));
  return {
    journalEvents: events.length,
    engineLastSeq: store.json['lastSeq'] as number,
    appliedSeqs: applied.map((event) => event.seq),
    journalOnHand,
    engineOnHand: engineLevels,
  };
}

/** 1..n */
export const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/**
 * The end-to-end invariant: with the agent stopped, the engine holds exactly the store's journal —
 * its last store seq is the journal's last, every seq 1..n was applied once and in order, and the
 * on-hand of every SKU equals the fold of the journal's events.
 */
export async function expectEngineEqualsJournal(
  engineUrl: string,
  agentDataDir: string,
  storeId: string,
): Promise<JournalComparison> {
  const comparison = await compareEngineWithJournal(engineUrl, agentDataDir, storeId);
  expect(comparison.journalEvents, 'events in the agent journal').to.be.greaterThan(0);
  expect(comparison.engineLastSeq, "engine's lastStoreSeq").to.equal(comparison.journalEvents);
  expect(comparison.appliedSeqs.length, 'till events the engine journaled').to.equal(
    comparison.journalEvents,
  );
  expect(comparison.appliedSeqs, 'applied exactly once, in order').to.deep.equal(
    oneTo(comparison.journalEvents),
  );
  expect(Object.fromEntries(comparison.engineOnHand), 'on-hand per SKU').to.deep.equal(
    Object.fromEntries(comparison.journalOnHand),
  );
  return comparison;
}

export interface TillEventBody {
  type: 'sale' | 'return' | 'receipt' | 'adjustment' | 'count';
  sku: string;
  quantity: number;
  reason?: string;
}

/** A reproducible mix of till events over a few SKUs: mostly sales, some receipts, returns, adjustments, counts. */
export function tillMix(
  count: number,
  seed: number,
  skus: readonly string[] = ['A', 'B', 'C', 'D'],
): TillEventBody[] {
  let state = seed >>> 0;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const events: TillEventBody[] = [];
  for (let i = 0; i < count; i++) {
    const sku = skus[Math.floor(next() * skus.length)] ?? 'A';
    const roll = next();
    const quantity = 1 + Math.floor(next() * 3);
    if (roll < 0.7) events.push({ type: 'sale', sku, quantity });
    else if (roll < 0.8) events.push({ type: 'receipt', sku, quantity: quantity * 10 });
    else if (roll < 0.88) events.push({ type: 'return', sku, quantity });
    else if (roll < 0.96)
      events.push({
        type: 'adjustment',
        sku,
        quantity: next() < 0.5 ? -quantity : quantity,
        reason: 'damage',
      });
    else events.push({ type: 'count', sku, quantity: Math.floor(next() * 50) });
  }
  return events;
}

/** A sample's value from Prometheus text (`name{labels}` as printed, labels in the registry's order). */
export async function metricValue(agentUrl: string, sample: string): Promise<number> {
  const result = await http(agentUrl, 'GET', '/metrics');
  for (const line of result.text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return 0;
}

/** Splits a list into chunks of `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Waits until the agent's backlog is empty and returns its last seq. */
export async function drained(agentUrl: string, timeoutMs = 30_000): Promise<number> {
  return waitUntil(
    'the agent backlog to drain',
    async () => {
      const health = await agentHealth(agentUrl);
      return health.forwarding.backlog === 0 && health.journal.lastSeq > 0
        ? health.journal.lastSeq
        : undefined;
    },
    timeoutMs,
  );
}
