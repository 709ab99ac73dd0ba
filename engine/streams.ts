// Stream ids: how a stock level, a reservation or a location is named in the journal and snapshots.
// Ids are restricted (see ID_PATTERN) so `/` can separate the parts unambiguously.

/** SKU, location, store and reservation ids: short, printable, no separators. */
export const ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const idRegExp = new RegExp(ID_PATTERN);
export const isValidId = (id: string): boolean => idRegExp.test(id);

export const stockStream = (sku: string, locationId: string): string => `stock/${sku}/${locationId}`;
export const reservationStream = (id: string): string => `reservation/${id}`;
export const locationStream = (id: string): string => `location/${id}`;
/** Snapshot-only keys: derived state that has no stream of its own. */
export const storeKey = (storeId: string): string => `store/${storeId}`;
export const idempotencyKey = (key: string): string => `idempotency/${key}`;

export type StreamRef =
  | { readonly kind: 'stock'; readonly sku: string; readonly locationId: string }
  | { readonly kind: 'reservation'; readonly id: string }
  | { readonly kind: 'location'; readonly id: string }
  | { readonly kind: 'store'; readonly id: string }
  | { readonly kind: 'idempotency'; readonly key: string };

export function parseStream(stream: string): StreamRef | undefined {
  const slash = stream.indexOf('/');
  const kind = stream.slice(0, slash);
  const rest = stream.slice(slash + 1);
  switch (kind) {
    case 'stock': {
      const [sku, locationId, extra] = rest.split('/');
      if (!sku || !locationId || extra !== undefined) return undefined;
      return { kind, sku, locationId };
    }
    case 'reservation':
    case 'location':
    case 'store':
      return rest ? { kind, id: rest } : undefined;
    case 'idempotency':
      return rest ? { kind, key: rest } : undefined;
    default:
      return undefined;
  }
}
