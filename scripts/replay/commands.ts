// The replay CLI's commands: each reads the journal (and snapshots) through the storage layer, folds
// with the engine's own code (folds.ts), prints a human or JSON result and returns its exit code.
// Expected failures are thrown as CliError and printed by main.ts.
import { DEFAULT_PARTITIONS, Projection } from '../../engine/projection.js';
import type { FileOps } from '../../storage/file-ops.js';
import {
  listSegments,
  nodeFileOps,
  repairJournal,
  verifyJournal,
  type JournalVerification,
  type SegmentInfo,
} from '../../storage/file-journal.js';
import type { StorageLogger } from '../../storage/logger.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';
import type { LoadedSnapshot } from '../../storage/snapshot.js';
import type { CommonOptions, ReplayCommand } from './args.js';
import { CliError, exitCodes, type ExitCode } from './errors.js';
import { historyOf, levelAt, replayInto, summarize } from './folds.js';
import {
  describePoint,
  describeProblem,
  formatHistory,
  formatLevelAt,
  formatRebuild,
  formatVerify,
  type RebuildReport,
  type SnapshotCheck,
  type VerifyReport,
} from './format.js';
import {
  describeSkipped,
  openJournalReadOnly,
  requireJournalDir,
  type SkippedDamage,
} from './journal-source.js';
import { Progress, ratePerSecond } from './progress.js';

export interface CliContext {
  /** stdout: the result (text or JSON). */
  readonly out: (text: string) => void;
  /** stderr: progress, warnings, prompts, errors. */
  readonly err: (text: string) => void;
  /** Wall-clock time: when a written snapshot is taken, which holds are past expiry. */
  readonly nowMs: () => number;
  readonly stdinIsTTY: boolean;
  /** Asks a yes/no question on the terminal. */
  readonly confirm: (question: string) => Promise<boolean>;
  readonly fileOps?: FileOps | undefined;
}

type Runnable = Exclude<ReplayCommand, { name: 'help' }>;

export function runCommand(command: Runnable, context: CliContext): Promise<ExitCode> {
  switch (command.name) {
    case 'verify':
      return verify(command, context);
    case 'rebuild':
      return rebuild(command, context);
    case 'at':
      return at(command, context);
    case 'history':
      return history(command, context);
    case 'repair':
      return repair(command, context);
    default: {
      const _exhaustive: never = command;
      return _exhaustive;
    }
  }
}

const json = (value: unknown): string => `${JSON.stringify(value)}\n`;

const progressFor = (label: string, common: CommonOptions, context: CliContext): Progress =>
  new Progress({
    write: context.err,
    label,
    intervalMs: common.progressIntervalMs,
    enabled: common.progress,
  });

/** A storage logger that keeps the warnings, to print them as the CLI's own. */
function collectingLogger(warnings: string[]): StorageLogger {
  const keep = (message: string, meta?: object) => {
    const details = meta as { manifest?: unknown; problem?: unknown } | undefined;
    warnings.push(
      details?.manifest !== undefined
        ? `${String(details.manifest)} skipped: ${String(details.problem)}`
        : `${message}${meta ? ` ${JSON.stringify(meta)}` : ''}`,
    );
  };
  return { info: () => undefined, warn: keep, error: keep };
}

const snapshotCheck = (snapshot: LoadedSnapshot): SnapshotCheck => ({
  seq: snapshot.seq,
  takenAt: snapshot.takenAt,
  partitionCount: snapshot.partitionCount,
});

function warnSkipped(skipped: readonly SkippedDamage[], context: CliContext): void {
  for (const damage of skipped) context.err(`warning: ${describeSkipped(damage)}\n`);
}

// ---------------------------------------------------------------- verify

