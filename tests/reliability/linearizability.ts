// A linearizability checker for small histories, in the style of Porcupine (Anish Athalye) and Knossos:
// the Wing & Gong search with Lowe's memoisation. A history is a set of operations, each with the time
// it was invoked and the time its answer arrived, checked against a sequential model: the history is
// linearizable when every operation can be given one instant between its invocation and its answer
// such that, taken in that order, the model accepts every operation with the answer it gave.
//
// Operations whose outcome is unknown (a timeout, a cut connection, a 503) may or may not have taken
// effect: the search may place them anywhere after their invocation, or leave them out. Operations
// whose effect is certain but whose time is not (a step the engine took on its own, found in its
// journal) have `returnedAt: Infinity`.
//
// Pure: no I/O, no clock. The stock model (per stock level) follows the search.
import { createHash } from 'node:crypto';

/** A sequential specification. `step` may be nondeterministic: every state the operation can lead to. */
export interface Model<State, Input, Output> {
  readonly init: () => State;
  /**
   * The states `input` can lead to from `state` when it answered `output`; `undefined` output means the
   * answer is unknown and the operation took effect. An empty list: the operation cannot happen there.
   */
  readonly step: (state: State, input: Input, output: Output | undefined) => readonly State[];
  /** Equal states give equal keys (memoisation). */
  readonly key: (state: State) => string;
  readonly describe?: (input: Input, output: Output | undefined) => string;
}

export interface Operation<Input, Output> {
  readonly input: Input;
  /** The answer; absent when the outcome is unknown (the operation may or may not have taken effect). */
  readonly output?: Output | undefined;
  readonly unknown?: boolean | undefined;
  readonly invokedAt: number;
  /** When the answer arrived; Infinity when the effect is certain but its time is not. Ignored for unknown outcomes. */
  readonly returnedAt: number;
  /** Who issued it (a client, the engine, a store): for reports. */
  readonly by?: string | undefined;
}

export interface CheckOptions {
  /** Search steps before giving up with `ok: 'unknown'`. */
  readonly maxSteps?: number | undefined;
}

export type CheckResult =
  | { readonly ok: true; readonly steps: number; readonly linearization: readonly number[] }
  | {
      readonly ok: false;
      readonly steps: number;
      /** The longest prefix the search could linearize (operation indexes, in order). */
      readonly longestPrefix: readonly number[];
      /** Definite operations the longest prefix could not take, earliest answer first. */
      readonly stuck: readonly number[];
      /** The model's state after the longest prefix (its key). */
      readonly stateAfterPrefix: string;
    }
  | {
      readonly ok: 'unknown';
      readonly steps: number;
      readonly reason: string;
      /** As for a failure: how far the search got before it gave up. */
      readonly longestPrefix: readonly number[];
      readonly stuck: readonly number[];
    };

interface Entry {
  readonly kind: 'call' | 'return';
  readonly op: number;
  readonly time: number;
  prev: Entry | null;
  next: Entry | null;
  /** A call's return entry (null for an operation of unknown outcome, which never blocks). */
  match: Entry | null;
}

function lift(entry: Entry): void {
  (entry.prev as Entry).next = entry.next;
  if (entry.next) entry.next.prev = entry.prev;
  const match = entry.match;
  if (match) {
    (match.prev as Entry).next = match.next;
    if (match.next) match.next.prev = match.prev;
  }
}

function unlift(entry: Entry): void {
  const match = entry.match;
  if (match) {
    (match.prev as Entry).next = match;
    if (match.next) match.next.prev = match;
  }
  (entry.prev as Entry).next = entry;
  if (entry.next) entry.next.prev = entry;
}

class Bits {
  private readonly words: Uint32Array;
  constructor(size: number) {
    this.words = new Uint32Array(Math.max(1, Math.ceil(size / 32)));
  }
  set(index: number): void {
    this.words[index >>> 5] = (this.words[index >>> 5] as number) | (1 << (index & 31));
  }
  clear(index: number): void {
    this.words[index >>> 5] = (this.words[index >>> 5] as number) & ~(1 << (index & 31));
  }
  has(index: number): boolean {
    return ((this.words[index >>> 5] as number) & (1 << (index & 31))) !== 0;
  }
  key(): string {
    let text = '';
    for (const word of this.words) text += word.toString(36) + ',';
    return text;
  }
}

