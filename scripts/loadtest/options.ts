// Command-line options of scripts/loadtest.ts. Every count and duration is bounded, so no option can
// make a run unbounded; the defaults run every scenario in under three minutes on a 2-core machine.
import { parseArgs } from 'node:util';

export const scenarioNames = [
  'storefront-read',
  'reserve-spread',
  'flash-sale',
  'till-stream',
  'mixed',
  'sse-fanout',
] as const;
export type ScenarioName = (typeof scenarioNames)[number];

export interface LoadTestOptions {
  readonly scenarios: readonly ScenarioName[];
  /** Measured seconds per phase. */
  readonly duration: number;
  /** Warm-up seconds before each measured phase (answers not counted). */
  readonly warmup: number;
  readonly connections: number;
  /** SKUs seeded per catalogue scenario (each at three locations). */
  readonly catalogue: number;
  /** Simultaneous clients of the flash-sale burst, and the stock they fight over. */
  readonly flashClients: number;
  readonly flashStock: number;
  /** Stores of till-stream (one connection each) and events per batch. */
  readonly stores: number;
  readonly batchSize: number;
  /** SSE subscribers of sse-fanout and the till events per second written meanwhile. */
  readonly subscribers: number;
  readonly writeRate: number;
  /** An already running server, and its admin key; otherwise the test starts its own. */
  readonly url: string | undefined;
  readonly key: string | undefined;
  readonly compare: boolean;
  readonly profile: boolean;
  readonly json: boolean;
  readonly logLevel: string;
  readonly seed: number;
  /** HTTP_WORKERS of the started server: 0 serves HTTP in the engine's process. */
  readonly workers: number;
}

export const usage = `Usage: node --import tsx scripts/loadtest.ts [options]

HTTP load test of the inventory engine (autocannon). Starts its own server on 127.0.0.1 (a child
process over a temporary DATA_DIR) unless --url is given, seeds its own data, warms up, measures
for a fixed time, then checks the invariants over HTTP.

  --scenario NAME       ${scenarioNames.join(', ')}, all (default), or a comma list
  --duration S          measured seconds per phase (default 8, 1..120)
  --warmup S            warm-up seconds before each phase (default 2, 0..30)
  --connections N       concurrent connections (default 64, 1..1024)
  --catalogue N         SKUs per catalogue scenario, each at 3 locations (default 10000, 100..200000)
  --flash-clients N     simultaneous clients of the flash-sale burst (default 2000, 10..5000)
  --flash-stock N       units they fight over (default 500)
  --stores N            stores of till-stream, one connection each (default 64, 1..512)
  --batch-size N        till events per batch (default 10, 1..1000)
  --subscribers N       SSE subscribers of sse-fanout (default 200, 1..2000)
  --write-rate N        till events per second during sse-fanout (default 200, 1..5000)
  --workers N           HTTP_WORKERS of the started server: N HTTP processes in front of the
                        engine's process (default 0: one process serves HTTP and runs the engine)
  --compare             also measure a bare Express 5 app and a plain node:http server (the ceilings)
  --profile             also run reserve-spread against a server under node --cpu-prof, and summarise
  --url URL --key KEY   target a running server with an admin key instead of starting one
  --log-level LEVEL     LOG_LEVEL of the started server (default info, as in production)
  --seed N              seed of the random choices (default 1)
  --json                print the report as JSON on stdout (progress stays on stderr)
  -h, --help            this help
`;

export class UsageError extends Error {}

function bounded(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a number from ${min} to ${max} (got ${raw})`);
  }
  return value;
}

export function parseOptions(argv: readonly string[]): LoadTestOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        scenario: { type: 'string' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        connections: { type: 'string' },
        catalogue: { type: 'string' },
        'flash-clients': { type: 'string' },
        'flash-stock': { type: 'string' },
        stores: { type: 'string' },
        'batch-size': { type: 'string' },
        subscribers: { type: 'string' },
        'write-rate': { type: 'string' },
        url: { type: 'string' },
        key: { type: 'string' },
        compare: { type: 'boolean', default: false },
        profile: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        'log-level': { type: 'string' },
        seed: { type: 'string' },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  if (values.help) return 'help';
  const requested = (values.scenario ?? 'all').split(',').map((name) => name.trim());
  const scenarios: ScenarioName[] = [];
  for (const name of requested) {
    if (name === 'all') scenarios.push(...scenarioNames);
    else if ((scenarioNames as readonly string[]).includes(name)) scenarios.push(name as ScenarioName);
    else if (name !== 'none')
      throw new UsageError(
        `unknown scenario ${JSON.stringify(name)}; use ${scenarioNames.join(', ')} or all`,
      );
  }
  if ((values.url === undefined) !== (values.key === undefined)) {
    throw new UsageError('--url and --key go together (the key must have the admin role)');
  }
  if (values.url !== undefined && values.workers !== undefined) {
    throw new UsageError('--workers sets HTTP_WORKERS of the server the test starts; drop --url');
  }
  if (values.url !== undefined && values.profile) {
    throw new UsageError('--profile starts its own server under node --cpu-prof; drop --url');
  }
  const logLevel = values['log-level'] ?? 'info';
  if (!['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'].includes(logLevel)) {
    throw new UsageError(`--log-level must be a winston level (got ${logLevel})`);
  }
  return {
    scenarios: [...new Set(scenarios)],
    duration: bounded('duration', values.duration, 8, 1, 120),
    warmup: bounded('warmup', values.warmup, 2, 0, 30),
    connections: Math.round(bounded('connections', values.connections, 64, 1, 1024)),
    catalogue: Math.round(bounded('catalogue', values.catalogue, 10_000, 100, 200_000)),
    flashClients: Math.round(bounded('flash-clients', values['flash-clients'], 2000, 10, 5000)),
    flashStock: Math.round(bounded('flash-stock', values['flash-stock'], 500, 1, 1_000_000)),
    stores: Math.round(bounded('stores', values.stores, 64, 1, 512)),
    batchSize: Math.round(bounded('batch-size', values['batch-size'], 10, 1, 1000)),
    subscribers: Math.round(bounded('subscribers', values.subscribers, 200, 1, 2000)),
    writeRate: Math.round(bounded('write-rate', values['write-rate'], 200, 1, 5000)),
    url: values.url?.replace(/\/+$/, ''),
    key: values.key,
    compare: values.compare,
    profile: values.profile,
    json: values.json,
    logLevel,
    seed: Math.round(bounded('seed', values.seed, 1, 0, 2 ** 31)),
    workers: Math.round(bounded('workers', values.workers, 0, 0, 16)),
  };
}
