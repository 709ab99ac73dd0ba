// The seeded workload: concurrent storefront clients reserving, confirming, cancelling and reading;
// a back office adjusting and counting; and one till per store recording sales, receipts, returns,
// adjustments and counts through its store agent. Every operation goes into the history with its
// invocation, its answer and their times. Each client draws from its own fork of the seed, so a seed
// always makes the same choices given the same answers.
import type { TillEventBody } from '../../support/store-agent-processes.js';
import { keys } from '../../support/store-agent-processes.js';
import type { History, LevelRef, Outcome, RecordedOp } from './history.js';
import { levelKey } from './history.js';
import type { RetryPolicy, WriteResult } from './http.js';
import { attempt, describeAttempt, writeWithRetries } from './http.js';
import type { Rng } from './rng.js';
import { now, sleep } from './rng.js';
import type { SystemUnderTest } from './system.js';

export interface WorkloadOptions {
  readonly skus: readonly string[];
  readonly warehouses: readonly string[];
  readonly stores: readonly string[];
  readonly clients: number;
  readonly thinkMs: readonly [number, number];
  readonly ttlSeconds: readonly [number, number];
  readonly initialOnHand: readonly [number, number];
}

export interface KnownReservation {
  readonly id: string;
  readonly level: LevelRef;
  readonly quantity: number;
  readonly expiresAt: number;
  /** A client saw it confirmed, cancelled or expired. */
  settled: boolean;
}

export class Workload {
  readonly levels: LevelRef[];
  readonly reservations = new Map<string, KnownReservation>();
  readonly #open: string[] = [];
  #stopAt = 0;
  #counter = 0;

  constructor(
    readonly system: SystemUnderTest,
    readonly history: History,
    readonly rng: Rng,
    readonly options: WorkloadOptions,
  ) {
    const locations = [...options.warehouses, ...options.stores];
    this.levels = options.skus.flatMap((sku) => locations.map((locationId) => ({ sku, locationId })));
  }

