// The forwarder: sends the store's durable till events to the engine, in sequence order, exactly once.
//
// Live mode has no timer on its normal path: a durable event wakes the forwarder, which sends every
// unacknowledged event (up to batchMax) in one request; whatever is recorded while that round trip is
// in flight goes in the next one, so batches grow exactly as fast as events outrun round trips.
// Legacy mode reproduces today's periodic sync: every interval it pushes what was recorded since the
// last push, and nothing in between.
//
// Exactly once rests on the store's sequence numbers, not on the network: the engine applies seq n
// only after n - 1, acknowledges a resent event as a duplicate without reapplying it, and answers a
// gap with the seq it expects, from which the forwarder resends. Each batch also carries an
// Idempotency-Key naming its seq range, so a retried request gets its first answer back.
//
// Failures: p-retry retries each round with exponential backoff and jitter (honouring Retry-After);
// an opossum breaker around the HTTP call opens after repeated network errors, timeouts or 5xx, so
// while the engine is down attempts fail fast without touching the network, until a trial succeeds.
// The till never waits on any of this: it is answered once its events are durable locally.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import CircuitBreaker from 'opossum';
import pRetry, { AbortError } from 'p-retry';
import type { StoreEventInput } from '../engine/types.js';
import type { Logger } from '../engine/logger.js';
import type { BatchOutcome, EngineClient } from './engine-client.js';
import { ForwardError } from './engine-client.js';
import type { AgentMetrics, BreakerState } from './metrics.js';
import type { StateFile } from './state-file.js';
import type { TillEvent } from './till-events.js';
import { wireEvent } from './till-events.js';
import type { TillJournal } from './till-journal.js';

/** What the agent persists about forwarding: the last seq the engine acknowledged. */
export interface ForwardingProgress {
  readonly storeId: string;
  readonly ackedSeq: number;
  readonly updatedAt: string;
}

export interface ForwarderOptions {
  readonly storeId: string;
  readonly journal: TillJournal;
  readonly client: Pick<EngineClient, 'postEvents'>;
  readonly metrics: AgentMetrics;
  readonly logger: Logger;
  readonly progress: StateFile<ForwardingProgress>;
  readonly initialAckedSeq: number;
  readonly batchMax: number;
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  readonly breakerResetMs: number;
  /** Legacy mode's push interval; undefined for live forwarding. */
  readonly legacySyncMs?: number | undefined;
  /** Events kept in memory for sending; beyond, they are read back from the journal. */
  readonly windowCap?: number | undefined;
}

export interface ForwarderStatus {
  readonly mode: 'live' | 'legacy';
  readonly ackedSeq: number;
  readonly lastSeq: number;
  readonly backlog: number;
  readonly breaker: BreakerState;
  readonly lastAckAt: string | null;
  readonly lastError: { readonly kind: string; readonly message: string; readonly at: string } | null;
  /** Set when the engine knows seqs this store's journal does not: forwarding stops (see run.md). */
  readonly diverged: string | null;
  readonly legacy?: {
    readonly intervalMs: number;
    readonly lastPushAt: string | null;
    readonly pushing: boolean;
  };
}

/** Longest wait a Retry-After may impose on one attempt. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * A cache of durable events for sending: one contiguous run of seqs. Anything it does not hold
 * (after a restart, beyond its cap, or before its start after a gap answer) is read from the journal.
 */
class EventWindow {
  #events: TillEvent[] = [];
  #head = 0;
  constructor(private readonly cap: number) {}

  get size(): number {
    return this.#events.length - this.#head;
  }

  add(event: TillEvent): void {
    if (this.size === 0) {
      this.#events = [event];
      this.#head = 0;
      return;
    }
    const last = this.#events[this.#events.length - 1];
    if (last && event.seq === last.seq + 1 && this.size < this.cap) this.#events.push(event);
  }