async function verify(
  command: Extract<Runnable, { name: 'verify' }>,
  context: CliContext,
): Promise<ExitCode> {
  const { common } = command;
  const ops = context.fileOps ?? nodeFileOps;
  await requireJournalDir(common.journalDir);
  const progress = progressFor('verify', common, context);
  const segments = await listSegments(common.journalDir, ops);
  const verification = await verifyJournal(
    common.journalDir,
    (step) => progress.tick(step.records, `segment ${step.segmentsDone}/${step.segmentCount}`),
    ops,
  );
  const durationMs = progress.elapsedMs;

  const warnings: string[] = [];
  const store = new LowdbSnapshotStore({
    dir: common.snapshotDir,
    logger: collectingLogger(warnings),
    fileOps: ops,
  });
  const snapshot = await store.latest();
  const firstSeq = verification.records > 0 ? (segments[0]?.firstSeq ?? null) : null;
  const snapshotProblems = [...warnings, ...recoverabilityProblems(verification, firstSeq, snapshot)];

  const report: VerifyReport = {
    ok: verification.ok && snapshotProblems.length === 0,
    journalDir: common.journalDir,
    segments: segments.length,
    bytes: segments.reduce((sum, segment) => sum + segment.bytes, 0),
    records: verification.records,
    firstSeq,
    lastSeq: verification.lastSeq,
    problem: verification.problem ?? null,
    snapshot: snapshot && snapshotCheck(snapshot),
    snapshotProblems,
    durationMs: Math.round(durationMs),
    recordsPerSecond: Math.round(ratePerSecond(verification.records, durationMs)),
  };
  context.out(common.json ? json(report) : formatVerify(report, (name) => segmentBytes(segments, name)));
  return report.ok ? exitCodes.ok : exitCodes.corrupt;
}

const segmentBytes = (segments: readonly SegmentInfo[], name: string): number | undefined =>
  segments.find((segment) => segment.name === name)?.bytes;

/** Can the engine start from this journal and snapshot? The checks engine.ts makes at recovery. */
function recoverabilityProblems(
  verification: JournalVerification,
  firstSeq: number | null,
  snapshot: LoadedSnapshot | null,
): string[] {
  const problems: string[] = [];
  // After corruption before the tail, lastSeq is only the last valid record, not the journal's end.
  const endKnown = verification.ok || verification.problem?.isTail === true;
  if (snapshot && endKnown && snapshot.seq > verification.lastSeq) {
    problems.push(
      `the newest snapshot covers seq ${snapshot.seq} but the journal ends at seq ${verification.lastSeq}: ` +
        'the engine refuses to start (restore the journal or remove the snapshot)',
    );
  }
  if (firstSeq !== null && firstSeq > 1 && (snapshot === null || snapshot.seq < firstSeq - 1)) {
    problems.push(
      `the journal starts at seq ${firstSeq} (older segments removed) and no snapshot covers seq 1..${firstSeq - 1}`,
    );
  }
  return problems;
}

// ---------------------------------------------------------------- rebuild

async function rebuild(
  command: Extract<Runnable, { name: 'rebuild' }>,
  context: CliContext,
): Promise<ExitCode> {
  const { common } = command;
  const ops = context.fileOps ?? nodeFileOps;
  const { journal, skipped } = await openJournalReadOnly(common.journalDir, ops);
  try {
    warnSkipped(skipped, context);
    const warnings: string[] = [];
    const store = new LowdbSnapshotStore({
      dir: common.snapshotDir,
      logger: collectingLogger(warnings),
      fileOps: ops,
    });
    const progress = progressFor('rebuild', common, context);

    let projection = new Projection(DEFAULT_PARTITIONS);
    let snapshot: LoadedSnapshot | null = null;
    if (command.fromSnapshot) {
      snapshot = await store.latest();
      for (const warning of warnings.splice(0)) context.err(`warning: snapshot ${warning}\n`);
      if (!snapshot) throw new CliError('NOT_FOUND', `no valid snapshot in ${common.snapshotDir}`);
      if (snapshot.seq > journal.lastSeq) {
        throw new CliError(
          'SNAPSHOT_CORRUPT',
          `the newest snapshot covers seq ${snapshot.seq} but the journal ends at seq ${journal.lastSeq}: ` +
            'journal records are missing; restore the journal or remove the snapshot',
          { snapshotSeq: snapshot.seq, journalLastSeq: journal.lastSeq },
        );
      }
      // The same steps as the engine's recovery: load every entry, then replay the tail.
      projection = new Projection(snapshot.partitionCount);
      for await (const [id, value] of snapshot.entries()) projection.load(id, value);
      projection.lastSeq = snapshot.seq;
    }
    const replayed = await replayInto(projection, journal.read(projection.lastSeq + 1), (count) =>
      progress.tick(count),
    );
    const durationMs = progress.elapsedMs;

    let written: RebuildReport['snapshotWritten'] = null;
    let notWritten: string | undefined;
    if (command.writeSnapshot) {
      const outcome = await writeSnapshot(
        projection,
        store,
        snapshot,
        !command.fromSnapshot,
        context,
        common,
      );
      if (typeof outcome === 'string') notWritten = outcome;
      else written = outcome;
      for (const warning of warnings.splice(0)) context.err(`warning: snapshot ${warning}\n`);
    }

    const report: RebuildReport = {
      journalDir: common.journalDir,
      snapshot: snapshot && snapshotCheck(snapshot),
      replayedRecords: replayed,
      durationMs: Math.round(durationMs),
      recordsPerSecond: Math.round(ratePerSecond(replayed, durationMs)),
      state: summarize(projection, context.nowMs()),
      snapshotWritten: written,
      ...(notWritten === undefined ? {} : { snapshotNotWritten: notWritten }),
    };
    context.out(common.json ? json(report) : formatRebuild(report));
    return exitCodes.ok;
  } finally {
    await journal.close();
  }
}

