// Opens the file journal for reading without ever changing it. The journal's own open() decides what is
// valid (it cuts a torn tail and drops an empty last segment); here those two changes are made virtual
// through a read-only FileOps: the cut is recorded and reported instead of done. That is faithful because
// FileJournal never reads a segment past the valid bytes open() found, and the dropped segment is empty.
// Any other write (append, roll, rename) is refused.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { FileOps } from '../../storage/file-ops.js';
import { FileJournal, JournalCorruptError, nodeFileOps } from '../../storage/file-journal.js';
import type { StorageLogger } from '../../storage/logger.js';
import { CliError } from './errors.js';

/** What the engine would change at start-up and this read-only view only skipped. */
export type SkippedDamage =
  | {
      readonly kind: 'torn-tail';
      readonly segment: string;
      readonly offset: number;
      readonly bytes: number;
    }
  | { readonly kind: 'empty-segment'; readonly segment: string };

export class ReadOnlyViolation extends Error {
  constructor(operation: string, target: string) {
    super(`the replay CLI opened the journal read-only, but the journal tried to ${operation} ${target}`);
    this.name = 'ReadOnlyViolation';
  }
}

/** A FileOps that reads through `base` and turns open()'s repairs into records in `skipped`. */
export function readOnlyFileOps(base: FileOps, skipped: SkippedDamage[]): FileOps {
  const paths = new Map<number, string>();
  const refuse = (operation: string, target: string): Promise<never> =>
    Promise.reject(new ReadOnlyViolation(operation, target));
  return {
    async open(file, flags) {
      // 'r+' is how the journal opens its active segment and a segment it is about to cut: read-only suffices.
      if (flags !== 'r' && flags !== 'r+') return refuse(`open (${flags})`, file);
      const fd = await base.open(file, 'r');
      paths.set(fd, file);
      return fd;
    },
    write: (fd) => refuse('write to', paths.get(fd) ?? `fd ${fd}`),
    read: (fd, buffer, offset, length, position) => base.read(fd, buffer, offset, length, position),
    fdatasync: (fd) => refuse('fdatasync', paths.get(fd) ?? `fd ${fd}`),
    // Nothing was written, so there is nothing to make durable (open() fsyncs after its cuts).
    fsync: () => Promise.resolve(),
    async ftruncate(fd, length) {
      const file = paths.get(fd);
      if (file === undefined) return refuse('truncate', `fd ${fd}`);
      const { size } = await base.stat(file);
      skipped.push({ kind: 'torn-tail', segment: path.basename(file), offset: length, bytes: size - length });
    },
    close: (fd) => {
      paths.delete(fd);
      return base.close(fd);
    },
    rename: (from) => refuse('rename', from),
    async unlink(file) {
      const name = path.basename(file);
      // Empty, or emptied by the (virtual) cut of its torn tail: either way it holds no record.
      const cutToNothing = skipped.some(
        (damage) => damage.kind === 'torn-tail' && damage.segment === name && damage.offset === 0,
      );
      if (!cutToNothing && (await base.stat(file)).size !== 0) return refuse('delete', file);
      skipped.push({ kind: 'empty-segment', segment: name });
    },
    readdir: (dir) => base.readdir(dir),
    async mkdir(dir) {
      await base.stat(dir).catch(() => refuse('create', dir));
    },
    stat: (file) => base.stat(file),
  };
}

const quietLogger: StorageLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export async function requireJournalDir(journalDir: string): Promise<void> {
  const found = await stat(journalDir).catch(() => undefined);
  if (!found?.isDirectory()) {
    throw new CliError('NOT_FOUND', `no journal directory at ${journalDir} (use --data DIR or DATA_DIR)`, {
      journalDir,
    });
  }
}

export interface ReadOnlyJournal {
  readonly journal: FileJournal;
  /** Damage at the end of the journal that open() would have cut, skipped here. */
  readonly skipped: readonly SkippedDamage[];
}

/** Opens the journal read-only; throws CliError JOURNAL_CORRUPT for damage before the tail. */
export async function openJournalReadOnly(
  journalDir: string,
  base: FileOps = nodeFileOps,
): Promise<ReadOnlyJournal> {
  await requireJournalDir(journalDir);
  const skipped: SkippedDamage[] = [];
  const journal = new FileJournal({
    dir: journalDir,
    fileOps: readOnlyFileOps(base, skipped),
    logger: quietLogger,
  });
  try {
    await journal.open();
  } catch (error) {
    throw asCliError(error) ?? error;
  }
  return { journal, skipped };
}

/** Maps the journal's corruption error to the CLI's; undefined for anything else. */
export function asCliError(error: unknown): CliError | undefined {
  if (error instanceof JournalCorruptError) {
    return new CliError('JOURNAL_CORRUPT', error.message, {
      segment: error.segment,
      offset: error.offset,
      reason: error.reason,
    });
  }
  return undefined;
}

export function describeSkipped(damage: SkippedDamage): string {
  switch (damage.kind) {
    case 'torn-tail':
      return (
        `the journal ends in a torn tail: ${damage.bytes} bytes from byte offset ${damage.offset} of ` +
        `${damage.segment} were skipped (never acknowledged; the engine cuts them at start-up, ` +
        '`replay repair` cuts them now)'
      );
    case 'empty-segment':
      return `the last segment ${damage.segment} is empty (left by a crash) and was ignored; the engine removes it at start-up`;
    default: {
      const _exhaustive: never = damage;
      return _exhaustive;
    }
  }
}