/** Builds the ordered entry list: by time, calls before returns at the same instant (treated as concurrent). */
function entriesOf(history: readonly Operation<unknown, unknown>[]): Entry {
  const all: Entry[] = [];
  history.forEach((op, index) => {
    if (!Number.isFinite(op.invokedAt)) throw new RangeError(`operation ${index}: invokedAt must be finite`);
    const call: Entry = { kind: 'call', op: index, time: op.invokedAt, prev: null, next: null, match: null };
    all.push(call);
    if (!op.unknown) {
      if (op.returnedAt < op.invokedAt) {
        throw new RangeError(
          `operation ${index}: answered (${op.returnedAt}) before invoked (${op.invokedAt})`,
        );
      }
      const ret: Entry = {
        kind: 'return',
        op: index,
        time: op.returnedAt,
        prev: null,
        next: null,
        match: null,
      };
      call.match = ret;
      all.push(ret);
    }
  });
  all.sort((a, b) => a.time - b.time || (a.kind === b.kind ? a.op - b.op : a.kind === 'call' ? -1 : 1));
  const head: Entry = { kind: 'call', op: -1, time: -Infinity, prev: null, next: null, match: null };
  let previous = head;
  for (const entry of all) {
    previous.next = entry;
    entry.prev = previous;
    previous = entry;
  }
  return head;
}

interface Frame<State> {
  readonly entry: Entry;
  readonly before: State;
  readonly alternatives: readonly State[];
  readonly index: number;
}

/** Checks one history against the model (Wing & Gong search, memoised on (linearized set, state)). */
export function checkHistory<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult {
  const maxSteps = options.maxSteps ?? 5_000_000;
  const head = entriesOf(history);
  const linearized = new Bits(history.length);
  const seen = new Set<string>();
  const stack: Frame<State>[] = [];
  let state = model.init();
  let remaining = history.filter((op) => !op.unknown).length;
  let steps = 0;
  let best: number[] = [];
  let bestState = model.key(state);

  /** Takes the first alternative from `from` that leads somewhere new; true when one was taken. */
  const take = (entry: Entry, alternatives: readonly State[], from: number, before: State): boolean => {
    for (let index = from; index < alternatives.length; index++) {
      const next = alternatives[index] as State;
      linearized.set(entry.op);
      // Hashed: a state key can be long, and the search may remember many of them.
      const memo = createHash('sha1')
        .update(linearized.key())
        .update('|')
        .update(model.key(next))
        .digest('base64');
      if (seen.has(memo)) {
        linearized.clear(entry.op);
        continue;
      }
      seen.add(memo);
      stack.push({ entry, before, alternatives, index });
      state = next;
      lift(entry);
      if (!history[entry.op]?.unknown) remaining--;
      if (stack.length > best.length) {
        best = stack.map((frame) => frame.entry.op);
        bestState = model.key(state);
      }
      return true;
    }
    return false;
  };

  /** Definite operations a prefix left out, earliest answer first: where the search got stuck. */
  const stuckAfter = (prefix: readonly number[]): number[] => {
    const placed = new Set(prefix);
    return history
      .map((op, index) => ({ op, index }))
      .filter(({ op, index }) => !op.unknown && !placed.has(index))
      .sort((a, b) => a.op.returnedAt - b.op.returnedAt || a.op.invokedAt - b.op.invokedAt)
      .map(({ index }) => index);
  };

  let entry = head.next;
  for (;;) {
    if (remaining === 0) return { ok: true, steps, linearization: stack.map((frame) => frame.entry.op) };
    if (++steps > maxSteps) {
      return {
        ok: 'unknown',
        steps,
        reason: `gave up after ${maxSteps} search steps`,
        longestPrefix: best,
        stuck: stuckAfter(best),
      };
    }
    if (entry !== null && entry.kind === 'call') {
      const op = history[entry.op] as Operation<Input, Output>;
      const alternatives = model.step(state, op.input, op.unknown ? undefined : op.output);
      if (take(entry, alternatives, 0, state)) entry = head.next;
      else entry = entry.next;
      continue;
    }
    // A return entry (an operation that must have happened by now), or the end of the list: undo the
    // last choice and try its next alternative, or the next operation after it.
    const top = stack.pop();
    if (!top)
      return { ok: false, steps, longestPrefix: best, stuck: stuckAfter(best), stateAfterPrefix: bestState };
    unlift(top.entry);
    linearized.clear(top.entry.op);
    if (!history[top.entry.op]?.unknown) remaining++;
    state = top.before;
    entry = take(top.entry, top.alternatives, top.index + 1, top.before) ? head.next : top.entry.next;
  }
}

