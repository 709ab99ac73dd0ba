// Real file operations with faults on command: a test makes the next fdatasync fail with EIO, or holds a
// call until it chooses to release it (to queue appends behind a flush in flight), and counts every call.
import { nodeFileOps, type FileOps } from '../../storage/file-ops.js';

type OpName = keyof FileOps;
export type FaultCode = 'EIO' | 'ENOSPC';

const errnoError = (op: OpName, code: FaultCode): NodeJS.ErrnoException => {
  const error: NodeJS.ErrnoException = new Error(`${code}: injected fault in ${op}`);
  error.code = code;
  return error;
};

interface Hold {
  readonly reached: Promise<void>;
  /** Lets the held call proceed, or fail with the given code. */
  release(fault?: FaultCode): void;
}

export class FaultyFileOps implements FileOps {
  readonly calls: Record<OpName, number> = {
    open: 0,
    write: 0,
    read: 0,
    fdatasync: 0,
    fsync: 0,
    ftruncate: 0,
    close: 0,
    rename: 0,
    unlink: 0,
    readdir: 0,
    mkdir: 0,
    stat: 0,
  };
  /** File positions of every read(), to see where a reader started. */
  readonly readPositions: number[] = [];
  readonly #faults = new Map<OpName, { code: FaultCode; remaining: number }>();
  readonly #holds = new Map<OpName, { reached: () => void; gate: Promise<FaultCode | undefined> }>();

  /** The next `times` calls of `op` fail with `code` (Infinity: until heal()). */
  failNext(op: OpName, code: FaultCode = 'EIO', times = 1): void {
    this.#faults.set(op, { code, remaining: times });
  }

  heal(): void {
    this.#faults.clear();
  }

  /** The next call of `op` waits until release(). */
  holdNext(op: OpName): Hold {
    let reached!: () => void;
    let release!: (fault?: FaultCode) => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const gate = new Promise<FaultCode | undefined>((resolve) => (release = resolve));
    this.#holds.set(op, { reached, gate });
    return { reached: reachedPromise, release };
  }

  async #enter(op: OpName): Promise<void> {
    this.calls[op]++;
    const hold = this.#holds.get(op);
    if (hold) {
      this.#holds.delete(op);
      hold.reached();
      const fault = await hold.gate;
      if (fault) throw errnoError(op, fault);
    }
    const fault = this.#faults.get(op);
    if (fault && fault.remaining > 0) {
      fault.remaining--;
      throw errnoError(op, fault.code);
    }
  }

  open: FileOps['open'] = async (...args) => (await this.#enter('open'), nodeFileOps.open(...args));
  write: FileOps['write'] = async (...args) => (await this.#enter('write'), nodeFileOps.write(...args));
  read: FileOps['read'] = async (...args) => {
    await this.#enter('read');
    this.readPositions.push(args[4]);
    return nodeFileOps.read(...args);
  };
  fdatasync: FileOps['fdatasync'] = async (...args) => (
    await this.#enter('fdatasync'),
    nodeFileOps.fdatasync(...args)
  );
  fsync: FileOps['fsync'] = async (...args) => (await this.#enter('fsync'), nodeFileOps.fsync(...args));
  ftruncate: FileOps['ftruncate'] = async (...args) => (
    await this.#enter('ftruncate'),
    nodeFileOps.ftruncate(...args)
  );
  close: FileOps['close'] = async (...args) => (await this.#enter('close'), nodeFileOps.close(...args));
  rename: FileOps['rename'] = async (...args) => (await this.#enter('rename'), nodeFileOps.rename(...args));
  unlink: FileOps['unlink'] = async (...args) => (await this.#enter('unlink'), nodeFileOps.unlink(...args));
  readdir: FileOps['readdir'] = async (...args) => (
    await this.#enter('readdir'),
    nodeFileOps.readdir(...args)
  );
  mkdir: FileOps['mkdir'] = async (...args) => (await this.#enter('mkdir'), nodeFileOps.mkdir(...args));
  stat: FileOps['stat'] = async (...args) => (await this.#enter('stat'), nodeFileOps.stat(...args));
}
