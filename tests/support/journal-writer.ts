// Child process for the SIGKILL crash test: appends to a file journal from 64 concurrent producers and
// prints one line per acknowledged append, `<seq> <payload JSON>`, only after the append resolved.
// Usage: node --import tsx tests/support/journal-writer.ts <dir> [segmentBytes]
import { FileJournal } from '../../storage/file-journal.js';

const [dir, segmentBytesArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: journal-writer.ts <dir> [segmentBytes]');
  process.exit(2);
}
const PRODUCERS = 64;

const journal = new FileJournal({
  dir,
  segmentBytes: segmentBytesArg ? Number(segmentBytesArg) : undefined,
  logger: {
    info: () => undefined,
    warn: (message, meta) => console.error(message, meta),
    error: console.error,
  },
});
await journal.open();

async function produce(producer: number): Promise<void> {
  // Runs until the parent kills the process.
  for (let n = 1; ; n++) {
    const payload = { type: 'StockReceived', producer, n, quantity: (producer * 31 + n) % 97 };
    const record = await journal.append({
      stream: `stock/SKU-${producer}/STORE-1`,
      version: n,
      events: [payload],
    });
    process.stdout.write(`${record.seq} ${JSON.stringify(payload)}\n`);
  }
}

await Promise.all(Array.from({ length: PRODUCERS }, (_, producer) => produce(producer)));
