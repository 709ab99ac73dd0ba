// The actor runtime: one actor per stream (a stock level, a reservation, a location), each taking
// commands one at a time from its mailbox.
//
// A turn is synchronous: decide on the actor's current state, evolve it, hand the events to the
// journal. The actor does not wait for the fsync before its next turn (a hot SKU would otherwise be
// limited to one fsync per command); instead every caller is answered only when the record behind
// its answer is durable. Answers that append nothing (a refusal, a no-op) wait for the actor's last
// append too, so no caller ever sees state that might not survive a crash. If an append fails, the
// actor's state may hold undurable events: the actor is retired, and once every append it made has
// settled, a fresh actor starts from the durable projection.
import { InventoryError } from '../errors.js';
import type { JournalEntry, JournalRecord } from '../../storage/journal.js';

export interface Decision<S, R> {
  readonly events: readonly { readonly type: string }[];
  /** The caller's answer, computed from the state after the events (stored with idempotency keys). */
  readonly answer: (after: S) => R;
  /** Extra record metadata, computed from the states before and after. */
  readonly meta?: ((before: S, after: S, answer: R) => Record<string, unknown> | undefined) | undefined;
  /** Names the record takes for good (see JournalEntry.claims). */
  readonly claims?: readonly string[] | undefined;
}

export interface ActorHost<S> {
  /**
   * Appends durably and applies the record to the projection, in journal order. `before` and `after`
   * are the actor's states around the entry's events: the projection may adopt `after` instead of
   * folding the events again when it still holds exactly `before` (see Projection.apply).
   */
  commit(entry: JournalEntry, before: S, after: S): Promise<JournalRecord>;
  /** The durable state of a stream, from the projection. */
  durable(stream: string): S;
  evolveAll(state: S, events: readonly { readonly type: string }[], stream: string): S;
  versionOf(state: S): number;
  readonly mailboxCapacity: number;
  now(): number;
}

const SETTLED: Promise<unknown> = Promise.resolve();

export class StreamActor<S> {
  private state: S;
  /** Commands decided whose records are not yet durable. */
  private inFlight = 0;
  /**
   * The last append while one is in flight: answers that append nothing wait for it. Once every
   * append has succeeded it goes back to a shared settled promise, so an idle actor does not keep
   * its last record alive.
   */
  private lastAppend: Promise<unknown> = SETTLED;
  /** Called when inFlight drops to zero (set while a retired actor waits for its appends to settle). */
  private onSettled: (() => void) | undefined;
  private retired = false;
  /** Shared by this actor's appends: a shared journal sets it when it refuses one (see JournalEntry). */
  private readonly writer = { refused: false };
  lastActive: number;

  constructor(
    readonly stream: string,
    private readonly host: ActorHost<S>,
    private readonly onRetire: (actor: StreamActor<S>, settled: Promise<void>) => void,
  ) {
    this.state = host.durable(stream);
    this.lastActive = host.now();
  }

  get depth(): number {
    return this.inFlight;
  }
  get idle(): boolean {
    return this.inFlight === 0 && !this.retired;
  }
  /** The state including commands decided but not yet durable (for same-turn checks by other actors). */
  get current(): S {
    return this.state;
  }

  get version(): number {
    return this.host.versionOf(this.state);
  }
  get isRetired(): boolean {
    return this.retired;
  }

  /**
   * One turn. `bypassCapacity` is for till events: the sale already happened, so it is recorded
   * even when the mailbox is full (the API bounds a till batch's size instead).
   */
  run<R>(decide: (state: S) => Decision<S, R>, bypassCapacity = false): Promise<R> {
    if (this.retired) throw new Error(`actor ${this.stream} is retired`);
    if (this.writer.refused) {
      // Another node wrote this stream first: nothing more may be decided on this actor's state.
      this.retire();
      return Promise.reject(
        new InventoryError('APPEND_CONFLICT', `${this.stream} was written by another node first`, {}, 0),
      );
    }
    if (!bypassCapacity && this.inFlight >= this.host.mailboxCapacity) {
      return Promise.reject(
        new InventoryError('MAILBOX_FULL', `${this.stream} has ${this.inFlight} commands in flight`, {}, 1),
      );
    }
    this.lastActive = this.host.now();
    let decision: Decision<S, R>;
    try {
      decision = decide(this.state);
    } catch (error) {
      return this.lastAppend.then(() => Promise.reject(error));
    }
    const before = this.state;
    if (decision.events.length === 0) {
      const answer = decision.answer(before);
      return this.lastAppend.then(() => answer);
    }
    const after = this.host.evolveAll(before, decision.events, this.stream);
    const answer = decision.answer(after);
    const meta = decision.meta?.(before, after, answer);
    this.state = after;
    this.inFlight++;
    const entry: { -readonly [K in keyof JournalEntry]: JournalEntry[K] } = {
      stream: this.stream,
      version: this.host.versionOf(after),
      events: decision.events,
      writer: this.writer,
    };
    if (meta !== undefined) entry.meta = meta;
    if (decision.claims !== undefined && decision.claims.length > 0) entry.claims = decision.claims;
    const append = this.host.commit(entry, before, after);
    this.lastAppend = append;
    return append.then(
      () => {
        this.settleOne();
        return answer;
      },
      (error: unknown) => {
        this.settleOne();
        this.retire();
        throw error;
      },
    );
  }

