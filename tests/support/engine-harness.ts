// Starts the real engine on a real file journal (and snapshot store) in a temporary directory.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineOptions } from '../../engine/engine.js';
import { Engine } from '../../engine/engine.js';
import type { FileOps } from '../../storage/file-ops.js';
import { FileJournal } from '../../storage/file-journal.js';
import { LowdbSnapshotStore } from '../../storage/lowdb-snapshots.js';

export interface Harness {
  readonly dir: string;
  engine: Engine;
  /** Stops the engine (flush, snapshot) and starts a new one on the same directory. */
  restart(options?: Partial<EngineOptions>): Promise<Engine>;
  /** Starts a new engine on the same directory without stopping the old one (as after a crash). */
  crashRestart(options?: Partial<EngineOptions>): Promise<Engine>;
  cleanup(): Promise<void>;
}

const ignore = () => undefined;
const quiet = { info: ignore, warn: ignore, error: ignore };

export const journalDir = (dir: string) => join(dir, 'journal');
export const snapshotDir = (dir: string) => join(dir, 'snapshots');

export async function startEngine(
  options: Partial<EngineOptions> & { fileOps?: FileOps; withSnapshots?: boolean } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'engine-'));
  const open = (extra: Partial<EngineOptions> = {}) => {
    const { fileOps, withSnapshots, ...engineOptions } = options;
    return Engine.start({
      journal: new FileJournal({ dir: journalDir(dir), logger: quiet, ...(fileOps ? { fileOps } : {}) }),
      ...(withSnapshots === false ? {} : { snapshots: new LowdbSnapshotStore({ dir: snapshotDir(dir) }) }),
      timers: false,
      ...engineOptions,
      ...extra,
    });
  };
  const harness: Harness = {
    dir,
    engine: await open(),
    async restart(extra) {
      await harness.engine.stop();
      harness.engine = await open(extra);
      return harness.engine;
    },
    async crashRestart(extra) {
      harness.engine = await open(extra);
      return harness.engine;
    },
    async cleanup() {
      await harness.engine.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Awaits a promise expected to reject with an InventoryError and returns its code. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
  return 'RESOLVED';
}
