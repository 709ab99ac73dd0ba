// The logging port: winston's logger satisfies it; tests pass the silent one.
export interface Logger {
  info(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  error(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
}

const ignore = (): void => {};
export const silentLogger: Logger = { info: ignore, warn: ignore, error: ignore, debug: ignore };