  dropUpTo(seq: number): void {
    while (this.#head < this.#events.length && (this.#events[this.#head]?.seq ?? Infinity) <= seq)
      this.#head++;
    if (this.#head > 4096 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#head = 0;
    }
  }

  at(seq: number): TillEvent | undefined {
    const first = this.#events[this.#head];
    if (!first || seq < first.seq) return undefined;
    const event = this.#events[this.#head + (seq - first.seq)];
    return event?.seq === seq ? event : undefined;
  }

  /** Events from..to, or undefined unless the window holds all of them. */
  range(from: number, to: number): TillEvent[] | undefined {
    const first = this.#events[this.#head];
    const last = this.#events[this.#events.length - 1];
    if (!first || !last || from < first.seq || to > last.seq) return undefined;
    const start = this.#head + (from - first.seq);
    return this.#events.slice(start, start + (to - from + 1));
  }
}

const isAbort = (error: unknown): boolean =>
  error instanceof AbortError || (error as Error | undefined)?.name === 'AbortError';

export class Forwarder {
  readonly #options: ForwarderOptions;
  readonly #journal: TillJournal;
  readonly #metrics: AgentMetrics;
  readonly #logger: Logger;
  readonly #window: EventWindow;
  readonly #breaker: CircuitBreaker<[StoreEventInput[]], BatchOutcome>;
  readonly #abort = new AbortController();
  #ackedSeq: number;
  #lastAckAt: string | null = null;
  #lastError: ForwarderStatus['lastError'] = null;
  #lastLoggedErrorKind: string | undefined;
  #lastErrorLogMs = 0;
  #diverged: string | null = null;
  #stopping = false;
  #looping = false;
  #current: Promise<void> = Promise.resolve();
  #legacyTimer: NodeJS.Timeout | undefined;
  #lastPushAt: string | null = null;
  #pushing = false;
  #oldest: { seq: number; recordedAtMs: number } | undefined;
  /** Part of each batch's Idempotency-Key; bumped after a 5xx answer (see EngineClient.batchKey). */
  #keyGeneration = 0;

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#journal = options.journal;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#window = new EventWindow(options.windowCap ?? 200_000);
    this.#ackedSeq = options.initialAckedSeq;
    this.#breaker = new CircuitBreaker(
      (events: StoreEventInput[]) => options.client.postEvents(events, this.#keyGeneration),
      {
        // Each request has its own time limit (EngineClient); a breaker timeout would only abandon it.
        timeout: false,
        resetTimeout: options.breakerResetMs,
        errorThresholdPercentage: 50,
        volumeThreshold: 3,
        rollingCountTimeout: 10_000,
        // Answers the engine gave on purpose (busy, rejected) say nothing about its health.
        errorFilter: (error: unknown) => !(error instanceof ForwardError && error.isEngineFault),
        name: `forward-${options.storeId}`,
      },
    );
    this.#breaker.on('open', () => this.#logger.warn('forwarding breaker open: attempts fail fast'));
    this.#breaker.on('halfOpen', () => this.#logger.info('forwarding breaker half-open: trying the engine'));
    this.#breaker.on('close', () => this.#logger.info('forwarding breaker closed: engine reachable'));
  }

  get mode(): 'live' | 'legacy' {
    return this.#options.legacySyncMs === undefined ? 'live' : 'legacy';
  }

  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  get backlog(): number {
    return Math.max(0, this.#journal.lastSeq - this.#ackedSeq);
  }

  get breakerState(): BreakerState {
    return this.#breaker.opened ? 'open' : this.#breaker.halfOpen ? 'halfOpen' : 'closed';
  }

  get diverged(): string | null {
    return this.#diverged;
  }

  start(): void {
    if (this.mode === 'legacy') {
      const interval = this.#options.legacySyncMs ?? 0;
      this.#legacyTimer = setInterval(() => void this.pushNow(), interval);
    } else {
      this.#wake();
    }
  }

  /** The journal calls this for every durable event, in seq order. */
  eventRecorded(event: TillEvent): void {
    this.#window.add(event);
    if (this.mode === 'live') this.#wake();
  }

  /** Legacy mode's periodic push: everything recorded up to now, in batches of at most batchMax. */
  async pushNow(): Promise<void> {
    if (this.#pushing || this.#stopping) return;
    this.#pushing = true;
    this.#lastPushAt = new Date().toISOString();
    const target = this.#journal.lastSeq;
    const push = this.#forwardUpTo(target).catch((error: unknown) => {
      if (!isAbort(error)) this.#logger.error('legacy push failed', { error: String(error) });
    });
    this.#current = push;
    try {
      await push;
    } finally {
      this.#pushing = false;
    }
  }

