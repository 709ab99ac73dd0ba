// Snapshots in PostgreSQL, with the lowdb store's semantics (storage/lowdb-snapshots.ts): partitions of
// the stream-id space as jsonb rows, only the partitions that changed are rewritten, the others are carried
// over by reference from the newest manifest, and the manifest is written last. Here "atomically" is one
// transaction: partitions, manifest and garbage collection commit together or not at all.
//
// Tables (storage/pg-schema.ts, migration 3):
//   snapshot_partitions(idx, seq, entries jsonb)            one row per written partition
//   snapshot_manifests(seq, taken_at, partition_count, partition_seqs bigint[])
// partition_seqs[i + 1] names the row (i, partition_seqs[i + 1]) holding partition i.
// Writers from several nodes are serialised by a transaction-scoped advisory lock per schema, and each
// write carries over from the newest manifest as read inside its transaction.
import type pg from 'pg';
import { defaultStorageLogger, type StorageLogger } from './logger.js';
import { SnapshotIntegrityError } from './lowdb-snapshots.js';
import { DEFAULT_SCHEMA, checkIdentifier, lockKey, migrate, poolFrom } from './pg-schema.js';
import type { LoadedSnapshot, SnapshotStore, SnapshotWrite } from './snapshot.js';

export { SnapshotIntegrityError } from './lowdb-snapshots.js';

/** Advisory lock class for snapshot writes (first key); the second key is a hash of the schema name. */
const SNAPSHOT_LOCK_CLASS = 0x5e0c_0002;

export interface PgSnapshotStoreOptions {
  /** A pool to use (left open by close()); or give connectionString and the store makes and ends one. */
  readonly pool?: pg.Pool | undefined;
  readonly connectionString?: string | undefined;
  /** Schema holding the tables (default 'inventory'); created on first use if missing. */
  readonly schema?: string | undefined;
  readonly logger?: StorageLogger | undefined;
  /** Manifests kept after each write (default 2: the newest and one to fall back on). */
  readonly keepManifests?: number | undefined;
}

interface ManifestRow {
  seq: string;
  taken_at: string;
  partition_count: number;
  partition_seqs: string[];
}

interface Manifest {
  readonly seq: number;
  readonly takenAt: string;
  readonly partitionCount: number;
  /** partitionSeqs[i]: the seq of the row holding partition i. */
  readonly partitionSeqs: readonly number[];
}

const toManifest = (row: ManifestRow): Manifest => ({
  seq: Number(row.seq),
  takenAt: row.taken_at,
  partitionCount: row.partition_count,
  partitionSeqs: row.partition_seqs.map(Number),
});

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);

export class PgSnapshotStore implements SnapshotStore {
  readonly #options: PgSnapshotStoreOptions;
  readonly #schema: string;
  readonly #logger: StorageLogger;
  readonly #keep: number;
  #pool: pg.Pool | undefined;
  #ownsPool = false;
  /** Migrations, run once on first use. */
  #ready: Promise<pg.Pool> | undefined;

  constructor(options: PgSnapshotStoreOptions) {
    if (!options.pool && !options.connectionString) {
      throw new TypeError('PgSnapshotStore needs a pool or a connectionString');
    }
    this.#options = options;
    this.#schema = checkIdentifier(options.schema ?? DEFAULT_SCHEMA, 'schema');
    this.#logger = options.logger ?? defaultStorageLogger;
    this.#keep = Math.max(1, options.keepManifests ?? 2);
  }

