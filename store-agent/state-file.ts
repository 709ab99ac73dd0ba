// A small JSON state file written atomically and durably: write a temporary file, fsync it, rename it
// over the old one, fsync the folder. A crash leaves either the old or the new content, never a mix.
// Writes are coalesced: while one is in flight, later values replace each other and only the newest
// is written next, so a fast producer costs at most one write in flight and one queued.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, nodeFileOps, writeFully } from '../storage/file-ops.js';

export class StateFile<T> {
  #pending: T | undefined;
  #hasPending = false;
  #writing: Promise<void> | undefined;
  #lastError: Error | undefined;

  constructor(
    readonly file: string,
    private readonly onError: (error: Error) => void = () => undefined,
  ) {}

  /** The stored value, or undefined when the file does not exist yet. */
  async load(): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.file, 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(`cannot read ${this.file}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Schedules `value` to be written; resolves once it (or a newer value) is durable. */
  save(value: T): Promise<void> {
    this.#pending = value;
    this.#hasPending = true;
    this.#writing ??= this.#drain().finally(() => {
      this.#writing = undefined;
    });
    return this.#writing;
  }

  /** Resolves when nothing is waiting to be written. */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  async #drain(): Promise<void> {
    while (this.#hasPending) {
      const value = this.#pending;
      this.#hasPending = false;
      try {
        await this.#write(value as T);
        this.#lastError = undefined;
      } catch (error) {
        this.#lastError = error as Error;
        this.onError(error as Error);
      }
    }
  }

  async #write(value: T): Promise<void> {
    const ops = nodeFileOps;
    const dir = path.dirname(this.file);
    const temp = `${this.file}.tmp`;
    const fd = await ops.open(temp, 'w');
    try {
      await writeFully(ops, fd, Buffer.from(`${JSON.stringify(value)}\n`, 'utf8'), 0);
      await ops.fsync(fd);
    } finally {
      await ops.close(fd);
    }
    await ops.rename(temp, this.file);
    await fsyncDir(ops, dir);
  }
}
