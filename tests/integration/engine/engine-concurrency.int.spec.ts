// Concurrency regressions on the real engine and the real journal (no mocked lock, no mocked storage).
// Guards against: two callers reserving the same last units (oversell), lost updates when many
// adjustments hit one SKU at once, carts that half-hold under contention, store events reordered.
import { expect } from 'chai';
import type { Harness } from '../../support/engine-harness.js';
import { startEngine } from '../../support/engine-harness.js';

describe('engine: concurrency', function () {
  this.timeout(60_000);
  let harness: Harness;
  let ids: number;
  beforeEach(async () => {
    ids = 0;
    harness = await startEngine({ newId: () => `r${++ids}`, mailboxCapacity: 100_000 });
    await harness.engine.putLocation('S1', { name: 'Store 1', type: 'store' });
    await harness.engine.putLocation('S2', { name: 'Store 2', type: 'store' });
  });
  afterEach(() => harness.cleanup());

  it('3,000 concurrent single-unit reservations of 500 units on one SKU: exactly 500 win, none oversold', async () => {
    const { engine } = harness;
    await engine.execute('HOT', 'S1', { type: 'receive', quantity: 500 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 3000 }, () =>
        engine.reserve({ lines: [{ sku: 'HOT', quantity: 1, locationId: 'S1' }], ttlSeconds: 600 }),
      ),
    );
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    const lost = outcomes.filter(
      (outcome) =>
        outcome.status === 'rejected' && (outcome.reason as { code?: string }).code === 'STOCK_INSUFFICIENT',
    ).length;
    expect(won).to.equal(500);
    expect(lost).to.equal(2500);
    expect(engine.level('HOT', 'S1')).to.include({ onHand: 500, reserved: 500, available: 0 });
    const restarted = await harness.crashRestart();
    expect(restarted.level('HOT', 'S1')).to.include({ onHand: 500, reserved: 500, available: 0 });
  });

  it('2,000 concurrent adjustments on one SKU lose no update', async () => {
    const { engine } = harness;
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) =>
        engine.execute(
          'SKU',
          'S1',
          i % 2 ? { type: 'receive', quantity: 3 } : { type: 'adjust', delta: 2, reason: 'correction' },
        ),
      ),
    );
    expect(engine.level('SKU', 'S1')).to.include({ onHand: 1000 * 3 + 1000 * 2, version: 2000 });
  });

  it('contending two-line carts across many SKUs never half-hold and never oversell', async () => {
    const { engine } = harness;
    const skus = Array.from({ length: 20 }, (_, i) => `K${i}`);
    for (const sku of skus) {
      await engine.execute(sku, 'S1', { type: 'receive', quantity: 30 });
      await engine.execute(sku, 'S2', { type: 'receive', quantity: 30 });
    }
    const carts = Array.from({ length: 2000 }, (_, i) => ({
      lines: [
        { sku: skus[i % 20] as string, quantity: 1 + (i % 3), locationId: 'S1' },
        { sku: skus[(i * 7 + 3) % 20] as string, quantity: 1 + (i % 2), locationId: 'S2' },
      ],
      ttlSeconds: 600,
    }));
    const outcomes = await Promise.allSettled(carts.map((cart) => engine.reserve(cart)));
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected')
        expect((outcome.reason as { code?: string }).code).to.equal('STOCK_INSUFFICIENT');
    }
    // Compensations run after the refusal is answered: wait until every hold belongs to a placed cart.
    const heldBy = new Map<string, number>();
    for (const outcome of outcomes) {
      if (outcome.status !== 'fulfilled') continue;
      for (const line of outcome.value.reservation.lines) {
        const key = `${line.sku}/${line.locationId}`;
        heldBy.set(key, (heldBy.get(key) ?? 0) + line.quantity);
      }
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const settled = skus.every((sku) =>
        ['S1', 'S2'].every(
          (location) => engine.level(sku, location)?.reserved === (heldBy.get(`${sku}/${location}`) ?? 0),
        ),
      );
      if (settled) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const sku of skus) {
      for (const location of ['S1', 'S2']) {
        const level = engine.level(sku, location);
        expect(level?.reserved, `${sku}@${location}`).to.equal(heldBy.get(`${sku}/${location}`) ?? 0);
        expect(level?.reserved ?? 0).to.be.at.most(30);
      }
    }
    expect(outcomes.some((outcome) => outcome.status === 'fulfilled')).to.equal(true);
    expect(outcomes.some((outcome) => outcome.status === 'rejected')).to.equal(true);
  });

  it('applies a store batch in order, acknowledges duplicates, and answers a gap with the expected seq', async () => {
    const { engine } = harness;
    const at = '2026-03-01T10:00:00Z';
    const events = Array.from({ length: 200 }, (_, i) => ({
      seq: i + 1,
      type: i % 4 === 0 ? ('receipt' as const) : ('sale' as const),
      sku: `T${i % 3}`,
      quantity: i % 4 === 0 ? 10 : 1,
      occurredAt: at,
    }));
    const first = await engine.applyStoreEvents('S1', events.slice(0, 120));
    expect(first).to.deep.include({ applied: 120, duplicates: 0, lastSeq: 120 });
    const overlap = await engine.applyStoreEvents('S1', events.slice(100, 200));
    expect(overlap).to.deep.include({ applied: 80, duplicates: 20, lastSeq: 200 });
    const again = await engine.applyStoreEvents('S1', events.slice(0, 200));
    expect(again).to.deep.include({ applied: 0, duplicates: 200, lastSeq: 200 });
    try {
      await engine.applyStoreEvents('S1', [
        { seq: 205, type: 'sale', sku: 'T0', quantity: 1, occurredAt: at },
      ]);
      expect.fail('a gap must be refused');
    } catch (error) {
      expect((error as { code: string; details: { expectedSeq: number } }).details.expectedSeq).to.equal(201);
    }
    const expected = (sku: string) =>
      events
        .filter((event) => event.sku === sku)
        .reduce((sum, event) => sum + (event.type === 'receipt' ? 10 : -1), 0);
    for (const sku of ['T0', 'T1', 'T2'])
      expect(engine.level(sku, 'S1')?.onHand, sku).to.equal(expected(sku));
    const restarted = await harness.crashRestart();
    expect(restarted.lastStoreSeq('S1')).to.equal(200);
  });

  it('concurrent batches from one store are applied one after the other, never interleaved into a gap', async () => {
    const { engine } = harness;
    const at = '2026-03-01T10:00:00Z';
    const batch = (from: number) =>
      Array.from({ length: 50 }, (_, i) => ({
        seq: from + i,
        type: 'sale' as const,
        sku: 'X',
        quantity: 1,
        occurredAt: at,
      }));
    const results = await Promise.allSettled([
      engine.applyStoreEvents('S2', batch(1)),
      engine.applyStoreEvents('S2', batch(51)),
    ]);
    expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'fulfilled']);
    expect(engine.lastStoreSeq('S2')).to.equal(100);
    expect(engine.level('X', 'S2')?.onHand).to.equal(-100);
  });
});