/** Writes the rebuilt state as a snapshot; returns what was written, or why nothing was. */
async function writeSnapshot(
  projection: Projection,
  store: LowdbSnapshotStore,
  loaded: LoadedSnapshot | null,
  fullRebuild: boolean,
  context: CliContext,
  common: CommonOptions,
): Promise<NonNullable<RebuildReport['snapshotWritten']> | string> {
  const newest = loaded ?? (await store.latest());
  const seq = projection.lastSeq;
  if (seq === 0) return 'the journal is empty';
  if (newest && newest.seq > seq) {
    throw new CliError(
      'SNAPSHOT_CORRUPT',
      `the newest snapshot covers seq ${newest.seq}, past the journal's end at seq ${seq}: not writing an older one`,
      { snapshotSeq: newest.seq, journalLastSeq: seq },
    );
  }
  if (newest && newest.seq === seq) return `the newest snapshot already covers seq ${seq}`;
  // A full replay rewrites every partition, so nothing stale is carried over from an older snapshot;
  // from a snapshot, the partitions the tail did not touch are carried over unchanged (they are equal).
  if (fullRebuild)
    projection.markDirty(Array.from({ length: projection.partitionCount }, (_, index) => index));
  const changed = projection.takeDirty();
  await store.write({
    seq,
    takenAt: new Date(context.nowMs()).toISOString(),
    partitionCount: projection.partitionCount,
    changed,
  });
  return { seq, partitions: changed.size, dir: common.snapshotDir };
}

// ---------------------------------------------------------------- at

async function at(command: Extract<Runnable, { name: 'at' }>, context: CliContext): Promise<ExitCode> {
  const { common, sku, locationId, point } = command;
  const { journal, skipped } = await openJournalReadOnly(common.journalDir, context.fileOps ?? nodeFileOps);
  try {
    warnSkipped(skipped, context);
    if (point.kind === 'seq' && point.seq > journal.lastSeq) {
      throw new CliError(
        'NOT_FOUND',
        `seq ${point.seq} is past the end of the journal (last seq ${journal.lastSeq})`,
        {
          lastSeq: journal.lastSeq,
        },
      );
    }
    if (point.kind === 'seq' && point.seq < journal.firstSeq) {
      throw new CliError(
        'NOT_FOUND',
        `seq ${point.seq} is before the journal's first record (seq ${journal.firstSeq}): older segments were compacted away`,
        { firstSeq: journal.firstSeq },
      );
    }
    const progress = progressFor('at', common, context);
    const result = await levelAt(new Projection(), journal.read(1), sku, locationId, point, (count) =>
      progress.tick(count),
    );
    if (!result) {
      throw new CliError(
        'NOT_FOUND',
        `no stock level ${sku} at ${locationId} as of ${describePoint(point)}`,
        {
          sku,
          locationId,
        },
      );
    }
    context.out(
      common.json
        ? json({
            sku,
            locationId,
            point: point.kind === 'seq' ? point : { kind: 'time', time: point.time },
            ...result,
          })
        : formatLevelAt(sku, locationId, point, result),
    );
    return exitCodes.ok;
  } finally {
    await journal.close();
  }
}

// ---------------------------------------------------------------- history

