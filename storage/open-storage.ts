// Builds the engine's storage from the configuration: the embedded default (a file journal and lowdb
// snapshots under dataDir, one node) or cluster mode (the PostgreSQL journal and snapshot store shared
// by every node, plus partition ownership among the live nodes). The engine takes what this returns as
// is: `Engine.start({ journal, snapshots, ownership })`; it opens and closes the journal itself.
import { hostname } from 'node:os';
import path from 'node:path';
import { FileJournal } from './file-journal.js';
import type { Journal } from './journal.js';
import type { StorageLogger } from './logger.js';
import { LowdbSnapshotStore } from './lowdb-snapshots.js';
import { PgJournal } from './pg-journal.js';
import { PgPartitionOwnership } from './pg-ownership.js';
import { DEFAULT_SCHEMA } from './pg-schema.js';
import { PgSnapshotStore } from './pg-snapshots.js';
import type { SnapshotStore } from './snapshot.js';

export type JournalKind = 'file' | 'postgres';

export interface StorageConfig {
  readonly journal: JournalKind;
  /** File mode: the journal goes in dataDir/journal and snapshots in dataDir/snapshots. */
  readonly dataDir: string;
  /** PostgreSQL mode: required. */
  readonly databaseUrl?: string | undefined;
  /** PostgreSQL mode: the schema of every table (default 'inventory'); all nodes of a cluster share it. */
  readonly schema?: string | undefined;
  /** PostgreSQL mode: this node's id among the live nodes (default hostname-pid). */
  readonly nodeId?: string | undefined;
  /** PostgreSQL mode: ownership partitions and rounds (defaults 16 and 1000 ms). */
  readonly partitions?: number | undefined;
  readonly rebalanceMs?: number | undefined;
  readonly logger: StorageLogger;
}

export interface OpenedStorage {
  readonly kind: JournalKind;
  readonly journal: Journal;
  readonly snapshots: SnapshotStore;
  /** Cluster mode only, already started. */
  readonly ownership?: PgPartitionOwnership | undefined;
  /** Stops ownership (its partitions move to the other nodes), ends the pools. Safe to call twice. */
  close(): Promise<void>;
}

export async function openStorage(config: StorageConfig): Promise<OpenedStorage> {
  const { logger } = config;
  if (config.journal === 'file') {
    const dataDir = path.resolve(config.dataDir);
    const journal = new FileJournal({ dir: path.join(dataDir, 'journal'), logger });
    const snapshots = new LowdbSnapshotStore({ dir: path.join(dataDir, 'snapshots'), logger });
    return { kind: 'file', journal, snapshots, close: () => journal.close() };
  }
  if (config.journal !== 'postgres') throw new TypeError(`unknown journal kind ${String(config.journal)}`);
  const connectionString = config.databaseUrl;
  if (!connectionString) throw new TypeError('the postgres journal needs a databaseUrl');
  const schema = config.schema ?? DEFAULT_SCHEMA;
  const nodeId = config.nodeId ?? defaultNodeId();
  const journal = new PgJournal({ connectionString, schema, logger });
  const snapshots = new PgSnapshotStore({ connectionString, schema, logger });
  const ownership = new PgPartitionOwnership({
    connectionString,
    schema,
    nodeId,
    logger,
    partitions: config.partitions,
    rebalanceMs: config.rebalanceMs,
  });
  // Applies the migrations, registers the node and takes a first share of the partitions.
  await ownership.start();
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      const results = await Promise.allSettled([ownership.stop(), journal.close(), snapshots.close()]);
      const failed = results.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;
    })());
  logger.info('storage: postgres', { schema, nodeId, partitions: ownership.partitions });
  return { kind: 'postgres', journal, snapshots, ownership, close };
}

/** hostname-pid: unique among the processes of one machine, readable in cluster_nodes. */
export function defaultNodeId(): string {
  return `${hostname() || 'node'}-${process.pid}`;
}
