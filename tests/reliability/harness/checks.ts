// The six checks of a run, after healing (docs/reliability.md "What is proven"):
//   1. every acknowledged operation is in the recovered state, and nothing refused left a trace;
//   2. each stock level's history is linearizable against the sequential stock model;
//   3. each store's journal equals what the engine applied, exactly once, in order;
//   4. a from-scratch replay of the engine's journal equals the live state read over HTTP;
//   5. the replay CLI verifies the journal clean;
//   6. conservation: on-hand equals the fold of the operations (acknowledged, plus unknown ones the journal
//      shows applied), and reserved equals the sum of the active holds.
// The journal tells which operations of unknown outcome took effect, the reservation ids the engine
// chose for them, and the steps the engine took on its own (expiries, the stock steps of a saga, holds of
// carts that were never placed). Quantities and deltas always come from the history, never from the journal.
import type { ReservationEvent } from '../../../engine/domain/reservation.js';
import type { StockEvent, StoreSource } from '../../../engine/domain/stock.js';
import { Projection } from '../../../engine/projection.js';
import { parseStream } from '../../../engine/streams.js';
import type { JournalRecord } from '../../../storage/journal.js';
import type { CheckResult, ObservedStatus, Operation, StockInput, StockOutput } from '../linearizability.js';
import { checkHistory, describeOperation, stockModel } from '../linearizability.js';
import type { LevelRef, RecordedOp } from './history.js';
import { levelKey } from './history.js';
import type { AgentEvent, CliRun, LiveState } from './observe.js';
import type { ClockSchedule } from './system.js';

export interface CheckInput {
  readonly history: readonly RecordedOp[];
  readonly levels: readonly LevelRef[];
  readonly stores: readonly string[];
  readonly journal: readonly JournalRecord[];
  readonly agentEvents: ReadonlyMap<string, readonly AgentEvent[]>;
  readonly live: LiveState;
  /** When the final live read ended (wall ms). */
  readonly liveDoneAt: number;
  readonly clock: ClockSchedule;
  readonly storageFaultDuring: (a: number, b: number) => boolean;
  readonly rebuild: CliRun;
  readonly verify: CliRun;
  readonly offlineBuffer: number;
  readonly maxSearchSteps?: number | undefined;
  /** Sees each level's linearizability history before it is checked (debugging, scripts/chaos/recheck.ts). */
  readonly onLevelHistory?:
    | ((
        level: string,
        ops: readonly Operation<StockInput, StockOutput>[],
        describe: (op: Operation<StockInput, StockOutput>) => string,
      ) => void)
    | undefined;
}

export interface Anomaly {
  readonly check: 1 | 2 | 3 | 4 | 5 | 6;
  readonly message: string;
}

export interface LevelVerdict {
  readonly level: string;
  readonly operations: number;
  readonly result: CheckResult['ok'];
  readonly steps: number;
}

export interface CheckReport {
  readonly anomalies: Anomaly[];
  readonly levels: LevelVerdict[];
  /** Operations of unknown outcome the journal showed applied, and not applied. */
  readonly unknownApplied: number;
  readonly unknownNotApplied: number;
  /**
   * Reservations confirmed after a till sale, count or adjustment put their hold at risk (the bug that
   * tests/reliability/at-risk-confirm.reliability.spec.ts guards against): an anomaly.
   */
  readonly confirmedAtRisk: number;
}

/** Journal timestamps are milliseconds (truncated); a little slack covers that and clock reads. */
const SLACK_MS = 5;

const ACTIVE = new Set(['held', 'payment_pending', 'at_risk']);
const observedStatus = (status: string): ObservedStatus | undefined =>
  ACTIVE.has(status)
    ? 'active'
    : status === 'confirmed' || status === 'cancelled' || status === 'expired'
      ? status
      : undefined;

const userKey = (scoped: string): string => scoped.slice(scoped.indexOf(':') + 1);

interface Placed {
  readonly id: string;
  readonly record: JournalRecord;
  readonly level: string;
  readonly quantity: number;
  readonly expiresAt: number;
}

/** Indexes of the engine journal the checks share. */
class JournalIndex {
  readonly byKey = new Map<string, JournalRecord[]>();
  readonly placed = new Map<string, Placed>();
  readonly reservationRecords = new Map<string, JournalRecord[]>();
  readonly stockRecords = new Map<string, JournalRecord[]>();
  readonly tillApplied = new Map<
    string,
    { source: StoreSource; event: StockEvent; level: string; record: JournalRecord }[]
  >();
  readonly problems: string[] = [];

