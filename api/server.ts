// The network listener: loads the configuration, opens the journal and snapshots under DATA_DIR,
// starts the engine (recovery), serves the app, and shuts down gracefully on SIGTERM/SIGINT: stop
// accepting, end live streams, drain in-flight requests, then stop the engine (flush + snapshot).
// With HTTP_WORKERS=N the process becomes a cluster primary that runs the engine and forks N HTTP
// workers in front of it (api/http-workers/cluster.ts); with 0 (the default) one process does all.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { Logger } from 'winston';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../engine/engine.js';
import type { OpenedStorage } from '../storage/open-storage.js';
import { openStorage } from '../storage/open-storage.js';
import { seedDemoChain } from '../scripts/demo-chain.js';
import { createApp } from './app.js';
import type { InventoryApp } from './app.js';
import type { ApiConfig, ApiKey } from './config.js';
import { ConfigError, digestOf, loadConfig, lookalikeVariables, withApiKeys } from './config.js';
import type { InventoryEngine } from './engine-port.js';
import { FaultInjector, faultInjectionEnabled } from './fault-injection.js';
import { isHttpWorker, runHttpWorker, runPrimary } from './http-workers/cluster.js';
import { createLogger } from './logger.js';

/** A flash sale opens thousands of connections at once; Node's default backlog (511) drops SYNs. */
const LISTEN_BACKLOG = 4096;

export interface RunningServer {
  readonly server: Server;
  readonly app: InventoryApp;
  readonly engine: Engine;
  readonly url: string;
  /** Graceful shutdown; resolves when the engine has stopped. Safe to call twice. */
  shutdown(reason: string): Promise<void>;
}

/** A random admin key for a server started without API_KEYS. */
export function generatedAdminKey(): { key: string; apiKey: ApiKey } {
  const key = randomBytes(24).toString('base64url');
  const digest = digestOf(key);
  return { key, apiKey: { id: digest.toString('hex').slice(0, 16), digest, role: 'admin' } };
}

export interface ServerOptions {
  /** Where the start-up banner (and a generated key) is printed; the console by default. */
  readonly print?: (line: string) => void;
  readonly logger?: Logger;
}

export interface StartedEngine {
  readonly engine: Engine;
  readonly storage: OpenedStorage;
  /** The configuration with the generated admin key, when none was configured. */
  readonly config: ApiConfig;
  readonly faults: FaultInjector | undefined;
}

/**
 * Prints the generated admin key if no keys are configured, opens storage, starts the engine
 * (recovery) and loads the demo chain into an empty one: everything but HTTP.
 */
export async function startEngine(
  config: ApiConfig,
  { print, logger, allowFaults }: { print: (line: string) => void; logger: Logger; allowFaults: boolean },
): Promise<StartedEngine> {
  let effective = config;
  if (config.apiKeys.length === 0) {
    const { key, apiKey } = generatedAdminKey();
    effective = withApiKeys(config, [apiKey]);
    // Printed once to the console (never to the log stream), for a first local run.
    print(
      [
        'No API_KEYS configured: generated an admin key for this run only:',
        `  ${key}`,
        'Use it as "Authorization: Bearer <key>". To configure keys, set for example',
        '  API_KEYS="<admin-key>:admin,<store-key>:store:STORE-1,<shop-key>:storefront,<dash-key>:reader"',
        'with keys of 16+ characters, or give each key hashed as sha256:<hex of its SHA-256>.',
      ].join('\n'),
    );
  }
  const dataDir = path.resolve(effective.dataDir);
  // JOURNAL=file: DATA_DIR/journal and DATA_DIR/snapshots; JOURNAL=postgres: shared by every node.
  const storage = await openStorage({
    journal: effective.journal,
    dataDir,
    databaseUrl: effective.databaseUrl,
    schema: effective.pgSchema,
    nodeId: effective.nodeId,
    logger,
  });
  // Test facility only (see fault-injection.ts): journal failures and clock jumps on command.
  const faults =
    allowFaults && faultInjectionEnabled() && storage.kind === 'file' ? new FaultInjector() : undefined;
  if (faults)
    print('FAULT_INJECTION=1: POST /v1/_faults may fail the journal and move the clock (tests only)');
  const engine = await Engine.start({
    journal: faults ? faults.fileJournal(path.join(dataDir, 'journal'), logger) : storage.journal,
    clock: faults?.clock,
    snapshots: storage.snapshots,
    ownership: storage.ownership,
    logger,
    defaultTtlSeconds: effective.defaultTtlSeconds,
    maxTtlSeconds: effective.maxTtlSeconds,
    paymentPendingTtlSeconds: effective.paymentPendingTtlSeconds,
    lowStockThreshold: effective.lowStockThreshold,
    snapshotEveryRecords: effective.snapshotEveryRecords,
    idempotencyRetentionMs: effective.idempotencyRetentionSeconds * 1000,
    compactJournal: effective.compactJournal,
    mailboxCapacity: effective.mailboxCapacity,
    storeSilentAfterMs: effective.storeSilentAfterSeconds * 1000,
    offlineBuffer: effective.offlineBufferUnits,
  });
  if (engine.lastSeq === 0 && effective.demoData) {
    const levels = await seedDemoChain(engine);
    print(
      `Empty data directory: loaded the demo chain (7 locations, ${levels} stock levels). DEMO_DATA=false skips it.`,
    );
  }
  return { engine, storage, config: effective, faults };
}

