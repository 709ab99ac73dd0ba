// The agent's Prometheus metrics, on a registry of its own (GET /metrics). Gauges that depend on the
// forwarder's state (backlog, oldest unsent event, breaker) are computed when scraped.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StoreEventType } from '../engine/types.js';

export type BreakerState = 'closed' | 'halfOpen' | 'open';
export const breakerStateValue: Readonly<Record<BreakerState, number>> = { closed: 0, halfOpen: 1, open: 2 };

/** What the scrape-time gauges read. */
export interface ForwardingProbe {
  backlog(): number;
  oldestUnsentAgeSeconds(): Promise<number>;
  breakerState(): BreakerState;
  ackedSeq(): number;
  lastSeq(): number;
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly tillEvents: Counter<'type'>;
  readonly tillRequests: Counter<'outcome'>;
  readonly recordLatency: Histogram;
  readonly forwarded: Counter<'outcome'>;
  readonly forwardLatency: Histogram;
  readonly roundTrip: Histogram;
  readonly forwardErrors: Counter<'kind'>;
  readonly sequenceGaps: Counter;
  readonly heartbeats: Counter<'outcome'>;
  readonly streamConnected: Gauge;
  readonly streamItems: Counter;
  readonly streamReconnects: Counter;

  constructor(storeId: string, probe: () => ForwardingProbe) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ store: storeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'store_agent_' });
    this.tillEvents = new Counter({
      name: 'store_agent_till_events_total',
      help: 'Till events recorded durably in the local journal, by type',
      labelNames: ['type'],
      registers,
    });
    this.tillRequests = new Counter({
      name: 'store_agent_till_requests_total',
      help: 'Till API requests, by outcome (recorded, invalid, failed)',
      labelNames: ['outcome'],
      registers,
    });
    this.recordLatency = new Histogram({
      name: 'store_agent_record_latency_seconds',
      help: 'Time from a till request to its events being durable locally (what the till waits)',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.forwarded = new Counter({
      name: 'store_agent_events_forwarded_total',
      help: 'Events the engine acknowledged: applied, or duplicate (already applied, not reapplied)',
      labelNames: ['outcome'],
      registers,
    });
    this.forwardLatency = new Histogram({
      name: 'store_agent_forward_latency_seconds',
      help: 'Per event: time from durable local recording to acknowledgement by the engine',
      buckets: [
        0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
      ],
      registers,
    });
    this.roundTrip = new Histogram({
      name: 'store_agent_forward_round_trip_seconds',
      help: 'Duration of successful POST /v1/stores/{storeId}/events round trips',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.forwardErrors = new Counter({
      name: 'store_agent_forward_errors_total',
      help: 'Failed forwarding attempts, by kind (network, timeout, unavailable, busy, rejected, breaker_open)',
      labelNames: ['kind'],
      registers,
    });
    this.sequenceGaps = new Counter({
      name: 'store_agent_sequence_gaps_total',
      help: 'STORE_SEQUENCE_GAP answers (the agent resent from the expected seq)',
      registers,
    });
    this.heartbeats = new Counter({
      name: 'store_agent_heartbeats_total',
      help: 'Heartbeats sent, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.streamConnected = new Gauge({
      name: 'store_agent_stream_connected',
      help: "1 while the read model follows the engine's live stream",
      registers,
    });
    this.streamItems = new Counter({
      name: 'store_agent_stream_items_total',
      help: 'Stream items applied to the local read model',
      registers,
    });
    this.streamReconnects = new Counter({
      name: 'store_agent_stream_reconnects_total',
      help: 'Stream reconnections (resumed with Last-Event-ID)',
      registers,
    });
    new Gauge({
      name: 'store_agent_backlog_events',
      help: 'Events recorded locally and not yet acknowledged by the engine',
      registers,
      collect() {
        this.set(probe()?.backlog() ?? 0);
      },
    });
    new Gauge({
      name: 'store_agent_oldest_unsent_event_age_seconds',
      help: 'Age of the oldest event not yet acknowledged by the engine (0 when none)',
      registers,
      async collect() {
        this.set((await probe()?.oldestUnsentAgeSeconds()) ?? 0);
      },
    });
    new Gauge({
      name: 'store_agent_breaker_state',
      help: 'Forwarding circuit breaker: 0 closed, 1 half-open, 2 open',
      registers,
      collect() {
        this.set(breakerStateValue[probe()?.breakerState() ?? 'closed']);
      },
    });
    new Gauge({
      name: 'store_agent_last_seq',
      help: 'Last sequence number recorded locally',
      registers,
      collect() {
        this.set(probe()?.lastSeq() ?? 0);
      },
    });
    new Gauge({
      name: 'store_agent_acknowledged_seq',
      help: 'Last sequence number the engine acknowledged',
      registers,
      collect() {
        this.set(probe()?.ackedSeq() ?? 0);
      },
    });
  }

  countTillEvent(type: StoreEventType): void {
    this.tillEvents.inc({ type });
  }
}
