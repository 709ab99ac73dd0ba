// The agent's side of the engine's HTTP API: post an ordered batch of till events, send a heartbeat,
// read the store's position. Every failure becomes a ForwardError whose `kind` says what the
// forwarder should do: retry soon (network, timeout, unavailable, busy), or retry slowly and raise an
// alert (rejected: the engine understood and refused, which retrying alone will not fix).
import type { StoreEventInput, StoreEventsResult } from '../engine/types.js';

export type ForwardErrorKind = 'network' | 'timeout' | 'unavailable' | 'busy' | 'rejected';

export class ForwardError extends Error {
  constructor(
    readonly kind: ForwardErrorKind,
    message: string,
    readonly details: {
      readonly status?: number | undefined;
      readonly code?: string | undefined;
      /** From Retry-After, when the engine sent one. */
      readonly retryAfterMs?: number | undefined;
    } = {},
  ) {
    super(message);
    this.name = 'ForwardError';
  }

  /** Failures that say the engine (or the way to it) is unhealthy: these open the breaker. */
  get isEngineFault(): boolean {
    return this.kind === 'network' || this.kind === 'timeout' || this.kind === 'unavailable';
  }
}

/** The engine's answer to a batch: acknowledged up to lastSeq, or "resend from expectedSeq". */
export type BatchOutcome =
  | ({ readonly kind: 'acknowledged'; readonly replayed: boolean } & StoreEventsResult)
  | { readonly kind: 'gap'; readonly expectedSeq: number };

export interface EngineClientOptions {
  readonly engineUrl: string;
  readonly storeId: string;
  readonly storeKey: string;
  readonly requestTimeoutMs: number;
}

interface Problem {
  readonly code?: unknown;
  readonly detail?: unknown;
  readonly expectedSeq?: unknown;
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds. */
export function retryAfterMsOf(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

const isNonNegativeInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

export class EngineClient {
  readonly #base: string;
  readonly #storeId: string;
  readonly #authorization: string;
  readonly #timeoutMs: number;

  constructor(options: EngineClientOptions) {
    this.#base = options.engineUrl;
    this.#storeId = encodeURIComponent(options.storeId);
    this.#authorization = `Bearer ${options.storeKey}`;
    this.#timeoutMs = options.requestTimeoutMs;
  }

  /**
   * The Idempotency-Key of a batch: its store and seq range (the same range always has the same body),
   * plus a generation the forwarder bumps after the engine answered 5xx, so a key the engine may
   * remember as failed is not retried forever. Exactly-once rests on the seqs either way.
   */
  static batchKey(storeId: string, events: readonly StoreEventInput[], generation = 0): string {
    const range = `store-agent:${storeId}:${events[0]?.seq ?? 0}-${events.at(-1)?.seq ?? 0}`;
    return generation === 0 ? range : `${range}:${generation}`;
  }

  async postEvents(events: readonly StoreEventInput[], generation = 0): Promise<BatchOutcome> {
    const response = await this.#request('POST', `/v1/stores/${this.#storeId}/events`, {
      body: JSON.stringify({ events }),
      idempotencyKey: EngineClient.batchKey(decodeURIComponent(this.#storeId), events, generation),
    });
    const body = await this.#json(response);
    if (response.status === 200) {
      const result = body as Partial<StoreEventsResult>;
      if (
        !isNonNegativeInteger(result.applied) ||
        !isNonNegativeInteger(result.duplicates) ||
        !isNonNegativeInteger(result.lastSeq)
      ) {
        throw new ForwardError(
          'unavailable',
          'the engine answered 200 without applied, duplicates and lastSeq',
          {
            status: 200,
          },
        );
      }
      return {
        kind: 'acknowledged',
        applied: result.applied,
        duplicates: result.duplicates,
        lastSeq: result.lastSeq,
        replayed: response.headers.get('idempotent-replayed') === 'true',
      };
    }
    const problem = (body ?? {}) as Problem;
    if (response.status === 409 && problem.code === 'STORE_SEQUENCE_GAP') {
      if (!isNonNegativeInteger(problem.expectedSeq) || problem.expectedSeq < 1) {
        throw new ForwardError('rejected', 'STORE_SEQUENCE_GAP without a valid expectedSeq', {
          status: 409,
          code: 'STORE_SEQUENCE_GAP',
        });
      }
      return { kind: 'gap', expectedSeq: problem.expectedSeq };
    }
    throw this.#failure(response, problem);
  }

  /** Tells the engine the store is alive; resolves with the engine's position for the store. */
  async heartbeat(): Promise<{ lastSeq: number; silentAfterMs?: number | undefined }> {
    const response = await this.#request('POST', `/v1/stores/${this.#storeId}/heartbeat`, {});
    const body = (await this.#json(response)) as { lastSeq?: unknown; silentAfterMs?: unknown } | undefined;
    if (response.status !== 200) throw this.#failure(response, (body ?? {}) as Problem);
    return {
      lastSeq: isNonNegativeInteger(body?.lastSeq) ? body.lastSeq : 0,
      silentAfterMs: isNonNegativeInteger(body?.silentAfterMs) ? body.silentAfterMs : undefined,
    };
  }

  /** The last seq the engine applied from this store. */
  async storePosition(): Promise<number> {
    const response = await this.#request('GET', `/v1/stores/${this.#storeId}`, {});
    const body = (await this.#json(response)) as { lastSeq?: unknown } | undefined;
    if (response.status !== 200 || !isNonNegativeInteger(body?.lastSeq)) {
      throw this.#failure(response, (body ?? {}) as Problem);
    }
    return body.lastSeq;
  }

  async #request(
    method: 'GET' | 'POST',
    path: string,
    options: { body?: string; idempotencyKey?: string },
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: this.#authorization,
      accept: 'application/json',
    };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    try {
      return await fetch(`${this.#base}${path}`, {
        method,
        headers,
        body: options.body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (error) {
      throw this.#networkError(error, `${method} ${path}`);
    }
  }

  async #json(response: Response): Promise<unknown> {
    let text: string;
    try {
      text = await response.text();
    } catch (error) {
      // The connection broke while the answer was arriving: whether the batch applied is unknown,
      // which the sequence numbers make harmless (a resend is counted as duplicates).
      throw this.#networkError(error, 'reading the answer');
    }
    if (text === '') return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      if (response.status === 200) {
        throw new ForwardError('unavailable', 'the engine answered 200 with a body that is not JSON', {
          status: 200,
        });
      }
      return undefined;
    }
  }

  #networkError(error: unknown, what: string): ForwardError {
    const name = (error as Error | undefined)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new ForwardError('timeout', `${what}: no answer within ${this.#timeoutMs} ms`);
    }
    const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
    const detail = typeof cause?.code === 'string' ? cause.code : String(cause?.message ?? error);
    return new ForwardError('network', `${what}: ${detail}`);
  }

  #failure(response: Response, problem: Problem): ForwardError {
    const status = response.status;
    const code = typeof problem.code === 'string' ? problem.code : undefined;
    const detail = typeof problem.detail === 'string' ? problem.detail : response.statusText;
    const details = { status, code, retryAfterMs: retryAfterMsOf(response.headers.get('retry-after')) };
    const message = `engine answered ${status}${code ? ` ${code}` : ''}: ${detail}`;
    // A key still in flight: the engine is working on an earlier attempt of this very batch.
    if (code === 'IDEMPOTENCY_IN_FLIGHT' || status === 429) return new ForwardError('busy', message, details);
    if (status >= 500 || status === 408) return new ForwardError('unavailable', message, details);
    return new ForwardError('rejected', message, details);
  }
}
