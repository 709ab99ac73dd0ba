// The PostgreSQL journal: the same port as the file journal (storage/journal.ts), for several engine nodes
// sharing one database. Migrations are applied at open() (storage/pg-schema.ts).
//
// Group commit, as in the file journal and with no timer: appends queue while one batch is in flight and
// the next batch goes as soon as it completes. A batch is ONE statement, `SELECT … FROM journal_append(…)`,
// with the entries as arrays (unnest), run in its own implicit transaction: the query resolves only after
// COMMIT, and only then are the callers acknowledged.
//
// Seq allocation (gap-free, and no reader ever skips a record): journal_append first locks the one row of
// journal_head (SELECT … FOR UPDATE), takes seq = last_seq + 1, + 2, … for its accepted entries and bumps
// last_seq. That row lock serialises every batch of every node, and PostgreSQL releases it only after the
// committing transaction is visible, so batch N+1 assigns its seqs after batch N's rows can be seen and
// commits after them. A record with a smaller seq therefore never becomes visible after one with a larger
// seq: whatever a reader sees is a gap-free prefix (minus what compaction removed). A sequence would hand
// out numbers out of commit order (and lose them on rollback) and need a reader-side watermark; the head
// row also survives compaction, where max(seq) would not. The cost is that batches from all nodes commit
// one at a time, which group commit amortises (see scripts/bench-pg-journal.ts).
//
// Fencing: journal(stream, version) is UNIQUE. Under the head lock, journal_append finds the entries whose
// (stream, version) already exists, or is taken by an earlier entry of the same batch, and inserts only
// the others. Those few are rejected with InventoryError VERSION_CONFLICT { stream, version } (the node
// reloads the stream and retries); the rest of the batch commits and is acknowledged. Entries that
// PostgreSQL would refuse on their own (a NUL character or lone surrogate in a jsonb string, a version
// outside int) are rejected by append() before they can join a batch and fail it for everyone.
//
// Any error from the batch statement (connection lost, database down, disk full) rejects the whole batch
// and everything queued behind it with STORAGE_UNAVAILABLE and puts the journal in `failed` until
// recover(). PostgreSQL's atomicity means none of a failed batch is visible, with one caveat the file
// journal does not have: if the connection drops after the server committed but before it answered, the
// batch is durable although its callers were told it failed. A retry of such an append meets the fence
// (VERSION_CONFLICT), so the engine reloads the stream and finds the record; nothing is written twice.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { InventoryError } from '../engine/errors.js';
import { defaultStorageLogger, type StorageLogger } from './logger.js';
import type { Journal, JournalEntry, JournalHealth, JournalRecord, JournalStats } from './journal.js';
import { DEFAULT_SCHEMA, checkIdentifier, migrate, poolFrom } from './pg-schema.js';

export type { StorageLogger } from './logger.js';

/** The NOTIFY channel journal_append signals on (payload: the new last seq). */
export const DEFAULT_JOURNAL_CHANNEL = 'inventory_journal';
export const DEFAULT_PAGE_SIZE = 5000;
export const DEFAULT_MAX_BATCH = 10_000;
const MAX_INT4 = 2_147_483_647;

export interface PgJournalOptions {
  /** A pool to use (left open by close()); or give connectionString and the journal makes and ends one. */
  readonly pool?: pg.Pool | undefined;
  readonly connectionString?: string | undefined;
  /** Schema holding the tables (default 'inventory'); created at open() if missing. */
  readonly schema?: string | undefined;
  readonly now?: (() => Date) | undefined;
  readonly logger?: StorageLogger | undefined;
  /** Rows per SELECT when reading (default 5,000). */
  readonly pageSize?: number | undefined;
  /** Most entries in one batch statement (default 10,000); the rest wait for the next batch. */
  readonly maxBatch?: number | undefined;
  /** NOTIFY channel for subscribeToJournal (default 'inventory_journal'). */
  readonly channel?: string | undefined;
  /** What compact() does with old records: delete them (default) or move them to journal_archive. */
  readonly retention?: 'delete' | 'archive' | undefined;
}

