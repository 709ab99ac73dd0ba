// What the load test itself did, kept so the invariants can be checked afterwards over HTTP:
// the reservations it created (and the answers it saw), and every till event it sent per store.
//
// A phase stops with requests in flight, so some answers are never read. Those requests are sent
// again after the phase with the same Idempotency-Key and body: the engine answers with the first
// answer if it had applied them, or applies them now, and either way the ledger is complete. This is
// also a check of idempotency under load.
import type { ApiClient } from './client.js';
import { mapLimit } from './client.js';

export interface ReservationLine {
  readonly sku: string;
  readonly locationId: string;
  readonly quantity: number;
}

interface ReservationAnswer {
  readonly id: string;
  readonly status: string;
  readonly lines: readonly ReservationLine[];
}

/** Statuses whose lines still hold units (they count in a level's `reserved`). */
export const ACTIVE_STATUSES: ReadonlySet<string> = new Set(['held', 'payment_pending', 'at_risk']);

const levelKey = (sku: string, locationId: string) => `${sku}@${locationId}`;

/** A 409 whose problem code says the first request with this key is still being served. */
const inFlight = (body: unknown): boolean =>
  typeof body === 'object' && body !== null && (body as { code?: unknown }).code === 'IDEMPOTENCY_IN_FLIGHT';
export { levelKey };

function parseReservation(text: string | unknown): ReservationAnswer | undefined {
  try {
    const value = (typeof text === 'string' ? JSON.parse(text) : text) as Partial<ReservationAnswer> | null;
    if (
      value &&
      typeof value.id === 'string' &&
      typeof value.status === 'string' &&
      Array.isArray(value.lines)
    ) {
      return value as ReservationAnswer;
    }
  } catch {
    // not a reservation
  }
  return undefined;
}

export interface LedgerReadBack {
  readonly readBack: number;
  readonly notFound: number;
  /** Reservations whose status on the server differs from the last answer the test received. */
  readonly statusMismatches: number;
  /** Units held per level (sum of active reservations' lines). */
  readonly heldByLevel: Map<string, number>;
  /** Units sold through confirmation per level. */
  readonly confirmedByLevel: Map<string, number>;
  readonly byStatus: Record<string, number>;
  readonly examples: string[];
}

export class ReservationLedger {
  private readonly reservations = new Map<string, { lines: readonly ReservationLine[]; status: string }>();
  private readonly pendingCreates = new Map<string, string>();
  private readonly pendingTransitions = new Map<string, { id: string; action: string }>();
  created = 0;
  refused = 0;
  recovered = 0;

  /** Before sending a create: remembers the key and body until its answer arrives. */
  createSent(idempotencyKey: string, body: string): void {
    this.pendingCreates.set(idempotencyKey, body);
  }

  /** Returns the created reservation's id (201), or undefined. */
  createAnswered(idempotencyKey: string, status: number, body: string): string | undefined {
    this.pendingCreates.delete(idempotencyKey);
    if (status === 409) this.refused++;
    if (status !== 201) return undefined;
    const reservation = parseReservation(body);
    if (!reservation) return undefined;
    this.remember(reservation);
    return reservation.id;
  }

  transitionSent(idempotencyKey: string, id: string, action: string): void {
    this.pendingTransitions.set(idempotencyKey, { id, action });
  }

  transitionAnswered(idempotencyKey: string, status: number, body: string): void {
    this.pendingTransitions.delete(idempotencyKey);
    if (status !== 200) return;
    const reservation = parseReservation(body);
    const known = reservation && this.reservations.get(reservation.id);
    if (reservation && known) known.status = reservation.status;
  }

  private remember(reservation: ReservationAnswer): void {
    if (!this.reservations.has(reservation.id)) this.created++;
    this.reservations.set(reservation.id, {
      lines: reservation.lines.map((line) => ({
        sku: line.sku,
        locationId: line.locationId,
        quantity: line.quantity,
      })),
      status: reservation.status,
    });
  }