  private settleOne(): void {
    if (--this.inFlight > 0) return;
    // Every append made so far has settled; after a failure the actor is retired right after this.
    this.lastAppend = SETTLED;
    if (this.onSettled) {
      const settled = this.onSettled;
      this.onSettled = undefined;
      settled();
    }
  }

  /** Settles once every append made so far has settled, success or failure. */
  private allSettled(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const previous = this.onSettled;
      this.onSettled = previous
        ? () => {
            previous();
            resolve();
          }
        : resolve;
    });
  }

  private retire(): void {
    if (this.retired) return;
    this.retired = true;
    this.onRetire(this, this.allSettled());
  }
}

/**
 * Activates actors on first use and passivates idle ones, so memory tracks the active set: a
 * passivated stream's state stays in the projection, and its next command activates a new actor.
 */
export class ActorRegistry<S> {
  private readonly actors = new Map<string, StreamActor<S>>();
  /** Streams whose retired actor still has appends in flight: new commands wait for them. */
  private readonly draining = new Map<string, Promise<void>>();

  private readonly onRetire = (actor: StreamActor<S>, settled: Promise<void>) => this.retire(actor, settled);

  constructor(private readonly host: ActorHost<S>) {}

  /** Runs a turn on the stream's actor, activating it (after any drain) when needed. */
  run<R>(stream: string, decide: (state: S) => Decision<S, R>, bypassCapacity = false): Promise<R> {
    const actor = this.actors.get(stream);
    if (actor) return actor.run(decide, bypassCapacity);
    const drain = this.draining.get(stream);
    if (drain) return drain.then(() => this.run(stream, decide, bypassCapacity));
    const fresh = new StreamActor<S>(stream, this.host, this.onRetire);
    this.actors.set(stream, fresh);
    return fresh.run(decide, bypassCapacity);
  }

  private retire(actor: StreamActor<S>, settled: Promise<void>): void {
    if (this.actors.get(actor.stream) === actor) this.actors.delete(actor.stream);
    const drain = settled.then(() => {
      if (this.draining.get(actor.stream) === drain) this.draining.delete(actor.stream);
    });
    this.draining.set(actor.stream, drain);
  }

  /** Drops actors idle for longer than `idleMs`; returns how many were passivated. */
  passivateIdle(idleMs: number): number {
    const cutoff = this.host.now() - idleMs;
    let passivated = 0;
    for (const [stream, actor] of this.actors) {
      if (actor.idle && actor.lastActive <= cutoff) {
        this.actors.delete(stream);
        passivated++;
      }
    }
    return passivated;
  }

  /**
   * Drops the stream's actor if it is idle and behind `version` (a record another node wrote): its next
   * command activates a fresh actor from the projection instead of failing on the journal's fence.
   */
  dropIfBehind(stream: string, version: number): void {
    const actor = this.actors.get(stream);
    if (actor && actor.idle && actor.version < version) this.actors.delete(stream);
  }

  /** The stream's current state if its actor is active (it may include undurable commands). */
  peek(stream: string): S | undefined {
    const actor = this.actors.get(stream);
    return actor && !actor.isRetired ? actor.current : undefined;
  }

  /** Number of activated actors. */
  get active(): number {
    return this.actors.size;
  }

  get depth(): number {
    let total = 0;
    for (const actor of this.actors.values()) total += actor.depth;
    return total;
  }
}
