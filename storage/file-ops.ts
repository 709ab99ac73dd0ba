// The file-system calls the storage layer makes, behind one object, so tests can inject EIO or ENOSPC on
// command (see tests/support/faulty-file-ops.ts). fd-based callback APIs are used rather than FileHandle:
// they are cheaper per call on the journal's hot path.
import fs from 'node:fs';

export interface FileOps {
  open(path: string, flags: string): Promise<number>;
  /** Writes buffer[offset, offset + length) at the file position; may write fewer bytes (see writeFully). */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  read(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  ftruncate(fd: number, length: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  mkdir(dir: string): Promise<void>;
  stat(path: string): Promise<{ readonly size: number }>;
}

const settle =
  (resolve: () => void, reject: (error: Error) => void) =>
  (error: NodeJS.ErrnoException | null): void => {
    if (error) reject(error);
    else resolve();
  };

export const nodeFileOps: FileOps = {
  open: (path, flags) =>
    new Promise((resolve, reject) =>
      fs.open(path, flags, 0o644, (error, fd) => (error ? reject(error) : resolve(fd))),
    ),
  write: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) =>
      fs.write(fd, buffer, offset, length, position, (error, written) =>
        error ? reject(error) : resolve(written),
      ),
    ),
  read: (fd, buffer, offset, length, position) =>
    new Promise((resolve, reject) =>
      fs.read(fd, buffer, offset, length, position, (error, bytesRead) =>
        error ? reject(error) : resolve(bytesRead),
      ),
    ),
  fdatasync: (fd) => new Promise((resolve, reject) => fs.fdatasync(fd, settle(resolve, reject))),
  fsync: (fd) => new Promise((resolve, reject) => fs.fsync(fd, settle(resolve, reject))),
  ftruncate: (fd, length) =>
    new Promise((resolve, reject) => fs.ftruncate(fd, length, settle(resolve, reject))),
  close: (fd) => new Promise((resolve, reject) => fs.close(fd, settle(resolve, reject))),
  rename: (from, to) => fs.promises.rename(from, to),
  unlink: (path) => fs.promises.unlink(path),
  readdir: (dir) => fs.promises.readdir(dir),
  mkdir: async (dir) => {
    await fs.promises.mkdir(dir, { recursive: true });
  },
  stat: (path) => fs.promises.stat(path),
};

/** Writes the whole range, looping over short writes (rare on regular files, but allowed by POSIX). */
export async function writeFully(
  ops: FileOps,
  fd: number,
  buffer: Uint8Array,
  position: number,
  length = buffer.length,
): Promise<void> {
  let done = 0;
  while (done < length) {
    const written = await ops.write(fd, buffer, done, length - done, position + done);
    if (written <= 0) throw new Error(`write made no progress at byte ${position + done}`);
    done += written;
  }
}

/** fsyncs a directory so a created, renamed or removed entry in it survives a power loss. */
export async function fsyncDir(ops: FileOps, dir: string): Promise<void> {
  const fd = await ops.open(dir, 'r');
  try {
    await ops.fsync(fd);
  } finally {
    await ops.close(fd);
  }
}

export const isErrno = (error: unknown, code: string): boolean =>
  error instanceof Error && (error as NodeJS.ErrnoException).code === code;
