// The messages between HTTP workers and the engine's process (the cluster primary), over the
// cluster IPC channel. Every process.send carries one envelope, `{ stockline: [message, ...] }`:
// messages produced in the same turn of the event loop are coalesced into one send (an `Outbox`),
// because each send costs a serialisation, a pipe write and a parse on the engine's core.
//
// A worker calls the engine (`call` → `ok` | `error`); the primary pushes feed items to workers
// that subscribed (`feed`, many items per message, in journal order) and tells them to drain and
// exit (`shutdown`). Values cross as JSON or as structured clones (cluster `serialization`): both
// keep every field a view or a problem needs; `undefined` arguments are sent as null and restored.
import type { ErrorCode } from '../../engine/errors.js';
import { errorCatalogue, InventoryError, isInventoryError } from '../../engine/errors.js';
import type { FeedItem } from '../../engine/types.js';

/** The engine port's methods a worker may call, plus the primary's own services. */
export const engineMethods = [
  'putLocation',
  'location',
  'locations',
  'level',
  'levelsOf',
  'execute',
  'reserve',
  'reservation',
  'confirm',
  'cancel',
  'markPaymentPending',
  'extend',
  'applyStoreEvents',
  'lastStoreSeq',
  'readFeed',
  'history',
  'levelAt',
  'metrics',
  'heartbeat',
] as const;
export type EngineMethod = (typeof engineMethods)[number];

/** Calls the primary answers itself rather than passing to the engine. */
export const hostMethods = ['hello', 'subscribe', 'unsubscribe', 'clusterMetrics'] as const;
export type HostMethod = (typeof hostMethods)[number];

export type Method = EngineMethod | HostMethod;
const methods = new Set<string>([...engineMethods, ...hostMethods]);
export const isMethod = (name: unknown): name is Method => typeof name === 'string' && methods.has(name);

/** An error as it crosses the channel: an InventoryError keeps its code, details and Retry-After. */
export type EncodedError =
  | {
      readonly kind: 'inventory';
      readonly code: ErrorCode;
      readonly message: string;
      readonly details: Readonly<Record<string, unknown>>;
      readonly retryAfterSeconds?: number | undefined;
    }
  | { readonly kind: 'error'; readonly message: string };

export type WorkerMessage = {
  readonly k: 'call';
  readonly id: number;
  readonly method: Method;
  readonly args: readonly unknown[];
};

export type PrimaryMessage =
  | { readonly k: 'ok'; readonly id: number; readonly value?: unknown }
  | { readonly k: 'error'; readonly id: number; readonly error: EncodedError }
  | { readonly k: 'feed'; readonly items: FeedItem[] }
  | { readonly k: 'shutdown'; readonly reason: string };

export interface Envelope<M> {
  readonly stockline: M[];
}

/** Our envelopes only: cluster and prom-client send their own messages on the same channel. */
export function isEnvelope<M>(message: unknown): message is Envelope<M> {
  return (
    typeof message === 'object' &&
    message !== null &&
    Array.isArray((message as { stockline?: unknown }).stockline)
  );
}

/** What a worker is told when it starts: the keys (a generated one too) and whether the engine serves. */
export interface Hello {
  /** API keys with their digests in hex (the worker never sees a plain key). */
  readonly apiKeys: readonly {
    readonly id: string;
    readonly digest: string;
    readonly role: string;
    readonly locationId?: string | undefined;
  }[];
  readonly ready: boolean;
  /** Requests per key per minute for this worker: ceil(RATE_LIMIT_PER_MINUTE / HTTP_WORKERS). */
  readonly rateLimitPerMinute: number;
}

export function encodeError(error: unknown): EncodedError {
  if (isInventoryError(error)) {
    return {
      kind: 'inventory',
      code: error.code,
      message: error.message,
      details: error.details,
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    };
  }
  return { kind: 'error', message: error instanceof Error ? error.message : String(error) };
}

/** An InventoryError with the same code, message, details and Retry-After; anything else a plain Error. */
export function decodeError(encoded: EncodedError): Error {
  if (encoded.kind === 'inventory' && Object.hasOwn(errorCatalogue, encoded.code)) {
    return new InventoryError(
      encoded.code,
      encoded.message,
      { ...encoded.details },
      encoded.retryAfterSeconds ?? undefined,
    );
  }
  return new Error(encoded.message);
}

/** JSON turns an undefined argument into null; no argument of the port is ever null, so map it back. */
export const encodeArgs = (args: readonly unknown[]): unknown[] =>
  args.map((arg) => (arg === undefined ? null : arg));
export const decodeArgs = (args: readonly unknown[]): unknown[] =>
  args.map((arg) => (arg === null ? undefined : arg));

/**
 * Coalesces the messages produced in one turn of the event loop into one envelope, sent from
 * setImmediate: after the I/O callbacks of the turn, so every request parsed in it rides along.
 */
export class Outbox<M> {
  private queue: M[] = [];
  private scheduled = false;

  /** `coalesce: false` sends each message at once (for the measurement in scripts/ipc-overhead.ts). */
  constructor(
    private readonly send: (envelope: Envelope<M>) => void,
    private readonly coalesce = true,
  ) {}

  push(message: M): void {
    this.queue.push(message);
    if (!this.coalesce) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The last message queued and not sent yet (to extend a feed message in place). */
  last(): M | undefined {
    return this.queue.at(-1);
  }

  flush(): void {
    if (this.coalesce) this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.send({ stockline: batch });
  }
}
