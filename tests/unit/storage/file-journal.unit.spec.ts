// The file journal's write path: group commit (one write + one fdatasync per batch, ack only after it),
// fail-stop on I/O errors with recover(), segment rolling, read(fromSeq) and compaction.
import { expect } from 'chai';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isInventoryError } from '../../../engine/errors.js';
import { FileJournal } from '../../../storage/file-journal.js';
import type { JournalRecord } from '../../../storage/journal.js';
import { FaultyFileOps } from '../../support/faulty-file-ops.js';
import { appendSequentially, readAll, spyLogger, stockEntry } from '../../support/journal-helpers.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';

const expectUnavailable = async (promise: Promise<unknown>): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    expect(isInventoryError(error) && error.code, String(error)).to.equal('STORAGE_UNAVAILABLE');
    return error as Error;
  }
  throw new Error('expected STORAGE_UNAVAILABLE, but the promise resolved');
};

/** Settles a promise into a tag without letting a rejection go unhandled while the test looks at it. */
const track = <T>(promise: Promise<T>) => {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
};

const segmentFiles = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((name) => name.startsWith('segment-')).sort();

describe('FileJournal', () => {
  let dir: string;
  let journal: FileJournal | undefined;

  beforeEach(async () => {
    dir = await makeTempDir('journal');
  });
  afterEach(async () => {
    await journal?.close();
    journal = undefined;
    await removeTempDir(dir);
  });

  describe('group commit', () => {
    it('acknowledges 1,000 concurrent appends with gap-free seqs in call order, in fewer flushes', async () => {
      const fileOps = new FaultyFileOps();
      journal = new FileJournal({ dir, fileOps, logger: spyLogger() });
      await journal.open();
      const opened = { write: fileOps.calls.write, fdatasync: fileOps.calls.fdatasync };

      const appended = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => journal!.append(stockEntry(i + 1))),
      );

      expect(appended.map((record) => record.seq)).to.deep.equal(
        Array.from({ length: 1000 }, (_, i) => i + 1),
      );
      appended.forEach((record, i) => expect(record.version).to.equal(i + 1));
      const stats = journal.stats;
      expect(stats.appends).to.equal(1000);
      expect(stats.recordsFlushed).to.equal(1000);
      expect(stats.flushes).to.be.lessThan(1000).and.greaterThan(0);
      // One write and one fdatasync per flush, no more.
      expect(fileOps.calls.write - opened.write).to.equal(stats.flushes);
      expect(fileOps.calls.fdatasync - opened.fdatasync).to.equal(stats.flushes);
      expect(journal.lastSeq).to.equal(1000);

      expect(await readAll(journal)).to.deep.equal(appended);
      await journal.close();
      journal = new FileJournal({ dir });
      await journal.open();
      expect(journal.lastSeq).to.equal(1000);
      expect(await readAll(journal)).to.deep.equal(appended);
    });

    it('acknowledges an append only after its batch is fdatasynced', async () => {
      const fileOps = new FaultyFileOps();
      journal = new FileJournal({ dir, fileOps });
      await journal.open();
      const held = fileOps.holdNext('fdatasync');
      const append = track(journal.append(stockEntry(1)));
      await held.reached;
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(append.settled).to.equal(false);
      expect(journal.lastSeq).to.equal(0);
      expect(await readAll(journal)).to.deep.equal([]);
      held.release();
      await journal.close();
      expect(append.settled).to.equal(true);
      expect(append.value?.seq).to.equal(1);
    });

    it('stamps records with the injected clock and keeps meta', async () => {
      journal = new FileJournal({ dir, now: () => new Date('2030-05-06T07:08:09.000Z') });
      await journal.open();
      const record = await journal.append(stockEntry(1));
      expect(record).to.deep.equal({ seq: 1, at: '2030-05-06T07:08:09.000Z', ...stockEntry(1) });
      const [withoutMeta] = [await journal.append({ stream: 's', version: 1, events: [{ type: 'X' }] })];
      expect(withoutMeta).to.not.have.property('meta');
      expect(await readAll(journal)).to.deep.equal([record, withoutMeta]);
    });

    it('rejects an unserialisable entry without consuming a seq', async () => {
      journal = new FileJournal({ dir });
      await journal.open();
      const bad = { stream: 's', version: 1, events: [{ type: 'X', n: BigInt(1) } as { type: string }] };
      let caught: unknown;
      await journal.append(bad).catch((error: unknown) => (caught = error));
      expect(caught).to.be.instanceOf(TypeError);
      expect((await journal.append(stockEntry(1))).seq).to.equal(1);
    });
  });

  describe('fail-stop', () => {
    it('a failed fdatasync rejects its batch and everything queued, refuses appends until recover()', async () => {
      const fileOps = new FaultyFileOps();
      const logger = spyLogger();
      journal = new FileJournal({ dir, fileOps, logger });
      await journal.open();
      const durable = await Promise.all([1, 2, 3].map((n) => journal!.append(stockEntry(n))));

      const held = fileOps.holdNext('fdatasync');
      const inFlight = [4, 5].map((n) => journal!.append(stockEntry(n, 'doomed')));
      await held.reached; // batch {4, 5} is written, not yet durable
      const queued = [6, 7].map((n) => journal!.append(stockEntry(n, 'doomed')));
      expect(await readAll(journal), 'undurable bytes are never read').to.deep.equal(durable);
      held.release('EIO');

      for (const promise of [...inFlight, ...queued]) await expectUnavailable(promise);
      expect(journal.health).to.equal('failed');
      expect(journal.lastSeq).to.equal(3);
      expect(logger.error.calledOnce).to.equal(true);

      const writesBefore = fileOps.calls.write;
      const refused = await expectUnavailable(journal.append(stockEntry(8)));
      expect(refused.message).to.match(/recover/);
      expect(fileOps.calls.write).to.equal(writesBefore);
      expect(await readAll(journal)).to.deep.equal(durable);

      await journal.recover();
      expect(journal.health).to.equal('open');
      const segment = path.join(dir, (await segmentFiles(dir))[0]!);
      expect((await readFile(segment, 'utf8')).includes('doomed'), 'failed batch cut from the file').to.equal(
        false,
      );

      const next = await journal.append(stockEntry(9));
      expect(next.seq).to.equal(4);
      expect(await readAll(journal)).to.deep.equal([...durable, next]);
      await journal.close();
      journal = new FileJournal({ dir });
      await journal.open();
      expect(await readAll(journal)).to.deep.equal([...durable, next]);
      expect(journal.stats.failedFlushes).to.equal(0);
    });

    it('a failed write (ENOSPC) fails the batch the same way', async () => {
      const fileOps = new FaultyFileOps();
      journal = new FileJournal({ dir, fileOps, logger: spyLogger() });
      await journal.open();
      const durable = await appendSequentially(journal, 1, 2);
      fileOps.failNext('write', 'ENOSPC');
      const failed = await Promise.allSettled([3, 4, 5].map((n) => journal!.append(stockEntry(n, 'doomed'))));
      for (const outcome of failed) {
        expect(outcome.status).to.equal('rejected');
        if (outcome.status === 'rejected') await expectUnavailable(Promise.reject(outcome.reason));
      }
      expect(journal.health).to.equal('failed');
      expect(journal.stats.failedFlushes).to.equal(1);
      await journal.recover();
      const next = await journal.append(stockEntry(6));
      expect(next.seq).to.equal(3);
      expect(await readAll(journal)).to.deep.equal([...durable, next]);
    });

    it('stays failed when recovery itself fails, and recovers on a later try', async () => {
      const fileOps = new FaultyFileOps();
      journal = new FileJournal({ dir, fileOps, logger: spyLogger() });
      await journal.open();
      await appendSequentially(journal, 1, 2);
      fileOps.failNext('fdatasync');
      await expectUnavailable(journal.append(stockEntry(3)));
      fileOps.failNext('ftruncate');
      await expectUnavailable(journal.recover());
      expect(journal.health).to.equal('failed');
      await journal.recover();
      expect((await journal.append(stockEntry(4))).seq).to.equal(3);
    });

    it('a failed segment roll leaves no stray segment after recover()', async () => {
      const fileOps = new FaultyFileOps();
      // segmentBytes 1: every batch after a segment's first one rolls to a new segment.
      journal = new FileJournal({ dir, fileOps, segmentBytes: 1, logger: spyLogger() });
      await journal.open();
      const durable = await appendSequentially(journal, 1, 2);
      const filesBefore = await segmentFiles(dir);
      expect(filesBefore).to.have.length(2);
      fileOps.failNext('fsync'); // the directory fsync after creating the new segment
      await expectUnavailable(journal.append(stockEntry(4)));
      await journal.recover();
      expect(await segmentFiles(dir)).to.deep.equal(filesBefore);
      const next = await journal.append(stockEntry(5));
      expect(next.seq).to.equal(durable.length + 1);
      await journal.close();
      journal = new FileJournal({ dir });
      await journal.open();
      expect(await readAll(journal)).to.deep.equal([...durable, next]);
    });
  });

  describe('segments', () => {
    it('rolls to a new segment named by its first seq, and reads across segments from any seq', async () => {
      journal = new FileJournal({ dir, segmentBytes: 600 });
      await journal.open();
      const appended = await appendSequentially(journal, 1, 40);
      const files = await segmentFiles(dir);
      expect(files.length).to.be.greaterThan(5);
      expect(files[0]).to.equal('segment-00000000000000000001.jsonl');
      for (const file of files) expect((await stat(path.join(dir, file))).size).to.be.at.most(600);

      for (const journalUnderTest of ['live', 'reopened']) {
        if (journalUnderTest === 'reopened') {
          await journal.close();
          journal = new FileJournal({ dir, segmentBytes: 600 });
          await journal.open();
          expect(journal.lastSeq).to.equal(40);
        }
        for (const from of [1, 2, 5, 17, 39, 40, 41, 100]) {
          expect(await readAll(journal, from), `read(${from}) ${journalUnderTest}`).to.deep.equal(
            appended.filter((record) => record.seq >= from),
          );
        }
      }
      const more = await appendSequentially(journal, 41, 5);
      expect(more[0]?.seq).to.equal(41);
      expect(await readAll(journal, 38)).to.deep.equal([...appended.slice(37), ...more]);
    });

    it('seeks with the sparse index instead of scanning the segment from its start', async () => {
      const fileOps = new FaultyFileOps();
      journal = new FileJournal({ dir, fileOps });
      await journal.open();
      await Promise.all(Array.from({ length: 5000 }, (_, i) => journal!.append(stockEntry(i + 1))));
      fileOps.readPositions.length = 0;
      const tail = await readAll(journal, 4990);
      expect(tail.map((record) => record.seq)).to.deep.equal(Array.from({ length: 11 }, (_, i) => 4990 + i));
      expect(fileOps.readPositions[0], 'index built while writing').to.be.greaterThan(0);

      // A reopened journal indexes a sealed segment while reading it.
      await journal.close();
      const reopenedOps = new FaultyFileOps();
      journal = new FileJournal({ dir: dir, fileOps: reopenedOps, segmentBytes: 100_000 });
      await journal.open();
      await journal.append(stockEntry(5001)); // the 5,000-record segment is now sealed
      reopenedOps.readPositions.length = 0;
      await readAll(journal, 1);
      reopenedOps.readPositions.length = 0;
      const near = await readAll(journal, 3500);
      expect(near[0]?.seq).to.equal(3500);
      expect(reopenedOps.readPositions[0], 'index built while reading').to.be.greaterThan(0);
    });

    it('a reader started before new appends sees them once durable', async () => {
      journal = new FileJournal({ dir });
      await journal.open();
      await appendSequentially(journal, 1, 3);
      const seen: JournalRecord[] = [];
      for await (const record of journal.read()) {
        seen.push(record);
        if (record.seq === 2) await journal.append(stockEntry(4));
      }
      expect(seen.map((record) => record.seq)).to.deep.equal([1, 2, 3, 4]);
    });

    it('compact() deletes whole old segments, never the active one', async () => {
      journal = new FileJournal({ dir, segmentBytes: 600 });
      await journal.open();
      const appended = await appendSequentially(journal, 1, 40);
      const files = await segmentFiles(dir);
      const firstSeqs = files.map((file) => Number(file.slice(8, 28)));
      const secondStart = firstSeqs[1]!;
      const thirdStart = firstSeqs[2]!;

      expect(await journal.compact(secondStart - 2)).to.deep.equal({ removedSegments: 0 });
      expect(await journal.compact(thirdStart - 1)).to.deep.equal({ removedSegments: 2 });
      expect(await segmentFiles(dir)).to.deep.equal(files.slice(2));
      expect(journal.firstSeq).to.equal(thirdStart);
      expect(await readAll(journal)).to.deep.equal(appended.slice(thirdStart - 1));

      const result = await journal.compact(1_000_000);
      expect(result.removedSegments).to.equal(files.length - 3);
      expect(await segmentFiles(dir)).to.deep.equal([files.at(-1)]);
      expect((await journal.append(stockEntry(41))).seq).to.equal(41);
      await journal.close();
      journal = new FileJournal({ dir });
      await journal.open();
      expect(journal.lastSeq).to.equal(41);
      expect(journal.firstSeq).to.equal(firstSeqs.at(-1));
    });

    it("compact() moves segments to archive/ with retention 'archive'", async () => {
      journal = new FileJournal({ dir, segmentBytes: 600, retention: 'archive' });
      await journal.open();
      await appendSequentially(journal, 1, 20);
      const files = await segmentFiles(dir);
      const { removedSegments } = await journal.compact(Number(files[2]!.slice(8, 28)) - 1);
      expect(removedSegments).to.equal(2);
      expect((await readdir(path.join(dir, 'archive'))).sort()).to.deep.equal(files.slice(0, 2));
      expect(await segmentFiles(dir)).to.deep.equal(files.slice(2));
    });
  });

  describe('lifecycle', () => {
    it('close() lets accepted appends finish, then refuses new ones', async () => {
      journal = new FileJournal({ dir });
      await journal.open();
      const pending = Array.from({ length: 50 }, (_, i) => journal!.append(stockEntry(i + 1)));
      const closing = journal.close();
      await expectUnavailable(journal.append(stockEntry(51)));
      await closing;
      expect((await Promise.all(pending)).at(-1)?.seq).to.equal(50);
      expect(journal.health).to.equal('closed');
      await expectUnavailable(journal.append(stockEntry(52)));
      journal = new FileJournal({ dir });
      await journal.open();
      expect(journal.lastSeq).to.equal(50);
    });

    it('starts empty in a new directory and creates it', async () => {
      journal = new FileJournal({ dir: path.join(dir, 'nested', 'journal') });
      await journal.open();
      expect(journal.lastSeq).to.equal(0);
      expect(await readAll(journal)).to.deep.equal([]);
      expect((await journal.append(stockEntry(1))).seq).to.equal(1);
    });
  });
});
