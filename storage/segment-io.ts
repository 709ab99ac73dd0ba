// Reading journal segment files: segment naming, a chunked line reader, the sparse offset index and the
// full scan that open(), verifyJournal() and repairJournal() share. The journal's hot read path
// (FileJournal.read) uses the same line reader.
import path from 'node:path';
import type { FileOps } from './file-ops.js';
import { decodeRecordAt } from './record.js';

const SEGMENT_NAME = /^segment-(\d{20})\.jsonl$/;
const NEWLINE = 0x0a;
/** A record start as our encoder writes it (seq is always the first key). */
const RECORD_START = Buffer.from('{"seq":');

/** Bytes read per call: large enough that a syscall per chunk is negligible next to decoding. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/** One index entry per this many sequence numbers: bounds the records decoded and skipped by read(fromSeq). */
export const INDEX_EVERY = 1000;

export const segmentName = (firstSeq: number): string =>
  `segment-${String(firstSeq).padStart(20, '0')}.jsonl`;

export const parseSegmentName = (name: string): number | null => {
  const match = SEGMENT_NAME.exec(name);
  return match?.[1] === undefined ? null : Number(match[1]);
};

/** The journal is damaged somewhere other than a torn tail: acknowledged records may be at stake. */
export class JournalCorruptError extends Error {
  readonly segment: string;
  readonly offset: number;
  readonly reason: string;

  constructor(segment: string, offset: number, reason: string) {
    super(`journal corrupt: segment ${segment} at byte offset ${offset}: ${reason}`);
    this.name = 'JournalCorruptError';
    this.segment = segment;
    this.offset = offset;
    this.reason = reason;
  }
}

