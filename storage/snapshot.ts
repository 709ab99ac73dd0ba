// The snapshot port: the engine's durable state (a map of stream id -> JSON state) as of a journal
// sequence number, stored in partitions so that a snapshot rewrites only what changed.

export interface SnapshotWrite {
  /** Journal sequence this snapshot covers: every record with seq <= this is folded in. */
  readonly seq: number;
  readonly takenAt: string;
  readonly partitionCount: number;
  /** Full content of each partition that changed since the previous snapshot. Others are carried over. */
  readonly changed: ReadonlyMap<number, ReadonlyMap<string, unknown>>;
  /**
   * Written while the engine serves: the store may space its writes out so that the journal's fsyncs
   * do not queue behind the snapshot's (the file store pauses between partitions). False at stop.
   */
  readonly background?: boolean;
}

export interface LoadedSnapshot {
  readonly seq: number;
  readonly takenAt: string;
  readonly partitionCount: number;
  /** Every (stream id, state) entry across all partitions. */
  entries(): AsyncIterable<readonly [string, unknown]>;
}

/** Snapshots exist but none verifies. `newestSeq`: the highest seq a snapshot claimed to cover. */
export class SnapshotsUnreadableError extends Error {
  constructor(
    message: string,
    readonly newestSeq: number,
  ) {
    super(message);
    this.name = 'SnapshotsUnreadableError';
  }
}

export interface SnapshotStore {
  /**
   * The newest snapshot whose manifest and partitions all verify, or null if there is none. Throws
   * SnapshotsUnreadableError when snapshots exist and none verifies, so the caller can check that the
   * journal alone still holds everything they covered.
   */
  latest(): Promise<LoadedSnapshot | null>;
  /** Writes atomically: partitions first (temp file, fsync, rename, fsync dir), the manifest last. */
  write(snapshot: SnapshotWrite): Promise<void>;
}

/** Stable partition of a stream id (FNV-1a), shared by snapshot writers and readers. */
export function partitionOf(streamId: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitionCount;
}
