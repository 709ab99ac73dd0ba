// The replay CLI end to end: a real journal written by FileJournal (records shaped like the engine's,
// over several segments), the CLI run as a real child process, its output and exit codes asserted for
// every command, including corruption, a torn tail and its repair. The last block drives main() in
// process only to answer the terminal prompt, which a child process without a TTY cannot show.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../scripts/replay/main.js';
import { FileJournal } from '../../storage/file-journal.js';
import type { LocationEvent } from '../../engine/domain/location.js';
import type { ReservationEvent } from '../../engine/domain/reservation.js';
import type { StockEvent } from '../../engine/domain/stock.js';
import type { JournalEntry } from '../../storage/journal.js';
import { makeTempDir, removeTempDir } from '../support/temp-dir.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const T0 = Date.parse('2026-03-01T10:00:00.000Z');
/** Record n (seq n) is appended at T0 + (n - 1) minutes. */
const timeOf = (seq: number): string => new Date(T0 + (seq - 1) * 60_000).toISOString();
const FAR = '2099-01-01T00:00:00.000Z';

const before = (onHand: number, reserved = 0, safetyStock = 0) => ({
  before: { onHand, reserved, safetyStock },
});

/** A journal entry whose events the compiler checks against the engine's own event types. */
interface EngineEntry extends JournalEntry {
  readonly events: readonly (StockEvent | ReservationEvent | LocationEvent)[];
}

/** What the engine journals for this scenario, in order (seq = index + 1). */
const scenario: readonly EngineEntry[] = [
  {
    stream: 'location/S1',
    version: 1,
    events: [{ type: 'LocationRegistered', name: 'Store 1', locationType: 'store', at: timeOf(1) }],
    meta: {},
  },
  {
    stream: 'location/W1',
    version: 1,
    events: [{ type: 'LocationRegistered', name: 'Warehouse', locationType: 'warehouse', at: timeOf(2) }],
    meta: {},
  },
  {
    stream: 'stock/SKU-1/S1',
    version: 1,
    events: [{ type: 'StockReceived', quantity: 10, reason: 'receipt', reference: 'PO-7', at: timeOf(3) }],
    meta: before(0),
  },
  {
    stream: 'stock/SKU-1/W1',
    version: 1,
    events: [{ type: 'StockReceived', quantity: 40, reason: 'receipt', at: timeOf(4) }],
    meta: before(0),
  },
  {
    stream: 'stock/SKU-2/S1',
    version: 1,
    events: [{ type: 'StockReceived', quantity: 5, reason: 'receipt', at: timeOf(5) }],
    meta: before(0),
  },
  {
    stream: 'stock/SKU-1/S1',
    version: 2,
    events: [
      {
        type: 'StockSold',
        quantity: 3,
        at: timeOf(6),
        by: 'store:S1',
        source: { storeId: 'S1', seq: 1, occurredAt: timeOf(6) },
      },
    ],
    meta: before(10),
  },
  {
    stream: 'stock/SKU-1/S1',
    version: 3,
    events: [{ type: 'StockReserved', reservationId: 'R1', quantity: 2, expiresAt: FAR, at: timeOf(7) }],
    meta: before(7),
  },
  {
    stream: 'reservation/R1',
    version: 1,
    events: [
      {
        type: 'ReservationPlaced',
        lines: [{ sku: 'SKU-1', locationId: 'S1', quantity: 2 }],
        expiresAt: FAR,
        channel: 'web',
        at: timeOf(8),
      },
    ],
    meta: {},
  },
  {
    stream: 'stock/SKU-1/W1',
    version: 2,
    events: [{ type: 'StockReserved', reservationId: 'R2', quantity: 5, expiresAt: FAR, at: timeOf(9) }],
    meta: before(40),
  },
  {
    stream: 'reservation/R2',
    version: 1,
    events: [
      {
        type: 'ReservationPlaced',
        lines: [{ sku: 'SKU-1', locationId: 'W1', quantity: 5 }],
        expiresAt: FAR,
        at: timeOf(10),
      },
    ],
    meta: {},
  },
  {
    stream: 'stock/SKU-2/S1',
    version: 2,
    events: [{ type: 'StockSold', quantity: 1, at: timeOf(11) }],
    meta: before(5),
  },
  {
    stream: 'stock/SKU-1/S1',
    version: 4,
    events: [{ type: 'StockReceived', quantity: 4, reason: 'return', at: timeOf(12) }],
    meta: before(7, 2),
  },
  {
    stream: 'reservation/R2',
    version: 2,
    events: [{ type: 'ReservationConfirmed', at: timeOf(13) }],
    meta: {},
  },
  {
    stream: 'stock/SKU-1/W1',
    version: 3,
    events: [{ type: 'ReservationCommitted', reservationId: 'R2', quantity: 5, at: timeOf(14) }],
    meta: before(40, 5),
  },
];