async function history(
  command: Extract<Runnable, { name: 'history' }>,
  context: CliContext,
): Promise<ExitCode> {
  const { common, sku, locationId } = command;
  const { journal, skipped } = await openJournalReadOnly(common.journalDir, context.fileOps ?? nodeFileOps);
  try {
    warnSkipped(skipped, context);
    if (journal.firstSeq > 1 && journal.lastSeq > 0) {
      context.err(
        `note: the journal starts at seq ${journal.firstSeq}: earlier events were compacted away\n`,
      );
    }
    const progress = progressFor('history', common, context);
    const items = await historyOf(
      journal.read(1),
      sku,
      locationId,
      { lowStockThreshold: command.lowStockThreshold },
      (count) => progress.tick(count),
    );
    if (items.length === 0) {
      const scope = locationId === undefined ? sku : `${sku} at ${locationId}`;
      throw new CliError('NOT_FOUND', `no events for ${scope} in the journal`, { sku, locationId });
    }
    context.out(common.json ? items.map(json).join('') : formatHistory(sku, locationId, items));
    return exitCodes.ok;
  } finally {
    await journal.close();
  }
}

// ---------------------------------------------------------------- repair

async function repair(
  command: Extract<Runnable, { name: 'repair' }>,
  context: CliContext,
): Promise<ExitCode> {
  const { common } = command;
  const ops = context.fileOps ?? nodeFileOps;
  await requireJournalDir(common.journalDir);
  const progress = progressFor('repair', common, context);
  const before = await verifyJournal(
    common.journalDir,
    (step) => progress.tick(step.records, `segment ${step.segmentsDone}/${step.segmentCount}`),
    ops,
  );
  const problem = before.problem;
  if (!problem) {
    context.out(
      common.json
        ? json({ repaired: false, records: before.records, lastSeq: before.lastSeq })
        : `journal is clean (${before.records} records, last seq ${before.lastSeq}): nothing to repair\n`,
    );
    return exitCodes.ok;
  }
  const segments = await listSegments(common.journalDir, ops);
  const fileBytes = segmentBytes(segments, problem.segment);
  if (!problem.isTail) {
    throw new CliError(
      'JOURNAL_CORRUPT',
      `refusing to repair: ${problem.segment} is corrupt at byte offset ${problem.offset} (${problem.reason}), ` +
        'and valid records follow the damage (or later segments do): cutting there would lose acknowledged ' +
        'records. Nothing was changed. Restore the segment from a backup or replica.',
      { ...problem, validRecordsBefore: before.records, lastValidSeq: before.lastSeq },
    );
  }
  const bytesToCut = fileBytes === undefined ? undefined : fileBytes - problem.offset;
  const what =
    `torn tail in ${problem.segment}: ${bytesToCut ?? '?'} bytes from byte offset ${problem.offset} ` +
    `(${problem.reason}), after ${before.records} valid records (last seq ${before.lastSeq})`;
  if (!common.json) context.out(`${what}\n`);
  if (!command.yes) {
    if (!context.stdinIsTTY) {
      throw new CliError(
        'USAGE',
        'refusing to cut without confirmation: stdin is not a terminal; rerun with --yes',
        {
          ...problem,
        },
      );
    }
    const confirmed = await context.confirm(
      `Cut these bytes, keeping a backup in ${command.backupDir}? [y/N] `,
    );
    if (!confirmed)
      throw new CliError('REPAIR_DECLINED', 'repair declined: nothing changed, the torn tail is still there');
  }
  const repaired = await repairJournal(common.journalDir, { backupDir: command.backupDir, fileOps: ops });
  const after = await verifyJournal(common.journalDir, undefined, ops);
  const result = {
    repaired: repaired !== null,
    ...(repaired ?? {}),
    after: { ok: after.ok, records: after.records, lastSeq: after.lastSeq, problem: after.problem ?? null },
  };
  if (common.json) {
    context.out(json(result));
  } else {
    context.out(
      [
        repaired
          ? `cut ${repaired.bytesCut} bytes from ${repaired.segment} at byte offset ${repaired.offset}\nbackup: ${repaired.backupFile}`
          : 'nothing was cut: the journal verified clean when the repair started',
        after.ok
          ? `verified after repair: OK, ${after.records} records, last seq ${after.lastSeq}`
          : `verified after repair: FAILED: ${describeProblem(after.problem ?? problem, undefined).join(' ')}`,
      ].join('\n') + '\n',
    );
  }
  return after.ok ? exitCodes.ok : exitCodes.corrupt;
}
