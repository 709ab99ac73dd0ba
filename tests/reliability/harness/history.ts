// The history a run records: every operation a client invoked, when, and what came back. It is the raw
// material of every check; the linearizability histories per stock level are built from it (checks.ts).
import type { TillEventBody } from '../../support/store-agent-processes.js';

export interface LevelRef {
  readonly sku: string;
  readonly locationId: string;
}

export const levelKey = (level: LevelRef): string => `${level.sku}@${level.locationId}`;

/**
 * ok: the engine did it. refused: the engine answered that it would not (insufficient stock, a state
 * that forbids the transition, a stale If-Match): nothing changed. unknown: it may or may not have
 * taken effect. rejected: it surely did not (shed, refused connection). failed: a read that got no answer.
 */
export type Outcome = 'ok' | 'refused' | 'unknown' | 'rejected' | 'failed';

interface Base {
  readonly id: number;
  readonly client: string;
  readonly invokedAt: number;
  readonly returnedAt: number;
  readonly outcome: Outcome;
  /** The last answer's status and problem code, or the transport error. */
  readonly answer: string;
  readonly attempts: number;
}

export type RecordedOp =
  | (Base & {
      readonly kind: 'reserve';
      readonly level: LevelRef;
      readonly quantity: number;
      readonly ttlSeconds: number;
      readonly idempotencyKey: string;
      readonly reservationId?: string | undefined;
      /** The engine's deadline (engine-clock ms), from the answer. */
      readonly expiresAt?: number | undefined;
    })
  | (Base & {
      readonly kind: 'confirm' | 'cancel';
      readonly reservationId: string;
      readonly idempotencyKey: string;
      readonly code?: string | undefined;
    })
  | (Base & {
      readonly kind: 'adjust';
      readonly level: LevelRef;
      readonly delta: number;
      readonly idempotencyKey: string;
    })
  | (Base & {
      readonly kind: 'count';
      readonly level: LevelRef;
      readonly onHand: number;
      readonly idempotencyKey: string;
    })
  | (Base & {
      readonly kind: 'read';
      readonly level: LevelRef;
      readonly observed?: { readonly onHand: number; readonly reserved: number; readonly version: number };
    })
  | (Base & {
      readonly kind: 'status';
      readonly reservationId: string;
      readonly observed?: string | undefined;
    })
  | (Base & {
      readonly kind: 'till';
      readonly storeId: string;
      readonly event: TillEventBody;
      readonly idempotencyKey: string;
      /** The store seq the agent assigned, when it answered. */
      readonly seq?: number | undefined;
    });

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
export type NewOp = Distribute<RecordedOp>;

export class History {
  readonly ops: RecordedOp[] = [];
  add(op: NewOp): RecordedOp {
    const recorded = { ...op, id: this.ops.length } as RecordedOp;
    this.ops.push(recorded);
    return recorded;
  }
}
