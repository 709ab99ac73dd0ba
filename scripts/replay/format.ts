// Human-readable output of the replay CLI: pure functions from results to text.
// (--json prints the result objects themselves; see commands.ts.)
import type { StockEvent } from '../../engine/domain/stock.js';
import type { FeedItem } from '../../engine/types.js';
import { reservationStatuses } from '../../engine/types.js';
import type { JournalProblem } from '../../storage/file-journal.js';
import type { JournalPoint } from './args.js';
import type { LevelAtResult, StateSummary } from './folds.js';
import { formatCount } from './progress.js';

/** Left-aligned columns, except those listed in `right`; two spaces between columns. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number>,
): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return right.has(column) ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const fields = (pairs: readonly (readonly [string, string | number])[]): string => {
  const width = Math.max(...pairs.map(([label]) => label.length));
  return pairs.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n');
};

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;

// ---------------------------------------------------------------- verify

export interface SnapshotCheck {
  readonly seq: number;
  readonly takenAt: string;
  readonly partitionCount: number;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly journalDir: string;
  readonly segments: number;
  readonly bytes: number;
  readonly records: number;
  /** First seq still in the journal (1 unless older segments were compacted); null when empty. */
  readonly firstSeq: number | null;
  readonly lastSeq: number;
  readonly problem: JournalProblem | null;
  /** The newest snapshot whose manifest and partition checksums verify, or null. */
  readonly snapshot: SnapshotCheck | null;
  /** Problems that stop recovery or damaged snapshots: each makes the result non-OK. */
  readonly snapshotProblems: readonly string[];
  readonly durationMs: number;
  readonly recordsPerSecond: number;
}

export function describeProblem(problem: JournalProblem, fileBytes: number | undefined): string[] {
  const where = `${problem.segment} at byte offset ${problem.offset}: ${problem.reason}`;
  if (problem.isTail) {
    const cut =
      fileBytes === undefined ? '' : ` (${fileBytes - problem.offset} bytes to the end of the file)`;
    return [
      `TORN TAIL in ${where}${cut}`,
      'repairable: no valid record follows the damage, so it was never acknowledged; the engine cuts it at',
      'start-up, `replay repair` cuts it now and keeps a backup',
    ];
  }
  return [
    `CORRUPT: ${where}`,
    'not repairable by cutting: valid records follow the damage (or later segments do), so acknowledged',
    'records are at stake; the engine refuses to start. Restore the segment from a backup or replica.',
  ];
}

