// The journal port: an append-only, totally ordered log of records, durable before acknowledged.
// The file journal (storage/file-journal.ts) and, later, a PostgreSQL journal implement it; the engine
// knows only this interface.

/** What the engine appends: one atomic record of one stream's events (one decision). */
export interface JournalEntry {
  /** Stream id, such as `stock/SKU-1/STORE-1`, `reservation/r-123`, `location/STORE-1`. */
  readonly stream: string;
  /** The stream's version after this record's events: previous version + events.length. */
  readonly version: number;
  /** Domain events, JSON-serialisable objects with a `type` field. */
  readonly events: readonly { readonly type: string }[];
  /** Data that travels with the effect, such as the idempotency key and the answer it guards. */
  readonly meta?: Readonly<Record<string, unknown>> | undefined;
  /**
   * Names this record takes for good, such as `store/S1/42` (a till event's sequence number) or
   * `idempotency/<key>`. A journal shared by several writers refuses, with APPEND_CONFLICT, an entry
   * whose claim an earlier record already took, exactly as it refuses a taken (stream, version).
   * A journal with a single writer needs no check: the engine never claims a name twice.
   */
  readonly claims?: readonly string[] | undefined;
  /**
   * A token shared by the appends of one writer of one stream (an actor), never stored. Its later
   * appends were decided on top of its earlier ones, so when a shared journal refuses one of them for
   * a conflict it sets `refused` at once, and refuses every append that carries the token from then
   * on; the writer sees the flag before it decides anything else.
   */
  readonly writer?: { refused: boolean } | undefined;
}

/** A durable record as read back: the entry plus its global position and append time. */
export interface JournalRecord extends JournalEntry {
  /** Global sequence number: gap-free from 1, in append order. */
  readonly seq: number;
  /** ISO-8601 time the journal accepted the record. */
  readonly at: string;
}

export type JournalHealth = 'closed' | 'open' | 'failed';

export interface JournalStats {
  readonly appends: number;
  readonly flushes: number;
  readonly lastFlushMs: number;
  readonly lastBatchSize: number;
}

export interface Journal {
  /** Opens the journal, cutting a torn tail (logged); throws JournalCorruptError for damage before the tail. */
  open(): Promise<void>;
  /**
   * Appends one record. Resolves only once the record is durable (written and fsynced with its batch);
   * rejects with InventoryError STORAGE_UNAVAILABLE if its batch failed, in which case the record is not
   * durable and never will be: the journal is `failed` until `recover()` cuts the undurable bytes.
   */
  append(entry: JournalEntry): Promise<JournalRecord>;
  /** Reads durable records with seq >= fromSeq (default 1) in order. */
  read(fromSeq?: number): AsyncIterable<JournalRecord>;
  /** Optional: the same records as read(), in arrays (cheaper for readers of the whole journal). */
  readBatches?(fromSeq?: number, batchSize?: number): AsyncIterable<readonly JournalRecord[]>;
  /** Sequence number of the last durable record (0 when empty). */
  readonly lastSeq: number;
  readonly health: JournalHealth;
  /** After a failure: truncates to the last durable record and reopens for appends. */
  recover(): Promise<void>;
  /** Retention: removes (or archives) whole segments whose records all have seq <= upToSeq. */
  compact(upToSeq: number): Promise<{ removedSegments: number }>;
  readonly stats: JournalStats;
  close(): Promise<void>;
  /**
   * Shared journals only: calls back with the newest sequence number whenever any writer (this
   * process or another) appends, so every engine node can apply every record in order.
   */
  watch?(listener: (lastSeq: number) => void): Promise<() => Promise<void>>;
  /** Shared journals only: the newest committed sequence number, read from storage now. */
  headSeq?(): Promise<number>;
}
