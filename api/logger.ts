// JSON logs with winston. Lines about a request (its access line, an unexpected error) carry its
// request id, passed by the code that writes them; API keys are never passed to the logger.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { LogLevel } from './config.js';

const MESSAGE = Symbol.for('message');
const safeJson = winston.format.json();

/**
 * winston's JSON line, written with the native JSON.stringify: winston's own `json` format (which
 * uses safe-stable-stringify) cost about 8 µs of the 15 µs an access line takes. A line that the
 * native call cannot write (a cycle, a BigInt) falls back to winston's format.
 */
const fastJson = winston.format((info) => {
  try {
    (info as Record<symbol, unknown>)[MESSAGE] = JSON.stringify(info);
    return info;
  } catch {
    return safeJson.transform(info, safeJson.options);
  }
});

/**
 * Lines written in one turn of the event loop leave in one write: at info level every request writes
 * an access line, and a synchronous write(2) per line (stdout to a file or a pipe) cost about 14 µs
 * of a reservation's 305 (docs/benchmarks.md). Lines still leave within the turn they were logged
 * in (setImmediate), and whatever is pending is written before the process exits.
 */
export class TurnBatchedStream extends Writable {
  #pending: Buffer[] = [];
  #scheduled = false;

  constructor(private readonly target: NodeJS.WritableStream) {
    super({ decodeStrings: true });
    process.once('exit', () => this.flush());
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#pending.push(chunk);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.flush());
    }
    callback();
  }

  /** Writes whatever is pending now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const lines = this.#pending.length === 1 ? this.#pending[0] : Buffer.concat(this.#pending);
    this.#pending = [];
    this.target.write(lines as Buffer);
  }
}

let stdout: TurnBatchedStream | undefined;
/** One batched stream over stdout for every logger of the process. */
const stdoutLines = (): TurnBatchedStream => (stdout ??= new TurnBatchedStream(process.stdout));

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Where lines go; defaults to stdout. Tests pass a stream to read them back. */
  readonly stream?: NodeJS.WritableStream;
  readonly silent?: boolean;
}

export function createLogger(options: LoggerOptions): winston.Logger {
  return winston.createLogger({
    level: options.level,
    silent: options.silent ?? false,
    format: winston.format.combine(winston.format.timestamp(), fastJson()),
    transports: [
      options.stream
        ? new winston.transports.Stream({ stream: options.stream })
        : new winston.transports.Stream({ stream: stdoutLines() }),
    ],
  });
}
