// The load test as a function: starts (or targets) the server, runs the chosen scenarios one after
// another on it, then the ceilings (--compare) and the profile (--profile), and returns the report.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { CeilingResult } from './ceilings.js';
import { Ceilings } from './ceilings.js';
import { ApiClient } from './client.js';
import type { LoadTestOptions, ScenarioName } from './options.js';
import type { ChildServer } from './processes.js';
import { SnapshotLog, startEngineServer } from './processes.js';
import type { ProfileSummary } from './profile.js';
import { profileReserve } from './profile.js';
import type { Scenario, ScenarioContext, ScenarioReport, Target } from './scenario.js';
import { flashSale } from './scenarios/flash-sale.js';
import { mixed } from './scenarios/mixed.js';
import { reserveSpread } from './scenarios/reserve-spread.js';
import { sseFanout } from './scenarios/sse-fanout.js';
import { storefrontRead } from './scenarios/storefront-read.js';
import { tillStream } from './scenarios/till-stream.js';
import { catalogueLocations, putLocations } from './seed.js';
import type { Ratio, TargetResult } from './targets.js';
import { evaluateTargets, ratiosOf } from './targets.js';

export const scenarios: Record<ScenarioName, Scenario> = {
  'storefront-read': storefrontRead,
  'reserve-spread': reserveSpread,
  'flash-sale': flashSale,
  'till-stream': tillStream,
  mixed,
  'sse-fanout': sseFanout,
};

export interface ScenarioFailure {
  readonly name: ScenarioName;
  readonly error: string;
}

export interface LoadTestReport {
  readonly tool: 'scripts/loadtest.ts';
  readonly date: string;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel: string;
    readonly memoryGiB: number;
    readonly node: string;
    readonly platform: string;
    readonly loadAverageAtStart: number[];
    readonly note: string;
  };
  readonly command: string;
  readonly options: LoadTestOptions;
  readonly server: {
    readonly mode: 'child' | 'url';
    readonly url: string;
    readonly command: string | null;
    readonly env: Record<string, string>;
  };
  readonly scenarios: ScenarioReport[];
  readonly failures: ScenarioFailure[];
  readonly ceilings: CeilingResult[];
  readonly ratios: Ratio[];
  readonly targets: TargetResult[];
  readonly profile: ProfileSummary | null;
  readonly invariantsOk: boolean;
  readonly seconds: number;
}

/** The server's environment for a load test: limits that would otherwise throttle the load itself. */
export function serverEnv(options: LoadTestOptions): Record<string, string> {
  return {
    LOG_LEVEL: options.logLevel,
    // Each scenario seeds its own data; the demo chain would only add levels nobody reads.
    DEMO_DATA: 'false',
    // The default (6,000 per key per minute) would answer 429 within a second; the limiter stays on,
    // so its per-request cost is measured.
    RATE_LIMIT_PER_MINUTE: '10000000',
    // The flash-sale burst opens thousands of connections at once; the default 1,024 would shed them.
    MAX_IN_FLIGHT: String(Math.max(1024, options.flashClients * 2)),
    MAX_SSE_CLIENTS: String(Math.max(1000, options.subscribers + 100)),
    // The default, stated so snapshotSettler knows when a snapshot is due.
    SNAPSHOT_EVERY_RECORDS: String(SNAPSHOT_EVERY_RECORDS),
    ...(options.workers > 0 ? { HTTP_WORKERS: String(options.workers) } : {}),
  };
}

const SNAPSHOT_EVERY_RECORDS = 50_000;

/**
 * Seeding writes tens of thousands of records at once, and the snapshot they trigger would otherwise
 * land in the next measured phase. When the journal is a snapshot interval or more past the last
 * snapshot written, one is probably being written: wait (at most 15 s) for it to appear in the log.
 * The engine counts records from the end of a snapshot, so "due" is a guess: it is waited for at most
 * once per snapshot seq. Snapshots during measured phases still happen, and each phase counts them.
 */
function snapshotSettler(
  url: string,
  log: SnapshotLog,
  progress: (line: string) => void,
): () => Promise<void> {
  const waitedAt = new Set<number>();
  return async () => {
    const metrics = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const lastSeq = Number(/^stockline_journal_last_seq (\d+)/m.exec(metrics)?.[1] ?? '0');
    const snapshotSeq = log.refresh().lastSeq;
    if (lastSeq - snapshotSeq < SNAPSHOT_EVERY_RECORDS || waitedAt.has(snapshotSeq)) return;
    waitedAt.add(snapshotSeq);
    progress(`  waiting for a snapshot (journal at ${lastSeq}, last snapshot written at ${snapshotSeq})`);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && log.refresh().lastSeq === snapshotSeq) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (log.lastSeq === snapshotSeq) progress('  no snapshot within 15 s: going on');
  };
}

const randomKey = (): string => randomBytes(24).toString('base64url');