  constructor(journal: readonly JournalRecord[]) {
    for (const record of journal) {
      const idempotency = record.meta?.['idempotency'] as { key?: string } | undefined;
      if (typeof idempotency?.key === 'string') {
        const key = userKey(idempotency.key);
        const list = this.byKey.get(key) ?? [];
        list.push(record);
        this.byKey.set(key, list);
      }
      const ref = parseStream(record.stream);
      if (ref?.kind === 'reservation') {
        const list = this.reservationRecords.get(ref.id) ?? [];
        list.push(record);
        this.reservationRecords.set(ref.id, list);
        for (const event of record.events as readonly ReservationEvent[]) {
          if (event.type !== 'ReservationPlaced') continue;
          const [line, ...more] = event.lines;
          if (!line || more.length > 0) {
            this.problems.push(`reservation ${ref.id} placed with ${event.lines.length} lines`);
            continue;
          }
          this.placed.set(ref.id, {
            id: ref.id,
            record,
            level: levelKey(line),
            quantity: line.quantity,
            expiresAt: Date.parse(event.expiresAt),
          });
        }
      } else if (ref?.kind === 'stock') {
        const level = levelKey(ref);
        const list = this.stockRecords.get(level) ?? [];
        list.push(record);
        this.stockRecords.set(level, list);
        for (const event of record.events as readonly StockEvent[]) {
          const source = 'source' in event ? event.source : undefined;
          if (!source) continue;
          const applied = this.tillApplied.get(source.storeId) ?? [];
          applied.push({ source, event, level, record });
          this.tillApplied.set(source.storeId, applied);
        }
      }
    }
  }

  recordsOf(key: string): JournalRecord[] {
    return this.byKey.get(key) ?? [];
  }
}

const expectedStockEvent = (event: AgentEvent): string => {
  switch (event.type) {
    case 'sale':
      return `StockSold ${event.quantity}`;
    case 'receipt':
    case 'return':
      return `StockReceived ${event.quantity} ${event.type}`;
    case 'adjustment':
      return `StockAdjusted ${event.quantity}`;
    case 'count':
      return `StockCounted ${event.quantity}`;
  }
};

const appliedStockEvent = (event: StockEvent): string => {
  switch (event.type) {
    case 'StockSold':
      return `StockSold ${event.quantity}`;
    case 'StockReceived':
      return `StockReceived ${event.quantity} ${event.reason}`;
    case 'StockAdjusted':
      return `StockAdjusted ${event.delta}`;
    case 'StockCounted':
      return `StockCounted ${event.onHand}`;
    default:
      return event.type;
  }
};