/** Two more records, appended after a snapshot to give --from-snapshot a tail to replay. */
const tail: readonly EngineEntry[] = [
  {
    stream: 'stock/SKU-2/S1',
    version: 3,
    events: [{ type: 'StockReceived', quantity: 6, reason: 'receipt', at: timeOf(15) }],
    meta: before(4),
  },
  {
    stream: 'stock/SKU-1/S1',
    version: 5,
    events: [{ type: 'StockReserved', reservationId: 'R3', quantity: 1, expiresAt: FAR, at: timeOf(16) }],
    meta: before(11, 2),
  },
];

/** Small segments, so the journal spans several files. */
const SEGMENT_BYTES = 1000;

async function appendAll(journalDir: string, entries: readonly JournalEntry[]): Promise<void> {
  let clock = T0;
  const journal = new FileJournal({
    dir: journalDir,
    segmentBytes: SEGMENT_BYTES,
    now: () => new Date(clock),
  });
  await journal.open();
  for (const entry of entries) {
    clock = Date.parse(timeOf(journal.lastSeq + 1));
    await journal.append(entry);
  }
  await journal.close();
}

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function replay(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/replay.ts', ...args],
      { cwd: ROOT, env: { ...process.env, DATA_DIR: '', ...env } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return reject(error);
        resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}

const jsonOf = <T>(run: Run): T => JSON.parse(run.stdout) as T;

interface RebuildJson {
  replayedRecords: number;
  snapshot: { seq: number } | null;
  state: {
    lastSeq: number;
    stockLevels: number;
    skus: number;
    totals: { onHand: number; reserved: number; safetyStock: number; available: number };
    locations: { id: string; name: string | null; stockLevels: number; onHand: number; reserved: number }[];
    reservations: { total: number; byStatus: Record<string, number>; activePastExpiry: number };
    stores: number;
  };
  snapshotWritten: { seq: number; partitions: number } | null;
  snapshotNotWritten?: string;
}

interface FeedItemJson {
  seq: number;
  type: string;
  stream: string;
  version: number;
  event: Record<string, unknown>;
  level: { locationId: string; onHand: number; reserved: number; available: number; version: number };
}

describe('replay CLI (child process on a real journal)', function () {
  this.timeout(60_000);
  let dir: string;
  let journalDir: string;
  let segments: string[];

  const data = () => ['--data', dir];
  const segmentPath = (name: string) => path.join(journalDir, name);

  beforeEach(async () => {
    dir = await makeTempDir('replay-cli');
    journalDir = path.join(dir, 'journal');
    await appendAll(journalDir, scenario);
    segments = (await readdir(journalDir)).filter((name) => name.endsWith('.jsonl')).sort();
  });
  afterEach(async () => removeTempDir(dir));

  /** Flips one bit of the byte in the middle of the first record of `segment`'s second line; returns that line's offset. */
  async function flipByteMidFile(segment: string): Promise<number> {
    const file = segmentPath(segment);
    const bytes = await readFile(file);
    const lineStart = bytes.indexOf(0x0a) + 1;
    const lineEnd = bytes.indexOf(0x0a, lineStart);
    expect(lineEnd, 'the segment has at least three lines').to.be.lessThan(bytes.length - 1);
    const target = bytes.indexOf('"quantity":', lineStart);
    const at = target !== -1 && target < lineEnd ? target + 12 : (lineStart + lineEnd) >> 1;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01;
    await writeFile(file, bytes);
    return lineStart;
  }

  describe('verify', () => {
    it('passes a clean journal: records, segments and last seq, exit 0', async () => {
      expect(segments.length).to.be.greaterThan(2);
      const run = await replay(['verify', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.match(new RegExp(`segments\\s+${segments.length} \\(`));
      expect(run.stdout).to.match(/records\s+14 \(seq 1\.\.14\)/);
      expect(run.stdout).to.match(/last seq\s+14/);
      expect(run.stdout).to.include('OK: every checksum and sequence verified');

      const json = jsonOf<{
        ok: boolean;
        records: number;
        lastSeq: number;
        segments: number;
        problem: unknown;
      }>(await replay(['verify', '--json', ...data()]));
      expect(json).to.include({ ok: true, records: 14, lastSeq: 14, segments: segments.length });
      expect(json.problem).to.equal(null);
    });

    it('takes the data directory from DATA_DIR when --data is absent', async () => {
      const run = await replay(['verify', '--json'], { DATA_DIR: dir });
      expect(run.code, run.stderr).to.equal(0);
      expect(jsonOf<{ journalDir: string }>(run).journalDir).to.equal(journalDir);
    });

    it('names the segment and byte offset of a flipped byte mid-file, exit 2', async () => {
      const segment = segments[1] ?? '';
      const offset = await flipByteMidFile(segment);
      const run = await replay(['verify', ...data()]);
      expect(run.code).to.equal(2);
      expect(run.stdout).to.include(`CORRUPT: ${segment} at byte offset ${offset}: bad-crc`);
      expect(run.stdout).to.include('not repairable by cutting');

      const json = jsonOf<{ ok: boolean; problem: { segment: string; offset: number; isTail: boolean } }>(
        await replay(['verify', '--json', ...data()]),
      );
      expect(json.ok).to.equal(false);
      expect(json.problem).to.deep.include({ segment, offset, isTail: false });
    });

    it('reports a torn tail as repairable, exit 2', async () => {
      const last = segments.at(-1) ?? '';
      const size = (await stat(segmentPath(last))).size;
      await writeFile(segmentPath(last), '{"seq":15,"stream":"stock/SKU-1/S1","vers', { flag: 'a' });
      const run = await replay(['verify', ...data()]);
      expect(run.code).to.equal(2);
      expect(run.stdout).to.include(`TORN TAIL in ${last} at byte offset ${size}: incomplete record`);
      expect(run.stdout).to.include('repairable');
    });
  });

  describe('rebuild', () => {
    it('recovers the expected state and summary', async () => {
      const run = await replay(['rebuild', '--json', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      const report = jsonOf<RebuildJson>(run);
      expect(report.replayedRecords).to.equal(14);
      expect(report.snapshot).to.equal(null);
      expect(report.state).to.deep.include({ lastSeq: 14, stockLevels: 3, skus: 2, stores: 1 });
      // SKU-1/S1: 10 - 3 + 4 = 11 on hand, 2 held; SKU-1/W1: 40 - 5 committed; SKU-2/S1: 5 - 1.
      expect(report.state.totals).to.deep.equal({ onHand: 50, reserved: 2, safetyStock: 0, available: 48 });
      expect(
        report.state.locations.map((l) => [l.id, l.name, l.stockLevels, l.onHand, l.reserved]),
      ).to.deep.equal([
        ['S1', 'Store 1', 2, 15, 2],
        ['W1', 'Warehouse', 1, 35, 0],
      ]);
      expect(report.state.reservations.total).to.equal(2);
      expect(report.state.reservations.byStatus).to.include({ held: 1, confirmed: 1, cancelled: 0 });

      const human = await replay(['rebuild', ...data()]);
      expect(human.code).to.equal(0);
      expect(human.stdout).to.include('rebuilt state at seq 14 from 14 journal records');
      expect(human.stdout).to.match(/on hand\s+50\n/);
      expect(human.stdout).to.match(/reserved\s+2\n/);
      expect(human.stdout).to.match(/available\s+48\n/);
      expect(human.stdout).to.include('reservations  2: held 1, payment_pending 0, confirmed 1');
      expect(human.stdout).to.match(/records\/s/);
      expect(human.stdout).to.match(/W1\s+Warehouse\s+warehouse\s+1\s+35\s+0\s+35/);
    });

    it('writes a snapshot, and recovery from it plus the journal tail gives the same state', async () => {
      const written = jsonOf<RebuildJson>(await replay(['rebuild', '--write-snapshot', '--json', ...data()]));
      expect(written.snapshotWritten?.seq).to.equal(14);
      expect(written.snapshotWritten?.partitions).to.equal(64);
      expect(await readdir(path.join(dir, 'snapshots'))).to.include('manifest-14.json');

      const fromSnapshot = jsonOf<RebuildJson>(
        await replay(['rebuild', '--from-snapshot', '--json', ...data()]),
      );
      expect(fromSnapshot.snapshot?.seq).to.equal(14);
      expect(fromSnapshot.replayedRecords).to.equal(0);
      expect(fromSnapshot.state).to.deep.equal(written.state);

      // A second snapshot at the same seq adds nothing and says so.
      const again = jsonOf<RebuildJson>(await replay(['rebuild', '--write-snapshot', '--json', ...data()]));
      expect(again.snapshotWritten).to.equal(null);
      expect(again.snapshotNotWritten).to.include('already covers seq 14');

      await appendAll(journalDir, tail);
      const full = jsonOf<RebuildJson>(await replay(['rebuild', '--json', ...data()]));
      const fromSnapshotAndTail = await replay(['rebuild', '--from-snapshot', '--json', ...data()]);
      expect(fromSnapshotAndTail.code, fromSnapshotAndTail.stderr).to.equal(0);
      const resumed = jsonOf<RebuildJson>(fromSnapshotAndTail);
      expect(resumed.replayedRecords).to.equal(2);
      expect(resumed.state).to.deep.equal(full.state);
      expect(full.state.totals).to.deep.equal({ onHand: 56, reserved: 3, safetyStock: 0, available: 53 });
    });

    it('answers 3 when --from-snapshot finds no snapshot', async () => {
      const run = await replay(['rebuild', '--from-snapshot', ...data()]);
      expect(run.code).to.equal(3);
      expect(run.stderr).to.include('no valid snapshot');
    });

    it('skips a torn tail without touching the journal, and stops at corruption with exit 2', async () => {
      const last = segments.at(-1) ?? '';
      await writeFile(segmentPath(last), '{"seq":15,"stream":"sto', { flag: 'a' });
      const size = (await stat(segmentPath(last))).size;
      const run = await replay(['rebuild', '--json', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      expect(jsonOf<RebuildJson>(run).state.lastSeq).to.equal(14);
      expect(run.stderr).to.include(
        `torn tail: 23 bytes from byte offset ${size - 23} of ${last} were skipped`,
      );
      expect((await stat(segmentPath(last))).size, 'rebuild only reads').to.equal(size);

      const segment = segments[0] ?? '';
      const offset = await flipByteMidFile(segment);
      const corrupt = await replay(['rebuild', ...data()]);
      expect(corrupt.code).to.equal(2);
      expect(corrupt.stderr).to.include(`segment ${segment} at byte offset ${offset}`);
    });

    it('prints progress on stderr at the configured interval, and none with --quiet', async () => {
      const run = await replay(['rebuild', ...data()], { REPLAY_PROGRESS_INTERVAL_MS: '0' });
      expect(run.stderr).to.match(/rebuild: 14 records read, [\d,]+ records\/s/);
      const quiet = await replay(['rebuild', '--quiet', ...data()], { REPLAY_PROGRESS_INTERVAL_MS: '0' });
      expect(quiet.stderr).to.equal('');
    });
  });

  describe('at', () => {
    it('gives the level after a seq, with its holds', async () => {
      const run = await replay([
        'at',
        '--sku',
        'SKU-1',
        '--location',
        'S1',
        '--seq',
        '7',
        '--json',
        ...data(),
      ]);
      expect(run.code, run.stderr).to.equal(0);
      const result = jsonOf<{
        level: Record<string, unknown>;
        holds: unknown[];
        lastChange: { seq: number };
      }>(run);
      expect(result.level).to.include({ onHand: 7, reserved: 2, available: 5, version: 3 });
      expect(result.holds).to.deep.equal([
        { reservationId: 'R1', quantity: 2, expiresAt: FAR, atRisk: false },
      ]);
      expect(result.lastChange.seq).to.equal(7);

      const human = await replay(['at', '--sku', 'SKU-1', '--location', 'S1', '--seq', '13', ...data()]);
      expect(human.code).to.equal(0);
      expect(human.stdout).to.include('SKU-1 at S1 as of seq 13');
      expect(human.stdout).to.match(/on hand\s+11\n/);
      expect(human.stdout).to.match(/last change\s+seq 12 at 2026-03-01T10:11:00.000Z/);
      expect(human.stdout).to.include('R1: 2, expires 2099-01-01T00:00:00.000Z');
    });

    it('gives the level as of a time, from the records appended up to it', async () => {
      // Between seq 6 (10:05) and seq 7 (10:06): sold, not yet reserved.
      const run = await replay([
        'at',
        '--sku',
        'SKU-1',
        '--location',
        'S1',
        '--time',
        '2026-03-01T10:05:30Z',
        '--json',
        ...data(),
      ]);
      expect(run.code, run.stderr).to.equal(0);
      const result = jsonOf<{ level: Record<string, unknown>; asOf: { seq: number } }>(run);
      expect(result.level).to.include({ onHand: 7, reserved: 0, available: 7, version: 2 });
      expect(result.asOf.seq).to.equal(6);
    });

    it('answers 3 for a level that did not exist yet or a seq past the end, 1 without a point', async () => {
      const early = await replay(['at', '--sku', 'SKU-1', '--location', 'S1', '--seq', '2', ...data()]);
      expect(early.code).to.equal(3);
      expect(early.stderr).to.include('no stock level SKU-1 at S1 as of seq 2');
      const past = await replay(['at', '--sku', 'SKU-1', '--location', 'S1', '--seq', '99', ...data()]);
      expect(past.code).to.equal(3);
      expect(past.stderr).to.include('past the end of the journal (last seq 14)');
      const noPoint = await replay(['at', '--sku', 'SKU-1', '--location', 'S1', ...data()]);
      expect(noPoint.code).to.equal(1);
      expect(noPoint.stderr).to.include('exactly one of --time and --seq');
      const badTime = await replay([
        'at',
        '--sku',
        'SKU-1',
        '--location',
        'S1',
        '--time',
        'yesterday',
        ...data(),
      ]);
      expect(badTime.code).to.equal(1);
    });
  });

  describe('history', () => {
    it('prints the history of one level as a table with the level after each event', async () => {
      const run = await replay(['history', '--sku', 'SKU-1', '--location', 'S1', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      const lines = run.stdout.trimEnd().split('\n');
      expect(lines[0]).to.equal(
        'history of SKU-1 at S1: 4 events (seq 3..12); on hand, reserved and available after each event',
      );
      expect(lines[1]).to.match(/^seq\s+time\s+event\s+quantity\s+on hand\s+reserved\s+available\s+details$/);
      expect(lines.slice(2).map((line) => line.trim().split(/\s+/).slice(0, 7))).to.deep.equal([
        ['3', timeOf(3), 'StockReceived', '+10', '10', '0', '10'],
        ['6', timeOf(6), 'StockSold', '-3', '7', '0', '7'],
        ['7', timeOf(7), 'StockReserved', 'hold', '2', '7', '2'],
        ['12', timeOf(12), 'StockReceived', '+4', '11', '2', '9'],
      ]);
      expect(lines[2]).to.include('reason=receipt ref=PO-7');
      expect(lines[3]).to.include(`by=store:S1 source=S1#1@${timeOf(6)}`);
      expect(lines[4]).to.include('reservation=R1');
    });

    it('prints JSON lines, and the SKU at every location without --location', async () => {
      const run = await replay(['history', '--sku', 'SKU-1', '--json', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      const items = run.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as FeedItemJson);
      expect(
        items.map((item) => [
          item.seq,
          item.type,
          item.level.locationId,
          item.level.onHand,
          item.level.reserved,
        ]),
      ).to.deep.equal([
        [3, 'StockReceived', 'S1', 10, 0],
        [4, 'StockReceived', 'W1', 40, 0],
        [6, 'StockSold', 'S1', 7, 0],
        [7, 'StockReserved', 'S1', 7, 2],
        [9, 'StockReserved', 'W1', 40, 5],
        [12, 'StockReceived', 'S1', 11, 2],
        [14, 'ReservationCommitted', 'W1', 35, 0],
      ]);
      expect(items[2]?.event).to.include({ type: 'StockSold', quantity: 3, by: 'store:S1' });
      expect(items.map((item) => item.version)).to.deep.equal([1, 1, 2, 3, 2, 4, 3]);
    });

    it('answers 3 for a SKU without events', async () => {
      const run = await replay(['history', '--sku', 'NOPE', ...data()]);
      expect(run.code).to.equal(3);
      expect(run.stderr).to.include('no events for NOPE');
    });
  });

  describe('repair', () => {
    const TORN = '{"seq":15,"stream":"stock/SKU-1/S1","version":5,"at":"2026-03-01T10:1';

    it('cuts a torn tail with --yes, keeps the cut bytes in a backup, and the journal verifies clean', async () => {
      const last = segments.at(-1) ?? '';
      const size = (await stat(segmentPath(last))).size;
      await writeFile(segmentPath(last), TORN, { flag: 'a' });

      const refused = await replay(['repair', ...data()]);
      expect(refused.code, 'no --yes and stdin is not a terminal').to.equal(1);
      expect(refused.stderr).to.include('rerun with --yes');
      expect((await stat(segmentPath(last))).size).to.equal(size + TORN.length);

      const run = await replay(['repair', '--yes', ...data()]);
      expect(run.code, run.stderr).to.equal(0);
      expect(run.stdout).to.include(`torn tail in ${last}: ${TORN.length} bytes from byte offset ${size}`);
      expect(run.stdout).to.include(`cut ${TORN.length} bytes from ${last} at byte offset ${size}`);
      expect(run.stdout).to.include('verified after repair: OK, 14 records, last seq 14');
      const backup = path.join(dir, 'journal-repairs', `${last}.${size}.torn`);
      expect(await readFile(backup, 'utf8')).to.equal(TORN);
      expect((await stat(segmentPath(last))).size).to.equal(size);

      const verify = await replay(['verify', ...data()]);
      expect(verify.code).to.equal(0);
      const clean = await replay(['repair', '--yes', ...data()]);
      expect(clean.code).to.equal(0);
      expect(clean.stdout).to.include('nothing to repair');
    });

    it('refuses corruption before the tail and changes nothing, exit 2', async () => {
      const segment = segments[0] ?? '';
      const offset = await flipByteMidFile(segment);
      const damaged = await readFile(segmentPath(segment));
      const run = await replay(['repair', '--yes', ...data()]);
      expect(run.code).to.equal(2);
      expect(run.stderr).to.include(`refusing to repair: ${segment} is corrupt at byte offset ${offset}`);
      expect(run.stderr).to.include('would lose acknowledged records');
      expect(await readFile(segmentPath(segment))).to.deep.equal(damaged);
      expect(await readdir(dir)).to.not.include('journal-repairs');
    });
  });

  describe('after compaction (segments covered by a snapshot removed)', () => {
    /** Removes every segment before the one that starts after seq 9 (W1's second event), returns its first seq. */
    async function compactPastSeq9(): Promise<number> {
      const firstSeqs = segments.map((name) => Number(/(\d{20})/.exec(name)?.[1]));
      const keepFrom = firstSeqs.find((seq) => seq > 9 && seq <= 14);
      expect(
        keepFrom,
        `a segment starts within seq 10..14 (segments start at ${firstSeqs.join(', ')})`,
      ).to.not.equal(undefined);
      const journal = new FileJournal({ dir: journalDir, segmentBytes: SEGMENT_BYTES });
      await journal.open();
      await journal.compact((keepFrom ?? 0) - 1);
      await journal.close();
      return keepFrom ?? 0;
    }

    it('recovers from the snapshot, refuses a full replay (3), and folds a level from meta.before', async () => {
      const full = jsonOf<RebuildJson>(await replay(['rebuild', '--write-snapshot', '--json', ...data()]));
      const firstSeq = await compactPastSeq9();

      const verify = await replay(['verify', '--json', ...data()]);
      expect(verify.code, verify.stdout).to.equal(0);
      expect(jsonOf<{ firstSeq: number }>(verify).firstSeq).to.equal(firstSeq);

      const replayAll = await replay(['rebuild', ...data()]);
      expect(replayAll.code).to.equal(3);
      expect(replayAll.stderr).to.include(`the journal continues at seq ${firstSeq}`);
      expect(replayAll.stderr).to.include('--from-snapshot');
      const fromSnapshot = jsonOf<RebuildJson>(
        await replay(['rebuild', '--from-snapshot', '--json', ...data()]),
      );
      expect(fromSnapshot.state).to.deep.equal(full.state);

      // W1's first two events are gone; its last record says what it held before.
      const level = await replay([
        'at',
        '--sku',
        'SKU-1',
        '--location',
        'W1',
        '--seq',
        '14',
        '--json',
        ...data(),
      ]);
      expect(level.code, level.stderr).to.equal(0);
      const result = jsonOf<{ level: Record<string, unknown>; seededFrom: unknown }>(level);
      expect(result.level).to.include({ onHand: 35, reserved: 0, version: 3 });
      expect(result.seededFrom).to.deep.equal({ seq: 14, missingEvents: 2 });

      await removeTempDir(path.join(dir, 'snapshots'));
      const uncovered = await replay(['verify', ...data()]);
      expect(uncovered.code).to.equal(2);
      expect(uncovered.stdout).to.include(`no snapshot covers seq 1..${firstSeq - 1}`);
    });
  });

  describe('usage', () => {
    it('prints help for the CLI and each command, exit 0', async () => {
      const general = await replay(['--help']);
      expect(general.code).to.equal(0);
      expect(general.stdout).to.include('Commands:').and.include('Exit codes: 0 ok, 1 usage error');
      for (const command of ['verify', 'rebuild', 'at', 'history', 'repair']) {
        const run = await replay([command, '--help']);
        expect(run.code).to.equal(0);
        expect(run.stdout).to.include(`Usage: replay ${command}`);
      }
    });

    it('answers 1 for an unknown command or option, 3 for a missing data directory', async () => {
      expect((await replay(['rewind'])).code).to.equal(1);
      const wrongOption = await replay(['verify', '--seq', '3', ...data()]);
      expect(wrongOption.code).to.equal(1);
      expect(wrongOption.stderr).to.include('--seq is not an option of verify');
      const missing = await replay(['verify', '--json', '--data', path.join(dir, 'nowhere')]);
      expect(missing.code).to.equal(3);
      expect(JSON.parse(missing.stdout)).to.have.nested.property('error.code', 'NOT_FOUND');
    });
  });
});

describe('replay CLI repair confirmation (main() in process, real journal)', () => {
  let dir: string;
  let segment: string;
  let size: number;

  beforeEach(async () => {
    dir = await makeTempDir('replay-confirm');
    await appendAll(path.join(dir, 'journal'), scenario.slice(0, 3));
    segment = path.join(dir, 'journal', 'segment-00000000000000000001.jsonl');
    size = (await stat(segment)).size;
    await writeFile(segment, '{"seq":4,', { flag: 'a' });
  });
  afterEach(async () => removeTempDir(dir));

  const runRepair = async (answer: boolean) => {
    const out: string[] = [];
    const questions: string[] = [];
    const code = await main(['repair', '--data', dir], {
      out: (text) => out.push(text),
      err: () => undefined,
      nowMs: () => T0,
      stdinIsTTY: true,
      confirm: (question) => {
        questions.push(question);
        return Promise.resolve(answer);
      },
      env: {},
      cwd: dir,
    });
    return { code, out: out.join(''), questions };
  };

  it('asks on a terminal and changes nothing when the answer is no (exit 2)', async () => {
    const { code, questions } = await runRepair(false);
    expect(questions).to.have.length(1);
    expect(questions[0]).to.include('Cut these bytes');
    expect(code).to.equal(2);
    expect((await stat(segment)).size).to.equal(size + 9);
  });

  it('cuts the tail when the answer is yes', async () => {
    const { code, out } = await runRepair(true);
    expect(code).to.equal(0);
    expect(out).to.include('verified after repair: OK, 3 records, last seq 3');
    expect((await stat(segment)).size).to.equal(size);
  });
});