  /** The engine told us (heartbeat, start-up check) how far it has applied this store's events. */
  checkEnginePosition(engineLastSeq: number): void {
    if (engineLastSeq > this.#journal.lastSeq) {
      this.#diverge(
        `the engine has applied store seq ${engineLastSeq} but the local journal ends at ${this.#journal.lastSeq}`,
      );
    }
  }

  async oldestUnsentAgeSeconds(): Promise<number> {
    const seq = this.#ackedSeq + 1;
    if (seq > this.#journal.lastSeq) return 0;
    if (this.#oldest?.seq !== seq) {
      let event = this.#window.at(seq);
      if (!event) for await (const read of this.#journal.read(seq, seq)) event = read;
      if (!event) return 0;
      this.#oldest = { seq, recordedAtMs: event.recordedAtMs };
    }
    return Math.max(0, (Date.now() - this.#oldest.recordedAtMs) / 1000);
  }

  status(): ForwarderStatus {
    return {
      mode: this.mode,
      ackedSeq: this.#ackedSeq,
      lastSeq: this.#journal.lastSeq,
      backlog: this.backlog,
      breaker: this.breakerState,
      lastAckAt: this.#lastAckAt,
      lastError: this.#lastError,
      diverged: this.#diverged,
      ...(this.mode === 'legacy'
        ? {
            legacy: {
              intervalMs: this.#options.legacySyncMs ?? 0,
              lastPushAt: this.#lastPushAt,
              pushing: this.#pushing,
            },
          }
        : {}),
    };
  }

  /** Stops sending (an in-flight request is awaited: its answer still counts) and saves the progress. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#legacyTimer) clearInterval(this.#legacyTimer);
    this.#abort.abort(new AbortError('the agent is stopping'));
    await this.#current.catch(() => undefined);
    this.#breaker.shutdown();
    this.#saveProgress();
    await this.#options.progress.flush();
  }

  #wake(): void {
    if (this.#looping || this.#stopping || this.#diverged !== null) return;
    this.#looping = true;
    // setImmediate, not a timer: every event made durable by the same group commit joins this round.
    setImmediate(() => {
      this.#current = this.#forwardUpTo(Number.POSITIVE_INFINITY)
        .catch((error: unknown) => {
          if (!isAbort(error))
            this.#logger.error('forwarding stopped on an unexpected error', { error: String(error) });
        })
        .finally(() => {
          this.#looping = false;
          if (!this.#stopping && this.#ackedSeq < this.#journal.lastSeq) this.#wake();
        });
    });
  }

  async #forwardUpTo(limit: number): Promise<void> {
    const { retryMinMs, retryMaxMs } = this.#options;
    while (
      !this.#stopping &&
      this.#diverged === null &&
      this.#ackedSeq < Math.min(limit, this.#journal.lastSeq)
    ) {
      await pRetry(() => this.#attempt(limit), {
        retries: Number.POSITIVE_INFINITY,
        factor: 2,
        minTimeout: retryMinMs,
        maxTimeout: retryMaxMs,
        randomize: true,
        signal: this.#abort.signal,
        shouldRetry: () => !this.#stopping,
        onFailedAttempt: async ({ error, attemptNumber }) => {
          this.#noteFailure(error, attemptNumber);
          if (error instanceof ForwardError && (error.details.status ?? 0) >= 500) this.#keyGeneration++;
          const retryAfterMs = error instanceof ForwardError ? error.details.retryAfterMs : undefined;
          let extraMs = retryAfterMs === undefined ? 0 : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
          // A refusal will not fix itself in milliseconds: wait longer, keep recording, alert (health).
          if (error instanceof ForwardError && error.kind === 'rejected')
            extraMs = Math.max(extraMs, 5000, 5 * retryMaxMs);
          if (extraMs > 0 && !this.#stopping) {
            await sleep(extraMs, undefined, { signal: this.#abort.signal }).catch(() => undefined);
          }
        },
      });
    }
  }

  async #attempt(limit: number): Promise<void> {
    if (this.#stopping) throw new AbortError('the agent is stopping');
    const batch = await this.#nextBatch(limit);
    if (batch.length === 0) return;
    const started = performance.now();
    let outcome: BatchOutcome;
    try {
      outcome = await this.#breaker.fire(batch.map(wireEvent));
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EOPENBREAKER') {
        throw new ForwardError('network', 'breaker open: the engine failed repeatedly, not trying yet');
      }
      throw error;
    }
    this.#metrics.roundTrip.observe((performance.now() - started) / 1000);
    this.#apply(outcome, batch);
  }

  async #nextBatch(limit: number): Promise<TillEvent[]> {
    const from = this.#ackedSeq + 1;
    const to = Math.min(limit, this.#journal.lastSeq, from + this.#options.batchMax - 1);
    if (to < from) return [];
    const cached = this.#window.range(from, to);
    if (cached) return cached;
    const events: TillEvent[] = [];
    for await (const event of this.#journal.read(from, to)) events.push(event);
    return events;
  }

  #apply(outcome: BatchOutcome, batch: readonly TillEvent[]): void {
    const nowMs = Date.now();
    const lastRecorded = this.#journal.lastSeq;
    if (outcome.kind === 'gap') {
      this.#metrics.sequenceGaps.inc();
      if (outcome.expectedSeq - 1 > lastRecorded) {
        this.#diverge(
          `the engine expects store seq ${outcome.expectedSeq} but the local journal ends at ${lastRecorded}`,
        );
        return;
      }
      this.#logger.info('engine expects an earlier seq: resending from there', {
        expectedSeq: outcome.expectedSeq,
        sentFrom: batch[0]?.seq,
      });
      this.#setAcked(outcome.expectedSeq - 1);
      return;
    }
    if (outcome.lastSeq > lastRecorded) {
      this.#diverge(
        `the engine has applied store seq ${outcome.lastSeq} but the local journal ends at ${lastRecorded}`,
      );
      return;
    }
    const before = this.#ackedSeq;
    if (!outcome.replayed) {
      this.#metrics.forwarded.inc({ outcome: 'applied' }, outcome.applied);
      this.#metrics.forwarded.inc({ outcome: 'duplicate' }, outcome.duplicates);
    } else {
      this.#metrics.forwarded.inc({ outcome: 'duplicate' }, batch.length);
    }
    for (const event of batch) {
      if (event.seq > before && event.seq <= outcome.lastSeq) {
        this.#metrics.forwardLatency.observe(Math.max(0, nowMs - event.recordedAtMs) / 1000);
      }
    }
    this.#lastAckAt = new Date(nowMs).toISOString();
    if (this.#lastError !== null) {
      this.#logger.info('forwarding resumed', {
        ackedSeq: outcome.lastSeq,
        backlog: lastRecorded - outcome.lastSeq,
      });
    }
    this.#lastError = null;
    this.#lastLoggedErrorKind = undefined;
    this.#setAcked(outcome.lastSeq);
  }

  #setAcked(seq: number): void {
    if (seq < this.#ackedSeq) {
      this.#logger.warn('the engine is behind what it acknowledged before: resending', {
        acknowledged: this.#ackedSeq,
        engineLastSeq: seq,
      });
    }
    this.#ackedSeq = seq;
    this.#window.dropUpTo(seq);
    this.#saveProgress();
  }

  #saveProgress(): void {
    void this.#options.progress.save({
      storeId: this.#options.storeId,
      ackedSeq: this.#ackedSeq,
      updatedAt: new Date().toISOString(),
    });
  }

  #diverge(reason: string): void {
    if (this.#diverged !== null) return;
    this.#diverged = reason;
    this.#logger.error(
      'forwarding stopped: the engine and the local journal disagree; the till keeps recording',
      {
        reason,
        action: "restore this store agent's data directory, or reset the store in the engine (see run.md)",
      },
    );
  }

  #noteFailure(error: Error, attemptNumber: number): void {
    const kind =
      error instanceof ForwardError
        ? error.message.startsWith('breaker open')
          ? 'breaker_open'
          : error.kind
        : 'internal';
    this.#metrics.forwardErrors.inc({ kind });
    this.#lastError = { kind, message: error.message, at: new Date().toISOString() };
    // One line when the failure changes, then one every 30 s: an outage must not flood the log.
    // Attempts refused by the open breaker are not logged: the breaker logs its own transitions.
    const nowMs = Date.now();
    if (kind === 'breaker_open') return;
    if (kind !== this.#lastLoggedErrorKind || nowMs - this.#lastErrorLogMs > 30_000) {
      this.#lastLoggedErrorKind = kind;
      this.#lastErrorLogMs = nowMs;
      const meta = { kind, error: error.message, attemptNumber, backlog: this.backlog };
      if (kind === 'rejected' || kind === 'internal') this.#logger.error('forwarding refused', meta);
      else this.#logger.warn('forwarding failed; the till keeps recording, retrying', meta);
    }
  }
}
