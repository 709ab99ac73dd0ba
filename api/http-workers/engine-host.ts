// The primary's side of the HTTP workers' channel: runs each worker's calls on the real engine and
// answers, and forwards the live feed to the workers that subscribed. One `HostConnection` per
// worker; its answers and feed items leave in one envelope per turn of the event loop.
import type { Logger } from 'winston';
import type { FeedItem } from '../../engine/types.js';
import type { InventoryEngine } from '../engine-port.js';
import type { Envelope, HostMethod, PrimaryMessage, WorkerMessage } from './protocol.js';
import { decodeArgs, encodeError, engineMethods, isMethod, Outbox } from './protocol.js';

type Handler = (...args: unknown[]) => unknown;
const engineMethodNames = new Set<string>(engineMethods);

export interface EngineHostOptions {
  readonly logger: Logger;
  /** The primary's own calls (hello, clusterMetrics); subscribe and unsubscribe are the host's. */
  readonly services: Partial<Record<Exclude<HostMethod, 'subscribe' | 'unsubscribe'>, () => unknown>>;
  /** Coalesce the answers of one event-loop turn into one send (default true). */
  readonly coalesce?: boolean;
}

export class EngineHost {
  constructor(
    private readonly engine: InventoryEngine,
    private readonly options: EngineHostOptions,
  ) {}

  /** A worker's connection: `send` writes one envelope to it (worker.send in the primary). */
  connect(send: (envelope: Envelope<PrimaryMessage>) => void): HostConnection {
    return new HostConnection(this.engine, this.options, send);
  }
}

export class HostConnection {
  private readonly outbox: Outbox<PrimaryMessage>;
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly engine: InventoryEngine,
    private readonly options: EngineHostOptions,
    send: (envelope: Envelope<PrimaryMessage>) => void,
  ) {
    this.outbox = new Outbox((envelope) => {
      if (!this.closed) send(envelope);
    }, options.coalesce ?? true);
  }

  get subscribed(): boolean {
    return this.unsubscribe !== undefined;
  }

  /** Handles one envelope from the worker, in order. */
  receive(envelope: Envelope<WorkerMessage>): void {
    for (const message of envelope.stockline) {
      if (message.k === 'call') this.call(message.id, message.method, message.args);
    }
  }

  /** Sends a message that is not an answer (shutdown), with the others of this turn. */
  push(message: PrimaryMessage): void {
    if (!this.closed) this.outbox.push(message);
  }

  /** The worker is gone: stop its feed; answers still due are dropped. */
  close(): void {
    this.closed = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private call(id: number, method: unknown, rawArgs: readonly unknown[]): void {
    const answer = (value: unknown) => this.push({ k: 'ok', id, value });
    const fail = (error: unknown) => {
      if (!(error instanceof Error) || error.name !== 'InventoryError') {
        this.options.logger.error('engine call from an HTTP worker failed', {
          method,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      this.push({ k: 'error', id, error: encodeError(error) });
    };
    let result: unknown;
    try {
      result = this.invoke(method, Array.isArray(rawArgs) ? decodeArgs(rawArgs) : []);
    } catch (error) {
      fail(error);
      return;
    }
    if (result instanceof Promise) result.then(answer, fail);
    else answer(result);
  }

  private invoke(method: unknown, args: unknown[]): unknown {
    if (!isMethod(method)) throw new Error(`unknown engine method ${JSON.stringify(method)}`);
    if (method === 'subscribe') {
      this.unsubscribe ??= this.engine.subscribe((item) => this.forward(item));
      return undefined;
    }
    if (method === 'unsubscribe') {
      this.unsubscribe?.();
      this.unsubscribe = undefined;
      return undefined;
    }
    if (engineMethodNames.has(method)) {
      // The method names are checked against the port's list above; the engine is the port.
      const handler = (this.engine as unknown as Record<string, Handler | undefined>)[method];
      if (typeof handler !== 'function') throw new Error(`the engine has no method ${method}`);
      return handler.apply(this.engine, args);
    }
    const service = this.options.services[method as keyof EngineHostOptions['services']];
    if (!service) throw new Error(`no service ${method} in this process`);
    return service();
  }

  /** Feed items of one turn travel together: consecutive items extend the same message. */
  private forward(item: FeedItem): void {
    if (this.closed) return;
    const last = this.outbox.last();
    if (last?.k === 'feed') last.items.push(item);
    else this.outbox.push({ k: 'feed', items: [item] });
  }
}