export function runChecks(input: CheckInput): CheckReport {
  const anomalies: Anomaly[] = [];
  const flag = (check: Anomaly['check'], message: string) => anomalies.push({ check, message });
  const index = new JournalIndex(input.journal);
  for (const problem of index.problems) flag(1, problem);
  const { live } = input;

  // Which reservation is which: from the history (acknowledged) or the journal (by Idempotency-Key).
  const reserveOf = new Map<string, Extract<RecordedOp, { kind: 'reserve' }>>();
  let unknownApplied = 0;
  let unknownNotApplied = 0;
  const resolved = new Map<number, string>(); // op id -> reservation id, for unknown reserves
  for (const op of input.history) {
    if (op.kind !== 'reserve') continue;
    if (op.reservationId) reserveOf.set(op.reservationId, op);
    else if (op.outcome === 'unknown') {
      const placed = index
        .recordsOf(op.idempotencyKey)
        .find((record) => record.stream.startsWith('reservation/'));
      if (placed) {
        const id = placed.stream.slice('reservation/'.length);
        resolved.set(op.id, id);
        reserveOf.set(id, op);
      }
    }
  }

  // ---------------------------------------------------------------- 1. acknowledged writes survived
  for (const op of input.history) {
    const label = `op ${op.id} (${op.client} ${op.kind}, ${op.answer})`;
    if (op.kind === 'read' || op.kind === 'status' || op.kind === 'till') continue;
    const records = index.recordsOf(op.idempotencyKey);
    if (records.length > 1)
      flag(
        1,
        `${label}: applied ${records.length} times (journal seqs ${records.map((r) => r.seq).join(', ')})`,
      );
    if (op.outcome === 'unknown') {
      if (records.length > 0) unknownApplied++;
      else unknownNotApplied++;
      continue;
    }
    if (op.outcome === 'refused' || op.outcome === 'rejected') {
      if (records.length > 0)
        flag(1, `${label}: refused, yet the journal holds its effect at seq ${records[0]?.seq}`);
      const expected =
        op.kind === 'reserve'
          ? ['STOCK_INSUFFICIENT']
          : op.kind === 'adjust'
            ? ['STOCK_NEGATIVE']
            : op.kind === 'count'
              ? ['VERSION_CONFLICT']
              : ['RESERVATION_EXPIRED', 'RESERVATION_STATE_CONFLICT'];
      if (op.outcome === 'refused' && !expected.some((code) => op.answer.includes(code))) {
        flag(1, `${label}: unexpected answer`);
      }
      continue;
    }
    if (records.length === 0) {
      flag(1, `${label}: acknowledged, but no journal record carries its Idempotency-Key`);
      continue;
    }
    switch (op.kind) {
      case 'reserve': {
        const view = op.reservationId ? live.reservations.get(op.reservationId) : undefined;
        const line = view?.lines[0];
        if (!view || !line)
          flag(1, `${label}: reservation ${op.reservationId} is gone from the recovered state`);
        else if (
          line.sku !== op.level.sku ||
          line.locationId !== op.level.locationId ||
          line.quantity !== op.quantity
        )
          flag(1, `${label}: reservation ${op.reservationId} holds ${JSON.stringify(line)}`);
        break;
      }
      case 'confirm':
      case 'cancel': {
        const status = live.reservations.get(op.reservationId)?.status;
        const wanted = op.kind === 'confirm' ? 'confirmed' : 'cancelled';
        if (status !== wanted)
          flag(1, `${label}: reservation ${op.reservationId} is ${status} after recovery`);
        break;
      }
      case 'adjust':
      case 'count': {
        const stream = `stock/${op.level.sku}/${op.level.locationId}`;
        if (records[0]?.stream !== stream) flag(1, `${label}: its record is on ${records[0]?.stream}`);
        break;
      }
    }
  }
  // Till requests the agent acknowledged are in its journal, once, with what the till sent.
  for (const op of input.history) {
    if (op.kind !== 'till') continue;
    const events = (input.agentEvents.get(op.storeId) ?? []).filter(
      (event) => event.key === op.idempotencyKey,
    );
    const label = `till op ${op.id} (${op.storeId} ${op.event.type} ${op.event.sku} ${op.event.quantity}, ${op.answer})`;
    if (events.length > 1) flag(1, `${label}: recorded ${events.length} times`);
    if (op.outcome === 'ok') {
      const event = events[0];
      if (!event) flag(1, `${label}: acknowledged as seq ${op.seq}, missing from the agent's journal`);
      else if (
        event.seq !== op.seq ||
        event.sku !== op.event.sku ||
        event.type !== op.event.type ||
        event.quantity !== op.event.quantity
      )
        flag(1, `${label}: the agent's journal holds ${JSON.stringify(event)}`);
    } else if (op.outcome === 'rejected' && events.length > 0) {
      flag(1, `${label}: rejected, yet recorded`);
    }
  }

  // ---------------------------------------------------------------- 3. store journals, exactly once, in order
  for (const storeId of input.stores) {
    const events = input.agentEvents.get(storeId) ?? [];
    const applied = index.tillApplied.get(storeId) ?? [];
    events.forEach((event, i) => {
      if (event.seq !== i + 1)
        flag(3, `${storeId}: the agent's journal has seq ${event.seq} at position ${i + 1}`);
    });
    if (applied.length !== events.length) {
      flag(
        3,
        `${storeId}: the agent recorded ${events.length} till events, the engine applied ${applied.length}`,
      );
    }
    applied.forEach(({ source, event, level }, i) => {
      if (source.seq !== i + 1) {
        flag(
          3,
          `${storeId}: the engine applied seq ${source.seq} as its ${i + 1}th till event (duplicate, gap or reorder)`,
        );
        return;
      }
      const recorded = events[i];
      if (!recorded) return;
      const want = `${levelKey({ sku: recorded.sku, locationId: storeId })} ${expectedStockEvent(recorded)}`;
      const got = `${level} ${appliedStockEvent(event)}`;
      if (want !== got) flag(3, `${storeId} seq ${source.seq}: recorded ${want}, applied ${got}`);
    });
    if (live.stores.get(storeId) !== events.length) {
      flag(
        3,
        `${storeId}: the engine's lastSeq is ${live.stores.get(storeId)}, the agent's journal ends at ${events.length}`,
      );
    }
  }

  // ---------------------------------------------------------------- 4. replay equals the live state
  const projection = new Projection();
  input.journal.forEach((record) => projection.apply(record));
  for (const level of input.levels) {
    const key = levelKey(level);
    const state = projection.stock(level.sku, level.locationId);
    const seen = live.levels.get(key);
    const replayed = state && {
      onHand: state.onHand,
      reserved: state.reserved,
      safetyStock: state.safetyStock,
      version: state.version,
    };
    const shown = seen && {
      onHand: seen.onHand,
      reserved: seen.reserved,
      safetyStock: seen.safetyStock,
      version: seen.version,
    };
    if (JSON.stringify(replayed) !== JSON.stringify(shown)) {
      flag(
        4,
        `${key}: replay gives ${JSON.stringify(replayed)}, the live engine shows ${JSON.stringify(shown)}`,
      );
    }
  }
  for (const [id, view] of live.reservations) {
    const state = projection.reservation(id);
    if (state?.status !== view.status)
      flag(4, `reservation ${id}: replay gives ${state?.status}, live ${view.status}`);
  }
  for (const [id] of index.placed) {
    if (!live.reservations.has(id)) flag(4, `reservation ${id} is in the journal but not served`);
  }
  for (const storeId of input.stores) {
    if (projection.store(storeId).lastSeq !== live.stores.get(storeId)) {
      flag(
        4,
        `${storeId}: replay lastSeq ${projection.store(storeId).lastSeq}, live ${live.stores.get(storeId)}`,
      );
    }
  }
  const rebuilt = input.rebuild.json?.['state'] as
    | {
        lastSeq: number;
        totals: { onHand: number; reserved: number; safetyStock: number };
        locations: { id: string; onHand: number; reserved: number }[];
        reservations: { byStatus: Record<string, number> };
      }
    | undefined;
  if (input.rebuild.code !== 0 || !rebuilt) {
    flag(4, `replay rebuild exited ${input.rebuild.code}: ${input.rebuild.stderr.slice(-500)}`);
  } else {
    const totals = { onHand: 0, reserved: 0, safetyStock: 0 };
    const byLocation = new Map<string, { onHand: number; reserved: number }>();
    for (const level of input.levels) {
      const seen = live.levels.get(levelKey(level));
      if (!seen) continue;
      totals.onHand += seen.onHand;
      totals.reserved += seen.reserved;
      totals.safetyStock += seen.safetyStock;
      const location = byLocation.get(level.locationId) ?? { onHand: 0, reserved: 0 };
      location.onHand += seen.onHand;
      location.reserved += seen.reserved;
      byLocation.set(level.locationId, location);
    }
    const cliTotals = {
      onHand: rebuilt.totals.onHand,
      reserved: rebuilt.totals.reserved,
      safetyStock: rebuilt.totals.safetyStock,
    };
    if (JSON.stringify(cliTotals) !== JSON.stringify(totals)) {
      flag(4, `replay CLI totals ${JSON.stringify(cliTotals)}, live totals ${JSON.stringify(totals)}`);
    }
    for (const location of rebuilt.locations) {
      const seen = byLocation.get(location.id) ?? { onHand: 0, reserved: 0 };
      if (seen.onHand !== location.onHand || seen.reserved !== location.reserved) {
        flag(
          4,
          `replay CLI ${location.id}: ${location.onHand}/${location.reserved}, live ${seen.onHand}/${seen.reserved}`,
        );
      }
    }
    const liveByStatus: Record<string, number> = {};
    for (const view of live.reservations.values())
      liveByStatus[view.status] = (liveByStatus[view.status] ?? 0) + 1;
    for (const [status, count] of Object.entries(rebuilt.reservations.byStatus)) {
      if ((liveByStatus[status] ?? 0) !== count) {
        flag(4, `replay CLI: ${count} reservations ${status}, live ${liveByStatus[status] ?? 0}`);
      }
    }
    if (rebuilt.lastSeq !== (input.journal.at(-1)?.seq ?? 0)) {
      flag(4, `replay CLI lastSeq ${rebuilt.lastSeq}, journal ends at ${input.journal.at(-1)?.seq}`);
    }
  }

  // ---------------------------------------------------------------- 5. the journal verifies clean
  if (input.verify.code !== 0 || input.verify.json?.['ok'] !== true) {
    flag(
      5,
      `replay verify exited ${input.verify.code}: ${input.verify.stdout.slice(-500)} ${input.verify.stderr.slice(-500)}`,
    );
  }

  // ---------------------------------------------------------------- 6. conservation
  const httpOps = new Map<string, Extract<RecordedOp, { kind: 'adjust' | 'count' }>>();
  for (const op of input.history)
    if (op.kind === 'adjust' || op.kind === 'count') httpOps.set(op.idempotencyKey, op);
  const agentBySeq = new Map<string, AgentEvent>();
  for (const [storeId, events] of input.agentEvents)
    for (const event of events) agentBySeq.set(`${storeId}/${event.seq}`, event);
  for (const level of input.levels) {
    const key = levelKey(level);
    let onHand = 0;
    for (const record of index.stockRecords.get(key) ?? []) {
      const scoped = (record.meta?.['idempotency'] as { key?: string } | undefined)?.key;
      const op = scoped === undefined ? undefined : httpOps.get(userKey(scoped));
      const events = record.events as readonly StockEvent[];
      if (op) {
        if (op.outcome !== 'ok' && op.outcome !== 'unknown')
          flag(6, `${key}: seq ${record.seq} applied op ${op.id}, answered ${op.answer}`);
        onHand = op.kind === 'adjust' ? onHand + op.delta : op.onHand;
        continue;
      }
      for (const event of events) {
        const source = 'source' in event ? event.source : undefined;
        if (source) {
          const till = agentBySeq.get(`${source.storeId}/${source.seq}`);
          if (!till || till.sku !== level.sku || source.storeId !== level.locationId) {
            flag(
              6,
              `${key}: seq ${record.seq} applies till event ${source.storeId}/${source.seq}, which the store did not record here`,
            );
            continue;
          }
          onHand =
            till.type === 'sale'
              ? onHand - till.quantity
              : till.type === 'count'
                ? till.quantity
                : onHand + till.quantity;
        } else if (event.type === 'ReservationCommitted') {
          const reserve = reserveOf.get(event.reservationId);
          if (!reserve)
            flag(
              6,
              `${key}: seq ${record.seq} commits reservation ${event.reservationId}, which no client made`,
            );
          else onHand -= reserve.quantity;
        } else if (
          event.type === 'StockSold' ||
          event.type === 'StockReceived' ||
          event.type === 'StockAdjusted' ||
          event.type === 'StockCounted' ||
          event.type === 'SafetyStockSet'
        ) {
          flag(6, `${key}: seq ${record.seq} ${event.type} matches no operation of the history`);
        }
      }
    }
    let reserved = 0;
    for (const [id, view] of live.reservations) {
      const line = view.lines[0];
      if (!ACTIVE.has(view.status) || !line || levelKey(line) !== key) continue;
      const reserve = reserveOf.get(id);
      if (!reserve) flag(6, `${key}: active reservation ${id} matches no client's reservation`);
      else reserved += reserve.quantity;
    }
    const seen = live.levels.get(key);
    if (seen?.onHand !== onHand) flag(6, `${key}: on-hand ${seen?.onHand}, the operations fold to ${onHand}`);
    if (seen?.reserved !== reserved)
      flag(6, `${key}: reserved ${seen?.reserved}, the active holds sum to ${reserved}`);
  }

  // ---------------------------------------------------------------- 2. linearizability per level
  const levels = linearizabilityHistories(input, index, reserveOf, resolved);
  const verdicts: LevelVerdict[] = [];
  const model = stockModel({ offlineBuffer: input.offlineBuffer });
  for (const [level, ops] of levels) {
    const origin = ops.reduce((min, op) => Math.min(min, op.invokedAt), Infinity);
    input.onLevelHistory?.(level, ops, (op) => describeOperation(model, op, origin));
    const result = checkHistory(model, ops, { maxSteps: input.maxSearchSteps ?? 3_000_000 });
    verdicts.push({ level, operations: ops.length, result: result.ok, steps: result.steps });
    if (result.ok === false) {
      const stuck = result.stuck
        .slice(0, 3)
        .map((i) => describeOperation(model, ops[i] as Operation<StockInput, StockOutput>, origin));
      const tail = result.longestPrefix
        .slice(-6)
        .map((i) => describeOperation(model, ops[i] as Operation<StockInput, StockOutput>, origin));
      flag(
        2,
        `${level}: not linearizable (${ops.length} operations). Last linearized:\n      ${tail.join('\n      ')}\n    state then: ${result.stateAfterPrefix.slice(0, 300)}\n    cannot place:\n      ${stuck.join('\n      ')}`,
      );
    } else if (result.ok === 'unknown') {
      const stuck = result.stuck
        .slice(0, 3)
        .map((i) => describeOperation(model, ops[i] as Operation<StockInput, StockOutput>, origin));
      flag(
        2,
        `${level}: inconclusive, ${result.reason} (${ops.length} operations, ${result.longestPrefix.length} placed at best). First not placed:\n      ${stuck.join('\n      ')}`,
      );
    }
  }
  // A confirm decided after the reservation's hold was put at risk (see CheckReport.confirmedAtRisk).
  const atRisk = new Set<string>();
  let confirmedAtRisk = 0;
  for (const record of input.journal) {
    for (const event of record.events as readonly (StockEvent | ReservationEvent)[]) {
      if (event.type === 'ReservationAtRisk') atRisk.add(event.reservationId);
      if (event.type === 'ReservationConfirmed' && atRisk.has(record.stream.slice('reservation/'.length))) {
        confirmedAtRisk++;
        flag(2, `${record.stream} confirmed at seq ${record.seq} after its hold was put at risk`);
      }
    }
  }
  return { anomalies, levels: verdicts, unknownApplied, unknownNotApplied, confirmedAtRisk };
}

