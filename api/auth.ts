// API keys and roles. A key is looked up by comparing SHA-256 digests in constant time against
// every configured key (no early exit, so timing tells nothing about which or how many matched);
// only digests are held in memory and only the key's non-secret id reaches logs and metrics.
import { timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKey, Role } from './config.js';
import { digestOf } from './config.js';
import type { Principal } from './context.js';
import { requireContext } from './context.js';
import { ApiError } from './problem.js';

/** Who may call a route. `scopedBy` names the path parameter a store key must own. */
export type Access =
  | { readonly kind: 'public' }
  | { readonly kind: 'roles'; readonly roles: readonly Role[]; readonly scopedBy?: string };

export const access = {
  public: { kind: 'public' },
  /** Every authenticated role may read. */
  read: { kind: 'roles', roles: ['admin', 'store', 'storefront', 'reader'] },
  admin: { kind: 'roles', roles: ['admin'] },
  /** Stock writes of one location: admin, or the store key bound to that location. */
  locationStock: { kind: 'roles', roles: ['admin', 'store'], scopedBy: 'locationId' },
  /** A store's till events: admin, or the store key bound to that store's location. */
  storeEvents: { kind: 'roles', roles: ['admin', 'store'], scopedBy: 'storeId' },
  /** Reservation lifecycle: the storefront (and admin). */
  reservations: { kind: 'roles', roles: ['admin', 'storefront'] },
} as const satisfies Record<string, Access>;

const BEARER = /^Bearer[ ]+([\x21-\x7e]{1,512})[ ]*$/i;

/** The principal of an `Authorization: Bearer <key>` header, or undefined. Constant time in the key. */
export function authenticate(
  keys: readonly ApiKey[],
  authorization: string | undefined,
): Principal | undefined {
  if (authorization === undefined) return undefined;
  const match = BEARER.exec(authorization);
  if (!match?.[1]) return undefined;
  const presented = digestOf(match[1]);
  let found: ApiKey | undefined;
  for (const key of keys) {
    // Every key is compared, whatever matched before.
    if (timingSafeEqual(presented, key.digest) && found === undefined) found = key;
  }
  return found ? { keyId: found.id, role: found.role, locationId: found.locationId } : undefined;
}

/** The 401 of a request without a valid key. */
export const unauthenticated = (): ApiError =>
  new ApiError('UNAUTHENTICATED', 'Send a valid API key as "Authorization: Bearer <key>"', {
    headers: { 'WWW-Authenticate': 'Bearer realm="stockline"' },
  });

/** Rejects requests without a valid key with 401 and records the caller on the request context. */
export function requireApiKey(keys: readonly ApiKey[]): RequestHandler {
  return (req, _res, next) => {
    const principal = authenticate(keys, req.headers.authorization);
    if (!principal) {
      next(unauthenticated());
      return;
    }
    requireContext(req).principal = principal;
    next();
  };
}

/** Throws FORBIDDEN unless the principal may use a route with this access rule and these path params. */
export function authorize(
  rule: Access,
  principal: Principal | undefined,
  params: Readonly<Record<string, string>>,
): void {
  if (rule.kind === 'public') return;
  if (!principal)
    throw new ApiError('UNAUTHENTICATED', 'Send a valid API key as "Authorization: Bearer <key>"');
  if (!rule.roles.includes(principal.role)) {
    throw new ApiError('FORBIDDEN', `The ${principal.role} role may not do this`, {
      details: { role: principal.role },
    });
  }
  if (principal.role === 'store' && rule.scopedBy !== undefined) {
    const target = params[rule.scopedBy];
    if (target !== principal.locationId) {
      throw new ApiError(
        'FORBIDDEN',
        `This store key may write only location ${principal.locationId ?? '(none)'}`,
        {
          details: { role: principal.role, locationId: principal.locationId },
        },
      );
    }
  }
}

/** Who caused a change, as recorded in the ledger: role, bound location, key id. Never the key. */
export const actorOf = (principal: Principal): string =>
  `${principal.role}${principal.locationId === undefined ? '' : `@${principal.locationId}`}#${principal.keyId}`;
