// HTTP_WORKERS=N: the Node cluster primary owns storage and the engine (one owner per actor, as in
// one process) and serves no HTTP; N forked workers each run the Express app (parsing, auth,
// validation, serialisation: most of the CPU per request) over a RemoteEngine that calls the
// primary over IPC. The workers share the listening socket (cluster round-robin).
//
// Lifecycle: the primary prints the start-up banner once every worker listens. SIGTERM/SIGINT: the
// workers drain (stop accepting, end streams, finish in-flight requests) and exit, then the engine
// stops (flush + snapshot) and the primary exits 0. A worker that dies otherwise is logged and
// replaced; if the primary dies, the workers exit (Node's cluster workers exit on IPC disconnect).
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { Server } from 'node:http';
import type { Logger } from 'winston';
import { AggregatorRegistry, collectDefaultMetrics, Registry } from 'prom-client';
import { createApp } from '../app.js';
import type { InventoryApp } from '../app.js';
import type { ApiConfig, ApiKey, Role } from '../config.js';
import { ConfigError, roles } from '../config.js';
import { faultInjectionEnabled } from '../fault-injection.js';
import { createLogger } from '../logger.js';
import { ApiMetrics } from '../metrics.js';
import { closeGracefully, listenApp, printBanner, startEngine, urlOf } from '../server.js';
import type { ServerOptions } from '../server.js';
import type { HostConnection } from './engine-host.js';
import { EngineHost } from './engine-host.js';
import type { Envelope, Hello, PrimaryMessage, WorkerMessage } from './protocol.js';
import { isEnvelope } from './protocol.js';
import { RemoteEngine } from './remote-engine.js';

/** Set in the environment of the workers this module forks (and only them: pm2's are not ours). */
export const WORKER_ENV = 'STOCKLINE_HTTP_WORKER';

/**
 * How messages cross the channel. JSON won the measurement (docs/architecture.md, "Using both
 * cores: HTTP_WORKERS"; scripts/ipc-overhead.ts): our messages are small plain objects.
 */
export const IPC_SERIALIZATION: 'json' | 'advanced' = 'json';

export const isHttpWorker = (env: Readonly<Record<string, string | undefined>> = process.env): boolean =>
  cluster.isWorker && env[WORKER_ENV] === '1';

/** Requests per key per minute each worker allows: the configured limit split between them. */
export const perWorkerRateLimit = (perMinute: number, workers: number): number =>
  perMinute === 0 || workers <= 0 ? perMinute : Math.ceil(perMinute / workers);

/** Refuses what worker mode cannot do. */
export function checkWorkerMode(
  config: ApiConfig,
  env: Readonly<Record<string, string | undefined>> = process.env,
): void {
  if (config.httpWorkers > 0 && faultInjectionEnabled(env)) {
    throw new ConfigError([
      'FAULT_INJECTION=1 cannot be combined with HTTP_WORKERS>0 (the fault injector lives beside the engine, the API in the workers): set HTTP_WORKERS=0 for fault-injection tests',
    ]);
  }
}

const encodeKeys = (keys: readonly ApiKey[]): Hello['apiKeys'] =>
  keys.map((key) => ({
    id: key.id,
    digest: key.digest.toString('hex'),
    role: key.role,
    ...(key.locationId === undefined ? {} : { locationId: key.locationId }),
  }));

export function decodeKeys(keys: Hello['apiKeys']): ApiKey[] {
  return keys.map((key) => {
    if (!(roles as readonly string[]).includes(key.role)) throw new Error(`unknown role ${key.role}`);
    return {
      id: key.id,
      digest: Buffer.from(key.digest, 'hex'),
      role: key.role as Role,
      locationId: key.locationId,
    };
  });
}

/** A worker that exits this often is restarted after a growing delay rather than at once. */
const restartDelayMs = (recentExits: number): number =>
  recentExits <= 2 ? 0 : Math.min(30_000, 500 * 2 ** (recentExits - 3));

const ignoreSendError = (): void => undefined;

/**
 * The primary: engine, storage, N workers, signals. Resolves once every worker listens; the process
 * then lives until SIGTERM/SIGINT, after which it exits 0 (or 1 if the shutdown failed).
 */
