// Per-request state the middlewares share (request id, caller, matched route), kept beside the
// request rather than on it, so no Express type needs augmenting. The AsyncLocalStorage carries the
// request id into every log line written while the request is being served.
import { AsyncLocalStorage } from 'node:async_hooks';
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

export const requestScope = new AsyncLocalStorage<{ readonly requestId: string }>();

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
