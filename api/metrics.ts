// Prometheus metrics (prom-client), one registry per app so several apps can live in one process
// (tests). Request, command and latency metrics are recorded as they happen; engine gauges (actors,
// mailboxes, journal, breaker) are read from engine.metrics() when /metrics is scraped.
// With HTTP_WORKERS the exposition is the cluster's (api/http-workers/): every worker's registry
// aggregated by prom-client's AggregatorRegistry in the primary; the engine gauges, which every
// worker reads from the same engine, are aggregated with `first` rather than summed.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EngineMetrics, InventoryEngine } from './engine-port.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LAG_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600];

export const breakerStateValue = { closed: 0, halfOpen: 1, open: 2 } as const;

export class ApiMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'stockline_http_request_duration_seconds',
    help: 'HTTP request duration by route template, method and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly stockCommands = new Counter({
    name: 'stockline_stock_commands_total',
    help: 'Stock commands sent through the API, by command and outcome (ok, replayed or an error code)',
    labelNames: ['command', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly reservations = new Counter({
    name: 'stockline_reservations_total',
    help: 'Reservation operations by operation (reserve, confirm, cancel, payment_pending, extend) and outcome',
    labelNames: ['operation', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly storeEvents = new Counter({
    name: 'stockline_store_events_total',
    help: 'Store till events received, by outcome (applied, duplicate)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly storeEventBatches = new Counter({
    name: 'stockline_store_event_batches_total',
    help: 'Store event batches by outcome (ok, replayed or an error code such as STORE_SEQUENCE_GAP)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly storeEventLag = new Histogram({
    name: 'stockline_store_event_lag_seconds',
    help: 'Time from a till event happening (occurredAt) to the engine applying it',
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });
  readonly propagation = new Histogram({
    name: 'stockline_propagation_seconds',
    help: 'Time from a stock change happening (occurredAt for till events, else its commit time) to its delivery on the SSE stream',
    labelNames: ['origin'] as const,
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });
  readonly sseClients = new Gauge({
    name: 'stockline_sse_clients',
    help: 'Open /v1/stream connections',
    registers: [this.registry],
  });
  readonly sseDropped = new Counter({
    name: 'stockline_sse_disconnects_total',
    help: 'SSE clients closed by the server, by reason (slow, shutdown)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly inFlight = new Gauge({
    name: 'stockline_http_requests_in_flight',
    help: 'HTTP requests being served (SSE streams excluded)',
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'stockline_http_requests_shed_total',
    help: 'Requests refused by load shedding, by reason (in_flight, sse_clients, rate_limit, timeout)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** The text GET /metrics answers: this registry's, or the cluster's with HTTP_WORKERS. */
  readonly exposition: () => Promise<string>;

  constructor(
    options: { readonly defaultMetrics?: boolean; readonly exposition?: () => Promise<string> } = {},
  ) {
    if (options.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'stockline_' });
    this.exposition = options.exposition ?? (() => this.registry.metrics());
  }

  /** Registers the gauges read from the engine at scrape time. Call once per app. */
  observeEngine(engine: InventoryEngine): void {
    const gauge = (name: string, help: string, read: (metrics: EngineMetrics) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        // One engine, whichever worker reads it: aggregated across workers, take one, not the sum.
        aggregator: 'first',
        async collect() {
          this.set(read(await engine.metrics()));
        },
      });
    gauge('stockline_engine_active_actors', 'Stock-level actors in memory', (m) => m.activeActors);
    gauge('stockline_engine_mailbox_depth', 'Commands waiting in actor mailboxes', (m) => m.mailboxDepth);
    gauge(
      'stockline_journal_last_seq',
      'Sequence number of the last durable journal record',
      (m) => m.lastSeq,
    );
    gauge('stockline_journal_appends', 'Journal records appended since start', (m) => m.journal.appends);
    gauge(
      'stockline_journal_flushes',
      'Journal group commits (write + fsync) since start',
      (m) => m.journal.flushes,
    );
    gauge(
      'stockline_journal_last_flush_ms',
      'Duration of the last journal flush in ms',
      (m) => m.journal.lastFlushMs,
    );
    gauge(
      'stockline_journal_last_batch_size',
      'Records in the last journal flush',
      (m) => m.journal.lastBatchSize,
    );
    gauge('stockline_journal_healthy', 'Whether the journal accepts appends (1) or not (0)', (m) =>
      m.journal.health === 'open' ? 1 : 0,
    );
    gauge(
      'stockline_breaker_state',
      'Storage circuit breaker: 0 closed, 1 half-open, 2 open',
      (m) => breakerStateValue[m.breaker],
    );
    new Gauge({
      name: 'stockline_engine_ready',
      help: 'Whether the engine has recovered and serves (1) or not (0)',
      registers: [this.registry],
      aggregator: 'first',
      async collect() {
        this.set((await engine.ready) ? 1 : 0);
      },
    });
  }
}
