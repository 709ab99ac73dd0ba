// The demo chain a first run loads: every location registered, stock spread as documented.
import { expect } from 'chai';
import { demoLocations, demoQuantity, demoSkus, seedDemoChain } from '../../../scripts/demo-chain.js';
import type { Harness } from '../../support/engine-harness.js';
import { startEngine } from '../../support/engine-harness.js';

describe('demo chain', () => {
  let harness: Harness;
  beforeEach(async () => {
    harness = await startEngine();
  });
  afterEach(() => harness.cleanup());

  it('registers the locations and receives the documented quantities', async () => {
    const levels = await seedDemoChain(harness.engine);
    expect(
      harness.engine
        .locations()
        .map((location) => location.id)
        .sort(),
    ).to.deep.equal(demoLocations.map((location) => location.id).sort());
    const expected = demoSkus
      .flatMap((_sku, i) => demoLocations.map((_, j) => demoQuantity(i, j)))
      .filter((q) => q > 0);
    expect(levels).to.equal(expected.length);
    const tee = harness.engine.levelsOf('TEE-BLK-S');
    expect(tee.find((level) => level.locationId === 'WH-CENTRAL')?.onHand).to.equal(demoQuantity(0, 0));
    for (const level of tee.filter((l) => l.locationId !== 'WH-CENTRAL' && l.locationId !== 'ONLINE-DC')) {
      expect(level.safetyStock).to.equal(1);
    }
  });
});
