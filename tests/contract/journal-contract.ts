// The Journal port's contract (storage/journal.ts), as one suite that every adapter runs: the file journal
// in file-journal.contract.spec.ts, the PostgreSQL journal in pg-journal.contract.spec.ts. It checks only
// what the engine relies on, through the port alone; adapter specifics (fsync counts, segments, fencing,
// SQL) are tested next to each adapter.
import { expect } from 'chai';
import { isInventoryError } from '../../engine/errors.js';
import type { Journal, JournalEntry, JournalRecord } from '../../storage/journal.js';

export interface JournalFixture {
  /** A fresh, open, empty journal on storage of its own. */
  readonly journal: Journal;
  /** Closes the newest instance if it is still open, opens a new one on the same storage and returns it. */
  reopen(): Promise<Journal>;
  /** Closes whatever is open and removes the storage. */
  cleanup(): Promise<void>;
}

export const entry = (n: number, marker = 'contract'): JournalEntry => ({
  stream: `stock/SKU-${n % 11}/STORE-${n % 3}`,
  version: n,
  events: [{ type: 'StockReceived', quantity: n, marker } as { type: string }],
  meta: { idempotencyKey: `key-${n}`, nested: { n, list: [n, 'x', null] } },
});

export async function readAll(journal: Journal, fromSeq?: number): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for await (const record of journal.read(fromSeq)) records.push(record);
  return records;
}

/** Appends `count` entries numbered from `from`, `concurrency` at a time (each group awaited). */
export async function appendInGroups(
  journal: Journal,
  from: number,
  count: number,
  concurrency: number,
): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for (let start = from; start < from + count; start += concurrency) {
    const size = Math.min(concurrency, from + count - start);
    records.push(
      ...(await Promise.all(Array.from({ length: size }, (_, i) => journal.append(entry(start + i))))),
    );
  }
  return records;
}

/** Settles a promise into a tag without letting a rejection go unhandled while the test looks at it. */
export const track = <T>(promise: Promise<T>) => {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
};

export const expectCode = async (promise: Promise<unknown>, code: string): Promise<Error> => {
  try {
    await promise;
  } catch (error) {
    expect(isInventoryError(error) && error.code, String(error)).to.equal(code);
    return error as Error;
  }
  throw new Error(`expected ${code}, but the promise resolved`);
};

const seqsOf = (records: readonly JournalRecord[]): number[] => records.map((record) => record.seq);
const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