export function formatVerify(
  report: VerifyReport,
  segmentBytes: (name: string) => number | undefined,
): string {
  const journalLine =
    report.records === 0
      ? 'empty'
      : `${formatCount(report.records)} (seq ${report.firstSeq ?? 1}..${report.lastSeq})`;
  const lines = [
    fields([
      ['journal', report.journalDir],
      ['segments', `${report.segments} (${formatCount(report.bytes)} bytes)`],
      ['records', report.problem ? `${journalLine} valid before the first problem` : journalLine],
      ['last seq', report.lastSeq],
      [
        'snapshot',
        report.snapshot
          ? `seq ${report.snapshot.seq}, taken ${report.snapshot.takenAt}, ${report.snapshot.partitionCount} partitions, checksums verified`
          : 'none',
      ],
      ['time', `${seconds(report.durationMs)}, ${formatCount(report.recordsPerSecond)} records/s`],
    ]),
  ];
  const problems = [
    ...(report.problem ? describeProblem(report.problem, segmentBytes(report.problem.segment)) : []),
    ...report.snapshotProblems.map((problem) => `SNAPSHOT: ${problem}`),
  ];
  lines.push(
    problems.length === 0
      ? 'result    OK: every checksum and sequence verified'
      : ['result    FAILED', ...problems.map((line) => `  ${line}`)].join('\n'),
  );
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------- rebuild

export interface RebuildReport {
  readonly journalDir: string;
  /** The snapshot recovery started from, or null for a full replay. */
  readonly snapshot: SnapshotCheck | null;
  readonly replayedRecords: number;
  readonly durationMs: number;
  readonly recordsPerSecond: number;
  readonly state: StateSummary;
  readonly snapshotWritten: {
    readonly seq: number;
    readonly partitions: number;
    readonly dir: string;
  } | null;
  /** Why no snapshot was written although asked (one at this seq exists already). */
  readonly snapshotNotWritten?: string | undefined;
}

export function formatRebuild(report: RebuildReport): string {
  const { state } = report;
  const source = report.snapshot
    ? `snapshot seq ${report.snapshot.seq} (taken ${report.snapshot.takenAt}) + ${formatCount(report.replayedRecords)} journal records`
    : `${formatCount(report.replayedRecords)} journal records`;
  const statusLine = reservationStatuses
    .map((status) => `${status} ${state.reservations.byStatus[status]}`)
    .join(', ');
  const out = [
    `rebuilt state at seq ${state.lastSeq} from ${source}`,
    report.replayedRecords > 0
      ? `in ${seconds(report.durationMs)}, ${formatCount(report.recordsPerSecond)} records/s`
      : `in ${seconds(report.durationMs)} (snapshot load only: no journal record after it)`,
    '',
    fields([
      ['stock levels', `${formatCount(state.stockLevels)} (${formatCount(state.skus)} SKUs)`],
      ['on hand', formatCount(state.totals.onHand)],
      ['reserved', formatCount(state.totals.reserved)],
      ['safety stock', formatCount(state.totals.safetyStock)],
      ['available', formatCount(state.totals.available)],
      ['reservations', `${formatCount(state.reservations.total)}: ${statusLine}`],
      ['stores', `${state.stores} with till events`],
      ['idem. keys', formatCount(state.idempotencyKeys)],
    ]),
  ];
  if (state.reservations.activePastExpiry > 0) {
    out.push(
      `(${state.reservations.activePastExpiry} active reservation(s) past expiry: the engine expires them when it starts)`,
    );
  }
  out.push(
    '',
    `locations (${state.locations.length})`,
    table(
      ['id', 'name', 'type', 'levels', 'on hand', 'reserved', 'available'],
      state.locations.map((location) => [
        location.id,
        location.name ?? '(not registered)',
        location.type ?? '-',
        formatCount(location.stockLevels),
        formatCount(location.onHand),
        formatCount(location.reserved),
        formatCount(location.available),
      ]),
      new Set([3, 4, 5, 6]),
    ),
  );
  if (report.snapshotWritten) {
    out.push(
      '',
      `snapshot written: seq ${report.snapshotWritten.seq}, ${report.snapshotWritten.partitions} partitions rewritten, in ${report.snapshotWritten.dir}`,
    );
  } else if (report.snapshotNotWritten) {
    out.push('', `snapshot not written: ${report.snapshotNotWritten}`);
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- at

export const describePoint = (point: JournalPoint): string =>
  point.kind === 'seq' ? `seq ${point.seq}` : `${point.time}`;

export function formatLevelAt(
  sku: string,
  locationId: string,
  point: JournalPoint,
  result: LevelAtResult,
): string {
  const { level } = result;
  const out = [
    `${sku} at ${locationId} as of ${describePoint(point)} (journal seq ${result.asOf.seq}, appended ${result.asOf.at})`,
    fields([
      ['on hand', level.onHand],
      ['reserved', level.reserved],
      ['safety stock', level.safetyStock],
      ['available', level.available],
      ['version', level.version],
      ['last change', `seq ${result.lastChange.seq} at ${result.lastChange.at}`],
      ['holds', result.holds.length === 0 ? 'none' : result.holds.length],
    ]),
    ...result.holds.map(
      (hold) =>
        `  ${hold.reservationId}: ${hold.quantity}, expires ${hold.expiresAt}${hold.atRisk ? ', AT RISK' : ''}`,
    ),
  ];
  if (result.seededFrom) {
    out.push(
      `note: the first ${result.seededFrom.missingEvents} events of this level were compacted away; its quantities ` +
        `start from record ${result.seededFrom.seq}'s meta.before, and holds taken before it are not listed`,
    );
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------- history

const signed = (value: number): string => (value > 0 ? `+${value}` : String(value));

/** The quantity column: the event's effect on the level. */
export function quantityOf(event: StockEvent): string {
  switch (event.type) {
    case 'StockReceived':
      return signed(event.quantity);
    case 'StockSold':
      return signed(-event.quantity);
    case 'StockAdjusted':
      return signed(event.delta);
    case 'StockCounted':
      return `=${event.onHand} (was ${event.previousOnHand})`;
    case 'SafetyStockSet':
      return `safety=${event.safetyStock}`;
    case 'StockReserved':
      return `hold ${event.quantity}`;
    case 'ReservationReleased':
      return `release ${event.quantity}`;
    case 'ReservationCommitted':
      return signed(-event.quantity);
    case 'ReservationAtRisk':
      return `${event.quantity} short ${event.shortBy}`;
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/** The details column: reason, reference, who, till source, reservation. */
export function detailsOf(event: StockEvent): string {
  const parts: string[] = [];
  if ('reason' in event) parts.push(`reason=${event.reason}`);
  if ('reservationId' in event) parts.push(`reservation=${event.reservationId}`);
  if (event.type === 'StockReserved') parts.push(`expires=${event.expiresAt}`);
  if ('reference' in event && event.reference) parts.push(`ref=${event.reference}`);
  if ('by' in event && event.by) parts.push(`by=${event.by}`);
  if ('source' in event && event.source) {
    parts.push(`source=${event.source.storeId}#${event.source.seq}@${event.source.occurredAt}`);
  }
  return parts.join(' ');
}

export function formatHistory(
  sku: string,
  locationId: string | undefined,
  items: readonly FeedItem[],
): string {
  const scope = locationId === undefined ? `${sku} at every location` : `${sku} at ${locationId}`;
  const first = items[0];
  const last = items.at(-1);
  const span = first && last ? ` (seq ${first.seq}..${last.seq})` : '';
  const header = ['seq', 'time', ...(locationId === undefined ? ['location'] : []), 'event', 'quantity'];
  const rows = items.map((item) => {
    const event = item.event as unknown as StockEvent;
    const level = item.level;
    return [
      String(item.seq),
      item.at,
      ...(locationId === undefined ? [level?.locationId ?? ''] : []),
      item.type,
      quantityOf(event),
      level ? String(level.onHand) : '',
      level ? String(level.reserved) : '',
      level ? String(level.available) : '',
      detailsOf(event),
    ];
  });
  const numeric = new Set([0, header.length, header.length + 1, header.length + 2]);
  const body = table([...header, 'on hand', 'reserved', 'available', 'details'], rows, numeric);
  return `history of ${scope}: ${items.length} events${span}; on hand, reserved and available after each event\n${body}\n`;
}