export async function runLoadTest(
  options: LoadTestOptions,
  progress: (line: string) => void,
  argv: readonly string[] = [],
): Promise<LoadTestReport> {
  const started = performance.now();
  const runId = randomBytes(3).toString('hex');
  const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'stockline-loadtest-'));
  const env = serverEnv(options);
  const adminKey = options.key ?? randomKey();
  const shopKey = options.url ? adminKey : randomKey();
  const apiKeys = `${adminKey}:admin,${shopKey}:storefront`;
  const loadAverageAtStart = os.loadavg().map((value) => Math.round(value * 100) / 100);
  let server: (ChildServer & { command: string }) | undefined;
  const reports: ScenarioReport[] = [];
  const failures: ScenarioFailure[] = [];
  let ceilings: CeilingResult[] = [];
  let profile: ProfileSummary | null = null;
  const ceilingServers = options.compare ? new Ceilings(options, tmpDir, progress) : undefined;
  try {
    await ceilingServers?.start();
    let url = options.url;
    let generation = 0;
    const logs: SnapshotLog[] = [];
    const settlers = new Map<SnapshotLog, () => Promise<void>>();
    const startServer = async () => {
      generation++;
      const log = new SnapshotLog(path.join(tmpDir, `server-${generation}.log`));
      logs.push(log);
      const dataDir = path.join(tmpDir, `data-${generation}`);
      progress(`starting the engine server (DATA_DIR ${dataDir})`);
      server = await startEngineServer({
        dataDir,
        logFile: path.join(tmpDir, `server-${generation}.log`),
        apiKeys,
        env,
      });
      progress(`engine server ready at ${server.url} (pid ${server.pid})`);
      settlers.set(log, snapshotSettler(server.url, log, progress));
      await putLocations(new ApiClient(server.url, adminKey), catalogueLocations);
      return server.url;
    };
    if (!url && options.scenarios.length > 0) url = await startServer();
    else if (url) await putLocations(new ApiClient(url, adminKey), catalogueLocations);
    for (const name of options.scenarios) {
      if (!url) break;
      progress(`\n== ${name} ==`);
      const target: Target = { url, adminKey, shopKey };
      const log = logs.at(-1);
      const context: ScenarioContext = {
        target,
        admin: new ApiClient(url, adminKey),
        options,
        runId,
        progress,
        ...(server && log ? { settle: settlers.get(log) } : {}),
      };
      try {
        const report = await scenarios[name](context);
        reports.push(report);
        progress(`${name}: invariants ${report.invariants.ok ? 'OK' : 'FAILED'}`);
        // The ceilings a scenario is compared with are measured right after it, under the same load.
        if (name === 'storefront-read') await ceilingServers?.measure('GET');
        if (name === 'reserve-spread') await ceilingServers?.measure('POST');
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        const died = server?.exited();
        failures.push({
          name,
          error: died
            ? `the engine server ended (${died}) during the scenario:\n${server?.logTail(10) ?? ''}\n${message}`
            : message,
        });
        progress(`${name} failed: ${failures.at(-1)?.error ?? message}`);
        // A server that died (or was killed from outside) is replaced, so later scenarios still run.
        if (died && !options.url) url = await startServer();
      }
    }
    // Snapshots serialise state on the event loop: say which phases had one.
    for (const report of reports) {
      for (const phase of report.phases) {
        if (phase.window.startMs > 0) {
          phase.snapshots = logs.reduce(
            (sum, log) => sum + log.refresh().within(phase.window.startMs, phase.window.endMs),
            0,
          );
        }
      }
    }
    if (server) {
      const code = await server.stop();
      progress(`engine server stopped (exit code ${code})`);
      server = undefined;
    }
    if (ceilingServers) {
      progress('\n== ceilings (--compare) ==');
      ceilings = await ceilingServers.results();
      await ceilingServers.stop();
    }
    if (options.profile) {
      progress('\n== profile (--profile) ==');
      const profileDir = await mkdtemp(path.join(os.tmpdir(), 'stockline-loadtest-profile-'));
      profile = await profileReserve(
        options,
        tmpDir,
        profileDir,
        env,
        { adminKey, shopKey, apiKeys },
        progress,
      );
    }
  } finally {
    await ceilingServers?.stop();
    if (server) await server.stop();
    await rm(tmpDir, { recursive: true, force: true });
  }
  const cpus = os.cpus();
  return {
    tool: 'scripts/loadtest.ts',
    date: new Date().toISOString(),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      loadAverageAtStart,
      note: 'load generator (autocannon) and server(s) share this machine',
    },
    command: `node --import tsx scripts/loadtest.ts${argv.length ? ` ${argv.join(' ')}` : ''}`,
    options: { ...options, key: options.key === undefined ? undefined : '(given)' },
    server: {
      mode: options.url ? 'url' : 'child',
      url: options.url ?? '(child on 127.0.0.1, free port)',
      command: options.url ? null : 'node --import tsx api/server.ts',
      env: options.url
        ? {}
        : { HOST: '127.0.0.1', DATA_DIR: '(temporary)', API_KEYS: '(admin + storefront, generated)', ...env },
    },
    scenarios: reports,
    failures,
    ceilings,
    ratios: ratiosOf(reports, ceilings),
    targets: evaluateTargets(reports, ceilings, options.connections),
    profile,
    invariantsOk: failures.length === 0 && reports.every((report) => report.invariants.ok),
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}