export interface PgJournalStats extends JournalStats {
  /** Records made durable and acknowledged; average batch size = recordsFlushed / flushes. */
  readonly recordsFlushed: number;
  /** Batches that failed (each one put the journal in `failed`). */
  readonly failedFlushes: number;
  /** Appends refused by the (stream, version) fence. */
  readonly conflicts: number;
  /** SQL statements sent for appends: one per batch. */
  readonly statements: number;
}

interface PendingAppend {
  readonly entry: JournalEntry;
  readonly at: string;
  readonly eventsJson: string;
  readonly metaJson: string | null;
  readonly claimsJson: string | null;
  readonly resolve: (record: JournalRecord) => void;
  readonly reject: (error: Error) => void;
}

interface JournalRow {
  seq: string;
  stream: string;
  version: number;
  at: string;
  events: JournalRecord['events'];
  meta: Record<string, unknown> | null;
}

const unavailable = (message: string, cause?: unknown): InventoryError => {
  const error = new InventoryError('STORAGE_UNAVAILABLE', message, {}, 1);
  if (cause !== undefined) error.cause = cause;
  return error;
};

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A NUL character or a lone UTF-16 surrogate: valid in a JS string, refused in a jsonb string. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE_CHAR = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The first string (key or value) in a JSON value that jsonb cannot store, or undefined. */
function unstorableString(value: unknown): string | undefined {
  if (typeof value === 'string') return UNSTORABLE_CHAR.test(value) ? value : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = unstorableString(item);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (UNSTORABLE_CHAR.test(key)) return key;
    const found = unstorableString(item);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** JSON text for a jsonb column; throws TypeError for what JSON or jsonb cannot hold. */
function jsonbText(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string') throw new TypeError(`${what} is not JSON-serialisable`);
  // JSON.stringify writes NUL and lone surrogates as \u escapes; without any escape there is nothing to find.
  if (text.includes('\\u') && unstorableString(value) !== undefined) {
    throw new TypeError(`${what} holds a NUL character or a lone surrogate, which jsonb cannot store`);
  }
  return text;
}

const followsRefusal = ({ stream, version }: JournalEntry): InventoryError =>
  new InventoryError(
    'APPEND_CONFLICT',
    `stream ${stream} version ${version} follows a refused append`,
    { stream, version },
    0,
  );

export class PgJournal implements Journal {
  readonly #options: PgJournalOptions;
  readonly #schema: string;
  readonly #channel: string;
  readonly #now: () => Date;
  readonly #logger: StorageLogger;
  readonly #pageSize: number;
  readonly #maxBatch: number;
  readonly #retention: 'delete' | 'archive';
  readonly #appendSql: string;
  readonly #readSql: string;
  readonly #readStreamSql: string;

  #pool: pg.Pool | undefined;
  #ownsPool = false;
  #health: JournalHealth = 'closed';
  #closing = false;
  #lastSeq = 0;
  #queue: PendingAppend[] = [];
  #flushing = false;
  /** Settles when the current busy period of the flush loop ends (close() and recover() wait for it). */
  #flushDone: Promise<void> = Promise.resolve();

  #appends = 0;
  #flushes = 0;
  #recordsFlushed = 0;
  #failedFlushes = 0;
  #conflicts = 0;
  #statements = 0;
  #lastFlushMs = 0;
  #lastBatchSize = 0;

  constructor(options: PgJournalOptions) {
    if (!options.pool && !options.connectionString) {
      throw new TypeError('PgJournal needs a pool or a connectionString');
    }
    this.#options = options;
    this.#schema = checkIdentifier(options.schema ?? DEFAULT_SCHEMA, 'schema');
    this.#channel = checkIdentifier(options.channel ?? DEFAULT_JOURNAL_CHANNEL, 'channel');
    this.#now = options.now ?? (() => new Date());
    this.#logger = options.logger ?? defaultStorageLogger;
    this.#pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.#retention = options.retention ?? 'delete';
    if (!(Number.isSafeInteger(this.#pageSize) && this.#pageSize > 0))
      throw new RangeError('pageSize must be a positive integer');
    if (!(Number.isSafeInteger(this.#maxBatch) && this.#maxBatch > 0))
      throw new RangeError('maxBatch must be a positive integer');
    const s = this.#schema;
    this.#appendSql =
      `SELECT o_head, o_conflicts FROM ${s}.journal_append_claims` +
      '($1::text[], $2::int[], $3::timestamptz[], $4::jsonb[], $5::jsonb[], $6::jsonb[], $7::text)';
    // `at` as the exact ISO-8601 text the engine was given (stored with millisecond precision, in UTC).
    const columns = `seq, stream, version, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at, events, meta`;
    this.#readSql = `SELECT ${columns} FROM ${s}.journal WHERE seq >= $1 ORDER BY seq LIMIT $2`;
    this.#readStreamSql = `SELECT ${columns} FROM ${s}.journal WHERE stream = $1 AND version > $2 ORDER BY version LIMIT $3`;
  }

  /** Sequence number of the last durable record this instance knows of (max at open, then its own appends). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  get health(): JournalHealth {
    return this.#health;
  }

  get schema(): string {
    return this.#schema;
  }

  get stats(): PgJournalStats {
    return {
      appends: this.#appends,
      flushes: this.#flushes,
      lastFlushMs: this.#lastFlushMs,
      lastBatchSize: this.#lastBatchSize,
      recordsFlushed: this.#recordsFlushed,
      failedFlushes: this.#failedFlushes,
      conflicts: this.#conflicts,
      statements: this.#statements,
    };
  }

  async open(): Promise<void> {
    if (this.#health !== 'closed') throw new Error('journal is already open');
    const { pool, owned } = poolFrom(this.#options, this.#logger);
    try {
      await migrate(pool, this.#schema, this.#logger);
      const head = await pool.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${this.#schema}.journal_head WHERE id`,
      );
      const sync = await pool.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      if (sync.rows[0]?.synchronous_commit === 'off') {
        this.#logger.warn('pg journal: synchronous_commit is off, so an acknowledged append can be lost', {
          schema: this.#schema,
        });
      }
      this.#lastSeq = Number(head.rows[0]?.last_seq ?? 0);
    } catch (error) {
      if (owned) await pool.end().catch(() => undefined);
      throw unavailable(`journal open failed: ${describe(error)}`, error);
    }
    this.#pool = pool;
    this.#ownsPool = owned;
    this.#health = 'open';
    this.#closing = false;
    this.#logger.info('pg journal: open', { schema: this.#schema, lastSeq: this.#lastSeq });
  }

  append(entry: JournalEntry): Promise<JournalRecord> {
    if (entry.writer?.refused) return Promise.reject(followsRefusal(entry));
    if (this.#health !== 'open' || this.#closing) {
      return Promise.reject(
        unavailable(
          this.#health === 'failed'
            ? 'journal failed on an earlier write and refuses appends until recover()'
            : `journal is not open (${this.#closing ? 'closing' : this.#health})`,
        ),
      );
    }
    let eventsJson: string;
    let metaJson: string | null;
    try {
      if (typeof entry.stream !== 'string' || entry.stream.length === 0 || UNSTORABLE_CHAR.test(entry.stream))
        throw new TypeError('stream must be a non-empty string without NUL or lone surrogates');
      if (!Number.isSafeInteger(entry.version) || entry.version < 0 || entry.version > MAX_INT4)
        throw new TypeError(`version must be an integer from 0 to ${MAX_INT4}, got ${entry.version}`);
      eventsJson = jsonbText(entry.events, 'events');
      metaJson = entry.meta === undefined ? null : jsonbText(entry.meta, 'meta');
    } catch (error) {
      // Nothing was queued: an entry PostgreSQL would refuse is the caller's bug, and must not fail a batch.
      return Promise.reject(new TypeError(`journal entry cannot be stored: ${describe(error)}`));
    }
    const at = this.#now().toISOString();
    this.#appends++;
    return new Promise<JournalRecord>((resolve, reject) => {
      const claimsJson =
        entry.claims === undefined || entry.claims.length === 0 ? null : JSON.stringify(entry.claims);
      this.#queue.push({ entry, at, eventsJson, metaJson, claimsJson, resolve, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        this.#flushDone = this.#flushLoop();
      }
    });
  }

  /**
   * Group commit. Each round starts from setImmediate, so every append made in the current turn joins the
   * batch; a round takes up to maxBatch queued appends as one statement. No timer: the next round starts as
   * soon as one ends, if anything queued meanwhile.
   */
  async #flushLoop(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#queue.length === 0 || this.#health !== 'open') {
        this.#flushing = false;
        return;
      }
      const taken = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
      this.#queue = taken === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
      // Appends whose writer had one refused while they waited were decided on top of it.
      const batch = taken.filter((pending) => {
        if (!pending.entry.writer?.refused) return true;
        this.#conflicts++;
        pending.reject(followsRefusal(pending.entry));
        return false;
      });
      if (batch.length === 0) continue;
      try {
        await this.#writeBatch(batch);
      } catch (error) {
        this.#failStop(batch, error);
        this.#flushing = false;
        return;
      }
    }
  }

  async #writeBatch(batch: PendingAppend[]): Promise<void> {
    const pool = this.#pool;
    if (!pool) throw new Error('journal has no pool');
    const started = performance.now();
    const streams: string[] = [];
    const versions: number[] = [];
    const ats: string[] = [];
    const events: string[] = [];
    const metas: (string | null)[] = [];
    const claims: (string | null)[] = [];
    for (const pending of batch) {
      claims.push(pending.claimsJson);
      streams.push(pending.entry.stream);
      versions.push(pending.entry.version);
      ats.push(pending.at);
      events.push(pending.eventsJson);
      metas.push(pending.metaJson);
    }
    this.#statements++;
    const result = await pool.query<{ o_head: string; o_conflicts: number[] }>({
      name: `journal_append:${this.#schema}`,
      text: this.#appendSql,
      values: [streams, versions, ats, events, metas, claims, this.#channel],
    });
    // Committed: acknowledge. Accepted entries took head + 1, head + 2, … in batch order.
    const row = result.rows[0];
    if (!row) throw new Error('journal_append returned no row');
    const conflicts = new Set(row.o_conflicts.map((ord) => ord - 1));
    let seq = Number(row.o_head);
    const settle: (() => void)[] = [];
    batch.forEach((pending, index) => {
      const { stream, version } = pending.entry;
      if (conflicts.has(index)) {
        this.#conflicts++;
        // Set before anyone is told, so the writer decides nothing more on its stale state.
        if (pending.entry.writer) pending.entry.writer.refused = true;
        const error = new InventoryError(
          'APPEND_CONFLICT',
          `stream ${stream} version ${version} or one of its claims was written first by another writer`,
          { stream, version },
          0,
        );
        settle.push(() => pending.reject(error));
        return;
      }
      seq++;
      const record: JournalRecord =
        pending.entry.meta === undefined
          ? { seq, stream, version, at: pending.at, events: pending.entry.events }
          : { seq, stream, version, at: pending.at, events: pending.entry.events, meta: pending.entry.meta };
      settle.push(() => pending.resolve(record));
    });
    // Appends of a refused stream still queued were decided on top of the refused one: refuse them too.
    const refused = new Map<string, number>();
    const accepted = new Set<string>();
    batch.forEach((pending, index) => {
      if (!conflicts.has(index)) accepted.add(`${pending.entry.stream}\u0000${pending.entry.version}`);
    });
    for (const index of conflicts) {
      const entry = batch[index]?.entry;
      if (!entry || accepted.has(`${entry.stream}\u0000${entry.version}`)) continue;
      const known = refused.get(entry.stream);
      if (known === undefined || entry.version < known) refused.set(entry.stream, entry.version);
    }
    if (refused.size > 0 && this.#queue.length > 0) {
      const keep: PendingAppend[] = [];
      for (const pending of this.#queue) {
        const from = refused.get(pending.entry.stream);
        if (from === undefined || pending.entry.version <= from) {
          keep.push(pending);
          continue;
        }
        this.#conflicts++;
        if (pending.entry.writer) pending.entry.writer.refused = true;
        const error = followsRefusal(pending.entry);
        settle.push(() => pending.reject(error));
      }
      this.#queue = keep;
    }
    if (seq > this.#lastSeq) this.#lastSeq = seq;
    this.#flushes++;
    this.#recordsFlushed += batch.length - conflicts.size;
    this.#lastBatchSize = batch.length;
    this.#lastFlushMs = performance.now() - started;
    for (const run of settle) run();
  }

  #failStop(batch: PendingAppend[], error: unknown): void {
    this.#health = 'failed';
    this.#failedFlushes++;
    this.#logger.error('pg journal: batch failed, refusing appends until recover()', {
      schema: this.#schema,
      lastSeq: this.#lastSeq,
      batchSize: batch.length,
      error: describe(error),
    });
    const failure = unavailable(`journal write failed: ${describe(error)}`, error);
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of batch) pending.reject(failure);
    for (const pending of queued) pending.reject(failure);
  }

  /**
   * After a failure: nothing to cut (a failed batch rolled back), so this only checks that the database
   * answers again, re-reads the last seq and reopens for appends. Throws STORAGE_UNAVAILABLE if it does not.
   */
  async recover(): Promise<void> {
    if (this.#health === 'closed') throw new Error('journal is not open');
    if (this.#health === 'open') return;
    await this.#flushDone;
    const pool = this.#pool;
    if (!pool) throw new Error('journal has no pool');
    try {
      const head = await pool.query<{ last_seq: string }>(
        `SELECT last_seq FROM ${this.#schema}.journal_head WHERE id`,
      );
      this.#lastSeq = Math.max(this.#lastSeq, Number(head.rows[0]?.last_seq ?? 0));
    } catch (error) {
      throw unavailable(`journal recovery failed: ${describe(error)}`, error);
    }
    this.#health = 'open';
    this.#logger.warn('pg journal: recovered', { schema: this.#schema, lastSeq: this.#lastSeq });
  }

  /** Reads committed records with seq >= fromSeq in order, one page (pageSize rows) per SELECT. */
  read(fromSeq = 1): AsyncIterable<JournalRecord> {
    const pool = this.#openPool();
    return this.#pages(pool, this.#readSql, Math.max(1, Math.floor(fromSeq)), (row) => Number(row.seq) + 1);
  }

  /**
   * The records of one stream with version > afterVersion, in version order: what a node reloads after a
   * VERSION_CONFLICT. Uses the (stream, version) index; not part of the Journal port.
   */
  readStream(stream: string, afterVersion = 0): AsyncIterable<JournalRecord> {
    const pool = this.#openPool();
    const sql = this.#readStreamSql;
    return this.#pages(pool, sql, afterVersion, (row) => row.version, [stream]);
  }

  #openPool(): pg.Pool {
    if (this.#health === 'closed' || !this.#pool) throw new Error('journal is not open');
    return this.#pool;
  }

  async *#pages(
    pool: pg.Pool,
    text: string,
    from: number,
    nextFrom: (row: JournalRow) => number,
    leading: readonly unknown[] = [],
  ): AsyncGenerator<JournalRecord> {
    // Keyset paging, each page its own statement: no connection is held while the consumer works. Every
    // page sees a gap-free prefix of the journal (see the header), so consecutive pages join up.
    for (;;) {
      const { rows } = await pool.query<JournalRow>(text, [...leading, from, this.#pageSize]);
      for (const row of rows) {
        const base = {
          seq: Number(row.seq),
          stream: row.stream,
          version: row.version,
          at: row.at,
          events: row.events,
        };
        yield row.meta === null ? base : { ...base, meta: row.meta };
      }
      const last = rows.at(-1);
      if (rows.length < this.#pageSize || !last) return;
      from = nextFrom(last);
    }
  }

  /**
   * Retention: removes (or, with retention 'archive', moves to journal_archive) every record with
   * seq <= upToSeq, in one transaction. The database has no segments: each record is its own unit, so
   * `removedSegments` counts records (also given as `removedRecords`). lastSeq is kept in journal_head.
   */
  /** The newest committed seq of any writer, read from storage now. */
  async headSeq(): Promise<number> {
    const { rows } = await this.#openPool().query<{ last_seq: string }>(
      `SELECT last_seq FROM ${this.#schema}.journal_head WHERE id`,
    );
    const head = Number(rows[0]?.last_seq ?? 0);
    if (head > this.#lastSeq) this.#lastSeq = head;
    return head;
  }

  /** Calls back with the newest seq whenever any writer commits a batch (LISTEN/NOTIFY). */
  async watch(listener: (lastSeq: number) => void): Promise<() => Promise<void>> {
    const connectionString = this.#options.connectionString;
    if (!connectionString)
      throw new TypeError('watch() needs the journal to be built from a connectionString');
    const subscription = await subscribeToJournal(
      connectionString,
      (seq) => {
        if (seq > this.#lastSeq) this.#lastSeq = seq;
        listener(seq);
      },
      {
        channel: this.#channel,
        onError: (error) =>
          this.#logger.error('pg journal: LISTEN connection failed', { error: describe(error) }),
      },
    );
    return () => subscription.close();
  }

  async compact(upToSeq: number): Promise<{ removedSegments: number; removedRecords: number }> {
    const pool = this.#openPool();
    const s = this.#schema;
    const sql =
      this.#retention === 'archive'
        ? `WITH moved AS (DELETE FROM ${s}.journal WHERE seq <= $1 RETURNING *)
           INSERT INTO ${s}.journal_archive SELECT * FROM moved`
        : `DELETE FROM ${s}.journal WHERE seq <= $1`;
    const result = await pool.query(sql, [Math.floor(upToSeq)]);
    // Claims only guard against concurrent writers; once compacted, duplicates are caught by the
    // engine's own state (a store's last applied sequence, the idempotency table).
    await pool.query(`DELETE FROM ${s}.journal_claims WHERE seq <= $1`, [Math.floor(upToSeq)]);
    const removed = result.rowCount ?? 0;
    if (removed > 0) {
      this.#logger.info('pg journal: compacted', { upToSeq, removed, retention: this.#retention });
    }
    return { removedSegments: removed, removedRecords: removed };
  }

  async close(): Promise<void> {
    if (this.#health === 'closed') return;
    this.#closing = true;
    // Appends accepted before close() still get their batch; new ones are refused while closing.
    while (this.#flushing) await this.#flushDone;
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool && this.#ownsPool) await pool.end();
    this.#health = 'closed';
    this.#closing = false;
  }
}

export interface JournalSubscription {
  close(): Promise<void>;
}

/**
 * LISTENs on the journal's channel on a dedicated connection and calls onSeq with the new last seq after
 * each committed batch (from any node). Notifications can be coalesced or missed while disconnected, so a
 * subscriber treats the number as "read from your cursor up to here" with journal.read(cursor + 1), and
 * catches up the same way after resubscribing. onError gets connection failures (no reconnection here).
 */
export async function subscribeToJournal(
  connectionString: string,
  onSeq: (lastSeq: number) => void,
  options: { readonly channel?: string; readonly onError?: (error: Error) => void } = {},
): Promise<JournalSubscription> {
  const channel = checkIdentifier(options.channel ?? DEFAULT_JOURNAL_CHANNEL, 'channel');
  const client = new pg.Client({ connectionString });
  client.on('error', (error) => options.onError?.(error));
  client.on('notification', (message) => {
    if (message.channel !== channel || message.payload === undefined) return;
    const seq = Number(message.payload);
    if (Number.isSafeInteger(seq)) onSeq(seq);
  });
  await client.connect();
  try {
    await client.query(`LISTEN ${channel}`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return { close: () => client.end() };
}