/** A short text of an operation for reports: `[12.3 .. 15.0] c3 reserve r-1 x2 -> ok`. */
export function describeOperation<State, Input, Output>(
  model: Model<State, Input, Output>,
  op: Operation<Input, Output>,
  origin = 0,
): string {
  const end = op.unknown ? '?' : op.returnedAt === Infinity ? '∞' : (op.returnedAt - origin).toFixed(1);
  const what = model.describe
    ? model.describe(op.input, op.unknown ? undefined : op.output)
    : `${JSON.stringify(op.input)} -> ${op.unknown ? 'unknown' : JSON.stringify(op.output)}`;
  return `[${(op.invokedAt - origin).toFixed(1)} .. ${end}]${op.by ? ` ${op.by}` : ''} ${what}`;
}

// ---------------------------------------------------------------- the stock model

/**
 * Operations on one stock level (one SKU at one location) and the reservations it holds. Each
 * reservation in these histories has one line, so its hold lives on exactly one level.
 *
 * Client operations: reserve, confirm, cancel, the till path (sale, receive, adjust, count: `order` is the
 * event's rank among this level's events of its store, which the engine must apply in order), back-office
 * adjust and count, and reads of the level and of a reservation's status. Engine steps: expire (the
 * decision), commit and release (the stock step after a confirm, cancel or expiry decision), and hold (a
 * saga's hold whose reservation was never placed, later released by compensation).
 *
 * `seq`, when known, is the position of the operation's record in the level's journal: operations that
 * carry one take effect in that order (the engine applies its journal in order), which spares the search
 * every interleaving the journal already rules out. Refusals and reads carry none.
 */
export type StockInput = StockOperation & { readonly seq?: number | undefined };

type StockOperation =
  | {
      readonly type: 'reserve';
      /** The reservation id when known (the engine chooses it); otherwise a synthetic one is used. */
      readonly reservation?: string | undefined;
      readonly quantity: number;
      /** The store may have been silent: the engine may withhold its offline buffer. */
      readonly mayWithhold?: boolean | undefined;
    }
  | {
      readonly type: 'confirm';
      readonly reservation: string;
      /** The deadline may have passed while the confirm was in flight (so a refusal is allowed). */
      readonly mayBeLate?: boolean | undefined;
      /** The deadline had surely passed when the confirm was sent (so it must be refused). */
      readonly surelyLate?: boolean | undefined;
    }
  | { readonly type: 'cancel'; readonly reservation: string }
  | { readonly type: 'expire'; readonly reservation: string }
  | { readonly type: 'commit'; readonly reservation: string }
  | { readonly type: 'release'; readonly reservation: string }
  | { readonly type: 'hold'; readonly reservation: string; readonly quantity: number }
  | { readonly type: 'receive'; readonly quantity: number; readonly order?: number | undefined }
  | { readonly type: 'sale'; readonly quantity: number; readonly order?: number | undefined }
  | {
      readonly type: 'adjust';
      readonly delta: number;
      /** The till path records what happened; the back office may not take on-hand below zero. */
      readonly allowNegative?: boolean | undefined;
      readonly order?: number | undefined;
    }
  | { readonly type: 'count'; readonly onHand: number; readonly order?: number | undefined }
  | { readonly type: 'read' }
  | { readonly type: 'status'; readonly reservation: string };

export type ObservedStatus = 'active' | 'confirmed' | 'cancelled' | 'expired';

export type StockOutput =
  | { readonly type: 'ok' }
  /** Insufficient stock, a refused transition, STOCK_NEGATIVE, a stale If-Match. */
  | { readonly type: 'refused' }
  | { readonly type: 'level'; readonly onHand: number; readonly reserved: number }
  | { readonly type: 'status'; readonly status: ObservedStatus };

type ReservationPhase =
  | 'active'
  | 'confirming'
  | 'confirmed'
  | 'cancelling'
  | 'cancelled'
  | 'expiring'
  | 'expired'
  /** A hold whose reservation was never placed. */
  | 'orphan';

