// A real engine process under write load, for crash tests: 64 concurrent clients receive stock and
// reserve it, and print each acknowledgement ("ack receive <ref>" / "ack reserve <id> <sku> <qty>")
// only after the engine answered. The parent kills it with SIGKILL at a moment of its choosing.
import { join } from 'node:path';
import { Engine } from '../../engine/engine.js';
import { FileJournal } from '../../storage/file-journal.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';

const dir = process.argv[2];
const run = process.argv[3] ?? '0';
if (!dir) throw new Error('usage: engine-worker.ts <dir> <run>');

const engine = await Engine.start({
  journal: new FileJournal({ dir: join(dir, 'journal') }),
  snapshots: new LowdbSnapshotStore({ dir: join(dir, 'snapshots') }),
  snapshotEveryRecords: 700,
  timers: false,
});
await engine.putLocation('L1', { name: 'Crash store', type: 'store' });
process.stdout.write('ready\n');

const skus = Array.from({ length: 8 }, (_, i) => `SKU-${i}`);
let lines: string[] = [];
const flush = () => {
  if (lines.length > 0) process.stdout.write(lines.join(''));
  lines = [];
};
setInterval(flush, 2).unref();

async function client(id: number): Promise<void> {
  for (let n = 0; ; n++) {
    const sku = skus[(id + n) % skus.length] as string;
    if (n % 3 === 2) {
      try {
        const { reservation } = await engine.reserve({
          lines: [{ sku, quantity: 1, locationId: 'L1' }],
          ttlSeconds: 86_400,
        });
        lines.push(`ack reserve ${reservation.id} ${sku} 1\n`);
      } catch (error) {
        if ((error as { code?: string }).code !== 'STOCK_INSUFFICIENT') throw error;
      }
    } else {
      const reference = `r${run}-c${id}-n${n}`;
      await engine.execute(sku, 'L1', { type: 'receive', quantity: 1, reference });
      lines.push(`ack receive ${reference} ${sku}\n`);
    }
  }
}
await Promise.all(Array.from({ length: 64 }, (_, id) => client(id)));
