// Idempotency-Key handling at the edge: the engine remembers keys durably and replays first answers;
// the API scopes each key to the caller's API key and fingerprints the request (operation, path
// parameters, canonical body, preconditions), so the same key with a different request is refused.
import { hash } from 'node:crypto';
import type { Request } from 'express';
import type { Idempotency } from '../engine/types.js';
import type { Principal } from './context.js';
import { ApiError } from './problem.js';
import { validationError } from './validation.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Visible ASCII, 1 to 255 characters (the IETF draft's key is an opaque string). */
export const IDEMPOTENCY_KEY_PATTERN = '^[\\x21-\\x7e]{1,255}$';
const KEY = new RegExp(IDEMPOTENCY_KEY_PATTERN);

/** JSON with object keys sorted at every depth: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${text}]`;
  }
  // Built with plain loops: this runs on every idempotent request (docs/benchmarks.md).
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let text = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    text += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(item)}`;
    first = false;
  }
  return `${text}}`;
}

export const sha256Hex = (text: string): string => hash('sha256', text, 'hex');

export interface RequestFingerprintParts {
  readonly method: string;
  /** The route's path template, such as `/v1/locations/{locationId}`. */
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly body: unknown;
  /** Headers that change the meaning of the request, such as If-Match. */
  readonly preconditions?: Readonly<Record<string, string | undefined>>;
}

export const fingerprintOf = (parts: RequestFingerprintParts): string =>
  sha256Hex(
    canonicalJson({
      method: parts.method.toUpperCase(),
      path: parts.path,
      params: parts.params,
      body: parts.body ?? null,
      preconditions: parts.preconditions ?? {},
    }),
  );

/** The raw Idempotency-Key header, validated; undefined when absent. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const value = req.get(IDEMPOTENCY_HEADER);
  if (value === undefined) return undefined;
  if (!KEY.test(value)) {
    throw validationError([
      { in: 'header', path: IDEMPOTENCY_HEADER, message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  }
  return value;
}

/**
 * The engine's Idempotency for this request: the key scoped by the caller's API key, and the
 * request's fingerprint. Throws IDEMPOTENCY_KEY_REQUIRED when `required` and no key was sent.
 */
export function idempotencyFor(
  req: Request,
  principal: Principal,
  parts: RequestFingerprintParts,
  required: boolean,
): Idempotency | undefined {
  const key = idempotencyKeyOf(req);
  if (key === undefined) {
    if (required) {
      throw new ApiError(
        'IDEMPOTENCY_KEY_REQUIRED',
        `Send an ${IDEMPOTENCY_HEADER} header (for example a UUID) so a retry cannot apply twice`,
      );
    }
    return undefined;
  }
  return { key: `${principal.keyId}:${key}`, fingerprint: fingerprintOf(parts) };
}

/** Derives the idempotency of one step of a multi-step request (one row of a batch, one undo). */
export const stepIdempotency = (parent: Idempotency, step: string): Idempotency => ({
  key: `${parent.key}#${step}`,
  fingerprint: sha256Hex(`${parent.fingerprint}#${step}`),
});
