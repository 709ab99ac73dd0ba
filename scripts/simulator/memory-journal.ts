// An in-memory Journal for simulated days: the same contract as the file journal (storage/journal.ts)
// without the disk. Appends get gap-free sequence numbers, are serialised as the file journal would
// (a value JSON cannot carry fails the append before a number is used), are made "durable" in group
// commits (everything appended in one turn of the event loop is acknowledged together, on the next), and
// read back as fresh copies. Records are kept in fixed-size segments so compact() behaves like the file
// journal's: whole sealed segments go, the active one stays.
import { InventoryError } from '../../engine/errors.js';
import type {
  Journal,
  JournalEntry,
  JournalHealth,
  JournalRecord,
  JournalStats,
} from '../../storage/journal.js';

interface Pending {
  readonly record: JournalRecord;
  readonly line: string;
  readonly resolve: (record: JournalRecord) => void;
}

interface Segment {
  readonly firstSeq: number;
  readonly lines: string[];
}

export interface MemoryJournalOptions {
  /** The time stamped on records (`at`); the simulator passes its virtual clock. */
  readonly now?: (() => number) | undefined;
  readonly segmentRecords?: number | undefined;
}

export class MemoryJournal implements Journal {
  private readonly now: () => number;
  private readonly segmentRecords: number;
  private segments: Segment[] = [];
  private state: JournalHealth = 'closed';
  private closing = false;
  private lastAssigned = 0;
  private durableSeq = 0;
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private appends = 0;
  private flushes = 0;
  private lastBatch = 0;

  constructor(options: MemoryJournalOptions = {}) {
    this.now = options.now ?? (() => Date.now());
    this.segmentRecords = options.segmentRecords ?? 4096;
    if (!(this.segmentRecords >= 1)) throw new RangeError('segmentRecords must be at least 1');
  }

  get lastSeq(): number {
    return this.durableSeq;
  }

  get health(): JournalHealth {
    return this.state;
  }

  get stats(): JournalStats {
    return { appends: this.appends, flushes: this.flushes, lastFlushMs: 0, lastBatchSize: this.lastBatch };
  }

  /** Records not yet acknowledged: the simulator waits for zero before it takes the next step. */
  get pending(): number {
    return this.lastAssigned - this.durableSeq;
  }

  open(): Promise<void> {
    if (this.state !== 'closed') return Promise.reject(new Error('journal is already open'));
    this.state = 'open';
    this.closing = false;
    return Promise.resolve();
  }

  append(entry: JournalEntry): Promise<JournalRecord> {
    if (this.state !== 'open' || this.closing) {
      return Promise.reject(
        new InventoryError(
          'STORAGE_UNAVAILABLE',
          `journal is not open (${this.closing ? 'closing' : this.state})`,
          {},
          1,
        ),
      );
    }
    const seq = this.lastAssigned + 1;
    const record: JournalRecord = {
      seq,
      stream: entry.stream,
      version: entry.version,
      at: new Date(this.now()).toISOString(),
      events: entry.events,
      ...(entry.meta === undefined ? {} : { meta: entry.meta }),
    };
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch (error) {
      return Promise.reject(new TypeError(`journal entry is not JSON-serialisable: ${String(error)}`));
    }
    this.lastAssigned = seq;
    this.appends++;
    return new Promise<JournalRecord>((resolve) => {
      this.queue.push({ record, line, resolve });
      this.flushing ??= this.flushLoop();
    });
  }

  /** Group commit: each round takes everything appended before it, as the file journal's flush loop does. */
  private async flushLoop(): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.queue.length === 0) {
        this.flushing = undefined;
        return;
      }
      const batch = this.queue;
      this.queue = [];
      for (const pending of batch) this.store(pending.record.seq, pending.line);
      this.durableSeq = batch[batch.length - 1]?.record.seq ?? this.durableSeq;
      this.flushes++;
      this.lastBatch = batch.length;
      for (const pending of batch) pending.resolve(pending.record);
    }
  }

  private store(seq: number, line: string): void {
    let active = this.segments[this.segments.length - 1];
    if (!active || active.lines.length >= this.segmentRecords) {
      active = { firstSeq: seq, lines: [] };
      this.segments.push(active);
    }
    active.lines.push(line);
  }

  read(fromSeq = 1): AsyncIterable<JournalRecord> {
    if (this.state === 'closed') throw new Error('journal is not open');
    return this.readFrom(fromSeq);
  }

  private async *readFrom(fromSeq: number): AsyncGenerator<JournalRecord> {
    for (const segment of this.segments) {
      const lastInSegment = segment.firstSeq + segment.lines.length - 1;
      if (lastInSegment < fromSeq) continue;
      for (let index = Math.max(0, fromSeq - segment.firstSeq); index < segment.lines.length; index++) {
        const line = segment.lines[index];
        if (line === undefined || segment.firstSeq + index > this.durableSeq) return;
        yield JSON.parse(line) as JournalRecord;
      }
    }
  }

  recover(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new Error('journal is not open'));
    return Promise.resolve(); // nothing in memory can fail half-way
  }

  compact(upToSeq: number): Promise<{ removedSegments: number }> {
    if (this.state === 'closed') return Promise.reject(new Error('journal is not open'));
    const active = this.segments[this.segments.length - 1];
    const keep = this.segments.filter(
      (segment) => segment === active || segment.firstSeq + segment.lines.length - 1 > upToSeq,
    );
    const removedSegments = this.segments.length - keep.length;
    this.segments = keep;
    return Promise.resolve({ removedSegments });
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.closing = true;
    await this.flushing; // appends accepted before close() still get their flush
    this.state = 'closed';
  }
}
