// The journal under the simulated engine: the real file journal in a temporary directory, or the
// in-memory one. Either way the simulator needs to know when every append has been acknowledged, so it
// can let the engine finish its own follow-up work (at-risk flags, re-sourcing) before the next step.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../engine/clock.js';
import { FileJournal } from '../../storage/file-journal.js';
import type { StorageLogger } from '../../storage/file-journal.js';
import type { Journal, JournalEntry, JournalRecord } from '../../storage/journal.js';
import type { JournalKind } from './config.js';
import { MemoryJournal } from './memory-journal.js';

/** Delegates to a journal and counts the appends it has not acknowledged yet. */
class CountedJournal implements Journal {
  pending = 0;

  constructor(private readonly inner: Journal) {}

  get lastSeq() {
    return this.inner.lastSeq;
  }
  get health() {
    return this.inner.health;
  }
  get stats() {
    return this.inner.stats;
  }
  open() {
    return this.inner.open();
  }
  append(entry: JournalEntry): Promise<JournalRecord> {
    this.pending++;
    const settled = () => {
      this.pending--;
    };
    const append = this.inner.append(entry);
    append.then(settled, settled);
    return append;
  }
  read(fromSeq?: number) {
    return this.inner.read(fromSeq);
  }
  recover() {
    return this.inner.recover();
  }
  compact(upToSeq: number) {
    return this.inner.compact(upToSeq);
  }
  close() {
    return this.inner.close();
  }
}

const quietLogger: StorageLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface SimulationJournal {
  readonly journal: Journal;
  /** Resolves once no append is outstanding across two turns of the event loop. */
  settle(): Promise<void>;
  /** Removes the temporary directory of a file journal. */
  cleanup(): Promise<void>;
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function openSimulationJournal(kind: JournalKind, clock: Clock): Promise<SimulationJournal> {
  const dir = kind === 'file' ? await mkdtemp(join(tmpdir(), 'stockline-simulator-')) : undefined;
  const inner: Journal =
    dir === undefined
      ? new MemoryJournal({ now: () => clock.now() })
      : new FileJournal({ dir, now: () => new Date(clock.now()), logger: quietLogger });
  const counted = new CountedJournal(inner);
  return {
    journal: counted,
    async settle() {
      for (let quietTurns = 0; quietTurns < 2;) {
        await nextTurn();
        quietTurns = counted.pending === 0 ? quietTurns + 1 : 0;
      }
    },
    async cleanup() {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}
