// The file journal: JSON-lines segment files with group commit (one write and one fdatasync per batch,
// callers acknowledged only once their batch is durable), fail-stop on any I/O error, torn-tail repair on
// open, and fast ordered replay through large reads and a sparse offset index.
//
// Layout: dir/segment-<first seq, 20 digits>.jsonl; the active (last) segment takes appends and rolls to a
// new file once the next batch would push it past segmentBytes. Only the active segment is ever written.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { InventoryError } from '../engine/errors.js';
import { fsyncDir, nodeFileOps, writeFully, type FileOps } from './file-ops.js';
import { defaultStorageLogger, type StorageLogger } from './logger.js';
import type { Journal, JournalEntry, JournalHealth, JournalRecord, JournalStats } from './journal.js';
import { decodeRecordAt, encodeRecordBody, maxLineBytes, writeRecordLine } from './record.js';
import {
  INDEX_EVERY,
  JournalCorruptError,
  LineReader,
  READ_CHUNK_BYTES,
  SparseIndex,
  listSegmentFiles,
  scanSegment,
  segmentName,
  type SegmentProblem,
} from './segment-io.js';

export { JournalCorruptError } from './segment-io.js';
export type { FileOps } from './file-ops.js';
export { nodeFileOps } from './file-ops.js';
export type { StorageLogger } from './logger.js';

export interface FileJournalOptions {
  readonly dir: string;
  /** Roll to a new segment once the next batch would take the active one past this size. */
  readonly segmentBytes?: number | undefined;
  readonly now?: (() => Date) | undefined;
  readonly logger?: StorageLogger | undefined;
  readonly fileOps?: FileOps | undefined;
  /** What compact() does with whole old segments: delete them (default) or move them to dir/archive/. */
  readonly retention?: 'delete' | 'archive' | undefined;
}

