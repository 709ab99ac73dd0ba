// A small demo chain for a first run: a central warehouse, an online fulfilment centre and five
// stores with a catalogue of apparel SKUs. The server loads it into an empty data directory, so the
// dashboard has something to show; it goes through the engine's own commands like any other write.
import type { LocationType } from '../engine/types.js';

export const demoLocations: readonly { id: string; name: string; type: LocationType }[] = [
  { id: 'WH-CENTRAL', name: 'Central warehouse', type: 'warehouse' },
  { id: 'ONLINE-DC', name: 'Online fulfilment centre', type: 'online' },
  { id: 'MAD-01', name: 'Madrid Centro', type: 'store' },
  { id: 'BCN-01', name: 'Barcelona Diagonal', type: 'store' },
  { id: 'VLC-01', name: 'Valencia Ruzafa', type: 'store' },
  { id: 'SEV-01', name: 'Sevilla Triana', type: 'store' },
  { id: 'BIO-01', name: 'Bilbao Abando', type: 'store' },
];

const products = ['TEE', 'POLO', 'JEANS', 'JACKET', 'SNEAKER'] as const;
const colours = ['BLK', 'WHT', 'NVY'] as const;
const sizes = ['S', 'M', 'L'] as const;

/** 45 SKUs such as `TEE-BLK-M`. */
export const demoSkus: readonly string[] = products.flatMap((product) =>
  colours.flatMap((colour) => sizes.map((size) => `${product}-${colour}-${size}`)),
);

/** A deterministic spread: plenty in the warehouse, a few per store, some stores nearly out. */
export function demoQuantity(skuIndex: number, locationIndex: number): number {
  if (locationIndex === 0) return 40 + ((skuIndex * 7) % 60);
  if (locationIndex === 1) return 10 + ((skuIndex * 3) % 25);
  return (skuIndex * 5 + locationIndex * 3) % 9;
}

interface DemoTarget {
  putLocation(id: string, body: { name: string; type: LocationType }): Promise<unknown>;
  execute(
    sku: string,
    locationId: string,
    command:
      | { type: 'receive'; quantity: number; reference?: string }
      | { type: 'setSafetyStock'; safetyStock: number },
  ): Promise<unknown>;
}

/** Loads the demo chain; returns how many stock levels it created. */
export async function seedDemoChain(engine: DemoTarget): Promise<number> {
  for (const location of demoLocations)
    await engine.putLocation(location.id, { name: location.name, type: location.type });
  let levels = 0;
  await Promise.all(
    demoSkus.map(async (sku, skuIndex) => {
      for (const [locationIndex, location] of demoLocations.entries()) {
        const quantity = demoQuantity(skuIndex, locationIndex);
        if (quantity === 0) continue;
        await engine.execute(sku, location.id, {
          type: 'receive',
          quantity,
          reference: 'demo-opening-stock',
        });
        if (location.type === 'store')
          await engine.execute(sku, location.id, { type: 'setSafetyStock', safetyStock: 1 });
        levels++;
      }
    }),
  );
  return levels;
}