export function journalContract(name: string, makeJournal: () => Promise<JournalFixture>): void {
  describe(`Journal contract: ${name}`, () => {
    let fixture: JournalFixture;
    let journal: Journal;

    beforeEach(async () => {
      fixture = await makeJournal();
      journal = fixture.journal;
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it('starts empty: lastSeq 0 and read() yields nothing', async () => {
      expect(journal.health).to.equal('open');
      expect(journal.lastSeq).to.equal(0);
      expect(await readAll(journal)).to.deep.equal([]);
    });

    it('acknowledges 1,000 concurrent appends with gap-free seqs in call order, in fewer batches', async () => {
      const before = journal.stats;
      const appended = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => journal.append(entry(i + 1))),
      );

      expect(seqsOf(appended)).to.deep.equal(range(1, 1000));
      appended.forEach((record, i) => {
        expect(record.version).to.equal(i + 1);
        expect(record.stream).to.equal(entry(i + 1).stream);
      });
      expect(journal.lastSeq).to.equal(1000);
      const stats = journal.stats;
      expect(stats.appends - before.appends).to.equal(1000);
      // Group commit actually happened: many appends share a batch.
      const flushes = stats.flushes - before.flushes;
      expect(flushes).to.be.greaterThan(0).and.lessThan(1000);
      expect(stats.lastBatchSize).to.be.greaterThan(0);
      expect(await readAll(journal)).to.deep.equal(appended);
    });

    it('reads back exactly what it acknowledged: stream, version, events, meta (absent if not given), time', async () => {
      const withMeta = await journal.append(entry(1, 'with-meta'));
      const withoutMeta = await journal.append({
        stream: 'reservation/r-1',
        version: 1,
        events: [
          { type: 'ReservationPlaced', lines: [{ sku: 'A', quantity: 2 }], note: 'é ✓ "q" \\' } as {
            type: string;
          },
        ],
      });

      const [first, second] = await readAll(journal);
      expect(first).to.deep.equal(withMeta);
      expect(first?.meta).to.deep.equal(entry(1).meta);
      expect(second).to.deep.equal(withoutMeta);
      expect(second !== undefined && 'meta' in second, 'meta key on a record appended without meta').to.equal(
        false,
      );
      for (const record of [withMeta, withoutMeta]) {
        expect(new Date(record.at).toISOString()).to.equal(record.at);
      }
    });

    it('reads from any seq: before the start, inside, at the end and past it', async () => {
      const all = await appendInGroups(journal, 1, 250, 50);
      for (const from of [-5, 0, 1, 2, 96, 97, 98, 125, 194, 195, 249, 250, 251, 10_000]) {
        const expected = all.filter((record) => record.seq >= from);
        expect(await readAll(journal, from), `read(${from})`).to.deep.equal(expected);
      }
      expect(await readAll(journal), 'read()').to.deep.equal(all);
    });

    it('lets readers see only a gap-free prefix while appends are in flight', async () => {
      const total = 2000;
      let issued = 0;
      const acknowledged: JournalRecord[] = [];
      const producers = Promise.all(
        Array.from({ length: 64 }, async () => {
          while (issued < total) acknowledged.push(await journal.append(entry(++issued)));
        }),
      );
      let failure: unknown;
      producers.catch((error: unknown) => (failure = error));

      // Poll from the cursor while the producers run: every record must be the cursor's successor.
      const seen: JournalRecord[] = [];
      while (seen.length < total && failure === undefined) {
        for await (const record of journal.read(seen.length + 1)) {
          expect(record.seq, 'a reader skipped a seq').to.equal(seen.length + 1);
          seen.push(record);
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await producers;
      expect(seen.length).to.equal(total);
      acknowledged.sort((a, b) => a.seq - b.seq);
      expect(seen).to.deep.equal(acknowledged);
    });

    it('keeps every acknowledged record across close and reopen, and continues the sequence', async () => {
      const before = await appendInGroups(journal, 1, 120, 40);
      await journal.close();
      expect(journal.health).to.equal('closed');

      journal = await fixture.reopen();
      expect(journal.health).to.equal('open');
      expect(journal.lastSeq).to.equal(120);
      expect(await readAll(journal)).to.deep.equal(before);
      const next = await journal.append(entry(121));
      expect(next.seq).to.equal(121);

      journal = await fixture.reopen();
      expect(await readAll(journal)).to.deep.equal([...before, next]);
    });

    it('rejects an entry it cannot store with a TypeError, without consuming a seq or failing others', async () => {
      const bad: JournalEntry = {
        stream: 'stock/BAD/STORE-1',
        version: 1,
        events: [{ type: 'StockReceived', quantity: 10n } as { type: string }],
      };
      const [good1, rejected, good2] = await Promise.allSettled([
        journal.append(entry(1)),
        journal.append(bad),
        journal.append(entry(2)),
      ]);
      expect(rejected?.status).to.equal('rejected');
      expect(rejected?.status === 'rejected' && rejected.reason).to.be.instanceOf(TypeError);
      expect(good1?.status === 'fulfilled' && good1.value.seq).to.equal(1);
      expect(good2?.status === 'fulfilled' && good2.value.seq).to.equal(2);
      expect(journal.health).to.equal('open');
      expect(seqsOf(await readAll(journal))).to.deep.equal([1, 2]);
    });

    it('close() waits for accepted appends, then refuses new ones with STORAGE_UNAVAILABLE', async () => {
      const pending = Array.from({ length: 200 }, (_, i) => track(journal.append(entry(i + 1))));
      await journal.close();
      expect(pending.every((state) => state.settled && state.error === undefined)).to.equal(true);
      expect(pending.map((state) => state.value?.seq)).to.deep.equal(range(1, 200));
      expect(journal.health).to.equal('closed');
      await expectCode(journal.append(entry(201)), 'STORAGE_UNAVAILABLE');

      journal = await fixture.reopen();
      expect(journal.lastSeq).to.equal(200);
      expect(seqsOf(await readAll(journal))).to.deep.equal(range(1, 200));
    });

    it('compact(upToSeq) drops only old records, keeps lastSeq, and the sequence carries on', async () => {
      const all = await appendInGroups(journal, 1, 300, 10);
      expect((await journal.compact(0)).removedSegments).to.equal(0);
      expect(await readAll(journal)).to.deep.equal(all);

      const { removedSegments } = await journal.compact(150);
      expect(removedSegments).to.be.greaterThan(0);
      expect(journal.lastSeq).to.equal(300);
      expect(await readAll(journal, 151)).to.deep.equal(all.slice(150));
      const remaining = await readAll(journal);
      const firstKept = remaining[0]?.seq ?? 0;
      // Adapters remove whole units (a file segment, a row): never anything past upToSeq, and something.
      expect(firstKept).to.be.greaterThan(1).and.at.most(151);
      expect(remaining).to.deep.equal(all.slice(firstKept - 1));

      const next = await journal.append(entry(301));
      expect(next.seq).to.equal(301);
      journal = await fixture.reopen();
      expect(journal.lastSeq).to.equal(301);
      expect((await readAll(journal))[0]?.seq).to.equal(firstKept);

      // Compacting everything it may still leaves lastSeq where it was, across a restart.
      await journal.compact(journal.lastSeq);
      journal = await fixture.reopen();
      expect(journal.lastSeq).to.equal(301);
      const after = await journal.append(entry(302));
      expect(after.seq).to.equal(302);
      expect(seqsOf(await readAll(journal, 302))).to.deep.equal([302]);
    });
  });
}
