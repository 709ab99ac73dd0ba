// The PostgreSQL schema shared by the journal (storage/pg-journal.ts) and the snapshot store
// (storage/pg-snapshots.ts): an ordered list of migrations, applied once each and recorded in
// <schema>.schema_migrations. Several nodes may start at once, so migrate() runs in one transaction under
// a transaction-scoped advisory lock keyed by the schema name: the first node applies what is missing,
// the others wait for its COMMIT, then find everything applied and do nothing.
import pg from 'pg';
import type { StorageLogger } from './logger.js';

export const DEFAULT_SCHEMA = 'inventory';

/** Lowercase SQL identifiers only: the schema name is spliced into DDL, so nothing that needs quoting. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new RangeError(`${what} must match ${IDENTIFIER.source} (got ${JSON.stringify(name)})`);
  }
  return name;
}

export interface Migration {
  readonly version: number;
  readonly name: string;
  /** SQL for the given (already checked) schema name. May hold several statements. */
  readonly sql: (schema: string) => string;
}

/** Applied in order; never edit one that has shipped, append a new one instead. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'journal tables',
    sql: (s) => `
      CREATE TABLE ${s}.journal (
        seq bigint PRIMARY KEY,
        stream text NOT NULL,
        version int NOT NULL,
        at timestamptz NOT NULL,
        events jsonb NOT NULL,
        meta jsonb,
        -- The fence: one record per (stream, version), whichever node writes it.
        CONSTRAINT journal_stream_version UNIQUE (stream, version)
      );
      -- Same shape, no constraints: compact() with retention 'archive' moves records here.
      CREATE TABLE ${s}.journal_archive (LIKE ${s}.journal);
      -- One row: the last seq ever assigned. It survives compaction (max(seq) would not), and its row lock
      -- is what serialises append batches across nodes (see journal_append).
      CREATE TABLE ${s}.journal_head (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        last_seq bigint NOT NULL
      );
      INSERT INTO ${s}.journal_head (id, last_seq) VALUES (true, 0);
    `,
  },
  {
    version: 2,
    name: 'journal_append: one statement per group-commit batch',
    // Called as a single statement in its own (implicit) transaction: the caller's query resolves only
    // after COMMIT. READ COMMITTED gives each statement below a fresh snapshot taken after the head lock
    // was granted, so the conflict check sees every batch committed before this one.
    sql: (s) => `
      CREATE FUNCTION ${s}.journal_append(
        p_streams text[], p_versions int[], p_ats timestamptz[], p_events jsonb[], p_metas jsonb[],
        p_channel text,
        OUT o_head bigint, OUT o_conflicts int[])
      LANGUAGE plpgsql VOLATILE
      -- PL/pgSQL caches plans, so a plan made while the journal was small (a hash over a scan of the whole
      -- table) would be kept as it grows to millions of rows. With these off, the conflict check can only be
      -- a nested loop of index probes, whatever the statistics said when it was planned.
      SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
      AS $fn$
      DECLARE
        v_inserted bigint;
      BEGIN
        -- Blocks until the previous batch (from any node) has committed; its rows are then visible and
        -- nobody else can assign seqs until this transaction ends. Seqs therefore become visible in order.
        SELECT h.last_seq INTO o_head FROM ${s}.journal_head h WHERE h.id FOR UPDATE;

        -- Entries that would break the fence: the (stream, version) exists, or an earlier entry of this
        -- batch takes it. Only these fail; the rest of the batch goes in.
        -- One probe of the unique (stream, version) index per entry: see the SET clauses above.
        SELECT coalesce(array_agg(c.ord ORDER BY c.ord), '{}') INTO o_conflicts
        FROM (
          SELECT u.ord::int AS ord, u.stream, u.version,
                 row_number() OVER (PARTITION BY u.stream, u.version ORDER BY u.ord) AS nth
          FROM unnest(p_streams, p_versions) WITH ORDINALITY AS u(stream, version, ord)
        ) c
        LEFT JOIN ${s}.journal j ON j.stream = c.stream AND j.version = c.version
        WHERE c.nth > 1 OR j.seq IS NOT NULL;

        -- Accepted entries take o_head + 1, o_head + 2, ... in batch order; the caller computes the same.
        INSERT INTO ${s}.journal (seq, stream, version, at, events, meta)
        SELECT o_head + row_number() OVER (ORDER BY u.ord), u.stream, u.version, u.at, u.events, u.meta
        FROM unnest(p_streams, p_versions, p_ats, p_events, p_metas)
             WITH ORDINALITY AS u(stream, version, at, events, meta, ord)
        WHERE NOT (u.ord::int = ANY (o_conflicts));
        GET DIAGNOSTICS v_inserted = ROW_COUNT;

        IF v_inserted > 0 THEN
          UPDATE ${s}.journal_head SET last_seq = o_head + v_inserted WHERE id;
          -- Delivered to listeners only if and when this transaction commits.
          PERFORM pg_notify(p_channel, (o_head + v_inserted)::text);
        END IF;
      END
      $fn$;
    `,
  },
  {
    version: 3,
    name: 'snapshot tables',
    sql: (s) => `
      CREATE TABLE ${s}.snapshot_partitions (
        idx int NOT NULL,
        seq bigint NOT NULL,
        entries jsonb NOT NULL,
        PRIMARY KEY (idx, seq)
      );
      CREATE TABLE ${s}.snapshot_manifests (
        seq bigint PRIMARY KEY,
        taken_at text NOT NULL,
        partition_count int NOT NULL CHECK (partition_count > 0),
        -- partition_seqs[i + 1] is the seq of the snapshot_partitions row holding partition i.
        partition_seqs bigint[] NOT NULL CHECK (cardinality(partition_seqs) = partition_count),
        written_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 4,
    name: 'claims: cluster-wide unique names (till sequence numbers, idempotency keys)',
    // Same shape as journal_append, plus each entry's claims (a jsonb array of names). An entry fails
    // alone when its (stream, version) is taken, or when one of its claims is taken by an earlier record
    // or by an earlier entry of the same batch; its claims are recorded with the seq it gets.
    sql: (s) => `
      CREATE TABLE ${s}.journal_claims (
        claim text PRIMARY KEY,
        seq bigint NOT NULL
      );
      CREATE INDEX journal_claims_seq ON ${s}.journal_claims (seq);
      CREATE FUNCTION ${s}.journal_append_claims(
        p_streams text[], p_versions int[], p_ats timestamptz[], p_events jsonb[], p_metas jsonb[],
        p_claims jsonb[], p_channel text,
        OUT o_head bigint, OUT o_conflicts int[])
      LANGUAGE plpgsql VOLATILE
      SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
      AS $fn$
      DECLARE
        v_inserted bigint;
      BEGIN
        SELECT h.last_seq INTO o_head FROM ${s}.journal_head h WHERE h.id FOR UPDATE;

        SELECT coalesce(array_agg(DISTINCT x.ord ORDER BY x.ord), '{}') INTO o_conflicts
        FROM (
          SELECT c.ord
          FROM (
            SELECT u.ord::int AS ord, u.stream, u.version,
                   row_number() OVER (PARTITION BY u.stream, u.version ORDER BY u.ord) AS nth
            FROM unnest(p_streams, p_versions) WITH ORDINALITY AS u(stream, version, ord)
          ) c
          LEFT JOIN ${s}.journal j ON j.stream = c.stream AND j.version = c.version
          WHERE c.nth > 1 OR j.seq IS NOT NULL
          UNION ALL
          SELECT k.ord
          FROM (
            SELECT u.ord::int AS ord, name.claim,
                   row_number() OVER (PARTITION BY name.claim ORDER BY u.ord) AS nth
            FROM unnest(p_claims) WITH ORDINALITY AS u(claims, ord),
                 jsonb_array_elements_text(coalesce(u.claims, '[]'::jsonb)) AS name(claim)
          ) k
          LEFT JOIN ${s}.journal_claims jc ON jc.claim = k.claim
          WHERE k.nth > 1 OR jc.claim IS NOT NULL
        ) x;

        INSERT INTO ${s}.journal (seq, stream, version, at, events, meta)
        SELECT o_head + row_number() OVER (ORDER BY u.ord), u.stream, u.version, u.at, u.events, u.meta
        FROM unnest(p_streams, p_versions, p_ats, p_events, p_metas)
             WITH ORDINALITY AS u(stream, version, at, events, meta, ord)
        WHERE NOT (u.ord::int = ANY (o_conflicts));
        GET DIAGNOSTICS v_inserted = ROW_COUNT;

        INSERT INTO ${s}.journal_claims (claim, seq)
        SELECT name.claim, a.seq
        FROM (
          SELECT u.ord, u.claims, o_head + row_number() OVER (ORDER BY u.ord) AS seq
          FROM unnest(p_claims) WITH ORDINALITY AS u(claims, ord)
          WHERE NOT (u.ord::int = ANY (o_conflicts))
        ) a,
        jsonb_array_elements_text(coalesce(a.claims, '[]'::jsonb)) AS name(claim);

        IF v_inserted > 0 THEN
          UPDATE ${s}.journal_head SET last_seq = o_head + v_inserted WHERE id;
          PERFORM pg_notify(p_channel, (o_head + v_inserted)::text);
        END IF;
      END
      $fn$;
    `,
  },
  {
    version: 5,
    name: 'cluster_nodes: engine nodes sharing the partitions (storage/pg-ownership.ts)',
    // A row says a node exists; its session advisory lock (session_key) says it is alive: a killed
    // node's session ends and its lock with it, whatever its last heartbeat. `partitions` is what the
    // node held at its last heartbeat, for operators (pg_locks is the truth).
    sql: (s) => `
      CREATE TABLE ${s}.cluster_nodes (
        node_id text PRIMARY KEY,
        heartbeat_at timestamptz NOT NULL,
        session_key int NOT NULL,
        partitions int[] NOT NULL DEFAULT '{}',
        started_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 6,
    name: 'journal_append_claims: a refused version also refuses the later versions of its stream in the batch',
    sql: (s) => `
      CREATE OR REPLACE FUNCTION ${s}.journal_append_claims(
        p_streams text[], p_versions int[], p_ats timestamptz[], p_events jsonb[], p_metas jsonb[],
        p_claims jsonb[], p_channel text,
        OUT o_head bigint, OUT o_conflicts int[])
      LANGUAGE plpgsql VOLATILE
      SET enable_seqscan = off SET enable_bitmapscan = off SET enable_hashjoin = off SET enable_mergejoin = off
      AS $fn$
      DECLARE
        v_inserted bigint;
      BEGIN
        SELECT h.last_seq INTO o_head FROM ${s}.journal_head h WHERE h.id FOR UPDATE;

        SELECT coalesce(array_agg(DISTINCT x.ord ORDER BY x.ord), '{}') INTO o_conflicts
        FROM (
          SELECT c.ord
          FROM (
            SELECT u.ord::int AS ord, u.stream, u.version,
                   row_number() OVER (PARTITION BY u.stream, u.version ORDER BY u.ord) AS nth
            FROM unnest(p_streams, p_versions) WITH ORDINALITY AS u(stream, version, ord)
          ) c
          LEFT JOIN ${s}.journal j ON j.stream = c.stream AND j.version = c.version
          WHERE c.nth > 1 OR j.seq IS NOT NULL
          UNION ALL
          SELECT k.ord
          FROM (
            SELECT u.ord::int AS ord, name.claim,
                   row_number() OVER (PARTITION BY name.claim ORDER BY u.ord) AS nth
            FROM unnest(p_claims) WITH ORDINALITY AS u(claims, ord),
                 jsonb_array_elements_text(coalesce(u.claims, '[]'::jsonb)) AS name(claim)
          ) k
          LEFT JOIN ${s}.journal_claims jc ON jc.claim = k.claim
          WHERE k.nth > 1 OR jc.claim IS NOT NULL
        ) x;

        -- One writer's entries of one stream are decided each on top of the previous version: when every
        -- entry of a version is refused, the entries of later versions of that stream are refused too.
        WITH e AS (
          SELECT u.ord::int AS ord, u.stream, u.version, (u.ord::int = ANY (o_conflicts)) AS refused
          FROM unnest(p_streams, p_versions) WITH ORDINALITY AS u(stream, version, ord)
        ), broken AS (
          SELECT g.stream, min(g.version) AS version
          FROM (SELECT stream, version FROM e GROUP BY stream, version HAVING bool_and(refused)) g
          GROUP BY g.stream
        )
        SELECT coalesce(array_agg(e.ord ORDER BY e.ord), '{}') INTO o_conflicts
        FROM e LEFT JOIN broken b ON b.stream = e.stream
        WHERE e.refused OR e.version > b.version;

        INSERT INTO ${s}.journal (seq, stream, version, at, events, meta)
        SELECT o_head + row_number() OVER (ORDER BY u.ord), u.stream, u.version, u.at, u.events, u.meta
        FROM unnest(p_streams, p_versions, p_ats, p_events, p_metas)
             WITH ORDINALITY AS u(stream, version, at, events, meta, ord)
        WHERE NOT (u.ord::int = ANY (o_conflicts));
        GET DIAGNOSTICS v_inserted = ROW_COUNT;

        INSERT INTO ${s}.journal_claims (claim, seq)
        SELECT name.claim, a.seq
        FROM (
          SELECT u.ord, u.claims, o_head + row_number() OVER (ORDER BY u.ord) AS seq
          FROM unnest(p_claims) WITH ORDINALITY AS u(claims, ord)
          WHERE NOT (u.ord::int = ANY (o_conflicts))
        ) a,
        jsonb_array_elements_text(coalesce(a.claims, '[]'::jsonb)) AS name(claim);

        IF v_inserted > 0 THEN
          UPDATE ${s}.journal_head SET last_seq = o_head + v_inserted WHERE id;
          PERFORM pg_notify(p_channel, (o_head + v_inserted)::text);
        END IF;
      END
      $fn$;
    `,
  },
];

/** Advisory lock class for migrations (first key); the second key is a hash of the schema name. */
const MIGRATION_LOCK_CLASS = 0x5e0c_0001;

