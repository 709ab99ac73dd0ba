// HTTP for the harness's clients: one attempt with a time limit, and a write that retries with its
// Idempotency-Key until it gets an answer that says what happened, or its deadline passes. Every
// attempt is classified by what it proves: an answer from the engine's logic is definite; a refused
// connection or a shed request proves nothing happened; a timeout, a cut connection or a 5xx from
// behind the edge leaves the outcome unknown (the request may have taken effect).
import { now, sleep } from './rng.js';

export interface Answer {
  readonly status: number;
  readonly code: string | undefined;
  readonly json: Record<string, unknown>;
  readonly headers: Headers;
}

export type Attempt =
  | { readonly kind: 'answer'; readonly answer: Answer }
  | { readonly kind: 'error'; readonly error: 'refused' | 'timeout' | 'network'; readonly detail: string };

export interface RequestSpec {
  readonly method: string;
  readonly path: string;
  readonly key?: string | undefined;
  readonly body?: unknown;
  readonly idempotencyKey?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly timeoutMs?: number | undefined;
}

/** One HTTP request with a time limit; never throws. */
export async function attempt(base: string, spec: RequestSpec): Promise<Attempt> {
  const headers: Record<string, string> = { ...spec.headers };
  if (spec.key) headers['authorization'] = `Bearer ${spec.key}`;
  if (spec.body !== undefined) headers['content-type'] = 'application/json';
  if (spec.idempotencyKey) headers['idempotency-key'] = spec.idempotencyKey;
  try {
    const response = await fetch(`${base}${spec.path}`, {
      method: spec.method,
      headers,
      body: spec.body === undefined ? undefined : JSON.stringify(spec.body),
      signal: AbortSignal.timeout(spec.timeoutMs ?? 5_000),
    });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      const parsed: unknown = text === '' ? {} : JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        json = parsed as Record<string, unknown>;
    } catch {
      json = { text };
    }
    const code = typeof json['code'] === 'string' ? json['code'] : undefined;
    return { kind: 'answer', answer: { status: response.status, code, json, headers: response.headers } };
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError')
      return { kind: 'error', error: 'timeout', detail: String(error) };
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code === 'ECONNREFUSED') return { kind: 'error', error: 'refused', detail: cause.code };
    return { kind: 'error', error: 'network', detail: cause?.code ?? cause?.message ?? String(error) };
  }
}

/** Codes of answers that prove the request changed nothing (refused before any decision). */
const NOTHING_DONE = new Set([
  'RATE_LIMITED',
  'SERVER_OVERLOADED',
  'MAILBOX_FULL',
  'ENGINE_OVERLOADED',
  'ENGINE_NOT_READY',
  'ENGINE_STOPPED',
  'TOO_MANY_STREAMS',
]);

export type AttemptClass = 'definite' | 'retry-nothing-done' | 'retry-maybe-done';

export function classify(result: Attempt): AttemptClass {
  if (result.kind === 'error') return result.error === 'refused' ? 'retry-nothing-done' : 'retry-maybe-done';
  const { status, code } = result.answer;
  if (status === 409 && code === 'IDEMPOTENCY_IN_FLIGHT') return 'retry-maybe-done';
  if (code !== undefined && NOTHING_DONE.has(code)) return 'retry-nothing-done';
  if (status === 429) return 'retry-nothing-done';
  if (status >= 500) return 'retry-maybe-done';
  return 'definite';
}

export interface WriteResult {
  /** definite: `answer` says what happened; unknown: it may or may not have; rejected: it did not. */
  readonly outcome: 'definite' | 'unknown' | 'rejected';
  readonly answer: Answer | undefined;
  readonly last: Attempt;
  readonly attempts: number;
  readonly invokedAt: number;
  readonly returnedAt: number;
}

export interface RetryPolicy {
  /** Give up (outcome unknown or rejected) after this long. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  /** Pause between attempts, grown up to maxBackoffMs. */
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Whether to keep going (false once the run is over). */
  readonly keepGoing?: () => boolean;
}

/** A write with an Idempotency-Key, retried with the same key until definite or out of time. */
export async function writeWithRetries(
  base: () => string,
  spec: RequestSpec,
  policy: RetryPolicy,
  jitter: () => number,
): Promise<WriteResult> {
  const invokedAt = now();
  const deadline = invokedAt + policy.deadlineMs;
  let maybeDone = false;
  let attempts = 0;
  let backoff = policy.backoffMs;
  for (;;) {
    attempts++;
    const result = await attempt(base(), { ...spec, timeoutMs: policy.timeoutMs });
    const kind = classify(result);
    if (kind === 'definite') {
      const answer = result.kind === 'answer' ? result.answer : undefined;
      return { outcome: 'definite', answer, last: result, attempts, invokedAt, returnedAt: now() };
    }
    if (kind === 'retry-maybe-done') maybeDone = true;
    if (now() + backoff >= deadline || (policy.keepGoing && !policy.keepGoing())) {
      return {
        outcome: maybeDone ? 'unknown' : 'rejected',
        answer: result.kind === 'answer' ? result.answer : undefined,
        last: result,
        attempts,
        invokedAt,
        returnedAt: now(),
      };
    }
    await sleep(backoff * (0.5 + jitter()));
    backoff = Math.min(policy.maxBackoffMs, backoff * 2);
  }
}

export const describeAttempt = (result: Attempt): string =>
  result.kind === 'answer'
    ? `${result.answer.status}${result.answer.code ? ` ${result.answer.code}` : ''}`
    : `${result.error} (${result.detail})`;
