// Per-request state the middlewares share (request id, caller, matched route), kept beside the
// request rather than on it, so no Express type needs augmenting. Log lines about a request (the
// access line, an unexpected error) take the request id from here. There is deliberately no
// AsyncLocalStorage scope: under Node 20 it runs a promise hook on every promise the engine and the
// journal create while a request is in scope, which cost about 19 µs of CPU per reservation
// (docs/benchmarks.md, "Where a reservation's time goes").
import type { Request } from 'express';
import type { Role } from './config.js';

export interface Principal {
  /** The key's non-secret id (never the key). */
  readonly keyId: string;
  readonly role: Role;
  readonly locationId?: string | undefined;
}

export interface RequestContext {
  readonly requestId: string;
  readonly startedAt: number;
  principal?: Principal;
  /** The OpenAPI path template of the matched route, the metrics and access-log label. */
  route?: string;
  /** The problem code the request ended with, if any. */
  errorCode?: string;
}

const contexts = new WeakMap<Request, RequestContext>();

export function attachContext(req: Request, context: RequestContext): RequestContext {
  contexts.set(req, context);
  return context;
}

export const contextOf = (req: Request): RequestContext | undefined => contexts.get(req);

/** For middlewares that run after the context middleware: the context is always there. */
export function requireContext(req: Request): RequestContext {
  const context = contexts.get(req);
  if (!context) throw new Error('request context missing: the context middleware must run first');
  return context;
}
