// Progress lines on stderr during long scans: at most one per interval, with the records read and
// the rate, so an operator replaying millions of records sees it move without flooding the terminal.
import { performance } from 'node:perf_hooks';

export interface ProgressOptions {
  readonly write: (line: string) => void;
  /** Shown first on each line: the command, such as `rebuild`. */
  readonly label: string;
  readonly intervalMs: number;
  readonly enabled: boolean;
  readonly now?: (() => number) | undefined;
}

export const formatCount = (value: number): string => Math.round(value).toLocaleString('en-US');

export const ratePerSecond = (count: number, elapsedMs: number): number =>
  elapsedMs > 0 ? (count * 1000) / elapsedMs : count;

export class Progress {
  readonly #write: (line: string) => void;
  readonly #label: string;
  readonly #intervalMs: number;
  readonly #enabled: boolean;
  readonly #now: () => number;
  readonly #started: number;
  #last: number;

  constructor(options: ProgressOptions) {
    this.#write = options.write;
    this.#label = options.label;
    this.#intervalMs = options.intervalMs;
    this.#enabled = options.enabled;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#last = this.#started;
  }

  /** Milliseconds since the scan started. */
  get elapsedMs(): number {
    return this.#now() - this.#started;
  }

  /** Called for every record (cheap: one clock read); prints when the interval has passed. */
  tick(records: number, detail?: string): void {
    if (!this.#enabled) return;
    const now = this.#now();
    if (now - this.#last < this.#intervalMs) return;
    this.#last = now;
    const rate = ratePerSecond(records, now - this.#started);
    this.#write(
      `${this.#label}: ${formatCount(records)} records read, ${formatCount(rate)} records/s${detail ? ` (${detail})` : ''}\n`,
    );
  }
}
