// Reading ahead and reading in batches change when the journal waits on the disk, never what it reads:
// the lines a read-ahead LineReader hands out equal those of a plain one for any chunk size (lines longer
// than a chunk included), readBatches() yields exactly read()'s records, the lines written by the batch
// encoder are exactly encodeRecord's, and an engine recovered through batches equals one recovered
// record by record.
import { expect } from 'chai';
import fc from 'fast-check';
import { open as openFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Engine } from '../../../engine/engine.js';
import { FileJournal } from '../../../storage/file-journal.js';
import { nodeFileOps } from '../../../storage/file-ops.js';
import type { Journal, JournalRecord } from '../../../storage/journal.js';
import { encodeRecord, encodeRecordBody, maxLineBytes, writeRecordLine } from '../../../storage/record.js';
import { LineReader } from '../../../storage/segment-io.js';
import { makeTempDir, removeTempDir } from '../../support/temp-dir.js';

async function linesOf(
  file: string,
  chunkBytes: number,
  readAhead: boolean,
  limit: number,
): Promise<string[]> {
  const fd = await nodeFileOps.open(file, 'r');
  const reader = new LineReader(nodeFileOps, fd, 0, chunkBytes, readAhead);
  const lines: string[] = [];
  try {
    for (;;) {
      while (reader.nextLine()) lines.push(reader.buf.toString('utf8', reader.lineStart, reader.lineEnd));
      if ((await reader.fill(limit)) === 0) break;
    }
    lines.push(`pending:${reader.pending().toString('utf8')}`);
  } finally {
    await reader.settle();
    await nodeFileOps.close(fd);
  }
  return lines;
}

describe('reading ahead and in batches', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('read-ahead');
  });
  afterEach(async () => removeTempDir(dir));

  it('a read-ahead LineReader hands out the same lines as a plain one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ maxLength: 40, unit: 'grapheme' }), { maxLength: 60 }),
        fc.string({ maxLength: 10 }),
        fc.integer({ min: 1, max: 64 }),
        fc.nat(),
        async (lines, tail, chunkBytes, cut) => {
          const file = path.join(dir, 'lines.txt');
          const content = Buffer.from(
            lines.map((line) => `${line.replaceAll('\n', ' ')}\n`).join('') + tail.replaceAll('\n', ' '),
          );
          await writeFile(file, content);
          const limit = content.length === 0 ? 0 : cut % (content.length + 1);
          const plain = await linesOf(file, chunkBytes, false, limit);
          const ahead = await linesOf(file, chunkBytes, true, limit);
          expect(ahead).to.deep.equal(plain);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the batch encoder writes exactly encodeRecord lines', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
        fc.string({ minLength: 1, unit: 'binary' }),
        fc.nat(),
        fc.array(fc.record({ type: fc.string({ minLength: 1 }), payload: fc.jsonValue({ maxDepth: 2 }) }), {
          maxLength: 4,
        }),
        fc.option(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), { nil: undefined }),
        (seq, stream, version, events, meta) => {
          const record: JournalRecord = {
            seq,
            stream,
            version,
            at: '2026-01-01T00:00:00.000Z',
            events,
            ...(meta === undefined ? {} : { meta }),
          };
          const reference = JSON.stringify(
            meta === undefined
              ? { seq, stream, version, at: record.at, events }
              : { seq, stream, version, at: record.at, events, meta },
          );
          const body = encodeRecordBody(record);
          expect(body).to.equal(reference.slice(0, -1));
          const buf = Buffer.alloc(maxLineBytes(body.length) + 8);
          const written = writeRecordLine(buf, 3, body);
          expect(buf.toString('utf8', 3, 3 + written)).to.equal(encodeRecord(record));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('readBatches yields exactly what read yields, from any seq, across segments', async () => {
    const journal = new FileJournal({ dir: path.join(dir, 'journal'), segmentBytes: 4096 });
    await journal.open();
    const appends: Promise<JournalRecord>[] = [];
    for (let n = 1; n <= 700; n++) {
      const events = [{ type: 'StockReceived', quantity: n, reason: 'receipt', at: `t${n % 3}` }];
      appends.push(journal.append({ stream: `stock/S${n % 13}/L1`, version: n, events }));
      if (n % 50 === 0) await Promise.all(appends);
    }
    await Promise.all(appends);
    for (const from of [1, 2, 333, 699, 700, 701]) {
      const single: JournalRecord[] = [];
      for await (const record of journal.read(from)) single.push(record);
      const batched: JournalRecord[] = [];
      for await (const batch of journal.readBatches(from, 7)) batched.push(...batch);
      expect(batched, `from ${from}`).to.deep.equal(single);
      expect(single.length, `from ${from}`).to.equal(Math.max(0, 701 - from));
    }
    await journal.close();
  });

  it('an engine recovers the same state through batches as record by record', async () => {
    const journalDir = path.join(dir, 'engine-journal');
    const engine = await Engine.start({ journal: new FileJournal({ dir: journalDir }), timers: false });
    await engine.putLocation('L1', { name: 'One', type: 'warehouse' });
    await engine.putLocation('L2', { name: 'Two', type: 'store' });
    await Promise.all(
      Array.from({ length: 40 }, (_, n) =>
        engine.execute(`S${n % 9}`, n % 2 ? 'L1' : 'L2', { type: 'receive', quantity: 5 + n }),
      ),
    );
    const reservations = await Promise.all(
      Array.from({ length: 30 }, (_, n) =>
        engine.reserve({ lines: [{ sku: `S${n % 9}`, quantity: 1, locationId: 'L1' }], ttlSeconds: 600 }),
      ),
    );
    await Promise.all(
      reservations.map(({ reservation }, n) =>
        n % 3 === 0
          ? engine.confirm(reservation.id)
          : n % 3 === 1
            ? engine.cancel(reservation.id)
            : undefined,
      ),
    );
    await engine.stop();

    const stateOf = async (journal: Journal) => {
      const recovered = await Engine.start({ journal, timers: false });
      const state = {
        levels: ['S0', 'S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7', 'S8'].flatMap((sku) =>
          recovered.levelsOf(sku),
        ),
        reservations: reservations.map(({ reservation }) => recovered.reservation(reservation.id)),
        lastSeq: recovered.lastSeq,
      };
      await recovered.stop();
      return state;
    };
    const batched = await stateOf(new FileJournal({ dir: journalDir }));
    // The same journal without readBatches: the engine falls back to read(), one record at a time.
    const plainJournal = new FileJournal({ dir: journalDir });
    const recordByRecord: Journal = {
      open: () => plainJournal.open(),
      append: (entry) => plainJournal.append(entry),
      read: (from) => plainJournal.read(from),
      get lastSeq() {
        return plainJournal.lastSeq;
      },
      get health() {
        return plainJournal.health;
      },
      recover: () => plainJournal.recover(),
      compact: (upTo) => plainJournal.compact(upTo),
      get stats() {
        return plainJournal.stats;
      },
      close: () => plainJournal.close(),
    };
    const single = await stateOf(recordByRecord);
    expect(batched).to.deep.equal(single);
    expect(batched.levels.length).to.be.greaterThan(9);
    expect(batched.reservations.filter((view) => view?.status === 'held')).to.have.length(10);
  });

  it('settle() waits for a read still running before the file is closed', async () => {
    const file = path.join(dir, 'big.txt');
    await writeFile(file, 'x\n'.repeat(50_000));
    const handle = await openFile(file, 'r');
    const reader = new LineReader(nodeFileOps, handle.fd, 0, 4096, true);
    await reader.fill(100_000);
    await reader.settle();
    await handle.close();
  });
});