interface ModelHold {
  readonly quantity: number;
  /** A till sale, count or loss took on-hand below the reserved units while this hold was alive. */
  readonly atRisk: boolean;
}

export interface StockModelState {
  readonly onHand: number;
  readonly holds: ReadonlyMap<string, ModelHold>;
  readonly phases: ReadonlyMap<string, ReservationPhase>;
  /** The rank of the next till event the level must apply. */
  readonly tillNext: number;
  /** The journal position of the last operation applied that carried one. */
  readonly lastSeq: number;
  /** Counter for reservations whose id the client never learned. */
  readonly anonymous: number;
}

export interface StockModelOptions {
  readonly onHand?: number | undefined;
  /** Units a silent store withholds from online promises (the engine's offlineBuffer). */
  readonly offlineBuffer?: number | undefined;
}

const reservedOf = (holds: ReadonlyMap<string, ModelHold>): number => {
  let total = 0;
  for (const hold of holds.values()) total += hold.quantity;
  return total;
};

const observedOf: Record<ReservationPhase, ObservedStatus | undefined> = {
  active: 'active',
  confirming: 'confirmed',
  confirmed: 'confirmed',
  cancelling: 'cancelled',
  cancelled: 'cancelled',
  expiring: 'expired',
  expired: 'expired',
  orphan: undefined,
};