  get size(): number {
    return this.reservations.size;
  }

  /** Reservations with a line of this SKU. */
  countWithSku(sku: string): number {
    let count = 0;
    for (const reservation of this.reservations.values()) {
      if (reservation.lines.some((line) => line.sku === sku)) count++;
    }
    return count;
  }

  ids(status?: string): string[] {
    return [...this.reservations]
      .filter(([, reservation]) => status === undefined || reservation.status === status)
      .map(([id]) => id);
  }

  /**
   * Sends again, with the same key and body, every create and transition whose answer was lost. Right
   * after a phase stops the first attempt may still be in progress on the server (409
   * IDEMPOTENCY_IN_FLIGHT): wait a little and ask again, at most 50 times.
   */
  async recoverPending(client: ApiClient): Promise<number> {
    const resend = async (path: string, key: string, body?: unknown) => {
      let answer = await client.request('POST', path, { body, idempotencyKey: key });
      for (let attempt = 0; attempt < 50 && answer.status === 409 && inFlight(answer.body); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        answer = await client.request('POST', path, { body, idempotencyKey: key });
      }
      return answer;
    };
    let recovered = 0;
    for (const [key, body] of [...this.pendingCreates]) {
      const answer = await resend('/v1/reservations', key, JSON.parse(body));
      this.pendingCreates.delete(key);
      if (answer.status === 201) {
        const reservation = parseReservation(answer.body);
        if (reservation) this.remember(reservation);
      }
      recovered++;
    }
    for (const [key, { id, action }] of [...this.pendingTransitions]) {
      const answer = await resend(`/v1/reservations/${encodeURIComponent(id)}/${action}`, key);
      this.pendingTransitions.delete(key);
      const reservation = answer.status === 200 ? parseReservation(answer.body) : undefined;
      const known = reservation && this.reservations.get(reservation.id);
      if (reservation && known) known.status = reservation.status;
      recovered++;
    }
    this.recovered += recovered;
    return recovered;
  }

  /** Reads every reservation the test created back from the server. */
  async readBack(client: ApiClient, concurrency = 32): Promise<LedgerReadBack> {
    const heldByLevel = new Map<string, number>();
    const confirmedByLevel = new Map<string, number>();
    const byStatus: Record<string, number> = {};
    const examples: string[] = [];
    let notFound = 0;
    let statusMismatches = 0;
    const entries = [...this.reservations];
    await mapLimit(entries, concurrency, async ([id, known]) => {
      const answer = await client.request('GET', `/v1/reservations/${encodeURIComponent(id)}`);
      const reservation = answer.status === 200 ? parseReservation(answer.body) : undefined;
      if (!reservation) {
        notFound++;
        if (examples.length < 5) examples.push(`reservation ${id}: GET answered ${answer.status}`);
        return;
      }
      byStatus[reservation.status] = (byStatus[reservation.status] ?? 0) + 1;
      if (reservation.status !== known.status) {
        statusMismatches++;
        if (examples.length < 5) {
          examples.push(
            `reservation ${id}: the test was answered ${known.status}, the server now says ${reservation.status}`,
          );
        }
      }
      const target = ACTIVE_STATUSES.has(reservation.status)
        ? heldByLevel
        : reservation.status === 'confirmed'
          ? confirmedByLevel
          : undefined;
      if (!target) return;
      for (const line of reservation.lines) {
        const key = levelKey(line.sku, line.locationId);
        target.set(key, (target.get(key) ?? 0) + line.quantity);
      }
    });
    return {
      readBack: entries.length - notFound,
      notFound,
      statusMismatches,
      heldByLevel,
      confirmedByLevel,
      byStatus,
      examples,
    };
  }
}

export interface TillEvent {
  readonly seq: number;
  readonly type: 'sale' | 'return' | 'receipt';
  readonly sku: string;
  readonly quantity: number;
  readonly occurredAt: string;
}

const deltaOf = (event: TillEvent): number => (event.type === 'sale' ? -event.quantity : event.quantity);