  #poolReady(): Promise<pg.Pool> {
    this.#ready ??= (async () => {
      const { pool, owned } = poolFrom(this.#options, this.#logger);
      this.#pool = pool;
      this.#ownsPool = owned;
      await migrate(pool, this.#schema, this.#logger);
      return pool;
    })().catch((error: unknown) => {
      this.#ready = undefined;
      throw error;
    });
    return this.#ready;
  }

  async latest(): Promise<LoadedSnapshot | null> {
    const pool = await this.#poolReady();
    const s = this.#schema;
    const { rows } = await pool.query<ManifestRow>(
      `SELECT seq, taken_at, partition_count, partition_seqs FROM ${s}.snapshot_manifests ORDER BY seq DESC`,
    );
    for (const row of rows) {
      const manifest = toManifest(row);
      const missing = await this.#missingPartitions(pool, manifest);
      if (missing === 0) return this.#loaded(pool, manifest);
      this.#logger.warn('snapshot: skipping an incomplete snapshot, falling back to an older one', {
        schema: s,
        seq: manifest.seq,
        missingPartitions: missing,
      });
    }
    return null;
  }

  async #missingPartitions(pool: pg.Pool | pg.PoolClient, manifest: Manifest): Promise<number> {
    const { rows } = await pool.query<{ present: string }>(
      `SELECT count(*) AS present
       FROM unnest($1::bigint[]) WITH ORDINALITY AS r(seq, ord)
       JOIN ${this.#schema}.snapshot_partitions p ON p.idx = r.ord - 1 AND p.seq = r.seq`,
      [manifest.partitionSeqs],
    );
    return manifest.partitionCount - Number(rows[0]?.present ?? 0);
  }

  #loaded(pool: pg.Pool, manifest: Manifest): LoadedSnapshot {
    const sql = `SELECT entries FROM ${this.#schema}.snapshot_partitions WHERE idx = $1 AND seq = $2`;
    return {
      seq: manifest.seq,
      takenAt: manifest.takenAt,
      partitionCount: manifest.partitionCount,
      async *entries(): AsyncGenerator<readonly [string, unknown]> {
        // One partition in memory at a time.
        for (const [index, seq] of manifest.partitionSeqs.entries()) {
          const { rows } = await pool.query<{ entries: unknown }>(sql, [index, seq]);
          const doc = rows[0]?.entries;
          if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
            throw new SnapshotIntegrityError(
              `snapshot_partitions(${index}, ${seq})`,
              doc === undefined ? 'missing' : 'not a JSON object',
            );
          }
          for (const entry of Object.entries(doc)) yield entry;
        }
      },
    };
  }

  async write(snapshot: SnapshotWrite): Promise<void> {
    const { seq, partitionCount, changed } = snapshot;
    if (!isCount(seq) || seq < 0)
      throw new RangeError(`snapshot seq must be a non-negative integer, got ${seq}`);
    if (!isCount(partitionCount) || partitionCount < 1)
      throw new RangeError('partitionCount must be a positive integer');
    for (const index of changed.keys()) {
      if (!isCount(index) || index < 0 || index >= partitionCount)
        throw new RangeError(`no partition ${index}`);
    }
    const pool = await this.#poolReady();
    const s = this.#schema;
    const client = await pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1, $2)', [SNAPSHOT_LOCK_CLASS, lockKey(s)]);
        const newest = await client.query<ManifestRow>(
          `SELECT seq, taken_at, partition_count, partition_seqs FROM ${s}.snapshot_manifests
           ORDER BY seq DESC LIMIT 1`,
        );
        const base = newest.rows[0] ? toManifest(newest.rows[0]) : null;
        if (base && seq === base.seq) {
          // The state as of a seq is fixed by the journal, so a second snapshot at the same seq adds nothing.
          await client.query('ROLLBACK');
          return;
        }
        if (base && seq < base.seq) {
          throw new RangeError(`snapshot seq ${seq} is before the latest snapshot's seq ${base.seq}`);
        }
        const carried = base && base.partitionCount === partitionCount ? base : null;

        const partitionSeqs: number[] = [];
        const written: number[] = [];
        const docs: string[] = [];
        for (let index = 0; index < partitionCount; index++) {
          const entries = changed.get(index);
          const previous = carried?.partitionSeqs[index];
          if (entries === undefined && previous !== undefined) {
            partitionSeqs.push(previous);
            continue;
          }
          // A partition with no previous row (first snapshot, or a new partition count) starts empty.
          partitionSeqs.push(seq);
          written.push(index);
          docs.push(JSON.stringify(Object.fromEntries(entries ?? new Map<string, unknown>())));
        }
        if (written.length > 0) {
          await client.query(
            `INSERT INTO ${s}.snapshot_partitions (idx, seq, entries)
             SELECT u.idx, $2, u.entries FROM unnest($1::int[], $3::jsonb[]) AS u(idx, entries)`,
            [written, seq, docs],
          );
        }
        // The manifest last, as in the file store (inside one transaction the order is for the reader).
        await client.query(
          `INSERT INTO ${s}.snapshot_manifests (seq, taken_at, partition_count, partition_seqs)
           VALUES ($1, $2, $3, $4::bigint[])`,
          [seq, snapshot.takenAt, partitionCount, partitionSeqs],
        );
        // Keep the newest manifests and the partition rows they reference.
        await client.query(
          `DELETE FROM ${s}.snapshot_manifests
           WHERE seq NOT IN (SELECT seq FROM ${s}.snapshot_manifests ORDER BY seq DESC LIMIT $1)`,
          [this.#keep],
        );
        await client.query(
          `DELETE FROM ${s}.snapshot_partitions p
           WHERE NOT EXISTS (
             SELECT 1 FROM ${s}.snapshot_manifests m,
                    unnest(m.partition_seqs) WITH ORDINALITY AS r(seq, ord)
             WHERE r.ord - 1 = p.idx AND r.seq = p.seq)`,
        );
        await client.query('COMMIT');
        this.#logger.info('snapshot: written', { schema: s, seq, partitionCount, rewritten: written.length });
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        });
        throw error;
      }
    } finally {
      client.release(broken);
    }
  }

  /** Ends the pool if this store created it. */
  async close(): Promise<void> {
    const ready = this.#ready;
    this.#ready = undefined;
    await ready?.catch(() => undefined);
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool && this.#ownsPool) await pool.end();
  }
}
