// The store agent, assembled: the local journal, the till API, the forwarder, heartbeats and the
// read model. Data directory layout:
//   <data>/journal/           the till journal (FileJournal segments): one record per till event
//   <data>/forwarding.json    the last seq the engine acknowledged (atomic file)
//   <data>/read-model.json    the local read model and its stream position (atomic file)
//   <data>/agent.lock         the pid of the agent using the directory (one agent per directory)
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import path from 'node:path';
import type { Logger } from '../engine/logger.js';
import type { AgentConfig } from './config.js';
import { EngineClient, ForwardError } from './engine-client.js';
import type { ForwardingProgress } from './forwarder.js';
import { Forwarder } from './forwarder.js';
import { AgentMetrics } from './metrics.js';
import type { ForwardingProbe } from './metrics.js';
import type { ReadModelState } from './read-model.js';
import { ReadModel } from './read-model.js';
import { StateFile } from './state-file.js';
import { createTillServer } from './till-api.js';
import { TillJournal } from './till-journal.js';

export interface AgentOptions {
  /** Overrides for tests and the benchmark; not command-line settings. */
  readonly streamIdleTimeoutMs?: number | undefined;
}

async function acquireLock(file: string): Promise<void> {
  try {
    await writeFile(file, `${process.pid}\n`, { flag: 'wx' });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  let alive = false;
  if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid) {
    try {
      process.kill(holder, 0);
      alive = true;
    } catch (error) {
      alive = (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  if (alive) {
    throw new Error(
      `another store agent (pid ${holder}) uses ${path.dirname(file)}; one agent per data directory`,
    );
  }
  // A stale lock from an agent that died (SIGKILL, power loss): take it over.
  await writeFile(file, `${process.pid}\n`);
}

export class StoreAgent {
  #server: Server | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #heartbeatInFlight = false;
  #heartbeatRouteMissing = false;
  #stopping: Promise<void> | undefined;
  #url = '';

  private constructor(
    readonly config: AgentConfig,
    readonly logger: Logger,
    readonly journal: TillJournal,
    readonly forwarder: Forwarder,
    readonly readModel: ReadModel | undefined,
    readonly metrics: AgentMetrics,
    readonly client: EngineClient,
    private readonly lockFile: string,
  ) {}

  get url(): string {
    return this.#url;
  }

  static async start(config: AgentConfig, logger: Logger, options: AgentOptions = {}): Promise<StoreAgent> {
    await mkdir(config.dataDir, { recursive: true });
    const lockFile = path.join(config.dataDir, 'agent.lock');
    await acquireLock(lockFile);
    const journal = new TillJournal({
      dir: path.join(config.dataDir, 'journal'),
      storeId: config.storeId,
      logger,
    });
    try {
      await journal.open();
    } catch (error) {
      await rm(lockFile, { force: true });
      throw error;
    }
    const progress = new StateFile<ForwardingProgress>(
      path.join(config.dataDir, 'forwarding.json'),
      (error) => logger.error('could not save the forwarding progress', { error: error.message }),
    );
    const saved = await progress.load();
    if (saved && saved.storeId !== config.storeId) {
      throw new Error(`${progress.file} belongs to store ${saved.storeId}, not ${config.storeId}`);
    }
    const ackedSeq = saved?.ackedSeq ?? 0;
    if (ackedSeq > journal.lastSeq) {
      throw new Error(
        `${progress.file} says the engine acknowledged seq ${ackedSeq}, but the local journal ends at ${journal.lastSeq}`,
      );
    }
    // The probe is read at scrape time, after `forwarder` below is initialised.
    const metrics: AgentMetrics = new AgentMetrics(config.storeId, (): ForwardingProbe => ({
      backlog: () => forwarder.backlog,
      oldestUnsentAgeSeconds: () => forwarder.oldestUnsentAgeSeconds(),
      breakerState: () => forwarder.breakerState,
      ackedSeq: () => forwarder.ackedSeq,
      lastSeq: () => journal.lastSeq,
    }));
    const client = new EngineClient(config);
    const forwarder: Forwarder = new Forwarder({
      storeId: config.storeId,
      journal,
      client,
      metrics,
      logger,
      progress,
      initialAckedSeq: ackedSeq,
      batchMax: config.batchMax,
      retryMinMs: config.retryMinMs,
      retryMaxMs: config.retryMaxMs,
      breakerResetMs: config.breakerResetMs,
      legacySyncMs: config.legacySyncMs,
    });
    journal.onDurable((event) => forwarder.eventRecorded(event));
    const readModel = config.readModel
      ? new ReadModel({
          storeId: config.storeId,
          engineUrl: config.engineUrl,
          storeKey: config.storeKey,
          stateFile: new StateFile<ReadModelState>(path.join(config.dataDir, 'read-model.json'), (error) =>
            logger.warn('could not save the read model', { error: error.message }),
          ),
          metrics,
          logger,
          idleTimeoutMs: options.streamIdleTimeoutMs,
        })
      : undefined;
    await readModel?.load();
    const agent = new StoreAgent(config, logger, journal, forwarder, readModel, metrics, client, lockFile);
    await agent.#listen();
    forwarder.start();
    readModel?.start();
    agent.#startHeartbeats();
    // Best effort: learn where the engine stands, to catch a replaced data directory before it matters.
    client.storePosition().then(
      (engineLastSeq) => forwarder.checkEnginePosition(engineLastSeq),
      () => undefined,
    );
    logger.info('store agent started', {
      url: agent.url,
      engine: config.engineUrl,
      mode: forwarder.mode,
      lastSeq: journal.lastSeq,
      ackedSeq,
      backlog: forwarder.backlog,
    });
    return agent;
  }

  async #listen(): Promise<void> {
    const server = createTillServer(
      {
        record: (events, key) => this.journal.recordRequest(events, key),
        health: () => this.health(),
        metrics: async () => ({
          contentType: this.metrics.registry.contentType,
          body: await this.metrics.registry.metrics(),
        }),
        stock: (sku) =>
          this.readModel?.view(sku) ?? {
            storeId: this.config.storeId,
            connected: false,
            levels: [],
            holds: [],
            disabled: true,
          },
        onRecorded: (events, seconds) => {
          this.metrics.tillRequests.inc({ outcome: 'recorded' });
          this.metrics.recordLatency.observe(seconds);
          for (const event of events) this.metrics.countTillEvent(event.type);
        },
        onRejected: (outcome) => this.metrics.tillRequests.inc({ outcome }),
      },
      (error) => this.logger.error('till API error', { error: error.message }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : this.config.port;
    const host = this.config.host.includes(':') ? `[${this.config.host}]` : this.config.host;
    this.#url = `http://${host}:${port}`;
    this.#server = server;
  }

  #startHeartbeats(): void {
    if (this.config.heartbeatMs <= 0) return;
    const beat = () => {
      if (this.#heartbeatInFlight || this.#heartbeatRouteMissing) return;
      this.#heartbeatInFlight = true;
      this.client
        .heartbeat()
        .then(
          ({ lastSeq }) => {
            this.metrics.heartbeats.inc({ outcome: 'ok' });
            this.forwarder.checkEnginePosition(lastSeq);
          },
          (error: unknown) => {
            this.metrics.heartbeats.inc({ outcome: 'failed' });
            if (
              error instanceof ForwardError &&
              error.details.status === 404 &&
              error.details.code === 'ROUTE_NOT_FOUND'
            ) {
              this.#heartbeatRouteMissing = true;
              this.logger.error(
                'the engine has no heartbeat route (POST /v1/stores/{storeId}/heartbeat); heartbeats off',
              );
            }
          },
        )
        .finally(() => {
          this.#heartbeatInFlight = false;
        });
    };
    beat();
    this.#heartbeatTimer = setInterval(beat, this.config.heartbeatMs);
  }

  health(): { ok: boolean; body: Record<string, unknown> } {
    const forwarding = this.forwarder.status();
    const journalOk = this.journal.health === 'open';
    const status = !journalOk
      ? 'failing'
      : forwarding.diverged !== null
        ? 'diverged'
        : forwarding.lastError
          ? 'degraded'
          : 'ok';
    return {
      ok: journalOk,
      body: {
        status,
        storeId: this.config.storeId,
        journal: { health: this.journal.health, lastSeq: this.journal.lastSeq },
        forwarding,
        stream: this.readModel
          ? { connected: this.readModel.connected, lastEventId: this.readModel.lastEventId }
          : { disabled: true },
      },
    };
  }

  /** Graceful stop: no new till requests, forwarder and stream stopped, progress saved, journal closed. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
      const server = this.#server;
      if (server) {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timeout = setTimeout(() => server.closeAllConnections(), 5000);
        await closed;
        clearTimeout(timeout);
      }
      await this.forwarder.stop();
      await this.readModel?.stop();
      await this.journal.close();
      await rm(this.lockFile, { force: true });
      this.logger.info('store agent stopped', {
        lastSeq: this.journal.lastSeq,
        ackedSeq: this.forwarder.ackedSeq,
      });
    })();
    return this.#stopping;
  }
}
