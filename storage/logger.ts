// The logger the storage layer writes to: winston-compatible (a winston Logger satisfies it).
export interface StorageLogger {
  info(message: string, meta?: object): void;
  warn(message: string, meta?: object): void;
  error(message: string, meta?: object): void;
}

/** Quiet on info, loud on trouble: a torn tail cut or a failed fsync must never go unseen. */
export const defaultStorageLogger: StorageLogger = {
  info: () => undefined,
  warn: (message, meta) => console.warn(message, meta ?? ''),
  error: (message, meta) => console.error(message, meta ?? ''),
};