/** Lists segment files sorted by first sequence number. */
export async function listSegmentFiles(
  ops: FileOps,
  dir: string,
): Promise<{ readonly name: string; readonly firstSeq: number }[]> {
  const names = await ops.readdir(dir);
  const segments: { name: string; firstSeq: number }[] = [];
  for (const name of names) {
    const firstSeq = parseSegmentName(name);
    if (firstSeq !== null) segments.push({ name, firstSeq });
  }
  return segments.sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * Sparse map from sequence number to byte offset inside one segment, one entry per INDEX_EVERY seqs,
 * filled while writing and while reading, so read(fromSeq) seeks close to fromSeq.
 */
export class SparseIndex {
  readonly #seqs: number[] = [];
  readonly #offsets: number[] = [];

  add(seq: number, offset: number): void {
    if (seq % INDEX_EVERY !== 0) return;
    const count = this.#seqs.length;
    const last = this.#seqs[count - 1];
    if (last === undefined || last < seq) {
      this.#seqs.push(seq);
      this.#offsets.push(offset);
      return;
    }
    const at = this.#lowerBound(seq);
    if (this.#seqs[at] === seq) return;
    this.#seqs.splice(at, 0, seq);
    this.#offsets.splice(at, 0, offset);
  }

  /** The indexed position with the greatest seq <= target, if any. */
  floor(target: number): { readonly seq: number; readonly offset: number } | undefined {
    const at = this.#lowerBound(target + 1) - 1;
    const seq = this.#seqs[at];
    const offset = this.#offsets[at];
    return seq === undefined || offset === undefined ? undefined : { seq, offset };
  }

  get size(): number {
    return this.#seqs.length;
  }

  /** First position whose seq is >= target. */
  #lowerBound(target: number): number {
    let low = 0;
    let high = this.#seqs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.#seqs[mid] ?? Infinity) < target) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/**
 * Reads a file in large chunks and hands out complete lines as [lineStart, lineEnd) of `buf` (newline
 * excluded). Bytes after the last newline stay buffered until more arrive.
 *
 * With `readAhead`, each fill() also starts reading the next chunk (into a second buffer) before it
 * returns, so the disk works while the caller decodes the lines it got; the next fill() then only
 * copies. It reads the same bytes in the same order: only the waiting moves. Call settle() before
 * closing the file, so no read is left running on a closed descriptor.
 */
export class LineReader {
  buf: Buffer;
  lineStart = 0;
  lineEnd = 0;
  #view: Buffer;
  #start = 0;
  #end = 0;
  /** File offset of buf[0]. */
  #base: number;
  readonly #chunkBytes: number;
  readonly #readAhead: boolean;
  /** The read started by the previous fill(): `bytes` of the file from `position`, into `into`. */
  #ahead: { readonly position: number; readonly into: Buffer; readonly done: Promise<number> } | undefined;
  #spare: Buffer | undefined;

  constructor(
    private readonly ops: FileOps,
    private readonly fd: number,
    fileOffset: number,
    chunkBytes = READ_CHUNK_BYTES,
    readAhead = false,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
    this.#view = this.buf.subarray(0, 0);
    this.#base = fileOffset;
    this.#chunkBytes = chunkBytes;
    this.#readAhead = readAhead;
  }

  /** File offset of the current line's first byte. */
  get lineOffset(): number {
    return this.#base + this.lineStart;
  }

  /** File offset just past the last line handed out (where unconsumed bytes begin). */
  get consumedOffset(): number {
    return this.#base + this.#start;
  }

  /** Bytes read but not yet handed out as a line (a partial line). */
  get pendingBytes(): number {
    return this.#end - this.#start;
  }

  nextLine(): boolean {
    const newline = this.#view.indexOf(NEWLINE, this.#start);
    if (newline === -1) return false;
    this.lineStart = this.#start;
    this.lineEnd = newline;
    this.#start = newline + 1;
    return true;
  }

  /** Reads more bytes, never past file offset `limit`. Returns the number read (0 at the limit or EOF). */
  async fill(limit: number): Promise<number> {
    if (this.#start > 0) {
      this.buf.copy(this.buf, 0, this.#start, this.#end);
      this.#base += this.#start;
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.buf.length) {
      // A line longer than the buffer: grow rather than fail, records have no size cap.
      const grown = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(grown, 0, 0, this.#end);
      this.buf = grown;
    }
    const position = this.#base + this.#end;
    let bytesRead: number;
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined && ahead.position === position) {
      const got = await ahead.done;
      bytesRead = Math.min(got, this.buf.length - this.#end, Math.max(0, limit - position));
      ahead.into.copy(this.buf, this.#end, 0, bytesRead);
      // Bytes that did not fit (a long partial line kept at the front) are read again next time.
      this.#spare = ahead.into;
    } else {
      if (ahead !== undefined) {
        await ahead.done.catch(() => undefined);
        this.#spare = ahead.into;
      }
      const wanted = Math.min(this.buf.length - this.#end, limit - position);
      if (wanted <= 0) return 0;
      bytesRead = await this.ops.read(this.fd, this.buf, this.#end, wanted, position);
    }
    this.#end += bytesRead;
    this.#view = this.buf.subarray(0, this.#end);
    if (this.#readAhead && bytesRead > 0) this.#startReadAhead(this.#base + this.#end, limit);
    return bytesRead;
  }

  #startReadAhead(position: number, limit: number): void {
    const wanted = Math.min(this.#chunkBytes, limit - position);
    if (wanted <= 0) return;
    const into = this.#spare ?? Buffer.allocUnsafe(this.#chunkBytes);
    this.#spare = undefined;
    const done = this.ops.read(this.fd, into, 0, wanted, position);
    // A failed read-ahead is reported by the fill() that needs it; until then it must not go unhandled.
    done.catch(() => undefined);
    this.#ahead = { position, into, done };
  }

  /** Waits for a read-ahead still running (call before closing the file). */
  async settle(): Promise<void> {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    if (ahead !== undefined) await ahead.done.catch(() => undefined);
  }

  /** The pending partial line's bytes (for salvage and diagnostics). */
  pending(): Buffer {
    return this.buf.subarray(this.#start, this.#end);
  }
}

export interface SegmentProblem {
  readonly offset: number;
  readonly reason: string;
  /** True when no valid record follows the damage: a torn write that never was acknowledged. */
  readonly isTail: boolean;
}

export interface SegmentScan {
  readonly records: number;
  /** Last valid seq before any problem; firstSeq - 1 when there is none. */
  readonly lastSeq: number;
  /** Byte offset just past the last valid record before any problem. */
  readonly validBytes: number;
  readonly fileBytes: number;
  readonly problem?: SegmentProblem | undefined;
}

/** True if some valid record (any seq) ends at this line's end: searched at every `{"seq":` in the line. */
function lineHoldsValidRecord(buf: Buffer, start: number, end: number): boolean {
  let at = buf.indexOf(RECORD_START, start);
  while (at !== -1 && at < end) {
    if (decodeRecordAt(buf, at, end).ok) return true;
    at = buf.indexOf(RECORD_START, at + 1);
  }
  return false;
}

/**
 * Scans a whole segment: every line must decode (JSON, crc, fields) and carry seq = previous + 1 starting
 * at firstSeq. At the first problem it keeps looking for any valid record after the damage, which is what
 * tells a torn tail (nothing valid after it) from corruption. A crc-valid record with the wrong seq is
 * never a torn write, so it is reported as corruption.
 */
export async function scanSegment(
  ops: FileOps,
  dir: string,
  name: string,
  firstSeq: number,
  onRecord?: (seq: number, offset: number) => void,
): Promise<SegmentScan> {
  const fd = await ops.open(path.join(dir, name), 'r');
  let reader: LineReader | undefined;
  try {
    const fileBytes = (await ops.stat(path.join(dir, name))).size;
    reader = new LineReader(ops, fd, 0, READ_CHUNK_BYTES, true);
    let expected = firstSeq;
    let validBytes = 0;
    let damage: { offset: number; reason: string; validAfter: boolean } | undefined;
    for (;;) {
      while (reader.nextLine()) {
        if (damage) {
          if (lineHoldsValidRecord(reader.buf, reader.lineStart, reader.lineEnd)) {
            damage.validAfter = true;
            break;
          }
          continue;
        }
        const decoded = decodeRecordAt(reader.buf, reader.lineStart, reader.lineEnd);
        if (!decoded.ok) {
          damage = {
            offset: reader.lineOffset,
            reason: `${decoded.reason}: ${decoded.detail}`,
            validAfter: false,
          };
          // The damaged line itself may hide a valid record glued after garbage (a lost newline).
          const after = reader.buf.indexOf(RECORD_START, reader.lineStart + 1);
          if (
            after !== -1 &&
            after < reader.lineEnd &&
            lineHoldsValidRecord(reader.buf, after, reader.lineEnd)
          ) {
            damage.validAfter = true;
            break;
          }
          continue;
        }
        if (decoded.record.seq !== expected) {
          damage = {
            offset: reader.lineOffset,
            reason: `seq ${decoded.record.seq} where ${expected} was expected`,
            validAfter: true,
          };
          break;
        }
        onRecord?.(expected, reader.lineOffset);
        expected++;
        validBytes = reader.consumedOffset;
      }
      if (damage?.validAfter) break;
      if ((await reader.fill(fileBytes)) === 0) break;
    }
    if (!damage && reader.pendingBytes > 0) {
      damage = { offset: reader.consumedOffset, reason: 'incomplete record (no newline)', validAfter: false };
    }
    const problem = damage && { offset: damage.offset, reason: damage.reason, isTail: !damage.validAfter };
    return { records: expected - firstSeq, lastSeq: expected - 1, validBytes, fileBytes, problem };
  } finally {
    await reader?.settle();
    await ops.close(fd);
  }
}