  #key(client: string): string {
    return `chaos-${this.rng.seed}-${client}-${++this.#counter}`;
  }

  /** Most writes retry for 10 s; some give up early, leaving their outcome unknown. */
  #deadline(rng: Rng): number {
    return rng.chance(0.3) ? rng.int(200, 1_500) : 10_000;
  }

  #policy(deadlineMs = 10_000): RetryPolicy {
    return { deadlineMs, timeoutMs: 5_000, backoffMs: 100, maxBackoffMs: 800 };
  }

  #engine = (): string => this.system.engineUrl;

  /** Locations and each level's first count (If-None-Match: *), before any fault. */
  async setup(): Promise<void> {
    const rng = this.rng.fork('setup');
    for (const [id, type] of [
      ...this.options.warehouses.map((id) => [id, 'warehouse'] as const),
      ...this.options.stores.map((id) => [id, 'store'] as const),
    ]) {
      const result = await writeWithRetries(
        this.#engine,
        {
          method: 'PUT',
          path: `/v1/locations/${id}`,
          key: keys.admin,
          body: { name: `Location ${id}`, type },
          idempotencyKey: this.#key('setup'),
        },
        this.#policy(),
        () => rng.float(),
      );
      if (result.answer?.status !== 201 && result.answer?.status !== 200) {
        throw new Error(`setup: location ${id}: ${describeAttempt(result.last)}`);
      }
    }
    for (const level of this.levels) {
      const onHand = rng.int(this.options.initialOnHand[0], this.options.initialOnHand[1]);
      const key = this.#key('setup');
      const result = await writeWithRetries(
        this.#engine,
        {
          method: 'PUT',
          path: `/v1/locations/${level.locationId}/stock/${level.sku}`,
          key: keys.admin,
          body: { onHand },
          idempotencyKey: key,
          headers: { 'if-none-match': '*' },
        },
        this.#policy(),
        () => rng.float(),
      );
      if (result.answer?.status !== 200)
        throw new Error(`setup: count ${levelKey(level)}: ${describeAttempt(result.last)}`);
      this.#record(result, { kind: 'count', client: 'setup', level, onHand, idempotencyKey: key }, 'ok');
    }
  }

  #record(
    result: WriteResult,
    op: Record<string, unknown> & { kind: RecordedOp['kind'] },
    definiteOutcome: Outcome,
  ): RecordedOp {
    const outcome: Outcome = result.outcome === 'definite' ? definiteOutcome : result.outcome;
    return this.history.add({
      ...op,
      invokedAt: result.invokedAt,
      returnedAt: result.returnedAt,
      outcome,
      answer: describeAttempt(result.last),
      attempts: result.attempts,
    } as Parameters<History['add']>[0]);
  }

  /** Runs every client until `stopAt` (wall ms). */
  async run(stopAt: number): Promise<void> {
    this.#stopAt = stopAt;
    const clients = Array.from({ length: this.options.clients }, (_, i) =>
      this.#storefrontClient(`c${i + 1}`),
    );
    const tills = this.options.stores.map((storeId) => this.#tillClient(storeId));
    await Promise.all([...clients, ...tills]);
  }

  get #running(): boolean {
    return now() < this.#stopAt;
  }

  async #storefrontClient(name: string): Promise<void> {
    const rng = this.rng.fork(`client-${name}`);
    while (this.#running) {
      const action = rng.weighted([
        ['reserve', 30],
        ['confirm', 14],
        ['cancel', 8],
        ['read', 22],
        ['status', 10],
        ['adjust', 7],
        ['count', 3],
      ] as const);
      switch (action) {
        case 'reserve':
          await this.reserve(
            name,
            rng,
            rng.pick(this.levels),
            rng.int(1, 3),
            rng.int(this.options.ttlSeconds[0], this.options.ttlSeconds[1]),
            this.#deadline(rng),
          );
          break;
        case 'confirm':
        case 'cancel': {
          const id = this.#pickOpen(rng);
          if (id !== undefined) await this.#transition(name, rng, action, id);
          break;
        }
        case 'read':
          await this.readLevel(name, rng.pick(this.levels));
          break;
        case 'status': {
          const ids = [...this.reservations.keys()];
          if (ids.length > 0) await this.readStatus(name, rng.pick(ids));
          break;
        }
        case 'adjust': {
          const delta = rng.chance(0.75) ? rng.int(1, 8) : -rng.int(1, 4);
          await this.#adjust(name, rng, rng.pick(this.levels), delta);
          break;
        }
        case 'count':
          await this.#count(name, rng, rng.pick(this.levels), rng.int(5, 25));
          break;
      }
      await sleep(rng.int(this.options.thinkMs[0], this.options.thinkMs[1]));
    }
  }

  #pickOpen(rng: Rng): string | undefined {
    // Recent reservations first: most of them are still held.
    while (this.#open.length > 0) {
      const index = Math.max(0, this.#open.length - 1 - rng.int(0, 5));
      const id = this.#open[index] as string;
      const known = this.reservations.get(id);
      if (known && !known.settled) return id;
      this.#open.splice(index, 1);
    }
    return undefined;
  }

  async reserve(
    client: string,
    rng: Rng,
    level: LevelRef,
    quantity: number,
    ttlSeconds: number,
    deadlineMs = 10_000,
  ): Promise<RecordedOp> {
    const key = this.#key(client);
    const result = await writeWithRetries(
      this.#engine,
      {
        method: 'POST',
        path: '/v1/reservations',
        key: keys.storefront,
        body: { lines: [{ sku: level.sku, quantity, locationId: level.locationId }], ttlSeconds },
        idempotencyKey: key,
      },
      this.#policy(deadlineMs),
      () => rng.float(),
    );
    const answer = result.answer;
    let reservationId: string | undefined;
    let expiresAt: number | undefined;
    let outcome: Outcome = 'refused';
    if (result.outcome === 'definite' && answer?.status === 201) {
      outcome = 'ok';
      reservationId = String(answer.json['id']);
      expiresAt = Date.parse(String(answer.json['expiresAt']));
      this.reservations.set(reservationId, { id: reservationId, level, quantity, expiresAt, settled: false });
      this.#open.push(reservationId);
    }
    return this.#record(
      result,
      { kind: 'reserve', client, level, quantity, ttlSeconds, idempotencyKey: key, reservationId, expiresAt },
      outcome,
    );
  }

  async #transition(
    client: string,
    rng: Rng,
    kind: 'confirm' | 'cancel',
    reservationId: string,
  ): Promise<void> {
    const key = this.#key(client);
    const result = await writeWithRetries(
      this.#engine,
      {
        method: 'POST',
        path: `/v1/reservations/${reservationId}/${kind}`,
        key: keys.storefront,
        idempotencyKey: key,
      },
      this.#policy(this.#deadline(rng)),
      () => rng.float(),
    );
    const status = result.answer?.status;
    const outcome: Outcome = status === 200 ? 'ok' : 'refused';
    if (result.outcome === 'definite') {
      const known = this.reservations.get(reservationId);
      if (known) known.settled = true;
    }
    this.#record(
      result,
      { kind, client, reservationId, idempotencyKey: key, code: result.answer?.code },
      outcome,
    );
  }

  async readLevel(client: string, level: LevelRef): Promise<RecordedOp> {
    const invokedAt = now();
    const result = await attempt(this.#engine(), {
      method: 'GET',
      path: `/v1/locations/${level.locationId}/stock/${level.sku}`,
      key: keys.reader,
      timeoutMs: 5_000,
    });
    const returnedAt = now();
    const ok = result.kind === 'answer' && result.answer.status === 200;
    const json = ok ? result.answer.json : {};
    return this.history.add({
      kind: 'read',
      client,
      level,
      invokedAt,
      returnedAt,
      outcome: ok ? 'ok' : 'failed',
      answer: describeAttempt(result),
      attempts: 1,
      observed: ok
        ? {
            onHand: Number(json['onHand']),
            reserved: Number(json['reserved']),
            version: Number(json['version']),
          }
        : undefined,
    });
  }

  async readStatus(client: string, reservationId: string): Promise<RecordedOp> {
    const invokedAt = now();
    const result = await attempt(this.#engine(), {
      method: 'GET',
      path: `/v1/reservations/${reservationId}`,
      key: keys.reader,
      timeoutMs: 5_000,
    });
    const returnedAt = now();
    const ok = result.kind === 'answer' && result.answer.status === 200;
    const observed = ok ? String(result.answer.json['status']) : undefined;
    if (observed === 'confirmed' || observed === 'cancelled' || observed === 'expired') {
      const known = this.reservations.get(reservationId);
      if (known) known.settled = true;
    }
    return this.history.add({
      kind: 'status',
      client,
      reservationId,
      invokedAt,
      returnedAt,
      outcome: ok ? 'ok' : 'failed',
      answer: describeAttempt(result),
      attempts: 1,
      observed,
    });
  }

  async #adjust(client: string, rng: Rng, level: LevelRef, delta: number): Promise<void> {
    const key = this.#key(client);
    const result = await writeWithRetries(
      this.#engine,
      {
        method: 'POST',
        path: `/v1/locations/${level.locationId}/stock/${level.sku}/adjustments`,
        key: keys.admin,
        body: { delta, reason: delta > 0 ? 'receipt' : 'damage' },
        idempotencyKey: key,
      },
      this.#policy(this.#deadline(rng)),
      () => rng.float(),
    );
    this.#record(
      result,
      { kind: 'adjust', client, level, delta, idempotencyKey: key },
      result.answer?.status === 200 ? 'ok' : 'refused',
    );
  }

  async #count(client: string, rng: Rng, level: LevelRef, onHand: number): Promise<void> {
    const read = await this.readLevel(client, level);
    if (read.kind !== 'read' || !read.observed) return;
    const key = this.#key(client);
    const result = await writeWithRetries(
      this.#engine,
      {
        method: 'PUT',
        path: `/v1/locations/${level.locationId}/stock/${level.sku}`,
        key: keys.admin,
        body: { onHand },
        idempotencyKey: key,
        headers: { 'if-match': `"${read.observed.version}"` },
      },
      this.#policy(this.#deadline(rng)),
      () => rng.float(),
    );
    this.#record(
      result,
      { kind: 'count', client, level, onHand, idempotencyKey: key },
      result.answer?.status === 200 ? 'ok' : 'refused',
    );
  }

  async #tillClient(storeId: string): Promise<void> {
    const rng = this.rng.fork(`till-${storeId}`);
    while (this.#running) {
      const type = rng.weighted([
        ['sale', 70],
        ['receipt', 10],
        ['return', 8],
        ['adjustment', 7],
        ['count', 5],
      ] as const satisfies readonly (readonly [TillEventBody['type'], number])[]);
      const sku = rng.pick(this.options.skus);
      const event: TillEventBody =
        type === 'sale'
          ? { type, sku, quantity: rng.int(1, 2) }
          : type === 'receipt'
            ? { type, sku, quantity: rng.int(4, 10) }
            : type === 'return'
              ? { type, sku, quantity: 1 }
              : type === 'adjustment'
                ? { type, sku, quantity: rng.chance(0.5) ? -rng.int(1, 2) : rng.int(1, 2), reason: 'damage' }
                : { type, sku, quantity: rng.int(0, 20) };
      await this.till(storeId, rng, event);
      await sleep(rng.int(20, 70));
    }
  }

  async till(storeId: string, rng: Rng, event: TillEventBody): Promise<RecordedOp> {
    const key = this.#key(`till-${storeId}`);
    const result = await writeWithRetries(
      () => this.system.agentUrl(storeId),
      { method: 'POST', path: '/till/events', body: event, idempotencyKey: key },
      { deadlineMs: this.#deadline(rng), timeoutMs: 3_000, backoffMs: 100, maxBackoffMs: 800 },
      () => rng.float(),
    );
    const seq = result.answer?.status === 201 ? Number(result.answer.json['seq']) : undefined;
    return this.#record(
      result,
      { kind: 'till', client: `till-${storeId}`, storeId, event, idempotencyKey: key, seq },
      result.answer?.status === 201 ? 'ok' : 'refused',
    );
  }
}
