// Small helpers shared by the journal specs: entries with recognisable payloads, a spying logger, and
// collecting what a journal reads back.
import sinon from 'sinon';
import type { StorageLogger } from '../../storage/file-journal.js';
import type { Journal, JournalEntry, JournalRecord } from '../../storage/journal.js';

export const stockEntry = (n: number, marker = 'ok'): JournalEntry => ({
  stream: `stock/SKU-${n % 7}/STORE-1`,
  version: n,
  events: [{ type: 'StockReceived', quantity: n, marker } as { type: string }],
  meta: { idempotencyKey: `key-${n}` },
});

export const spyLogger = (): StorageLogger & {
  info: sinon.SinonSpy;
  warn: sinon.SinonSpy;
  error: sinon.SinonSpy;
} => ({ info: sinon.spy(), warn: sinon.spy(), error: sinon.spy() });

export async function readAll(journal: Journal, fromSeq?: number): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for await (const record of journal.read(fromSeq)) records.push(record);
  return records;
}

/** Appends one at a time, each awaited: one record per batch, so segment sizes are predictable. */
export async function appendSequentially(
  journal: Journal,
  from: number,
  count: number,
): Promise<JournalRecord[]> {
  const records: JournalRecord[] = [];
  for (let n = from; n < from + count; n++) records.push(await journal.append(stockEntry(n)));
  return records;
}