export async function runPrimary(config: ApiConfig, options: ServerOptions = {}): Promise<void> {
  checkWorkerMode(config);
  const print = options.print ?? ((line: string) => console.log(line));
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const {
    engine,
    storage,
    config: effective,
  } = await startEngine(config, {
    print,
    logger,
    allowFaults: false,
  });
  const count = effective.httpWorkers;
  const hello = (): Hello => ({
    apiKeys: encodeKeys(effective.apiKeys),
    ready: engine.ready,
    rateLimitPerMinute: perWorkerRateLimit(effective.rateLimitPerMinute, count),
  });

  // /metrics on any worker: every worker's registry (prom-client's AggregatorRegistry asks them over
  // the same channel), then this process's own CPU and memory under stockline_primary_*.
  const aggregator = new AggregatorRegistry();
  const own = new Registry();
  collectDefaultMetrics({ register: own, prefix: 'stockline_primary_' });
  const host = new EngineHost(engine, {
    logger,
    services: {
      hello,
      clusterMetrics: async () => {
        const [workers, primary] = await Promise.all([aggregator.clusterMetrics(), own.metrics()]);
        return `${workers.trimEnd()}\n${primary}`;
      },
    },
  });

  cluster.setupPrimary({ serialization: IPC_SERIALIZATION });
  const connections = new Map<number, HostConnection>();
  const listening = new Set<number>();
  const exits: number[] = [];
  let stopping: Promise<void> | undefined;
  let started = false;
  let failStartup: (error: Error) => void = () => undefined;
  let allListening: (url: string) => void = () => undefined;
  const startup = new Promise<string>((resolve, reject) => {
    allListening = resolve;
    failStartup = reject;
  });

  const fork = (): Worker => {
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    const connection = host.connect((envelope: Envelope<PrimaryMessage>) => {
      if (worker.isConnected()) worker.send(envelope, ignoreSendError);
    });
    connections.set(worker.id, connection);
    worker.on('message', (message: unknown) => {
      if (isEnvelope<WorkerMessage>(message)) connection.receive(message);
    });
    worker.on('error', (error: Error) =>
      logger.warn('HTTP worker channel error', { worker: worker.id, error: error.message }),
    );
    return worker;
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    const url = urlOf({
      address: address.address,
      port: address.port,
      family: address.addressType === 6 ? 'IPv6' : 'IPv4',
    });
    if (started) {
      logger.info('HTTP worker listening', { worker: worker.id, pid: worker.process.pid, url });
    } else if (listening.size >= count) {
      allListening(url);
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    connections.get(worker.id)?.close();
    connections.delete(worker.id);
    listening.delete(worker.id);
    if (stopping) return;
    if (!started) {
      failStartup(
        new Error(`HTTP worker ${worker.id} exited (${signal ?? code}) before it listened; see its output`),
      );
      return;
    }
    const now = Date.now();
    exits.push(now);
    while (exits.length > 0 && (exits[0] ?? now) < now - 60_000) exits.shift();
    const delay = restartDelayMs(exits.length);
    logger.error('HTTP worker exited unexpectedly; starting a replacement', {
      worker: worker.id,
      pid: worker.process.pid,
      code,
      signal,
      restartInMs: delay,
    });
    setTimeout(() => {
      if (!stopping) fork();
    }, delay);
  });

  const stopWorkers = async (reason: string): Promise<void> => {
    const alive = Object.values(cluster.workers ?? {}).filter(
      (worker): worker is Worker => worker !== undefined && !worker.isDead(),
    );
    const exited = Promise.all(
      alive.map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve()))),
    );
    for (const connection of connections.values()) connection.push({ k: 'shutdown', reason });
    // The workers drain for up to SHUTDOWN_TIMEOUT_MS each; past that (and a margin), kill them.
    const timeout = new Promise<'timeout'>((resolve) =>
      setTimeout(() => resolve('timeout'), effective.shutdownTimeoutMs + 5_000).unref(),
    );
    if ((await Promise.race([exited, timeout])) === 'timeout') {
      logger.warn('HTTP workers did not exit in time; killing them', { workers: alive.length });
      for (const worker of alive) if (!worker.isDead()) worker.process.kill('SIGKILL');
      await exited;
    }
  };

  const shutdown = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('shutting down', { reason, workers: connections.size });
      await stopWorkers(reason);
      for (const connection of connections.values()) connection.close();
      await engine.stop();
      await storage.close();
      logger.info('stopped');
    })());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('shutdown failed', error);
          process.exit(1);
        },
      );
    });
  }

  for (let i = 0; i < count; i++) fork();
  let url: string;
  try {
    url = await startup;
  } catch (error) {
    await shutdown('a worker failed to start');
    throw error;
  }
  started = true;
  const pids = Object.values(cluster.workers ?? {}).map((worker) => worker?.process.pid);
  logger.info('listening', { url, workers: count, pids, engine: process.pid });
  printBanner(print, url);
  print(`HTTP workers: ${count} (pids ${pids.join(', ')}) in front of the engine (pid ${process.pid})`);
}

/** An HTTP worker: the app over a RemoteEngine, on the shared socket, until told to stop. */
export async function runHttpWorker(config: ApiConfig): Promise<void> {
  const workerId = cluster.worker?.id ?? 0;
  const logger: Logger = createLogger({ level: config.logLevel }).child({ worker: workerId });
  const remote = new RemoteEngine({
    send: (envelope) => {
      if (process.connected && process.send) process.send(envelope, undefined, undefined, ignoreSendError);
    },
    onListenerError: (error) => logger.error('stream listener failed', { error: String(error) }),
  });
  // Set once serving; a shutdown asked for before that has nothing to drain.
  const serving: { app?: InventoryApp; server?: Server; config: ApiConfig } = { config };
  let stopping: Promise<void> | undefined;
  const stop = (reason: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info('HTTP worker draining', { reason });
      if (serving.app && serving.server)
        await closeGracefully(serving.app, serving.server, serving.config, logger);
      remote.close('the worker stopped');
      logger.info('HTTP worker stopped');
      process.exit(0);
    })());

  process.on('message', (message: unknown) => {
    if (!isEnvelope<PrimaryMessage>(message)) return;
    for (const other of remote.receive(message)) {
      if (other.k === 'shutdown') void stop(other.reason);
    }
  });
  // The primary is gone (it died): no engine to answer. Node's cluster worker exits on this too.
  process.on('disconnect', () => {
    remote.close('the engine process is gone');
    if (!stopping) process.exit(1);
  });
  // Ctrl-C reaches the whole process group: drain like the primary asked (it will, too).
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(signal));

  const hello = await remote.hello();
  const effective: ApiConfig = {
    ...config,
    apiKeys: decodeKeys(hello.apiKeys),
    rateLimitPerMinute: hello.rateLimitPerMinute,
  };
  serving.config = effective;
  const metrics = new ApiMetrics({ exposition: () => remote.clusterMetrics() });
  // Answers the primary's AggregatorRegistry with this worker's registry.
  AggregatorRegistry.setRegistries([metrics.registry]);
  new AggregatorRegistry();
  const app = createApp({ engine: remote, config: effective, logger, metrics });
  if (stopping) return;
  serving.app = app;
  serving.server = await listenApp(app, effective);
  logger.info('HTTP worker listening', { pid: process.pid });
}