export interface FileJournalStats extends JournalStats {
  /** Records made durable and acknowledged; average batch size = recordsFlushed / flushes. */
  readonly recordsFlushed: number;
  /** Batches that failed (each one put the journal in `failed`). */
  readonly failedFlushes: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;

interface Segment {
  readonly name: string;
  readonly firstSeq: number;
  /** Durable bytes: readers never look past them, recover() truncates back to them. */
  bytes: number;
  readonly index: SparseIndex;
}

interface PendingAppend {
  readonly record: JournalRecord;
  /** The record's JSON without its closing brace (encodeRecordBody): the line is written at flush. */
  readonly body: string;
  readonly resolve: (record: JournalRecord) => void;
  readonly reject: (error: Error) => void;
}

const unavailable = (message: string, cause?: unknown): InventoryError => {
  const error = new InventoryError('STORAGE_UNAVAILABLE', message, {}, 1);
  if (cause !== undefined) error.cause = cause;
  return error;
};

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class FileJournal implements Journal {
  readonly #dir: string;
  readonly #segmentBytes: number;
  readonly #now: (() => Date) | undefined;
  #lastStampMs = Number.NaN;
  #lastStamp = '';
  /** Reused by every flush: the batch's lines are encoded into it, then written with one call. */
  #batchBuffer: Buffer = Buffer.alloc(0);
  readonly #logger: StorageLogger;
  readonly #ops: FileOps;
  readonly #retention: 'delete' | 'archive';

  #health: JournalHealth = 'closed';
  #closing = false;
  /** Sorted by firstSeq; the last one is active. */
  #segments: Segment[] = [];
  #activeFd: number | null = null;
  /** Highest seq handed out by append(); runs ahead of #durableSeq while batches are queued or in flight. */
  #lastAssigned = 0;
  #durableSeq = 0;
  #queue: PendingAppend[] = [];
  #flushing = false;
  /** Settles when the current busy period of the flush loop ends (close() waits for it). */
  #flushDone: Promise<void> = Promise.resolve();

  #appends = 0;
  #flushes = 0;
  #recordsFlushed = 0;
  #failedFlushes = 0;
  #lastFlushMs = 0;
  #lastBatchSize = 0;

  constructor(options: FileJournalOptions) {
    this.#dir = options.dir;
    this.#segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.#now = options.now;
    this.#logger = options.logger ?? defaultStorageLogger;
    this.#ops = options.fileOps ?? nodeFileOps;
    this.#retention = options.retention ?? 'delete';
    if (!(this.#segmentBytes > 0)) throw new RangeError('segmentBytes must be positive');
  }

  get lastSeq(): number {
    return this.#durableSeq;
  }

  get health(): JournalHealth {
    return this.#health;
  }

  /** Oldest seq still stored (compaction removes older ones); lastSeq + 1 when the journal is empty. */
  get firstSeq(): number {
    return this.#segments[0]?.firstSeq ?? this.#durableSeq + 1;
  }

  get stats(): FileJournalStats {
    return {
      appends: this.#appends,
      flushes: this.#flushes,
      lastFlushMs: this.#lastFlushMs,
      lastBatchSize: this.#lastBatchSize,
      recordsFlushed: this.#recordsFlushed,
      failedFlushes: this.#failedFlushes,
    };
  }

  async open(): Promise<void> {
    if (this.#health !== 'closed') throw new Error('journal is already open');
    await this.#ops.mkdir(this.#dir);
    this.#durableSeq = 0; // this instance may be reopened after close()
    const files = await listSegmentFiles(this.#ops, this.#dir);
    const segments: Segment[] = files.map(({ name, firstSeq }) => ({
      name,
      firstSeq,
      bytes: 0,
      index: new SparseIndex(),
    }));

    // Only the last segment can hold a torn write; earlier ones were sealed after an fsync and are verified
    // as they are read, which keeps start-up proportional to one segment.
    let last = segments.at(-1);
    while (last) {
      const index = last.index;
      const scan = await scanSegment(this.#ops, this.#dir, last.name, last.firstSeq, (seq, offset) =>
        index.add(seq, offset),
      );
      if (scan.problem && !scan.problem.isTail) {
        throw new JournalCorruptError(last.name, scan.problem.offset, scan.problem.reason);
      }
      if (scan.problem) await this.#cutTornTail(last.name, scan, scan.problem);
      last.bytes = scan.validBytes;
      this.#durableSeq = scan.lastSeq;
      if (scan.records > 0 || segments.length === 1) break;
      // An empty last segment (created just before a crash, or emptied by the cut) says nothing about
      // lastSeq; drop it so the previous segment, scanned next, becomes the active one again.
      await this.#ops.unlink(path.join(this.#dir, last.name));
      await fsyncDir(this.#ops, this.#dir);
      this.#logger.warn('journal: removed empty last segment', { segment: last.name });
      segments.pop();
      last = segments.at(-1);
    }
    // Sealed segments were fully fdatasynced before the next one was created: their size is durable.
    for (const sealed of segments.slice(0, -1)) {
      sealed.bytes = (await this.#ops.stat(path.join(this.#dir, sealed.name))).size;
    }
    this.#segments = segments;
    this.#lastAssigned = this.#durableSeq;
    if (last) this.#activeFd = await this.#ops.open(path.join(this.#dir, last.name), 'r+');
    this.#health = 'open';
    this.#closing = false;
    this.#logger.info('journal: open', {
      dir: this.#dir,
      segments: segments.length,
      lastSeq: this.#durableSeq,
    });
  }

  async #cutTornTail(name: string, scan: { validBytes: number; fileBytes: number }, problem: SegmentProblem) {
    const fd = await this.#ops.open(path.join(this.#dir, name), 'r+');
    try {
      await this.#ops.ftruncate(fd, scan.validBytes);
      await this.#ops.fsync(fd);
    } finally {
      await this.#ops.close(fd);
    }
    this.#logger.warn('journal: cut a torn tail', {
      segment: name,
      offset: scan.validBytes,
      bytesCut: scan.fileBytes - scan.validBytes,
      reason: problem.reason,
    });
  }

  append(entry: JournalEntry): Promise<JournalRecord> {
    if (this.#health !== 'open' || this.#closing) {
      return Promise.reject(
        unavailable(
          this.#health === 'failed'
            ? 'journal failed on an earlier write and refuses appends until recover()'
            : `journal is not open (${this.#closing ? 'closing' : this.#health})`,
        ),
      );
    }
    const seq = this.#lastAssigned + 1;
    const at = this.#stamp();
    const record: JournalRecord =
      entry.meta === undefined
        ? { seq, stream: entry.stream, version: entry.version, at, events: entry.events }
        : { seq, stream: entry.stream, version: entry.version, at, events: entry.events, meta: entry.meta };
    let body: string;
    try {
      body = encodeRecordBody(record);
    } catch (error) {
      // Nothing was queued and the seq is not consumed: an unserialisable entry is the caller's bug.
      return Promise.reject(new TypeError(`journal entry is not JSON-serialisable: ${describe(error)}`));
    }
    this.#lastAssigned = seq;
    this.#appends++;
    return new Promise<JournalRecord>((resolve, reject) => {
      this.#queue.push({ record, body, resolve, reject });
      if (!this.#flushing) this.#startFlushing();
    });
  }

  /** The append time, ISO-8601; the string is shared by every append in the same millisecond. */
  #stamp(): string {
    if (this.#now) return this.#now().toISOString();
    const ms = Date.now();
    if (ms !== this.#lastStampMs) {
      this.#lastStamp = new Date(ms).toISOString();
      this.#lastStampMs = ms;
    }
    return this.#lastStamp;
  }

  #startFlushing(): void {
    this.#flushing = true;
    this.#flushDone = this.#flushLoop();
  }

  /**
   * Group commit. No timer: each round starts from setImmediate, which lets every append made in the
   * current turn (including those of callers just acknowledged) join the batch, then takes the whole queue
   * as one write and one fdatasync. A new round starts as soon as one ends if anything queued meanwhile.
   */
  async #flushLoop(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#queue.length === 0 || this.#health !== 'open') {
        // Set synchronously with the emptiness check, so an append never finds the loop "running" but gone.
        this.#flushing = false;
        return;
      }
      const batch = this.#queue;
      this.#queue = [];
      try {
        await this.#writeBatch(batch);
      } catch (error) {
        this.#failStop(batch, error);
        this.#flushing = false;
        return;
      }
      for (const pending of batch) pending.resolve(pending.record);
    }
  }

  async #writeBatch(batch: PendingAppend[]): Promise<void> {
    const started = performance.now();
    const first = batch[0];
    if (!first) return;
    // Encode every line into one buffer, noting where each indexed record starts.
    let capacity = 0;
    for (const pending of batch) capacity += maxLineBytes(pending.body.length);
    if (this.#batchBuffer.length < capacity) {
      this.#batchBuffer = Buffer.allocUnsafe(Math.max(capacity, this.#batchBuffer.length * 2));
    }
    const buffer = this.#batchBuffer;
    let batchBytes = 0;
    const indexed: { seq: number; offset: number }[] = [];
    for (const pending of batch) {
      if (pending.record.seq % INDEX_EVERY === 0)
        indexed.push({ seq: pending.record.seq, offset: batchBytes });
      batchBytes += writeRecordLine(buffer, batchBytes, pending.body);
    }
    let active = this.#segments.at(-1);
    if (
      !active ||
      this.#activeFd === null ||
      (active.bytes > 0 && active.bytes + batchBytes > this.#segmentBytes)
    ) {
      active = await this.#roll(first.record.seq);
    }
    const fd = this.#activeFd;
    if (fd === null) throw new Error('no active segment');
    await writeFully(this.#ops, fd, buffer.subarray(0, batchBytes), active.bytes);
    await this.#ops.fdatasync(fd);

    // Durable from here: publish the new end to readers, index, then acknowledge.
    for (const { seq, offset } of indexed) active.index.add(seq, active.bytes + offset);
    active.bytes += batchBytes;
    this.#durableSeq = batch[batch.length - 1]?.record.seq ?? this.#durableSeq;
    this.#flushes++;
    this.#recordsFlushed += batch.length;
    this.#lastBatchSize = batch.length;
    this.#lastFlushMs = performance.now() - started;
  }

  /** Creates the next segment (fsyncing the directory so it survives a crash) and makes it active. */
  async #roll(firstSeq: number): Promise<Segment> {
    const name = segmentName(firstSeq);
    // 'w' because a failed earlier roll may have left an empty file of the same name.
    const fd = await this.#ops.open(path.join(this.#dir, name), 'w');
    try {
      await fsyncDir(this.#ops, this.#dir);
    } catch (error) {
      await this.#ops.close(fd).catch(() => undefined);
      throw error;
    }
    const previousFd = this.#activeFd;
    const segment: Segment = { name, firstSeq, bytes: 0, index: new SparseIndex() };
    this.#segments.push(segment);
    this.#activeFd = fd;
    // The previous segment is sealed: all its bytes were fdatasynced with their batches.
    if (previousFd !== null) await this.#ops.close(previousFd).catch(() => undefined);
    return segment;
  }

  #failStop(batch: PendingAppend[], error: unknown): void {
    this.#health = 'failed';
    this.#failedFlushes++;
    const active = this.#segments.at(-1);
    this.#logger.error('journal: write failed, refusing appends until recover()', {
      segment: active?.name,
      durableOffset: active?.bytes,
      lastDurableSeq: this.#durableSeq,
      batchSize: batch.length,
      error: describe(error),
    });
    const failure = unavailable(`journal write failed: ${describe(error)}`, error);
    const queued = this.#queue;
    this.#queue = [];
    for (const pending of batch) pending.reject(failure);
    for (const pending of queued) pending.reject(failure);
  }

  async recover(): Promise<void> {
    if (this.#health === 'closed') throw new Error('journal is not open');
    if (this.#health === 'open') return;
    await this.#flushDone;
    const active = this.#segments.at(-1);
    if (active) {
      // A fresh descriptor: after a failed fsync the old one may report later writes as clean when they are not.
      if (this.#activeFd !== null) await this.#ops.close(this.#activeFd).catch(() => undefined);
      this.#activeFd = null;
      const fd = await this.#ops.open(path.join(this.#dir, active.name), 'r+');
      try {
        await this.#ops.ftruncate(fd, active.bytes);
        await this.#ops.fsync(fd);
      } catch (error) {
        await this.#ops.close(fd).catch(() => undefined);
        throw unavailable(`journal recovery failed: ${describe(error)}`, error);
      }
      this.#activeFd = fd;
    }
    // A roll that failed half-way can leave an empty segment file the list does not know; it would shadow
    // the active segment's later records on the next open.
    const known = new Set(this.#segments.map((segment) => segment.name));
    for (const file of await listSegmentFiles(this.#ops, this.#dir)) {
      if (!known.has(file.name) && file.firstSeq > (active?.firstSeq ?? 0)) {
        await this.#ops.unlink(path.join(this.#dir, file.name));
      }
    }
    await fsyncDir(this.#ops, this.#dir);
    this.#lastAssigned = this.#durableSeq;
    this.#health = 'open';
    this.#logger.warn('journal: recovered', { lastSeq: this.#durableSeq, segment: active?.name });
  }

  read(fromSeq = 1): AsyncIterable<JournalRecord> {
    if (this.#health === 'closed') throw new Error('journal is not open');
    return this.#read(Math.max(1, Math.floor(fromSeq)));
  }

  /**
   * The same records as read(), in arrays of up to `batchSize`: for whole-journal readers (recovery),
   * which then pay the async iteration once per batch instead of once per record.
   */
  readBatches(fromSeq = 1, batchSize = 4096): AsyncIterable<readonly JournalRecord[]> {
    if (this.#health === 'closed') throw new Error('journal is not open');
    return this.#readBatches(Math.max(1, Math.floor(fromSeq)), Math.max(1, Math.floor(batchSize)));
  }

  async *#read(fromSeq: number): AsyncGenerator<JournalRecord> {
    // Small batches: a reader that stops early (a feed page) has decoded at most a few records too many.
    for await (const batch of this.#readBatches(fromSeq, 32)) yield* batch;
  }

  async *#readBatches(fromSeq: number, batchSize: number): AsyncGenerator<JournalRecord[]> {
    let segment = this.#segmentFor(fromSeq);
    while (segment) {
      // Seek with the sparse index; the records between the entry and fromSeq are decoded and skipped.
      const start = segment.index.floor(fromSeq) ?? { seq: segment.firstSeq, offset: 0 };
      let expected = start.seq;
      const fd = await this.#ops.open(path.join(this.#dir, segment.name), 'r');
      // Reads ahead while the caller works through the records already read (see LineReader).
      const reader = new LineReader(this.#ops, fd, start.offset, READ_CHUNK_BYTES, true);
      try {
        let batch: JournalRecord[] = [];
        for (;;) {
          while (reader.nextLine()) {
            const decoded = decodeRecordAt(reader.buf, reader.lineStart, reader.lineEnd);
            const problem = !decoded.ok
              ? `${decoded.reason}: ${decoded.detail}`
              : decoded.record.seq !== expected
                ? `seq ${decoded.record.seq} where ${expected} was expected`
                : undefined;
            if (problem !== undefined || !decoded.ok) {
              // Everything before the damage is handed out first, as a record-by-record reader would.
              const offset = reader.lineOffset;
              if (batch.length > 0) {
                yield batch;
                batch = [];
              }
              throw new JournalCorruptError(segment.name, offset, problem ?? 'undecodable');
            }
            const record = decoded.record;
            segment.index.add(record.seq, reader.lineOffset);
            expected++;
            if (record.seq < fromSeq) continue;
            batch.push(record);
            if (batch.length >= batchSize) {
              yield batch;
              batch = [];
            }
          }
          // Hand out what is decoded before waiting on the disk.
          if (batch.length > 0) {
            yield batch;
            batch = [];
          }
          // segment.bytes is re-read each time: the active segment grows while we read it.
          if ((await reader.fill(segment.bytes)) > 0) continue;
          if (reader.consumedOffset < segment.bytes) continue;
          if (reader.pendingBytes > 0) {
            throw new JournalCorruptError(
              segment.name,
              reader.consumedOffset,
              'incomplete record (no newline)',
            );
          }
          break;
        }
      } finally {
        await reader.settle();
        await this.#ops.close(fd);
      }
      fromSeq = Math.max(fromSeq, expected);
      const current: Segment = segment;
      const next = this.#segments.find((candidate) => candidate.firstSeq > current.firstSeq);
      if (next && next.firstSeq !== expected) {
        throw new JournalCorruptError(
          next.name,
          0,
          `segment starts at seq ${next.firstSeq}, expected ${expected}`,
        );
      }
      segment = next;
    }
  }

  /** The segment holding seq (or the oldest one if seq was compacted away). */
  #segmentFor(seq: number): Segment | undefined {
    let low = 0;
    let high = this.#segments.length - 1;
    let found = this.#segments[0];
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const candidate = this.#segments[mid];
      if (candidate === undefined) break;
      if (candidate.firstSeq <= seq) {
        found = candidate;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }

  async compact(upToSeq: number): Promise<{ removedSegments: number }> {
    if (this.#health === 'closed') throw new Error('journal is not open');
    let removedSegments = 0;
    const archiveDir = path.join(this.#dir, 'archive');
    if (this.#retention === 'archive') await this.#ops.mkdir(archiveDir);
    // Never the active (last) segment; a segment's last seq is the next one's first seq - 1.
    while (this.#segments.length > 1) {
      const [oldest, next] = this.#segments;
      if (!oldest || !next || next.firstSeq - 1 > upToSeq) break;
      const file = path.join(this.#dir, oldest.name);
      if (this.#retention === 'archive') await this.#ops.rename(file, path.join(archiveDir, oldest.name));
      else await this.#ops.unlink(file);
      this.#segments.shift();
      removedSegments++;
    }
    if (removedSegments > 0) {
      await fsyncDir(this.#ops, this.#dir);
      if (this.#retention === 'archive') await fsyncDir(this.#ops, archiveDir);
      this.#logger.info('journal: compacted', { upToSeq, removedSegments, retention: this.#retention });
    }
    return { removedSegments };
  }

  async close(): Promise<void> {
    if (this.#health === 'closed') return;
    this.#closing = true;
    // Appends accepted before close() still get their flush; new ones are refused while closing.
    while (this.#flushing) await this.#flushDone;
    if (this.#activeFd !== null) {
      const fd = this.#activeFd;
      this.#activeFd = null;
      await this.#ops.close(fd);
    }
    this.#segments = [];
    this.#health = 'closed';
    this.#closing = false;
  }
}

// ---- Helpers for the replay CLI and operators (no FileJournal instance; run with the engine stopped) ----

export interface SegmentInfo {
  readonly name: string;
  readonly firstSeq: number;
  /** Known for every segment but the last (from the next segment's name); the last needs a scan. */
  readonly lastSeq: number | undefined;
  readonly bytes: number;
}

export async function listSegments(dir: string, ops: FileOps = nodeFileOps): Promise<SegmentInfo[]> {
  const files = await listSegmentFiles(ops, dir);
  return Promise.all(
    files.map(async (file, i) => ({
      name: file.name,
      firstSeq: file.firstSeq,
      lastSeq: files[i + 1] === undefined ? undefined : (files[i + 1]?.firstSeq ?? 0) - 1,
      bytes: (await ops.stat(path.join(dir, file.name))).size,
    })),
  );
}

export interface JournalProblem {
  readonly segment: string;
  readonly offset: number;
  readonly reason: string;
  /** True for a torn tail: damage at the end of the last segment with no valid record after it. */
  readonly isTail: boolean;
}

export interface JournalVerification {
  readonly ok: boolean;
  readonly segments: number;
  /** Valid records before the first problem. */
  readonly records: number;
  /** Last valid seq before the first problem (0 when there is none). */
  readonly lastSeq: number;
  readonly problem?: JournalProblem | undefined;
}

export interface VerifyProgress {
  readonly segment: string;
  readonly segmentsDone: number;
  readonly segmentCount: number;
  readonly records: number;
}

/** Scans every segment (JSON, crc, seq continuity within and across segments). Never throws on damage. */
export async function verifyJournal(
  dir: string,
  onProgress?: (progress: VerifyProgress) => void,
  ops: FileOps = nodeFileOps,
): Promise<JournalVerification> {
  const files = await listSegmentFiles(ops, dir);
  let records = 0;
  let lastSeq = (files[0]?.firstSeq ?? 1) - 1;
  for (const [i, file] of files.entries()) {
    if (file.firstSeq !== lastSeq + 1) {
      const problem = {
        segment: file.name,
        offset: 0,
        reason: `segment starts at seq ${file.firstSeq}, expected ${lastSeq + 1}`,
        isTail: false,
      };
      return { ok: false, segments: files.length, records, lastSeq, problem };
    }
    const scan = await scanSegment(ops, dir, file.name, file.firstSeq);
    records += scan.records;
    lastSeq = scan.lastSeq;
    onProgress?.({ segment: file.name, segmentsDone: i + 1, segmentCount: files.length, records });
    if (scan.problem) {
      const isTail = scan.problem.isTail && i === files.length - 1;
      const problem = {
        segment: file.name,
        offset: scan.problem.offset,
        reason: scan.problem.reason,
        isTail,
      };
      return { ok: false, segments: files.length, records, lastSeq, problem };
    }
  }
  return { ok: true, segments: files.length, records, lastSeq };
}

export interface TailRepair {
  readonly segment: string;
  /** Where the segment now ends: the first damaged byte. */
  readonly offset: number;
  readonly bytesCut: number;
  /** The cut bytes, kept for forensics. */
  readonly backupFile: string;
  readonly reason: string;
}

/**
 * Cuts a damaged tail (first bad byte of the last segment to EOF) after copying the cut bytes to
 * backupDir. Returns null when the journal verifies clean. Refuses damage that is not at the tail: cutting
 * there would drop acknowledged records, which is a decision for a person, not a tool.
 */
export async function repairJournal(
  dir: string,
  options: { readonly backupDir: string; readonly fileOps?: FileOps | undefined },
): Promise<TailRepair | null> {
  const ops = options.fileOps ?? nodeFileOps;
  const verification = await verifyJournal(dir, undefined, ops);
  const problem = verification.problem;
  if (!problem) return null;
  if (!problem.isTail) {
    throw new JournalCorruptError(
      problem.segment,
      problem.offset,
      `${problem.reason}; refusing to repair: valid records follow the damage (or it is not in the last segment), so cutting would lose acknowledged records`,
    );
  }
  const file = path.join(dir, problem.segment);
  const fileBytes = (await ops.stat(file)).size;
  const bytesCut = fileBytes - problem.offset;
  await ops.mkdir(options.backupDir);
  const backupFile = path.join(options.backupDir, `${problem.segment}.${problem.offset}.torn`);
  const fd = await ops.open(file, 'r+');
  try {
    const cut = Buffer.alloc(bytesCut);
    let done = 0;
    while (done < bytesCut) {
      const bytesRead = await ops.read(fd, cut, done, bytesCut - done, problem.offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    const backupFd = await ops.open(backupFile, 'w');
    try {
      await writeFully(ops, backupFd, cut.subarray(0, done), 0);
      await ops.fsync(backupFd);
    } finally {
      await ops.close(backupFd);
    }
    await fsyncDir(ops, options.backupDir);
    await ops.ftruncate(fd, problem.offset);
    await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
  return { segment: problem.segment, offset: problem.offset, bytesCut, backupFile, reason: problem.reason };
}
