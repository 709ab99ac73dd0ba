// Counts engine calls by outcome for /metrics: `ok`, `replayed`, or the error code that refused them.
import { isInventoryError } from '../../engine/errors.js';

export async function counted<T extends { readonly replayed: boolean }>(
  record: (outcome: string) => void,
  call: () => Promise<T>,
): Promise<T> {
  try {
    const result = await call();
    record(result.replayed ? 'replayed' : 'ok');
    return result;
  } catch (error) {
    record(isInventoryError(error) ? error.code : 'error');
    throw error;
  }
}