type StockOp = Operation<StockInput, StockOutput>;

function linearizabilityHistories(
  input: CheckInput,
  index: JournalIndex,
  reserveOf: ReadonlyMap<string, Extract<RecordedOp, { kind: 'reserve' }>>,
  resolved: ReadonlyMap<number, string>,
): Map<string, StockOp[]> {
  const byLevel = new Map<string, StockOp[]>(input.levels.map((level) => [levelKey(level), []]));
  const push = (level: string | undefined, op: StockOp) => {
    if (level !== undefined) byLevel.get(level)?.push(op);
  };
  const levelOfReservation = (id: string): string | undefined => {
    const reserve = reserveOf.get(id);
    return reserve ? levelKey(reserve.level) : index.placed.get(id)?.level;
  };
  const deadlineOf = (id: string): number | undefined =>
    reserveOf.get(id)?.expiresAt ?? index.placed.get(id)?.expiresAt;
  // The engine applies records in journal order and answers a write only once its record is applied:
  // a record is visible no later than the answer to any acknowledged write journaled after it (and no
  // later than the final read). That bounds the steps the engine took on its own.
  const answeredAt = new Map<number, number>();
  for (const op of input.history) {
    if (op.outcome !== 'ok' || !('idempotencyKey' in op) || op.kind === 'till') continue;
    for (const record of index.recordsOf(op.idempotencyKey)) {
      answeredAt.set(record.seq, Math.min(answeredAt.get(record.seq) ?? Infinity, op.returnedAt));
    }
  }
  const visibleBy = new Map<number, number>();
  let bound = input.liveDoneAt;
  for (let i = input.journal.length - 1; i >= 0; i--) {
    const seq = (input.journal[i] as JournalRecord).seq;
    const own = answeredAt.get(seq) ?? Infinity;
    visibleBy.set(seq, Math.min(bound, own));
    bound = Math.min(bound, own);
  }
  /** An operation of unknown outcome whose record the journal holds took effect: certain, and bounded. */
  const appliedBy = (op: RecordedOp & { idempotencyKey: string }) => {
    const record = index.recordsOf(op.idempotencyKey)[0];
    if (!record) return undefined;
    return {
      invokedAt: op.invokedAt,
      returnedAt: Math.max(op.invokedAt, visibleBy.get(record.seq) ?? Infinity),
      by: `${op.client}?`,
    };
  };
  // Journal positions of the stock records, so the search follows the journal's order (see StockInput).
  const holdSeq = new Map<string, number>();
  for (const record of input.journal) {
    if (!record.stream.startsWith('stock/')) continue;
    for (const event of record.events as readonly StockEvent[]) {
      if (event.type === 'StockReserved') holdSeq.set(event.reservationId, record.seq);
    }
  }
  const recordSeq = (key: string): number | undefined =>
    index.recordsOf(key).find((record) => record.stream.startsWith('stock/'))?.seq;
  const okTransition = new Map<string, Extract<RecordedOp, { kind: 'confirm' | 'cancel' }>>();
  const timed = (op: RecordedOp) => ({ invokedAt: op.invokedAt, returnedAt: op.returnedAt, by: op.client });

  for (const op of input.history) {
    switch (op.kind) {
      case 'reserve': {
        const level = levelKey(op.level);
        const mayWithhold =
          input.stores.includes(op.level.locationId) &&
          input.clock.jumpedForwardIn(op.invokedAt - 60_000, op.returnedAt);
        if (op.outcome === 'ok') {
          push(level, {
            input: {
              type: 'reserve',
              reservation: op.reservationId,
              quantity: op.quantity,
              mayWithhold,
              seq: op.reservationId === undefined ? undefined : holdSeq.get(op.reservationId),
            },
            output: { type: 'ok' },
            ...timed(op),
          });
        } else if (op.outcome === 'refused' && op.answer.includes('STOCK_INSUFFICIENT')) {
          push(level, {
            input: { type: 'reserve', quantity: op.quantity, mayWithhold },
            output: { type: 'refused' },
            ...timed(op),
          });
        } else if (op.outcome === 'unknown' && resolved.has(op.id)) {
          const window = appliedBy(op);
          if (window) {
            push(level, {
              input: {
                type: 'reserve',
                reservation: resolved.get(op.id),
                quantity: op.quantity,
                mayWithhold,
                seq: holdSeq.get(resolved.get(op.id) ?? ''),
              },
              output: { type: 'ok' },
              ...window,
            });
          }
        }
        break;
      }
      case 'confirm':
      case 'cancel': {
        const level = levelOfReservation(op.reservationId);
        const deadline = deadlineOf(op.reservationId);
        const flags =
          op.kind === 'confirm' && deadline !== undefined
            ? {
                mayBeLate: input.clock.maxEngineTime(op.invokedAt, op.returnedAt) >= deadline - SLACK_MS,
                surelyLate: input.clock.minEngineTime(op.invokedAt, op.returnedAt) >= deadline + SLACK_MS,
              }
            : {};
        const stockInput: StockInput = { type: op.kind, reservation: op.reservationId, ...flags };
        if (op.outcome === 'ok') {
          okTransition.set(op.reservationId, op);
          push(level, { input: stockInput, output: { type: 'ok' }, ...timed(op) });
        } else if (op.outcome === 'refused') {
          push(level, { input: stockInput, output: { type: 'refused' }, ...timed(op) });
        } else if (op.outcome === 'unknown') {
          const window = appliedBy(op);
          if (window) push(level, { input: stockInput, output: { type: 'ok' }, ...window });
        }
        break;
      }
      case 'adjust':
      case 'count': {
        const level = levelKey(op.level);
        const seq = recordSeq(op.idempotencyKey);
        const stockInput: StockInput =
          op.kind === 'adjust'
            ? { type: 'adjust', delta: op.delta, seq }
            : { type: 'count', onHand: op.onHand, seq };
        if (op.outcome === 'ok') push(level, { input: stockInput, output: { type: 'ok' }, ...timed(op) });
        else if (op.outcome === 'refused')
          push(level, { input: stockInput, output: { type: 'refused' }, ...timed(op) });
        else if (op.outcome === 'unknown') {
          const window = appliedBy(op);
          if (window) push(level, { input: stockInput, output: { type: 'ok' }, ...window });
        }
        break;
      }
      case 'read':
        if (op.outcome === 'ok' && op.observed) {
          push(levelKey(op.level), {
            input: { type: 'read' },
            output: { type: 'level', onHand: op.observed.onHand, reserved: op.observed.reserved },
            ...timed(op),
          });
        }
        break;
      case 'status': {
        const status = op.observed === undefined ? undefined : observedStatus(op.observed);
        if (op.outcome === 'ok' && status) {
          push(levelOfReservation(op.reservationId), {
            input: { type: 'status', reservation: op.reservationId },
            output: { type: 'status', status },
            ...timed(op),
          });
        }
        break;
      }
      case 'till':
        break; // from the agent's journal below: it is what the store recorded, acknowledged or not
    }
  }

  // Steps the engine took on its own, found in its journal: never visible before their record was appended.
  const engineStep = (
    level: string | undefined,
    stockInput: StockInput,
    record: JournalRecord,
    answeredBy = Infinity,
  ) =>
    push(level, {
      input: record.stream.startsWith('stock/') ? { ...stockInput, seq: record.seq } : stockInput,
      output: { type: 'ok' },
      invokedAt: Date.parse(record.at) - SLACK_MS,
      returnedAt: Math.max(
        Date.parse(record.at),
        Math.min(answeredBy, visibleBy.get(record.seq) ?? Infinity),
      ),
      by: 'engine',
    });
  const boundBy = (id: string, kind: 'confirm' | 'cancel'): number => {
    const op = okTransition.get(id);
    // The stock step is done before the answer, unless a storage failure queued it for a retry.
    return op && op.kind === kind && !input.storageFaultDuring(op.invokedAt, op.returnedAt)
      ? op.returnedAt
      : Infinity;
  };
  for (const record of input.journal) {
    const ref = parseStream(record.stream);
    if (ref?.kind === 'reservation') {
      for (const event of record.events as readonly ReservationEvent[]) {
        if (event.type === 'ReservationExpired')
          engineStep(levelOfReservation(ref.id), { type: 'expire', reservation: ref.id }, record);
      }
    } else if (ref?.kind === 'stock') {
      const level = levelKey(ref);
      for (const event of record.events as readonly StockEvent[]) {
        if (event.type === 'ReservationCommitted') {
          engineStep(
            level,
            { type: 'commit', reservation: event.reservationId },
            record,
            boundBy(event.reservationId, 'confirm'),
          );
        } else if (event.type === 'ReservationReleased') {
          const bound = event.reason === 'cancelled' ? boundBy(event.reservationId, 'cancel') : Infinity;
          engineStep(level, { type: 'release', reservation: event.reservationId }, record, bound);
        } else if (event.type === 'StockReserved' && !index.placed.has(event.reservationId)) {
          engineStep(
            level,
            { type: 'hold', reservation: event.reservationId, quantity: event.quantity },
            record,
          );
        }
      }
    }
  }

  // Till events, as each store recorded them, applied in the store's order: visible once the engine
  // journaled them, and no later than the next acknowledged write journaled after them.
  for (const [storeId, events] of input.agentEvents) {
    const appliedAt = new Map<number, JournalRecord>();
    for (const { source, record } of index.tillApplied.get(storeId) ?? []) appliedAt.set(source.seq, record);
    const rank = new Map<string, number>();
    for (const event of events) {
      const level = levelKey({ sku: event.sku, locationId: storeId });
      const order = rank.get(level) ?? 0;
      rank.set(level, order + 1);
      const stockInput: StockInput =
        event.type === 'sale'
          ? { type: 'sale', quantity: event.quantity, order }
          : event.type === 'count'
            ? { type: 'count', onHand: event.quantity, order }
            : event.type === 'adjustment'
              ? { type: 'adjust', delta: event.quantity, allowNegative: true, order }
              : { type: 'receive', quantity: event.quantity, order };
      const record = appliedAt.get(event.seq);
      push(level, {
        input: record ? { ...stockInput, seq: record.seq } : stockInput,
        output: { type: 'ok' },
        invokedAt: Math.max(event.recordedAtMs, record ? Date.parse(record.at) : 0) - SLACK_MS,
        returnedAt: record
          ? Math.max(Date.parse(record.at), visibleBy.get(record.seq) ?? Infinity)
          : Infinity,
        by: `till-${storeId}`,
      });
    }
  }

  // The final reads after recovery pin the end state.
  for (const [key, seen] of input.live.levels) {
    push(key, {
      input: { type: 'read' },
      output: { type: 'level', onHand: seen.onHand, reserved: seen.reserved },
      invokedAt: input.live.readAt,
      returnedAt: input.liveDoneAt,
      by: 'final',
    });
  }
  for (const [id, view] of input.live.reservations) {
    const status = observedStatus(view.status);
    if (status)
      push(levelOfReservation(id), {
        input: { type: 'status', reservation: id },
        output: { type: 'status', status },
        invokedAt: input.live.readAt,
        returnedAt: input.liveDoneAt,
        by: 'final',
      });
  }
  return byLevel;
}
