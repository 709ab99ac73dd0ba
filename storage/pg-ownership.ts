// Partition ownership for cluster mode (the engine's PartitionOwnership port, engine/engine.ts): which
// node runs the reservation timers of which partition, and finishes the sagas a lost node left behind.
// Correctness never depends on it (every write is fenced by the journal's unique (stream, version) key
// and claims); ownership only decides who does the background work, so that each partition's work is
// done by one live node.
//
// Mechanism, all on ONE dedicated pg.Client session per node:
// - a partition is held with a session-level advisory lock, pg_try_advisory_lock(classId, partition),
//   classId derived from the schema. PostgreSQL releases it when the session ends: a SIGKILLed node's
//   socket closes, its backend exits and its partitions are free at once;
// - the node registers in <schema>.cluster_nodes and holds a second advisory lock, keyed by a random
//   session_key stored in its row. A node is live while its heartbeat is recent AND that lock is held,
//   so a killed node stops counting immediately, and a paused one once its heartbeat is stale;
// - every round (rebalanceMs) the node heartbeats, counts the live nodes, computes its share
//   ceil(partitions / live) and acquires free partitions up to it or releases what it holds beyond it.
//   Partitions spread when nodes join and move when one leaves, within about two rounds;
// - a node whose heartbeat is older than evictAfterMs while its session still holds locks (a process
//   paused by SIGSTOP or a debugger, a hung event loop) has its session terminated by a live node, so its
//   partitions move; when it wakes up it finds its session gone and starts over.
//
// Losing the session (an error, the backend terminated, a query that times out) means owning nothing at
// once: owns() is false for every partition until a new session has reacquired them. owns() is also false
// when no round has confirmed the session for nodeTimeoutMs, so a node that was paused does not act on
// its old belief before it has checked. onGained listeners hear every partition (re)acquired.
//
// The session must be a real one: a pooler in transaction mode (PgBouncer) would drop session locks.
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { PartitionOwnership } from '../engine/engine.js';
import { defaultStorageLogger, type StorageLogger } from './logger.js';
import { DEFAULT_SCHEMA, checkIdentifier, lockKey, migrate } from './pg-schema.js';

export const DEFAULT_OWNERSHIP_PARTITIONS = 16;
export const DEFAULT_REBALANCE_MS = 1000;
export const DEFAULT_EVICT_AFTER_MS = 30_000;

export interface PgPartitionOwnershipOptions {
  readonly connectionString: string;
  /** Schema holding cluster_nodes (default 'inventory'); the same as the journal's. */
  readonly schema?: string | undefined;
  /** Unique among the live nodes; a second live node with the same id is refused at start(). */
  readonly nodeId: string;
  /** Number of partitions (default 16); every node of a cluster must use the same. */
  readonly partitions?: number | undefined;
  /** Time between rounds (default 1000 ms). */
  readonly rebalanceMs?: number | undefined;
  /** A node whose heartbeat is older than this is not counted as live (default 5 rounds). */
  readonly nodeTimeoutMs?: number | undefined;
  /** Terminate the session of a node silent for this long, freeing its partitions (default 30 s; 0: never). */
  readonly evictAfterMs?: number | undefined;
  readonly logger?: StorageLogger | undefined;
}

export interface OwnershipStats {
  readonly rounds: number;
  readonly acquired: number;
  readonly released: number;
  readonly sessionsLost: number;
  readonly evicted: number;
  readonly liveNodes: number;
  readonly share: number;
  readonly lastRoundMs: number;
}

/** application_name of a node's ownership session, so operators and tests can find it in pg_stat_activity. */
export const ownershipApplicationName = (nodeId: string): string => `stockline-own:${nodeId}`.slice(0, 63);

