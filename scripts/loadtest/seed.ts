// Seeding over HTTP, as an operator's import would: locations with PUT, stock with the back-office
// batch (physical counts, 500 rows per request). Every scenario seeds its own SKUs (prefixed with
// the scenario and the run id) so scenarios sharing a server cannot disturb each other's invariants.
import type { ApiClient } from './client.js';
import { chunks, mapLimit } from './client.js';
import { levelKey } from './ledger.js';

export interface LocationSpec {
  readonly id: string;
  readonly name: string;
  readonly type: 'store' | 'warehouse' | 'online';
}

/** The locations every catalogue SKU is stocked at. */
export const catalogueLocations: readonly LocationSpec[] = [
  { id: 'LT-E1', name: 'Load test online fulfilment', type: 'online' },
  { id: 'LT-W1', name: 'Load test warehouse 1', type: 'warehouse' },
  { id: 'LT-W2', name: 'Load test warehouse 2', type: 'warehouse' },
];

export async function putLocations(client: ApiClient, locations: readonly LocationSpec[]): Promise<void> {
  await mapLimit(locations, 8, (location) =>
    client.expect('PUT', `/v1/locations/${encodeURIComponent(location.id)}`, [200, 201], {
      body: { name: location.name, type: location.type },
    }),
  );
}

export interface SeedRow {
  readonly sku: string;
  readonly onHand: number;
}

let batchCounter = 0;

/** Counts `rows` at `locationId`; records each level's onHand in `seeded`. */
export async function seedStock(
  client: ApiClient,
  runId: string,
  locationId: string,
  rows: readonly SeedRow[],
  seeded: Map<string, number>,
): Promise<void> {
  await mapLimit(chunks(rows, 500), 8, async (page) => {
    batchCounter++;
    await client.expect('POST', `/v1/locations/${encodeURIComponent(locationId)}/stock:batch`, [200], {
      idempotencyKey: `${runId}-seed-${locationId}-${batchCounter}`,
      body: {
        policy: 'all_or_nothing',
        rows: page.map((row) => ({ type: 'count', sku: row.sku, onHand: row.onHand })),
      },
      timeoutMs: 120_000,
    });
  });
  for (const row of rows) seeded.set(levelKey(row.sku, locationId), row.onHand);
}

export const skuName = (prefix: string, index: number): string =>
  `${prefix}-${String(index).padStart(6, '0')}`;