export function stockModel(options: StockModelOptions = {}): Model<StockModelState, StockInput, StockOutput> {
  const buffer = options.offlineBuffer ?? 2;
  const initial: StockModelState = {
    onHand: options.onHand ?? 0,
    holds: new Map(),
    phases: new Map(),
    tillNext: 0,
    lastSeq: 0,
    anonymous: 0,
  };

  const withOnHand = (state: StockModelState, onHand: number): StockModelState => {
    // After a sale, count or adjustment, holds no longer covered by on-hand stock may be flagged at
    // risk (then a confirm may be refused). The engine flags the newest first; any of them may be.
    const reserved = reservedOf(state.holds);
    if (reserved <= Math.max(0, onHand)) return { ...state, onHand };
    const holds = new Map<string, ModelHold>();
    for (const [id, hold] of state.holds) holds.set(id, hold.atRisk ? hold : { ...hold, atRisk: true });
    return { ...state, onHand, holds };
  };
  const withPhase = (state: StockModelState, id: string, phase: ReservationPhase): StockModelState => {
    const phases = new Map(state.phases);
    phases.set(id, phase);
    return { ...state, phases };
  };
  const withoutHold = (state: StockModelState, id: string): StockModelState => {
    const holds = new Map(state.holds);
    holds.delete(id);
    return { ...state, holds };
  };
  const withHold = (state: StockModelState, id: string, quantity: number): StockModelState => {
    const holds = new Map(state.holds);
    holds.set(id, { quantity, atRisk: false });
    return { ...state, holds };
  };
  const available = (state: StockModelState): number => Math.max(0, state.onHand - reservedOf(state.holds));
  const inOrder = (state: StockModelState, order: number | undefined): StockModelState | undefined => {
    if (order === undefined) return state;
    return order === state.tillNext ? { ...state, tillNext: state.tillNext + 1 } : undefined;
  };
  const ok = (output: StockOutput | undefined): boolean => output === undefined || output.type === 'ok';
  const refused = (output: StockOutput | undefined): boolean => output?.type === 'refused';

  const step = (
    state: StockModelState,
    input: StockInput,
    output: StockOutput | undefined,
  ): StockModelState[] => {
    switch (input.type) {
      case 'reserve': {
        if (refused(output)) {
          const floor = Math.max(0, available(state) - (input.mayWithhold ? buffer : 0));
          return input.quantity > floor ? [state] : [];
        }
        if (!ok(output)) return [];
        let next = state;
        let id = input.reservation;
        if (id === undefined) {
          id = `~${state.anonymous}`;
          next = { ...state, anonymous: state.anonymous + 1 };
        }
        if (state.phases.has(id) || state.holds.has(id) || input.quantity > available(state)) return [];
        return [withPhase(withHold(next, id, input.quantity), id, 'active')];
      }
      case 'confirm': {
        const phase = state.phases.get(input.reservation);
        if (refused(output)) {
          const atRisk = state.holds.get(input.reservation)?.atRisk === true;
          return phase !== 'active' || input.mayBeLate || atRisk ? [state] : [];
        }
        if (!ok(output) || phase !== 'active' || input.surelyLate) return [];
        return [withPhase(state, input.reservation, 'confirming')];
      }
      case 'cancel':
      case 'expire': {
        const phase = state.phases.get(input.reservation);
        if (refused(output)) return phase === 'active' ? [] : [state];
        if (!ok(output) || phase !== 'active') return [];
        return [withPhase(state, input.reservation, input.type === 'cancel' ? 'cancelling' : 'expiring')];
      }
      case 'commit': {
        const hold = state.holds.get(input.reservation);
        if (!ok(output) || !hold || state.phases.get(input.reservation) !== 'confirming') return [];
        const committed = withoutHold(withPhase(state, input.reservation, 'confirmed'), input.reservation);
        return [{ ...committed, onHand: state.onHand - hold.quantity }];
      }
      case 'release': {
        const phase = state.phases.get(input.reservation);
        if (!ok(output) || !state.holds.has(input.reservation)) return [];
        const after =
          phase === 'cancelling'
            ? 'cancelled'
            : phase === 'expiring'
              ? 'expired'
              : phase === 'orphan'
                ? 'orphan'
                : null;
        if (after === null) return [];
        return [withoutHold(withPhase(state, input.reservation, after), input.reservation)];
      }
      case 'hold': {
        if (!ok(output) || state.phases.has(input.reservation) || input.quantity > available(state))
          return [];
        return [withPhase(withHold(state, input.reservation, input.quantity), input.reservation, 'orphan')];
      }
      case 'receive':
      case 'sale':
      case 'adjust':
      case 'count': {
        if (input.type === 'adjust' && refused(output)) {
          return !input.allowNegative && state.onHand + input.delta < 0 ? [state] : [];
        }
        if (input.type === 'count' && refused(output)) return [state]; // a stale If-Match changes nothing
        if (!ok(output)) return [];
        const next = inOrder(state, input.order);
        if (!next) return [];
        switch (input.type) {
          case 'receive':
            return [{ ...next, onHand: next.onHand + input.quantity }];
          case 'sale':
            return [withOnHand(next, next.onHand - input.quantity)];
          case 'adjust':
            if (!input.allowNegative && next.onHand + input.delta < 0) return [];
            return [withOnHand(next, next.onHand + input.delta)];
          case 'count':
            return [withOnHand(next, input.onHand)];
        }
        return [];
      }
      case 'read':
        return output?.type === 'level' &&
          output.onHand === state.onHand &&
          output.reserved === reservedOf(state.holds)
          ? [state]
          : [];
      case 'status': {
        const phase = state.phases.get(input.reservation);
        return output?.type === 'status' && phase !== undefined && observedOf[phase] === output.status
          ? [state]
          : [];
      }
      default: {
        const _exhaustive: never = input;
        return _exhaustive;
      }
    }
  };

  const sequenced = (
    state: StockModelState,
    input: StockInput,
    output: StockOutput | undefined,
  ): StockModelState[] => {
    const seq = input.seq;
    if (seq === undefined || (output !== undefined && output.type !== 'ok'))
      return step(state, input, output);
    if (seq <= state.lastSeq) return [];
    return step(state, input, output).map((next) => ({ ...next, lastSeq: seq }));
  };

  return {
    init: () => initial,
    step: sequenced,
    key: (state) => {
      const holds = [...state.holds]
        .map(([id, hold]) => `${id}:${hold.quantity}${hold.atRisk ? '!' : ''}`)
        .sort()
        .join(',');
      const phases = [...state.phases]
        .map(([id, phase]) => `${id}:${phase}`)
        .sort()
        .join(',');
      return `${state.onHand}|${state.tillNext}|${state.lastSeq}|${state.anonymous}|${holds}|${phases}`;
    },
    describe: (input, output) => {
      const { type, ...rest } = input;
      const args = Object.entries(rest)
        .filter(([, value]) => value !== undefined && value !== false)
        .map(([name, value]) => (value === true ? name : `${name}=${String(value)}`))
        .join(' ');
      const answer =
        output === undefined
          ? 'unknown'
          : output.type === 'level'
            ? `onHand=${output.onHand} reserved=${output.reserved}`
            : output.type === 'status'
              ? output.status
              : output.type;
      return `${type}${args ? ` ${args}` : ''} -> ${answer}`;
    },
  };
}
