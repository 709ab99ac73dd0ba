// Latency and status bookkeeping for the load test. Latencies are kept exactly (one float per
// response, in ms) rather than in autocannon's integer-millisecond histogram, because most answers
// here take well under a millisecond and the percentiles must still say something.

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export const emptyLatency: LatencySummary = { count: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, maxMs: 0 };

const round = (value: number, digits = 2): number => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** A growable array of doubles (latencies), cheaper than a JS array of boxed numbers. */
export class Samples {
  private data = new Float64Array(1024);
  private size = 0;

  get length(): number {
    return this.size;
  }

  add(value: number): void {
    if (this.size === this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.size++] = value;
  }

  summary(): LatencySummary {
    if (this.size === 0) return emptyLatency;
    const sorted = this.data.slice(0, this.size).sort();
    let sum = 0;
    for (const value of sorted) sum += value;
    return {
      count: this.size,
      meanMs: round(sum / this.size),
      p50Ms: round(percentile(sorted, 50)),
      p90Ms: round(percentile(sorted, 90)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted[sorted.length - 1] ?? 0),
    };
  }
}

export interface KindSummary {
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly latency: LatencySummary;
  /** Responses by HTTP status. */
  readonly statuses: Record<string, number>;
  /** Latency of each status, for the statuses that matter (201 vs 409 in a flash sale). */
  readonly latencyByStatus: Record<string, LatencySummary>;
}

/** Responses of one phase, by request kind (reserve, confirm, single read...) and status. */
export class Recorder {
  private readonly all = new Samples();
  private readonly kinds = new Map<string, { samples: Samples; byStatus: Map<number, Samples> }>();
  private readonly statuses = new Map<number, number>();
  /** Responses since the last progress tick. */
  tickCount = 0;

  record(kind: string, status: number, latencyMs: number): void {
    this.all.add(latencyMs);
    this.tickCount++;
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    let entry = this.kinds.get(kind);
    if (!entry) {
      entry = { samples: new Samples(), byStatus: new Map() };
      this.kinds.set(kind, entry);
    }
    entry.samples.add(latencyMs);
    let byStatus = entry.byStatus.get(status);
    if (!byStatus) {
      byStatus = new Samples();
      entry.byStatus.set(status, byStatus);
    }
    byStatus.add(latencyMs);
  }

  get count(): number {
    return this.all.length;
  }

  statusCounts(): Record<string, number> {
    return Object.fromEntries(
      [...this.statuses].sort(([a], [b]) => a - b).map(([status, n]) => [String(status), n]),
    );
  }

  latency(): LatencySummary {
    return this.all.summary();
  }

  byKind(seconds: number): Record<string, KindSummary> {
    const out: Record<string, KindSummary> = {};
    for (const [kind, entry] of [...this.kinds].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const statuses: Record<string, number> = {};
      const latencyByStatus: Record<string, LatencySummary> = {};
      for (const [status, samples] of [...entry.byStatus].sort(([a], [b]) => a - b)) {
        statuses[String(status)] = samples.length;
        latencyByStatus[String(status)] = samples.summary();
      }
      out[kind] = {
        requests: entry.samples.length,
        requestsPerSecond: seconds > 0 ? Math.round(entry.samples.length / seconds) : 0,
        latency: entry.samples.summary(),
        statuses,
        latencyByStatus,
      };
    }
    return out;
  }
}

/** Counts of non-2xx answers, keyed by status, leaving out the statuses a scenario expects. */
export function unexpectedStatuses(
  statuses: Readonly<Record<string, number>>,
  expected: readonly number[] = [],
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(statuses).filter(([status]) => {
      const code = Number(status);
      return !(code >= 200 && code < 300) && !expected.includes(code);
    }),
  );
}

export const formatInt = (value: number): string => Math.round(value).toLocaleString('en-US');
export const formatMs = (value: number): string => (value < 10 ? value.toFixed(2) : value.toFixed(1));
export const ratio = (numerator: number, denominator: number): number | null =>
  denominator > 0 ? round(numerator / denominator, 3) : null;
