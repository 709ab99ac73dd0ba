// Snapshots of the engine's state in pieces (DESIGN.md: lowdb rewrites its whole file and does not
// fsync, so never one giant file): one lowdb file per partition of the stream-id space, rewritten only
// when that partition changed, plus a small manifest naming the partition files of each snapshot with
// their CRC-32. Every file goes through DurableJsonFile: temp file, fsync, rename, fsync of the folder.
//
// Layout in dir:
//   p<index>-<seq>.json    { seq, partition, entries: { streamId: state } }
//   manifest-<seq>.json    { formatVersion: 1, seq, takenAt, partitionCount, partitions: [{ index, file, crc }] }
// The manifest is written last, so a crash mid-snapshot leaves the previous manifest in charge.
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { Low, type Adapter } from 'lowdb';
import { fsyncDir, isErrno, nodeFileOps, writeFully, type FileOps } from './file-ops.js';
import { defaultStorageLogger, type StorageLogger } from './logger.js';
import type { LoadedSnapshot, SnapshotStore, SnapshotWrite } from './snapshot.js';
import { SnapshotsUnreadableError } from './snapshot.js';

const MANIFEST_NAME = /^manifest-(\d+)\.json$/;
const PARTITION_NAME = /^p(\d+)-(\d+)\.json$/;
const TEMP_NAME = /^\..*\.tmp$/;

const crcHex = (bytes: Uint8Array): string => crc32(bytes).toString(16).padStart(8, '0');

/** A snapshot file that does not match what its manifest promised. */
export class SnapshotIntegrityError extends Error {
  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`snapshot file ${file}: ${reason}`);
    this.name = 'SnapshotIntegrityError';
  }
}

async function readWholeFile(ops: FileOps, file: string): Promise<Buffer | null> {
  let fd: number;
  try {
    fd = await ops.open(file, 'r');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
  try {
    const size = (await ops.stat(file)).size;
    const bytes = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const bytesRead = await ops.read(fd, bytes, done, size - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return bytes.subarray(0, done);
  } finally {
    await ops.close(fd);
  }
}

let tempCounter = 0;

/**
 * A lowdb adapter that makes each write durable and atomic: the JSON goes to a temp file in the same
 * folder, is fsynced, renamed over the target, and the folder is fsynced so the rename itself survives
 * a power loss. lowdb's own TextFile adapter renames but never fsyncs. With `expectedCrc`, read() refuses
 * a file whose bytes do not match.
 */
export class DurableJsonFile<T> implements Adapter<T> {
  /** Size and CRC-32 of the bytes the last write() made durable (manifests record the CRC). */
  lastWrite: { readonly bytes: number; readonly crc: string } | undefined;

  constructor(
    readonly filename: string,
    private readonly options: {
      readonly fileOps?: FileOps | undefined;
      readonly expectedCrc?: string | undefined;
      /** The JSON text of a value; JSON.stringify by default. */
      readonly serialize?: ((data: T) => Promise<string>) | undefined;
    } = {},
  ) {}

  async read(): Promise<T | null> {
    const bytes = await readWholeFile(this.#ops, this.filename);
    if (bytes === null) return null;
    if (this.options.expectedCrc !== undefined && crcHex(bytes) !== this.options.expectedCrc) {
      throw new SnapshotIntegrityError(
        this.filename,
        `crc ${crcHex(bytes)}, expected ${this.options.expectedCrc}`,
      );
    }
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch (error) {
      throw new SnapshotIntegrityError(this.filename, `not JSON: ${(error as Error).message}`);
    }
  }

  async write(data: T): Promise<void> {
    const ops = this.#ops;
    const text = this.options.serialize ? await this.options.serialize(data) : JSON.stringify(data);
    const bytes = Buffer.from(text, 'utf8');
    const dir = path.dirname(this.filename);
    const temp = path.join(dir, `.${path.basename(this.filename)}.${process.pid}.${++tempCounter}.tmp`);
    const fd = await ops.open(temp, 'w');
    try {
      await writeFully(ops, fd, bytes, 0);
      await ops.fsync(fd);
    } finally {
      await ops.close(fd);
    }
    await ops.rename(temp, this.filename);
    await fsyncDir(ops, dir);
    this.lastWrite = { bytes: bytes.length, crc: crcHex(bytes) };
  }

  get #ops(): FileOps {
    return this.options.fileOps ?? nodeFileOps;
  }
}

interface PartitionRef {
  readonly index: number;
  readonly file: string;
  readonly crc: string;
}

interface Manifest {
  readonly formatVersion: 1;
  readonly seq: number;
  readonly takenAt: string;
  readonly partitionCount: number;
  readonly partitions: readonly PartitionRef[];
}

/**
 * A partition as it is written: its entries still in the projection's Map. On disk it is the JSON
 * object `{ seq, partition, entries: { <id>: <value>, ... } }`.
 */
interface PartitionSource {
  readonly seq: number;
  readonly partition: number;
  readonly entries: ReadonlyMap<string, unknown>;
}

/**
 * The longest pause between two partitions of a background snapshot. Measured in-process (180,000
 * levels and 180,000 idempotency entries, a durable write every 5 ms beside the snapshot): writes
 * during the snapshot p50 6.2 ms without pauses, 0.6 ms with them; the snapshot took 1.4 s, then 2.6
 * to 2.9 s (docs/benchmarks.md).
 */
const MAX_PAUSE_MS = 50;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, MAX_PAUSE_MS)));