/** FNV-1a to a signed 32-bit int, as pg_advisory_xact_lock(int, int) takes. */
export function lockKey(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

export interface MigrationResult {
  /** Versions this call applied (empty when another node, or an earlier start, already had). */
  readonly applied: readonly number[];
}

/** Creates the schema if needed and applies the migrations it lacks, all in one transaction. */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  logger?: StorageLogger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  const s = checkIdentifier(schema, 'schema');
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1, $2)', [MIGRATION_LOCK_CLASS, lockKey(s)]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
           version int PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`);
      const done = new Set(rows.map((row) => row.version));
      const applied: number[] = [];
      for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
        if (done.has(migration.version)) continue;
        await client.query(migration.sql(s));
        await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        applied.push(migration.version);
      }
      await client.query('COMMIT');
      if (applied.length > 0) logger?.info('pg: migrations applied', { schema: s, applied });
      return { applied };
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => {
        // The connection itself is gone: do not hand it back to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

/** The pool a store was given, or one it creates (and must end) from a connection string. */
export function poolFrom(
  options: { readonly pool?: pg.Pool | undefined; readonly connectionString?: string | undefined },
  logger: StorageLogger,
): { pool: pg.Pool; owned: boolean } {
  if (options.pool) return { pool: options.pool, owned: false };
  if (!options.connectionString) throw new TypeError('either pool or connectionString is required');
  const pool = new pg.Pool({ connectionString: options.connectionString });
  // An idle client whose connection drops emits 'error' on the pool; unhandled, that would end the process.
  pool.on('error', (error) => logger.warn('pg: idle connection failed', { error: error.message }));
  return { pool, owned: true };
}
