// The demand stream both models consume: fixed by the seed, different for another seed, and shaped as
// the configuration says (popular SKUs sell more, stores are shut at night, the flash sale is a spike).
import { expect } from 'chai';
import { makeConfig } from '../../../scripts/simulator/config.js';
import { HOUR_MS, buildScenario, onlineProfile, storeProfile } from '../../../scripts/simulator/scenario.js';

const config = makeConfig({ stores: 5, skus: 20, onlineOrdersPerDay: 800, journal: 'memory' });

describe('simulator: scenario', () => {
  it('is identical for the same seed', () => {
    expect(buildScenario(config)).to.deep.equal(buildScenario(config));
  });

  it('draws different demand for a different seed', () => {
    const a = buildScenario(config);
    const b = buildScenario({ ...config, seed: config.seed + 1 });
    expect(b.events).to.not.deep.equal(a.events);
    expect(b.initialStock).to.not.deep.equal(a.initialStock);
    const onlineTimes = (events: typeof a.events) =>
      events.filter((e) => e.kind === 'online').map((e) => e.at);
    expect(onlineTimes(b.events)).to.not.deep.equal(onlineTimes(a.events));
  });

  it('keeps events in time order inside the simulated window', () => {
    const { events, startMs, endMs } = buildScenario(config);
    events.forEach((event, index) => {
      expect(event.at).to.be.within(startMs, endMs - 1);
      if (index > 0) expect(event.at).to.be.at.least(events[index - 1]!.at);
    });
  });

  it('sells popular SKUs more (Zipf) and keeps stores shut at night', () => {
    const { events, startMs } = buildScenario(config);
    const walkIns = events.filter((event) => event.kind === 'walkIn');
    const bySku = (sku: number) => walkIns.filter((event) => event.sku === sku).length;
    expect(bySku(0)).to.be.greaterThan(3 * bySku(9));
    for (const event of walkIns) {
      const hour = (event.at - startMs) / HOUR_MS;
      expect(hour).to.be.within(8, 21);
    }
    expect(storeProfile(3)).to.equal(0);
    expect(onlineProfile(3)).to.be.greaterThan(0);
  });

  it('concentrates online demand for the flash-sale SKU in its window', () => {
    const scenario = buildScenario(config);
    const { startMs, endMs } = scenario.flashWindow;
    const flashOrders = scenario.events.filter(
      (event) => event.kind === 'online' && event.sku === scenario.flashSku,
    );
    const inside = flashOrders.filter((event) => event.at >= startMs && event.at < endMs).length;
    const outside = flashOrders.length - inside;
    expect(endMs - startMs).to.equal(config.flashMinutes * 60_000);
    expect(inside).to.be.greaterThan(outside);
  });

  it('sizes counts, deliveries, returns and shrinkage from the configuration', () => {
    const none = buildScenario({ ...config, countShare: 0, returnRate: 0, shrinkPerStorePerDay: 0 });
    const kinds = new Set(none.events.map((event) => event.kind));
    expect([...kinds].sort()).to.deep.equal(['online', 'restock', 'walkIn']);
    const short = buildScenario({ ...config, hours: 5 });
    expect(short.events.some((event) => event.kind === 'restock')).to.equal(false); // first delivery at 06:00
    expect(short.flashWindow.startMs).to.equal(short.startMs + 2 * HOUR_MS); // 40% into a run that ends before noon
  });
});