/** Advisory lock classes (first key) for a schema: partitions, and the nodes' liveness locks. */
export function ownershipLockClasses(schema: string): { partitions: number; nodes: number } {
  const partitions = lockKey(`partitions/${schema}`) & 0x7fff_ffff;
  let nodes = lockKey(`nodes/${schema}`) & 0x7fff_ffff;
  if (nodes === partitions) nodes ^= 1;
  return { partitions, nodes };
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

interface RoundRow {
  mine: number[];
  taken: number[];
  live_others: string;
  stale: string;
  dead: string;
}

export class PgPartitionOwnership implements PartitionOwnership {
  readonly partitions: number;
  readonly nodeId: string;
  readonly #connectionString: string;
  readonly #schema: string;
  readonly #rebalanceMs: number;
  readonly #nodeTimeoutMs: number;
  readonly #evictAfterMs: number;
  readonly #logger: StorageLogger;
  readonly #classes: { partitions: number; nodes: number };
  /** Partitions in this node's preferred order: it acquires from the front and releases from the back. */
  readonly #preference: number[];
  readonly #listeners = new Set<(partitions: readonly number[]) => void>();
  readonly #sql: { round: string; evict: string; forget: string; duplicate: string; leave: string };

  #client: pg.Client | undefined;
  #sessionKey = 0;
  #backendPid: number | undefined;
  #held = new Set<number>();
  /** performance.now() when the last successful round was sent: the session was alive then. */
  #confirmedAt = Number.NEGATIVE_INFINITY;
  #started = false;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> | undefined;
  #stats = {
    rounds: 0,
    acquired: 0,
    released: 0,
    sessionsLost: 0,
    evicted: 0,
    liveNodes: 0,
    share: 0,
    lastRoundMs: 0,
  };

  constructor(options: PgPartitionOwnershipOptions) {
    if (!options.connectionString) throw new TypeError('PgPartitionOwnership needs a connectionString');
    if (typeof options.nodeId !== 'string' || options.nodeId.length === 0 || options.nodeId.length > 200)
      throw new RangeError('nodeId must be a non-empty string of at most 200 characters');
    this.partitions = options.partitions ?? DEFAULT_OWNERSHIP_PARTITIONS;
    if (!Number.isSafeInteger(this.partitions) || this.partitions < 1 || this.partitions > 65_536)
      throw new RangeError('partitions must be an integer from 1 to 65536');
    this.#rebalanceMs = options.rebalanceMs ?? DEFAULT_REBALANCE_MS;
    if (!Number.isFinite(this.#rebalanceMs) || this.#rebalanceMs < 10)
      throw new RangeError('rebalanceMs must be at least 10');
    this.#nodeTimeoutMs = Math.round(options.nodeTimeoutMs ?? 5 * this.#rebalanceMs);
    if (this.#nodeTimeoutMs <= this.#rebalanceMs)
      throw new RangeError('nodeTimeoutMs must be longer than rebalanceMs');
    this.#evictAfterMs = Math.round(options.evictAfterMs ?? DEFAULT_EVICT_AFTER_MS);
    if (this.#evictAfterMs !== 0 && this.#evictAfterMs < this.#nodeTimeoutMs)
      throw new RangeError('evictAfterMs must be 0 (never) or at least nodeTimeoutMs');
    this.nodeId = options.nodeId;
    this.#connectionString = options.connectionString;
    this.#schema = checkIdentifier(options.schema ?? DEFAULT_SCHEMA, 'schema');
    this.#logger = options.logger ?? defaultStorageLogger;
    this.#classes = ownershipLockClasses(this.#schema);
    const start = (lockKey(this.nodeId) >>> 0) % this.partitions;
    this.#preference = Array.from({ length: this.partitions }, (_, i) => (start + i) % this.partitions);

    const s = this.#schema;
    // The advisory locks of this schema's two classes, in this database ($1 partitions, $2 nodes).
    const locks = `
      SELECT l.classid::bigint AS class, l.objid::bigint AS key, l.pid
      FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid::bigint IN ($1::bigint, $2::bigint)`;
    const nodeAlive = `EXISTS (SELECT 1 FROM locks l WHERE l.class = $2::bigint AND l.key = n.session_key)`;
    const olderThan = (param: string) => `n.heartbeat_at < now() - ${param}::int * interval '1 millisecond'`;
    this.#sql = {
      // Heartbeat, then what the cluster looks like. The SELECT does not see the upsert (same snapshot),
      // so it counts the other nodes only. $3 node id, $4 session key, $5 held, $6 timeout, $7 evict after.
      round: `
        WITH beat AS (
          INSERT INTO ${s}.cluster_nodes (node_id, heartbeat_at, session_key, partitions)
          VALUES ($3, now(), $4, $5::int[])
          ON CONFLICT (node_id) DO UPDATE
            SET heartbeat_at = now(), session_key = EXCLUDED.session_key, partitions = EXCLUDED.partitions
        ),
        locks AS (${locks})
        SELECT
          (SELECT coalesce(array_agg(key::int ORDER BY key), '{}') FROM locks
            WHERE class = $1::bigint AND pid = pg_backend_pid()) AS mine,
          (SELECT coalesce(array_agg(key::int ORDER BY key), '{}') FROM locks
            WHERE class = $1::bigint AND pid <> pg_backend_pid()) AS taken,
          (SELECT count(*) FROM ${s}.cluster_nodes n
            WHERE n.node_id <> $3 AND NOT ${olderThan('$6')} AND ${nodeAlive}) AS live_others,
          (SELECT count(*) FROM ${s}.cluster_nodes n
            WHERE n.node_id <> $3 AND $7::int > 0 AND ${olderThan('$7')} AND ${nodeAlive}) AS stale,
          (SELECT count(*) FROM ${s}.cluster_nodes n
            WHERE n.node_id <> $3 AND ${olderThan('$6')} AND NOT ${nodeAlive}) AS dead`,
      // Terminates the sessions of nodes silent for $4 ms that still hold their liveness lock: the pid
      // holding it right now is that node's session, never a reused pid.
      evict: `
        WITH locks AS (${locks})
        SELECT n.node_id, l.pid, pg_terminate_backend(l.pid) AS terminated
        FROM ${s}.cluster_nodes n
        JOIN locks l ON l.class = $2::bigint AND l.key = n.session_key
        WHERE n.node_id <> $3 AND ${olderThan('$4')}`,
      // Rows of nodes whose session is gone: they left without saying so.
      forget: `
        WITH locks AS (${locks})
        DELETE FROM ${s}.cluster_nodes n
        WHERE n.node_id <> $3 AND ${olderThan('$4')} AND NOT ${nodeAlive}`,
      duplicate: `
        WITH locks AS (${locks})
        SELECT count(*) AS n FROM ${s}.cluster_nodes n
        WHERE n.node_id = $3 AND EXISTS (
          SELECT 1 FROM locks l
          WHERE l.class = $2::bigint AND l.key = n.session_key AND l.pid <> pg_backend_pid())`,
      leave: `DELETE FROM ${s}.cluster_nodes WHERE node_id = $1 AND session_key = $2`,
    };
  }

  /** True while this node holds the partition on a session confirmed within nodeTimeoutMs. */
  owns(partition: number): boolean {
    return this.#held.has(partition) && performance.now() - this.#confirmedAt <= this.#nodeTimeoutMs;
  }

  /** The partitions owns() is true for, ascending. */
  owned(): number[] {
    return [...this.#held].filter((partition) => this.owns(partition)).sort((a, b) => a - b);
  }

  /**
   * Registers a listener for partitions gained. A listener registered after start() is first called,
   * asynchronously, with the partitions already held: an engine started after its ownership would
   * otherwise never hear of the partitions gained while it was recovering.
   */
  onGained(listener: (partitions: readonly number[]) => void): () => void {
    this.#listeners.add(listener);
    setImmediate(() => {
      const owned = this.owned();
      if (this.#listeners.has(listener) && owned.length > 0) this.#notify(listener, owned);
    });
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** The backend pid of the ownership session (undefined while disconnected). */
  get backendPid(): number | undefined {
    return this.#backendPid;
  }

  get schema(): string {
    return this.#schema;
  }

  get stats(): OwnershipStats {
    return { ...this.#stats };
  }

  /**
   * Applies migrations, connects, registers and takes a first share of the partitions. Rejects, leaving
   * nothing running, when the database is unreachable or another live node has the same id.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error('ownership already started');
    this.#started = true;
    this.#stopped = false;
    try {
      const pool = new pg.Pool({ connectionString: this.#connectionString, max: 1 });
      pool.on('error', () => undefined);
      try {
        await migrate(pool, this.#schema, this.#logger);
      } finally {
        await pool.end().catch(() => undefined);
      }
      await this.#runRound(true);
    } catch (error) {
      this.#started = false;
      await this.#dropSession();
      throw error;
    }
    this.#schedule();
  }

  /** Releases every partition, leaves the cluster table and ends the session. */
  async stop(): Promise<void> {
    if (!this.#started || this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#round?.catch(() => undefined);
    const client = this.#client;
    this.#held.clear();
    if (client) {
      await client.query(this.#sql.leave, [this.nodeId, this.#sessionKey]).catch(() => undefined);
    }
    await this.#dropSession();
    this.#started = false;
    this.#logger.info('ownership: stopped', { nodeId: this.nodeId });
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#round = this.#runRound(false)
        .catch((error: unknown) => this.#lose(this.#client, error))
        .finally(() => {
          this.#round = undefined;
          this.#schedule();
        });
    }, this.#rebalanceMs);
    this.#timer.unref();
  }

  async #connect(first: boolean): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: ownershipApplicationName(this.nodeId),
      keepAlive: true,
      connectionTimeoutMillis: this.#nodeTimeoutMs,
      // A round that hangs (network gone without a reset) is a lost session, like an error.
      query_timeout: this.#nodeTimeoutMs,
    });
    client.on('error', (error) => this.#lose(client, error));
    client.on('end', () => this.#lose(client, new Error('ownership session ended')));
    this.#client = client;
    await client.connect();
    const pid = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    this.#backendPid = pid.rows[0]?.pid;
    for (let attempt = 0; ; attempt++) {
      const key = randomInt(1, 2 ** 31 - 1);
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [
        this.#classes.nodes,
        key,
      ]);
      if (rows[0]?.ok) {
        this.#sessionKey = key;
        break;
      }
      if (attempt >= 10) throw new Error('could not take a node liveness lock');
    }
    const duplicate = await client.query<{ n: string }>(this.#sql.duplicate, [
      this.#classes.partitions,
      this.#classes.nodes,
      this.nodeId,
    ]);
    if (Number(duplicate.rows[0]?.n) > 0) {
      throw new Error(`another live node already uses the node id ${JSON.stringify(this.nodeId)}`);
    }
    this.#logger.info(first ? 'ownership: connected' : 'ownership: reconnected', {
      nodeId: this.nodeId,
      pid: this.#backendPid,
    });
    return client;
  }

  async #runRound(first: boolean): Promise<void> {
    const started = performance.now();
    const client = this.#client ?? (await this.#connect(first));
    const { rows } = await client.query<RoundRow>(this.#sql.round, [
      this.#classes.partitions,
      this.#classes.nodes,
      this.nodeId,
      this.#sessionKey,
      [...this.#held].sort((a, b) => a - b),
      this.#nodeTimeoutMs,
      this.#evictAfterMs,
    ]);
    const row = rows[0];
    if (!row) throw new Error('ownership round returned no row');
    if (this.#client !== client || this.#stopped) return;
    this.#confirmedAt = started;
    const mine = new Set(row.mine);
    if (mine.size !== this.#held.size || [...this.#held].some((partition) => !mine.has(partition))) {
      this.#logger.warn('ownership: held partitions differ from the session locks; using the locks', {
        nodeId: this.nodeId,
        believed: [...this.#held].sort((a, b) => a - b),
        locks: row.mine,
      });
      this.#held = mine;
    }
    const live = Number(row.live_others) + 1;
    const share = Math.ceil(this.partitions / live);
    this.#stats.liveNodes = live;
    this.#stats.share = share;

    if (this.#held.size > share) {
      // Give up the least preferred first; owns() turns false before the unlock is even sent.
      const extras = this.#preference.filter((partition) => this.#held.has(partition)).slice(share);
      for (const partition of extras) this.#held.delete(partition);
      await client.query('SELECT pg_advisory_unlock($1, p) FROM unnest($2::int[]) AS p', [
        this.#classes.partitions,
        extras,
      ]);
      this.#stats.released += extras.length;
      this.#logger.info('ownership: released partitions', {
        nodeId: this.nodeId,
        partitions: extras,
        share,
        liveNodes: live,
      });
    } else if (this.#held.size < share) {
      const taken = new Set(row.taken);
      const gained: number[] = [];
      for (const partition of this.#preference) {
        if (this.#held.size >= share) break;
        if (this.#held.has(partition) || taken.has(partition)) continue;
        const { rows: tried } = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_lock($1, $2) AS ok',
          [this.#classes.partitions, partition],
        );
        if (this.#client !== client) return;
        if (tried[0]?.ok) {
          this.#held.add(partition);
          gained.push(partition);
        }
      }
      if (gained.length > 0) {
        this.#stats.acquired += gained.length;
        gained.sort((a, b) => a - b);
        this.#logger.info('ownership: acquired partitions', {
          nodeId: this.nodeId,
          partitions: gained,
          held: this.#held.size,
          share,
          liveNodes: live,
        });
        for (const listener of this.#listeners) this.#notify(listener, gained);
      }
    }

    if (Number(row.stale) > 0) await this.#evict(client);
    if (Number(row.dead) > 0) {
      await client.query(this.#sql.forget, [
        this.#classes.partitions,
        this.#classes.nodes,
        this.nodeId,
        this.#nodeTimeoutMs,
      ]);
    }
    this.#stats.rounds++;
    this.#stats.lastRoundMs = performance.now() - started;
  }

  async #evict(client: pg.Client): Promise<void> {
    try {
      const { rows } = await client.query<{ node_id: string; pid: number; terminated: boolean }>(
        this.#sql.evict,
        [this.#classes.partitions, this.#classes.nodes, this.nodeId, this.#evictAfterMs],
      );
      for (const row of rows) {
        if (row.terminated) this.#stats.evicted++;
        this.#logger.warn('ownership: evicted a silent node, its partitions move', {
          nodeId: this.nodeId,
          evicted: row.node_id,
          pid: row.pid,
          terminated: row.terminated,
          silentForMoreThanMs: this.#evictAfterMs,
        });
      }
    } catch (error) {
      // Terminating another role's backend needs pg_signal_backend: the node then keeps its partitions.
      this.#logger.warn('ownership: could not evict a silent node', {
        nodeId: this.nodeId,
        error: describe(error),
      });
    }
  }

  #notify(listener: (partitions: readonly number[]) => void, partitions: readonly number[]): void {
    try {
      listener(partitions);
    } catch (error) {
      this.#logger.error('ownership: onGained listener failed', { error: describe(error) });
    }
  }

  /** The session is gone or unusable: own nothing now, reconnect on the next round. */
  #lose(client: pg.Client | undefined, error: unknown): void {
    if (client === undefined || this.#client !== client) return;
    const had = [...this.#held].sort((a, b) => a - b);
    this.#held.clear();
    this.#client = undefined;
    this.#backendPid = undefined;
    this.#confirmedAt = Number.NEGATIVE_INFINITY;
    client.end().catch(() => undefined);
    if (this.#stopped) return;
    this.#stats.sessionsLost++;
    this.#logger.warn('ownership: session lost, owning nothing until it reconnects', {
      nodeId: this.nodeId,
      dropped: had,
      error: describe(error),
    });
  }

  async #dropSession(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    this.#backendPid = undefined;
    this.#held.clear();
    this.#confirmedAt = Number.NEGATIVE_INFINITY;
    if (client) await client.end().catch(() => undefined);
  }
}
