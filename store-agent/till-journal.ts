// The store's local journal of till events, on the project's FileJournal (group commit: every event
// recorded in the same turn shares one write and one fdatasync). One record per event, so the record's
// journal position is the store's gap-free sequence number and the journal alone says what to forward.
//
// A till is answered only once its events are durable. If a write fails, the journal refuses appends
// until recover() cuts the undurable bytes; recovery runs once here, then recording resumes, and the
// sequence numbers of the refused events are reused, so the store's sequence stays gap-free.
//
// A till that sends an Idempotency-Key can retry safely (for example after the agent died before
// answering): the key and a fingerprint of the request travel in the records' meta, so a retry
// gets the first answer back, even after a restart, instead of recording the sale twice.
import { createHash } from 'node:crypto';
import { FileJournal } from '../storage/file-journal.js';
import type { StorageLogger } from '../storage/logger.js';
import type { TillEvent, TillEventInput, TillRequestMeta } from './till-events.js';
import { tillEntry, tillEventOf, tillRequestOf } from './till-events.js';

/** Till requests remembered for retries (the newest ones; older keys are forgotten). */
const REMEMBERED_REQUESTS = 20_000;

export class TillKeyReused extends Error {
  constructor(readonly key: string) {
    super(`the Idempotency-Key ${JSON.stringify(key)} was used with a different request`);
    this.name = 'TillKeyReused';
  }
}

export interface RecordResult {
  readonly events: TillEvent[];
  /** True when the key matched an earlier request: nothing new was recorded. */
  readonly replayed: boolean;
}

const fingerprintOf = (events: readonly TillEventInput[]): string =>
  createHash('sha256')
    .update(
      JSON.stringify(
        events.map((event) => [
          event.type,
          event.sku,
          event.quantity,
          event.occurredAt ?? null,
          event.reason ?? null,
        ]),
      ),
    )
    .digest('hex')
    .slice(0, 32);

export interface TillJournalOptions {
  readonly dir: string;
  readonly storeId: string;
  readonly logger: StorageLogger;
  readonly now?: () => number;
}

export class TillJournal {
  readonly #journal: FileJournal;
  readonly #storeId: string;
  readonly #now: () => number;
  readonly #logger: StorageLogger;
  /** The seq the next recorded event gets; runs ahead of lastSeq while appends are in flight. */
  #nextSeq = 1;
  #recovering: Promise<void> | undefined;
  readonly #listeners = new Set<(event: TillEvent) => void>();
  readonly #requests = new Map<string, { fingerprint: string; events: TillEvent[] }>();
  readonly #requestsInFlight = new Map<string, { fingerprint: string; result: Promise<TillEvent[]> }>();

  constructor(options: TillJournalOptions) {
    this.#storeId = options.storeId;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#journal = new FileJournal({ dir: options.dir, logger: options.logger });
  }

  async open(): Promise<void> {
    await this.#journal.open();
    this.#nextSeq = this.#journal.lastSeq + 1;
    // The last record must be one of ours: a wrong directory must not be forwarded as till events.
    if (this.#journal.lastSeq > 0) {
      for await (const record of this.#journal.read(this.#journal.lastSeq)) tillEventOf(record);
    }
    // Remember the keys of the newest requests, so a till retrying across a restart is recognised.
    const from = Math.max(1, this.#journal.lastSeq - REMEMBERED_REQUESTS + 1);
    for await (const record of this.#journal.read(from)) {
      const request = tillRequestOf(record);
      if (!request) continue;
      const known = this.#requests.get(request.key);
      const event = tillEventOf(record);
      if (known?.fingerprint === request.fingerprint && known.events.length < request.count)
        known.events.push(event);
      else this.#remember(request.key, request.fingerprint, [event]);
    }
  }

  #remember(key: string, fingerprint: string, events: TillEvent[]): void {
    this.#requests.delete(key);
    this.#requests.set(key, { fingerprint, events });
    if (this.#requests.size > REMEMBERED_REQUESTS) {
      const oldest = this.#requests.keys().next().value;
      if (oldest !== undefined) this.#requests.delete(oldest);
    }
  }

  /**
   * Records a till request, once per Idempotency-Key when one is given: a retry of a recorded request
   * gets its first answer (replayed), a retry of one still being recorded waits for it, and the same
   * key with different events is refused (TillKeyReused).
   */
  async recordRequest(events: readonly TillEventInput[], key: string | undefined): Promise<RecordResult> {
    if (key === undefined) return { events: await this.record(events), replayed: false };
    const fingerprint = fingerprintOf(events);
    const known = this.#requests.get(key) ?? this.#requestsInFlight.get(key);
    if (known) {
      if (known.fingerprint !== fingerprint) throw new TillKeyReused(key);
      return { events: 'result' in known ? await known.result : known.events, replayed: true };
    }
    const result = this.record(events, { key, fingerprint, count: events.length });
    this.#requestsInFlight.set(key, { fingerprint, result });
    try {
      const recorded = await result;
      this.#remember(key, fingerprint, recorded);
      return { events: recorded, replayed: false };
    } finally {
      this.#requestsInFlight.delete(key);
    }
  }

  /** The store's last durable sequence number. */
  get lastSeq(): number {
    return this.#journal.lastSeq;
  }

  get health(): string {
    return this.#journal.health;
  }

  /** Called once per durable event, in sequence order. */
  onDurable(listener: (event: TillEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Records the events with the next sequence numbers; resolves once all are durable. Events recorded
   * in one call get consecutive numbers and share one group commit, so they are durable all or none.
   * Rejects (nothing recorded) if the write failed.
   */
  async record(events: readonly TillEventInput[], request?: TillRequestMeta): Promise<TillEvent[]> {
    if (this.#recovering) await this.#recovering;
    const nowMs = this.#now();
    const stamped = new Date(nowMs).toISOString();
    // Synchronous from here to the last append: the seqs handed out match the journal's positions.
    const appends = events.map((event) => {
      const seq = this.#nextSeq++;
      const entry = tillEntry(this.#storeId, seq, event, event.occurredAt ?? stamped, request);
      return this.#journal.append(entry).then((record) => {
        if (record.seq !== seq) throw new Error(`journal assigned seq ${record.seq} to till event ${seq}`);
        const recorded = tillEventOf(record);
        for (const listener of this.#listeners) listener(recorded);
        return recorded;
      });
    });
    const outcomes = await Promise.allSettled(appends);
    const failed = outcomes.find(
      (outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected',
    );
    if (failed) {
      if (this.#journal.health === 'failed') await this.#recover();
      throw failed.reason;
    }
    return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<TillEvent>).value);
  }

  #recover(): Promise<void> {
    this.#recovering ??= this.#journal
      .recover()
      .then(() => {
        this.#nextSeq = this.#journal.lastSeq + 1;
        this.#logger.warn(
          'till journal recovered after a failed write; the refused events were not recorded',
          {
            lastSeq: this.#journal.lastSeq,
          },
        );
      })
      .finally(() => {
        this.#recovering = undefined;
      });
    return this.#recovering;
  }

  /** Durable events from `fromSeq` to `toSeq` (inclusive), in order. */
  async *read(fromSeq: number, toSeq = Number.POSITIVE_INFINITY): AsyncGenerator<TillEvent> {
    if (fromSeq > this.#journal.lastSeq) return;
    for await (const record of this.#journal.read(fromSeq)) {
      if (record.seq > toSeq) return;
      yield tillEventOf(record);
    }
  }

  close(): Promise<void> {
    return this.#journal.close();
  }
}