/** Serialising gives the event loop back after this long, so a snapshot does not stall requests. */
const SLICE_MS = 2;

/**
 * The JSON text of a partition file, built entry by entry and yielding to the event loop every
 * SLICE_MS: a partition of a large state took tens of milliseconds to serialise in one go, and the
 * 64 of a snapshot stalled the requests behind them (docs/benchmarks.md, "mixed"). The entries are
 * the projection's immutable values as of the snapshot's seq, so serialising across turns is safe.
 * The text parses to what JSON.stringify of `{ seq, partition, entries: Object.fromEntries(map) }` gives.
 */
export async function partitionJson(doc: PartitionSource): Promise<string> {
  const parts = [
    `{"seq":${JSON.stringify(doc.seq)},"partition":${JSON.stringify(doc.partition)},"entries":{`,
  ];
  let first = true;
  let sliceStart = performance.now();
  for (const [key, value] of doc.entries) {
    const json = JSON.stringify(value) as string | undefined;
    if (json === undefined) continue; // as JSON.stringify leaves out undefined and functions
    parts.push(`${first ? '' : ','}${JSON.stringify(key)}:${json}`);
    first = false;
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  parts.push('}}');
  return parts.join('');
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value);

/** Checks a parsed manifest against its file name; returns why it is unusable, or null. */
function manifestProblem(value: unknown, nameSeq: number): string | null {
  if (!isRecord(value)) return 'not a JSON object';
  if (value.formatVersion !== 1) return `unknown formatVersion ${String(value.formatVersion)}`;
  if (!isCount(value.seq) || value.seq !== nameSeq)
    return `seq ${String(value.seq)} does not match the file name`;
  if (typeof value.takenAt !== 'string') return 'takenAt missing';
  if (!isCount(value.partitionCount) || value.partitionCount < 1) return 'bad partitionCount';
  const partitions = value.partitions;
  if (!Array.isArray(partitions) || partitions.length !== value.partitionCount)
    return 'partitions do not match partitionCount';
  for (const [i, ref] of partitions.entries()) {
    if (!isRecord(ref) || ref.index !== i || typeof ref.file !== 'string' || typeof ref.crc !== 'string') {
      return `partition entry ${i} is malformed`;
    }
    const match = PARTITION_NAME.exec(ref.file);
    if (!match || Number(match[1]) !== i || Number(match[2]) > nameSeq)
      return `partition file name ${ref.file} is wrong`;
  }
  return null;
}

export interface LowdbSnapshotStoreOptions {
  readonly dir: string;
  readonly logger?: StorageLogger | undefined;
  readonly fileOps?: FileOps | undefined;
  /** Manifests kept after each write (default 2: the newest and one to fall back on). */
  readonly keepManifests?: number | undefined;
  /** How a background snapshot waits between partitions (tests observe it). */
  readonly pause?: ((ms: number) => Promise<unknown>) | undefined;
}

export class LowdbSnapshotStore implements SnapshotStore {
  readonly #dir: string;
  readonly #logger: StorageLogger;
  readonly #pause: (ms: number) => Promise<unknown>;
  readonly #ops: FileOps;
  readonly #keep: number;
  /** The manifest new snapshots carry unchanged partitions over from; undefined until looked up. */
  #base: Manifest | null | undefined;
  /** Serialises write() and latest(): both read and change #base and the folder. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: LowdbSnapshotStoreOptions) {
    this.#dir = options.dir;
    this.#logger = options.logger ?? defaultStorageLogger;
    this.#ops = options.fileOps ?? nodeFileOps;
    this.#keep = Math.max(1, options.keepManifests ?? 2);
    this.#pause = options.pause ?? pause;
  }

  latest(): Promise<LoadedSnapshot | null> {
    return this.#serially(async () => {
      const manifest = await this.#newestValidManifest();
      this.#base = manifest;
      return manifest && this.#loaded(manifest);
    });
  }

  write(snapshot: SnapshotWrite): Promise<void> {
    return this.#serially(() => this.#write(snapshot));
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(task);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #write(snapshot: SnapshotWrite): Promise<void> {
    const { seq, partitionCount, changed } = snapshot;
    if (!isCount(seq) || seq < 0)
      throw new RangeError(`snapshot seq must be a non-negative integer, got ${seq}`);
    if (!isCount(partitionCount) || partitionCount < 1)
      throw new RangeError('partitionCount must be a positive integer');
    for (const index of changed.keys()) {
      if (!isCount(index) || index < 0 || index >= partitionCount)
        throw new RangeError(`no partition ${index}`);
    }
    await this.#ops.mkdir(this.#dir);
    if (this.#base === undefined) this.#base = await this.#newestValidManifest();
    const base = this.#base;
    if (base && seq <= base.seq) {
      // The state as of a seq is fixed by the journal, so a second snapshot at the same seq adds nothing.
      if (seq === base.seq) return;
      throw new RangeError(`snapshot seq ${seq} is before the latest snapshot's seq ${base.seq}`);
    }
    const carried = base && base.partitionCount === partitionCount ? base : null;

    const partitions: PartitionRef[] = [];
    for (let index = 0; index < partitionCount; index++) {
      const entries = changed.get(index);
      const previous = carried?.partitions[index];
      if (entries === undefined && previous) {
        partitions.push(previous);
        continue;
      }
      // A partition with no previous file (first snapshot, or a new partition count) starts empty.
      const file = `p${index}-${seq}.json`;
      const adapter = new DurableJsonFile<PartitionSource>(path.join(this.#dir, file), {
        fileOps: this.#ops,
        serialize: partitionJson,
      });
      const doc: PartitionSource = { seq, partition: index, entries: entries ?? new Map<string, unknown>() };
      const started = performance.now();
      await new Low(adapter, doc).write();
      if (!adapter.lastWrite) throw new Error(`partition file ${file} was not written`);
      // In the background, the disk is left idle for as long as the partition took (at most
      // MAX_PAUSE_MS): a durable write's fsync then waits behind one partition, not a queue of them.
      if (snapshot.background === true) await this.#pause(performance.now() - started);
      partitions.push({ index, file, crc: adapter.lastWrite.crc });
    }

    const manifest: Manifest = {
      formatVersion: 1,
      seq,
      takenAt: snapshot.takenAt,
      partitionCount,
      partitions,
    };
    const manifestFile = path.join(this.#dir, `manifest-${seq}.json`);
    await new Low(new DurableJsonFile<Manifest>(manifestFile, { fileOps: this.#ops }), manifest).write();
    this.#base = manifest;
    this.#logger.info('snapshot: written', {
      seq,
      partitionCount,
      rewritten: partitions.filter((p) => p.file.endsWith(`-${seq}.json`)).length,
    });
    await this.#collectGarbage(manifest);
  }

  /** Keeps the newest manifests and the partition files they reference; removes the rest. */
  async #collectGarbage(newest: Manifest): Promise<void> {
    const manifests = await this.#manifestSeqs();
    const kept = manifests.slice(0, this.#keep);
    const referenced = new Set(newest.partitions.map((ref) => ref.file));
    for (const seq of kept) {
      if (seq === newest.seq) continue;
      const older = await this.#readManifest(seq).catch(() => null);
      // A damaged manifest cannot be loaded, so the files only it names are not worth keeping.
      if (older && typeof older !== 'string') for (const ref of older.partitions) referenced.add(ref.file);
    }
    let removed = 0;
    for (const name of await this.#ops.readdir(this.#dir)) {
      const manifestMatch = MANIFEST_NAME.exec(name);
      const stale =
        (manifestMatch && !kept.includes(Number(manifestMatch[1]))) ||
        (PARTITION_NAME.test(name) && !referenced.has(name)) ||
        TEMP_NAME.test(name);
      if (stale) {
        await this.#ops.unlink(path.join(this.#dir, name));
        removed++;
      }
    }
    if (removed > 0) await fsyncDir(this.#ops, this.#dir);
  }

  /** Manifest seqs, newest first. */
  async #manifestSeqs(): Promise<number[]> {
    let names: string[];
    try {
      names = await this.#ops.readdir(this.#dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return [];
      throw error;
    }
    const seqs: number[] = [];
    for (const name of names) {
      const match = MANIFEST_NAME.exec(name);
      if (match) seqs.push(Number(match[1]));
    }
    return seqs.sort((a, b) => b - a);
  }

  /** The manifest, or a string saying why it is unusable. */
  async #readManifest(seq: number): Promise<Manifest | string> {
    const db = new Low<unknown>(
      new DurableJsonFile<unknown>(path.join(this.#dir, `manifest-${seq}.json`), { fileOps: this.#ops }),
      null,
    );
    try {
      await db.read();
    } catch (error) {
      return (error as Error).message;
    }
    if (db.data === null) return 'missing';
    return manifestProblem(db.data, seq) ?? (db.data as Manifest);
  }

  /** Why this manifest's partition files cannot be used, or null if they all exist and match their crc. */
  async #partitionsProblem(manifest: Manifest): Promise<string | null> {
    for (const ref of manifest.partitions) {
      const bytes = await readWholeFile(this.#ops, path.join(this.#dir, ref.file));
      if (bytes === null) return `partition file ${ref.file} is missing`;
      const crc = crcHex(bytes);
      if (crc !== ref.crc) return `partition file ${ref.file} has crc ${crc}, manifest says ${ref.crc}`;
    }
    return null;
  }

  async #newestValidManifest(): Promise<Manifest | null> {
    const seqs = await this.#manifestSeqs();
    for (const seq of seqs) {
      const manifest = await this.#readManifest(seq);
      const problem = typeof manifest === 'string' ? manifest : await this.#partitionsProblem(manifest);
      if (problem === null && typeof manifest !== 'string') return manifest;
      this.#logger.warn('snapshot: skipping a damaged snapshot, falling back to an older one', {
        manifest: `manifest-${seq}.json`,
        problem,
      });
    }
    if (seqs.length > 0) {
      // Snapshots existed and none can be read: starting from the journal alone could silently serve
      // less than was acknowledged (a journal compacted or lost behind them). Refuse; the operator
      // decides (docs/operations.md, "Recovering from a damaged journal").
      throw new SnapshotsUnreadableError(
        `snapshots in ${this.#dir}: all ${seqs.length} manifests are damaged (the newest claims seq ${Math.max(...seqs)})`,
        Math.max(...seqs),
      );
    }
    return null;
  }

  #loaded(manifest: Manifest): LoadedSnapshot {
    const dir = this.#dir;
    const ops = this.#ops;
    return {
      seq: manifest.seq,
      takenAt: manifest.takenAt,
      partitionCount: manifest.partitionCount,
      async *entries(): AsyncGenerator<readonly [string, unknown]> {
        // One partition in memory at a time; each is re-checked against its crc as it is loaded.
        for (const ref of manifest.partitions) {
          const file = path.join(dir, ref.file);
          const db = new Low<unknown>(
            new DurableJsonFile<unknown>(file, { fileOps: ops, expectedCrc: ref.crc }),
            null,
          );
          await db.read();
          const doc = db.data;
          if (!isRecord(doc) || doc.partition !== ref.index || !isRecord(doc.entries)) {
            throw new SnapshotIntegrityError(file, doc === null ? 'missing' : 'not a partition document');
          }
          for (const entry of Object.entries(doc.entries)) yield entry;
        }
      },
    };
  }
}
