// Opening a damaged journal: a torn tail (any cut inside the last record, or zeros after it) is cut and
// logged; damage followed by valid records, or in an earlier segment, is corruption and stops the open.
// verifyJournal and repairJournal, used by the replay CLI, must agree with open().
import { expect } from 'chai';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  FileJournal,
  JournalCorruptError,
  listSegments,
  repairJournal,
  verifyJournal,
} from '../../../storage/file-journal.js';
import type { JournalRecord } from '../../../storage/journal.js';
import { appendSequentially, readAll, spyLogger, stockEntry } from '../../support/journal-helpers.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';

const N = 10;
const FIRST_SEGMENT = 'segment-00000000000000000001.jsonl';

describe('FileJournal recovery', () => {
  let dir: string;
  let original: JournalRecord[];
  let bytes: Buffer;
  /** Byte offset where each record's line starts, plus the file end. */
  let lineStarts: number[];

  beforeEach(async () => {
    dir = await makeTempDir('journal-recovery');
    const journal = new FileJournal({ dir: path.join(dir, 'source') });
    await journal.open();
    original = await appendSequentially(journal, 1, N);
    await journal.close();
    bytes = await readFile(path.join(dir, 'source', FIRST_SEGMENT));
    lineStarts = [0];
    for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) lineStarts.push(at + 1);
    expect(lineStarts).to.have.length(N + 1);
  });
  afterEach(async () => removeTempDir(dir));

  /** A fresh journal directory holding `content` as its only segment. */
  let copies = 0;
  const journalWith = async (content: Buffer): Promise<string> => {
    const copy = path.join(dir, `copy-${copies++}`);
    await mkdir(copy);
    await writeFile(path.join(copy, FIRST_SEGMENT), content);
    return copy;
  };

  const openFails = async (journalDir: string): Promise<JournalCorruptError> => {
    const journal = new FileJournal({ dir: journalDir, logger: spyLogger() });
    try {
      await journal.open();
    } catch (error) {
      expect(error).to.be.instanceOf(JournalCorruptError);
      return error as JournalCorruptError;
    }
    await journal.close();
    throw new Error('open() should have refused a corrupt journal');
  };

  it('recovers exactly N-1 records when the file is cut at any byte inside the last record', async () => {
    const lastStart = lineStarts[N - 1]!;
    for (let cut = lastStart; cut < bytes.length; cut++) {
      const copy = await journalWith(bytes.subarray(0, cut));
      const logger = spyLogger();
      const journal = new FileJournal({ dir: copy, logger });
      await journal.open();
      expect(journal.lastSeq, `cut at ${cut}`).to.equal(N - 1);
      expect(await readAll(journal), `cut at ${cut}`).to.deep.equal(original.slice(0, N - 1));
      if (cut > lastStart) {
        expect(logger.warn.calledOnce, `warning for cut at ${cut}`).to.equal(true);
        expect(logger.warn.firstCall.args[1]).to.include({
          segment: FIRST_SEGMENT,
          offset: lastStart,
          bytesCut: cut - lastStart,
        });
      }
      const next = await journal.append(stockEntry(N));
      expect(next.seq).to.equal(N);
      await journal.close();
      expect((await stat(path.join(copy, FIRST_SEGMENT))).size).to.equal(bytes.length);
    }
  });

  it('cuts a zero-filled tail after the last record, and zeros over the last record', async () => {
    const zeroTail = await journalWith(Buffer.concat([bytes, Buffer.alloc(4096)]));
    let journal = new FileJournal({ dir: zeroTail, logger: spyLogger() });
    await journal.open();
    expect(await readAll(journal)).to.deep.equal(original);
    await journal.close();
    expect((await stat(path.join(zeroTail, FIRST_SEGMENT))).size).to.equal(bytes.length);

    const zeroedLast = Buffer.concat([bytes.subarray(0, lineStarts[N - 1]), Buffer.alloc(8192)]);
    journal = new FileJournal({ dir: await journalWith(zeroedLast), logger: spyLogger() });
    await journal.open();
    expect(await readAll(journal)).to.deep.equal(original.slice(0, N - 1));
    expect((await journal.append(stockEntry(N))).seq).to.equal(N);
    await journal.close();
  });

  it('refuses to open when a damaged record is followed by valid ones, naming segment and offset', async () => {
    const damaged = Buffer.from(bytes);
    const at = lineStarts[4]! + 20; // inside record 5 of 10
    damaged[at] = (damaged[at] ?? 0) ^ 0x01;
    const copy = await journalWith(damaged);
    const error = await openFails(copy);
    expect(error.segment).to.equal(FIRST_SEGMENT);
    expect(error.offset).to.equal(lineStarts[4]);
    expect(error.message).to.include(FIRST_SEGMENT).and.include(String(lineStarts[4]));
    expect(
      await readFile(path.join(copy, FIRST_SEGMENT)),
      'open() must not touch a corrupt file',
    ).to.deep.equal(damaged);

    const verification = await verifyJournal(copy);
    expect(verification).to.deep.include({ ok: false, records: 4, lastSeq: 4 });
    expect(verification.problem).to.deep.include({
      segment: FIRST_SEGMENT,
      offset: lineStarts[4],
      isTail: false,
    });

    let refusal: unknown;
    await repairJournal(copy, { backupDir: path.join(dir, 'backup') }).catch(
      (error: unknown) => (refusal = error),
    );
    expect(refusal).to.be.instanceOf(JournalCorruptError);
    expect((refusal as Error).message).to.match(/refusing to repair/);
    expect(await readFile(path.join(copy, FIRST_SEGMENT))).to.deep.equal(damaged);
  });

  it('treats a lost newline between the last two records as corruption, not a torn tail', async () => {
    const merged = Buffer.from(bytes);
    merged[lineStarts[N - 1]! - 1] = 0x20; // record N-1's newline becomes a space
    const error = await openFails(await journalWith(merged));
    expect(error.offset).to.equal(lineStarts[N - 2]);
  });

  it('treats a crc-valid record with the wrong seq at the end as corruption', async () => {
    const repeated = Buffer.concat([bytes, bytes.subarray(lineStarts[N - 1], lineStarts[N])]);
    const error = await openFails(await journalWith(repeated));
    expect(error.offset).to.equal(bytes.length);
    expect(error.reason).to.match(/seq 10 where 11 was expected/);
  });

  it('finds damage in an earlier segment when reading, and verifyJournal reports it', async () => {
    const journalDir = path.join(dir, 'segmented');
    let journal = new FileJournal({ dir: journalDir, segmentBytes: 1 }); // one record per segment
    await journal.open();
    await appendSequentially(journal, 1, 5);
    await journal.close();
    const second = (await listSegments(journalDir))[1]!;
    expect(second).to.deep.include({ firstSeq: 2, lastSeq: 2 });
    const file = path.join(journalDir, second.name);
    const content = await readFile(file);
    content[30] = (content[30] ?? 0) ^ 0x04;
    await writeFile(file, content);

    journal = new FileJournal({ dir: journalDir });
    await journal.open(); // earlier segments are not scanned at open
    let caught: unknown;
    try {
      await readAll(journal);
    } catch (error) {
      caught = error;
    }
    await journal.close();
    expect(caught).to.be.instanceOf(JournalCorruptError);
    expect(caught).to.include({ segment: second.name, offset: 0 });

    const progress: string[] = [];
    const verification = await verifyJournal(journalDir, (step) => progress.push(step.segment));
    expect(verification).to.deep.include({ ok: false, records: 1, lastSeq: 1 });
    expect(verification.problem).to.deep.include({ segment: second.name, offset: 0, isTail: false });
    expect(progress).to.deep.equal(
      (await listSegments(journalDir)).slice(0, 2).map((segment) => segment.name),
    );
  });

  it('repairJournal cuts a torn tail into a backup file; the journal then verifies clean', async () => {
    const cut = lineStarts[N - 1]! + 37;
    const copy = await journalWith(bytes.subarray(0, cut));
    const before = await verifyJournal(copy);
    expect(before).to.deep.include({ ok: false, records: N - 1, lastSeq: N - 1 });
    expect(before.problem).to.deep.include({ offset: lineStarts[N - 1], isTail: true });

    const backupDir = path.join(dir, 'backup');
    const repair = await repairJournal(copy, { backupDir });
    expect(repair).to.deep.include({ segment: FIRST_SEGMENT, offset: lineStarts[N - 1], bytesCut: 37 });
    expect(await readFile(repair!.backupFile)).to.deep.equal(bytes.subarray(lineStarts[N - 1], cut));
    expect(await readdir(backupDir)).to.have.length(1);
    expect(await verifyJournal(copy)).to.deep.equal({
      ok: true,
      segments: 1,
      records: N - 1,
      lastSeq: N - 1,
    });
    expect(await repairJournal(copy, { backupDir })).to.equal(null);
  });

  it('drops an empty last segment at open and continues in the previous one', async () => {
    const journalDir = path.join(dir, 'segmented');
    let journal = new FileJournal({ dir: journalDir, segmentBytes: 1 });
    await journal.open();
    const appended = await appendSequentially(journal, 1, 3);
    await journal.close();
    // A crash right after creating segment 4, or a torn first record cut to nothing.
    await writeFile(path.join(journalDir, 'segment-00000000000000000004.jsonl'), '{"seq":4,"str');
    const logger = spyLogger();
    journal = new FileJournal({ dir: journalDir, logger });
    await journal.open();
    expect(journal.lastSeq).to.equal(3);
    expect((await listSegments(journalDir)).map((segment) => segment.firstSeq)).to.deep.equal([1, 2, 3]);
    const next = await journal.append(stockEntry(4));
    expect(next.seq).to.equal(4);
    expect(await readAll(journal)).to.deep.equal([...appended, next]);
    await journal.close();
  });
});
