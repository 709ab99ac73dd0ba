// What a model run reports, and the recorder both models fill in as they go, so every figure is counted
// by the same code whichever model produced it.
import type { UnitLedger } from './chain-state.js';
import { HOUR_MS } from './scenario.js';

export type ModelName = 'legacy' | 'event-driven';
export type OversellCause = 'staleView' | 'shrinkage';

export interface OnlineOutcome {
  /** Online customers who asked for a SKU. */
  readonly requested: number;
  /** Orders the storefront took (legacy: placed; event-driven: reserved). */
  readonly accepted: number;
  /** Customers the storefront turned away. */
  readonly refused: number;
  /** Orders picked in full. */
  readonly fulfilled: number;
  /** Paid orders the store could not fill: the units were gone when it picked. */
  readonly oversells: number;
  /** Refused customers while some store really had the units (not promised to anyone else). */
  readonly lostSales: number;
  readonly lostUnits: number;
  /** Accepted orders cancelled for lack of stock: oversells plus holds lost before payment. */
  readonly cancelledOrders: number;
  /** Event-driven only: holds a till sale took before payment that no other store could take over. */
  readonly cancelledBeforePayment: number;
  /** Event-driven only: holds moved to another store after a till sale took their units. */
  readonly resourced: number;
  readonly oversellCauses: Readonly<Record<OversellCause, number>>;
}

export interface StalenessSummary {
  /** One sample per stock level read per online decision. */
  readonly samples: number;
  /** Reads whose level lacked at least one change the store had recorded. */
  readonly behind: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface TrafficSummary {
  readonly messages: number;
  readonly bytes: number;
  readonly byKind: Readonly<Record<string, { readonly messages: number; readonly bytes: number }>>;
}

export interface HourBucket {
  readonly hour: number;
  readonly requested: number;
  readonly accepted: number;
  readonly oversells: number;
  readonly lostSales: number;
}

export interface TracePoint {
  /** Minutes since the start of the run. */
  readonly minute: number;
  /** Units of the flash-sale SKU customers could really have across the chain. */
  readonly truth: number;
  /** Units of it the storefront's view offered. */
  readonly view: number;
}

export interface ModelReport {
  readonly model: ModelName;
  readonly label: string;
  readonly syncMinutes: number | null;
  readonly propagationMs: number | null;
  readonly online: OnlineOutcome;
  readonly inStore: {
    readonly customers: number;
    readonly unitsSold: number;
    readonly unmetUnits: number;
  };
  readonly staleness: StalenessSummary;
  readonly traffic: TrafficSummary;
  readonly units: UnitLedger;
  readonly hourly: readonly HourBucket[];
  readonly flashTrace: readonly TracePoint[];
  /** Event-driven only: what the real engine did. */
  readonly engine?: {
    readonly journal: 'memory' | 'file';
    readonly journalRecords: number;
    readonly heartbeats: number;
    readonly expiredHolds: number;
  };
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)] ?? 0);

/** Collects samples in a growable typed array (tens of thousands per run). */
class Samples {
  private values = new Float64Array(1024);
  private length = 0;
  private sum = 0;
  private behind = 0;

  add(value: number): void {
    if (value > 0) this.behind++;
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
    this.sum += value;
  }

  summary(): StalenessSummary {
    const sorted = this.values.slice(0, this.length).sort();
    const round = (value: number) => Math.round(value * 1000) / 1000;
    return {
      samples: this.length,
      behind: this.behind,
      meanMs: round(this.length === 0 ? 0 : this.sum / this.length),
      p50Ms: round(percentile(sorted, 50)),
      p99Ms: round(percentile(sorted, 99)),
      maxMs: round(sorted[sorted.length - 1] ?? 0),
    };
  }
}

const byteLength = (body: unknown) => Buffer.byteLength(JSON.stringify(body), 'utf8');

export class ModelRecorder {
  requested = 0;
  accepted = 0;
  refused = 0;
  fulfilled = 0;
  oversells = 0;
  lostSales = 0;
  lostUnits = 0;
  cancelledOrders = 0;
  cancelledBeforePayment = 0;
  resourced = 0;
  private readonly causes: Record<OversellCause, number> = { staleView: 0, shrinkage: 0 };
  private readonly staleness = new Samples();
  private messages = 0;
  private bytes = 0;
  private readonly kinds = new Map<string, { messages: number; bytes: number }>();
  private readonly hours: { requested: number; accepted: number; oversells: number; lostSales: number }[];
  readonly trace: TracePoint[] = [];

  constructor(
    private readonly startMs: number,
    endMs: number,
  ) {
    this.hours = Array.from({ length: Math.ceil((endMs - startMs) / HOUR_MS) }, () => ({
      requested: 0,
      accepted: 0,
      oversells: 0,
      lostSales: 0,
    }));
  }

  private hour(at: number) {
    const index = Math.min(this.hours.length - 1, Math.max(0, Math.floor((at - this.startMs) / HOUR_MS)));
    const bucket = this.hours[index];
    if (!bucket) throw new RangeError(`no hour bucket for ${at}`);
    return bucket;
  }

  /** A message between a store and the centre, sized as its JSON body (headers not counted). */
  message(kind: string, body: unknown): void {
    const size = byteLength(body);
    this.messages++;
    this.bytes += size;
    const entry = this.kinds.get(kind) ?? { messages: 0, bytes: 0 };
    entry.messages++;
    entry.bytes += size;
    this.kinds.set(kind, entry);
  }

  viewAge(ageMs: number): void {
    this.staleness.add(ageMs);
  }

  request(at: number): void {
    this.requested++;
    this.hour(at).requested++;
  }

  accept(at: number): void {
    this.accepted++;
    this.hour(at).accepted++;
  }

  refuse(at: number, lost: boolean, quantity: number): void {
    this.refused++;
    if (!lost) return;
    this.lostSales++;
    this.lostUnits += quantity;
    this.hour(at).lostSales++;
  }

  /** A paid order whose units were gone at the pick; `requestedAt` files it under the hour it was taken. */
  oversell(requestedAt: number, cause: OversellCause): void {
    this.oversells++;
    this.cancelledOrders++;
    this.causes[cause]++;
    this.hour(requestedAt).oversells++;
  }

  report(
    base: Pick<ModelReport, 'model' | 'label' | 'syncMinutes' | 'propagationMs' | 'engine'>,
    units: UnitLedger,
    inStore: ModelReport['inStore'],
  ): ModelReport {
    const byKind: Record<string, { messages: number; bytes: number }> = {};
    for (const kind of [...this.kinds.keys()].sort()) {
      const entry = this.kinds.get(kind);
      if (entry) byKind[kind] = { ...entry };
    }
    return {
      model: base.model,
      label: base.label,
      syncMinutes: base.syncMinutes,
      propagationMs: base.propagationMs,
      online: {
        requested: this.requested,
        accepted: this.accepted,
        refused: this.refused,
        fulfilled: this.fulfilled,
        oversells: this.oversells,
        lostSales: this.lostSales,
        lostUnits: this.lostUnits,
        cancelledOrders: this.cancelledOrders,
        cancelledBeforePayment: this.cancelledBeforePayment,
        resourced: this.resourced,
        oversellCauses: { ...this.causes },
      },
      inStore,
      staleness: this.staleness.summary(),
      traffic: { messages: this.messages, bytes: this.bytes, byKind },
      units,
      hourly: this.hours.map((bucket, hour) => ({ hour, ...bucket })),
      flashTrace: this.trace,
      ...(base.engine ? { engine: base.engine } : {}),
    };
  }
}
