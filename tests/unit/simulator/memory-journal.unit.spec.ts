// The in-memory journal the simulator can run the engine on must keep the Journal contract the file
// journal keeps (storage/journal.ts): gap-free sequence numbers, acknowledgement only once a record is
// "durable" (group commit), reads of durable records only, refusal when not open, compaction of whole
// sealed segments. The simulation test that runs the engine on both journals checks the rest.
import { expect } from 'chai';
import { InventoryError } from '../../../engine/errors.js';
import type { JournalRecord } from '../../../storage/journal.js';
import { MemoryJournal } from '../../../scripts/simulator/memory-journal.js';

const entry = (stream: string, version: number) => ({
  stream,
  version,
  events: [{ type: 'StockReceived', quantity: version }],
});

async function readAll(journal: MemoryJournal, from?: number): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for await (const record of journal.read(from)) records.push(record);
  return records;
}

describe('simulator: in-memory journal', () => {
  it("numbers records gap-free and acknowledges a turn's appends together", async () => {
    const journal = new MemoryJournal({ now: () => Date.parse('2026-03-02T08:00:00.000Z') });
    await journal.open();
    const appends = [1, 2, 3].map((version) => journal.append(entry('stock/A/S1', version)));
    expect(journal.lastSeq).to.equal(0); // not durable until the flush
    expect(journal.pending).to.equal(3);
    const records = await Promise.all(appends);
    expect(records.map((record) => record.seq)).to.deep.equal([1, 2, 3]);
    expect(records[0]!.at).to.equal('2026-03-02T08:00:00.000Z');
    expect(journal.lastSeq).to.equal(3);
    expect(journal.pending).to.equal(0);
    expect(journal.stats).to.include({ appends: 3, flushes: 1, lastBatchSize: 3 });
  });

  it('reads durable records from a sequence number, as fresh copies', async () => {
    const journal = new MemoryJournal();
    await journal.open();
    for (let version = 1; version <= 5; version++) await journal.append(entry('stock/A/S1', version));
    const pendingAppend = journal.append(entry('stock/A/S1', 6));
    expect((await readAll(journal, 3)).map((record) => record.seq)).to.deep.equal([3, 4, 5]);
    await pendingAppend;
    const [first] = await readAll(journal);
    (first!.events as unknown as { quantity: number }[])[0]!.quantity = 999;
    const [again] = await readAll(journal);
    expect((again!.events as unknown as { quantity: number }[])[0]!.quantity).to.equal(1);
  });

  it('rejects a value JSON cannot carry without using a sequence number', async () => {
    const journal = new MemoryJournal();
    await journal.open();
    const bad = { stream: 'stock/A/S1', version: 1, events: [{ type: 'X', n: 1n }] };
    let error: unknown;
    try {
      await journal.append(bad as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(TypeError);
    expect((await journal.append(entry('stock/A/S1', 1))).seq).to.equal(1);
  });

  it('refuses appends when closed, with STORAGE_UNAVAILABLE', async () => {
    const journal = new MemoryJournal();
    let error: unknown;
    try {
      await journal.append(entry('stock/A/S1', 1));
    } catch (caught) {
      error = caught;
    }
    expect(error).to.be.instanceOf(InventoryError);
    expect((error as InventoryError).code).to.equal('STORAGE_UNAVAILABLE');
  });

  it('flushes what was accepted before close(), and keeps records across a reopen', async () => {
    const journal = new MemoryJournal();
    await journal.open();
    const append = journal.append(entry('stock/A/S1', 1));
    await journal.close();
    expect((await append).seq).to.equal(1);
    expect(journal.health).to.equal('closed');
    await journal.open();
    expect((await readAll(journal)).length).to.equal(1);
    expect((await journal.append(entry('stock/A/S1', 2))).seq).to.equal(2);
  });

  it('compacts whole sealed segments only', async () => {
    const journal = new MemoryJournal({ segmentRecords: 4 });
    await journal.open();
    for (let version = 1; version <= 10; version++) await journal.append(entry('stock/A/S1', version));
    expect(await journal.compact(6)).to.deep.equal({ removedSegments: 1 }); // 1-4 go; 5-8 hold 7 and 8
    expect((await readAll(journal)).map((record) => record.seq)).to.deep.equal([5, 6, 7, 8, 9, 10]);
    expect(await journal.compact(100)).to.deep.equal({ removedSegments: 1 }); // the active segment stays
    expect((await readAll(journal)).map((record) => record.seq)).to.deep.equal([9, 10]);
    expect(journal.lastSeq).to.equal(10);
  });
});
