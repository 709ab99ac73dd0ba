// The shared contracts against the embedded (zero-setup) adapters: the file journal and the lowdb
// snapshot store, each on a temporary directory of its own.
import { FileJournal } from '../../storage/file-journal.js';
import type { Journal } from '../../storage/journal.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';
import { spyLogger } from '../support/journal-helpers.js';
import { makeTempDir, removeTempDir } from '../support/temp-dir.js';
import { journalContract } from './journal-contract.js';
import { snapshotContract } from './snapshot-contract.js';

// Small segments, so that compaction has whole sealed segments to remove.
const SEGMENT_BYTES = 4096;

journalContract('FileJournal', async () => {
  const dir = await makeTempDir('contract-journal');
  const make = () => new FileJournal({ dir, segmentBytes: SEGMENT_BYTES, logger: spyLogger() });
  let current: Journal = make();
  await current.open();
  return {
    journal: current,
    async reopen() {
      await current.close();
      current = make();
      await current.open();
      return current;
    },
    async cleanup() {
      await current.close();
      await removeTempDir(dir);
    },
  };
});

snapshotContract('LowdbSnapshotStore', async () => {
  const dir = await makeTempDir('contract-snapshots');
  const make = () => new LowdbSnapshotStore({ dir, logger: spyLogger() });
  return {
    store: make(),
    reopen: () => Promise.resolve(make()),
    cleanup: () => removeTempDir(dir),
  };
});