/**
 * One store's till, as its agent would run it: gap-free sequence numbers from 1, one batch in flight,
 * a batch whose answer was lost is sent again as is (same Idempotency-Key, same events), and a gap
 * answer resumes from the sequence the engine expects.
 */
export class TillStore {
  private readonly events: TillEvent[] = [];
  private pending: { key: string; body: string; firstSeq: number; lastSeq: number } | undefined;
  private batches = 0;
  acked = 0;
  gaps = 0;

  constructor(
    readonly storeId: string,
    private readonly skus: readonly string[],
    private readonly random: () => number,
    private readonly batchSize: number,
    private readonly runId: string,
  ) {}

  get lastSent(): number {
    return this.events.length;
  }

  /** The next batch: the unanswered one again, or new events. */
  nextBatch(size = this.batchSize): { key: string; body: string; firstSeq: number; lastSeq: number } {
    if (this.pending) return this.pending;
    const occurredAt = new Date().toISOString();
    const batch: TillEvent[] = [];
    for (let i = 0; i < size; i++) {
      const roll = this.random();
      const sku = this.skus[Math.floor(this.random() * this.skus.length)] ?? this.skus[0] ?? 'none';
      const seq = this.events.length + 1;
      const event: TillEvent =
        roll < 0.85
          ? { seq, type: 'sale', sku, quantity: 1 + Math.floor(this.random() * 2), occurredAt }
          : roll < 0.95
            ? { seq, type: 'return', sku, quantity: 1, occurredAt }
            : { seq, type: 'receipt', sku, quantity: 5 + Math.floor(this.random() * 16), occurredAt };
      this.events.push(event);
      batch.push(event);
    }
    this.batches++;
    const lastSeq = this.events.length;
    this.pending = {
      key: `${this.runId}-${this.storeId}-b${this.batches}`,
      body: JSON.stringify({ events: batch }),
      firstSeq: lastSeq - size + 1,
      lastSeq,
    };
    return this.pending;
  }

  answered(status: number, body: string): void {
    if (status === 200) {
      const lastSeq = (JSON.parse(body) as { lastSeq?: number }).lastSeq;
      if (typeof lastSeq === 'number') this.acked = Math.max(this.acked, lastSeq);
      this.pending = undefined;
      return;
    }
    if (status === 409) {
      // STORE_SEQUENCE_GAP: resume from the sequence the engine expects.
      let expected: number | undefined;
      try {
        expected = (JSON.parse(body) as { expectedSeq?: number }).expectedSeq;
      } catch {
        expected = undefined;
      }
      if (typeof expected === 'number' && expected >= 1 && expected <= this.events.length + 1) {
        this.gaps++;
        this.events.length = expected - 1;
        this.pending = undefined;
      }
    }
    // Anything else (503, timeout): the same batch is sent again.
  }

  /**
   * Sends the unanswered batch, if any, until it is answered (at most `attempts` times). Right after
   * a phase stops, the lost request may still be in progress on the server (409 IDEMPOTENCY_IN_FLIGHT):
   * wait a little and send it again.
   */
  async drain(client: ApiClient, attempts = 50): Promise<void> {
    for (let attempt = 0; this.pending && attempt < attempts; attempt++) {
      const { key, body } = this.pending;
      const answer = await client.request('POST', `/v1/stores/${encodeURIComponent(this.storeId)}/events`, {
        body: JSON.parse(body),
        idempotencyKey: key,
      });
      this.answered(answer.status, JSON.stringify(answer.body));
      if (this.pending) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Net on-hand change per SKU of the events up to `lastSeq`. */
  deltas(lastSeq: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const event of this.events) {
      if (event.seq > lastSeq) break;
      out.set(event.sku, (out.get(event.sku) ?? 0) + deltaOf(event));
    }
    return out;
  }

  eventAt(seq: number): TillEvent | undefined {
    return this.events[seq - 1];
  }
}