/** Listens on HOST:PORT (in an HTTP worker, on the socket the cluster shares). */
export async function listenApp(app: InventoryApp, config: ApiConfig): Promise<Server> {
  const server = await new Promise<Server>((resolve, reject) => {
    // Express 5 calls back on 'error' too (EADDRINUSE, EACCES), with the error.
    const listening = app.listen(config.port, config.host, LISTEN_BACKLOG, (error?: Error) => {
      if (error) reject(error);
      else resolve(listening);
    });
  });
  // Slow clients must not hold sockets forever; streams are exempt through their own heartbeats.
  server.headersTimeout = 20_000;
  server.requestTimeout = 0;
  return server;
}

/** The URL to print for a bound address; a wildcard bind is reachable as localhost, so print that. */
export function urlOf(address: AddressInfo | string | null): string {
  if (typeof address !== 'object' || !address) return String(address);
  const host =
    address.address === '0.0.0.0' || address.address === '::'
      ? 'localhost'
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  return `http://${host}:${address.port}`;
}

/** The start-up banner (scripts and tests parse "listening on <url>"). */
export function printBanner(print: (line: string) => void, url: string): void {
  print(`Stockline API listening on ${url} (docs at ${url}/docs)`);
  print(`Dashboard: ${url}/dashboard (enter a reader, storefront or admin key)`);
}

/**
 * Stops accepting, ends live streams and lets in-flight requests finish, closing the connections
 * still open after SHUTDOWN_TIMEOUT_MS. Resolves when the server is closed.
 */
export async function closeGracefully(
  app: InventoryApp,
  server: Server,
  config: ApiConfig,
  logger: Logger,
): Promise<void> {
  app.stockline.drain();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs).unref(),
  );
  if ((await Promise.race([closed, timeout])) === 'timeout') {
    logger.warn('in-flight requests did not finish in time; closing connections', {
      timeoutMs: config.shutdownTimeoutMs,
    });
    server.closeAllConnections();
    await closed;
  }
}

export async function startServer(config: ApiConfig, options: ServerOptions = {}): Promise<RunningServer> {
  const print = options.print ?? ((line: string) => console.log(line));
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const {
    engine,
    storage,
    config: effective,
    faults,
  } = await startEngine(config, { print, logger, allowFaults: true });
  const port: InventoryEngine = engine;
  const app = createApp({ engine: port, config: effective, logger, faults });
  let server: Server;
  try {
    server = await listenApp(app, effective);
  } catch (error) {
    // The port is taken (or not ours to bind): stop the engine cleanly before failing.
    app.stockline.drain();
    await engine.stop();
    await storage.close();
    throw error;
  }
  const url = urlOf(server.address());
  logger.info('listening', { url, dataDir: path.resolve(effective.dataDir) });
  printBanner(print, url);

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('shutting down', { reason });
      await closeGracefully(app, server, effective, logger);
      await engine.stop();
      await storage.close();
      logger.info('stopped');
    })());
  return { server, app, engine, url, shutdown };
}

async function main(): Promise<void> {
  let config: ApiConfig;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }
  if (isHttpWorker()) {
    await runHttpWorker(config);
    return;
  }
  if (config.httpWorkers > 0) {
    try {
      await runPrimary(config);
    } catch (error) {
      if (error instanceof ConfigError) {
        console.error(error.message);
        process.exit(2);
      }
      throw error;
    }
    for (const warning of lookalikeVariables(process.env)) console.warn(`warning: ${warning}`);
    return;
  }
  const running = await startServer(config);
  for (const warning of lookalikeVariables(process.env)) console.warn(`warning: ${warning}`);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      running.shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('shutdown failed', error);
          process.exit(1);
        },
      );
    });
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().catch((error: unknown) => {
    console.error('failed to start', error);
    process.exit(1);
  });
}
