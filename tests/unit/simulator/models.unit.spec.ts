// The two models on the same demand: repeatable for a seed, different for another, and right about the
// cases whose answer is known without running them: perfect information oversells nothing and loses
// nothing; the engine, told of every change at once, never confirms an order the shelf cannot fill;
// and every unit is accounted for in both models.
import { expect } from 'chai';
import fc from 'fast-check';
import type { SimulationConfig } from '../../../scripts/simulator/config.js';
import { makeConfig } from '../../../scripts/simulator/config.js';
import { runEventDriven } from '../../../scripts/simulator/event-driven-model.js';
import { runLegacy } from '../../../scripts/simulator/legacy-model.js';
import type { ModelReport } from '../../../scripts/simulator/report.js';
import { buildScenario } from '../../../scripts/simulator/scenario.js';
import { runComparison, runSweep } from '../../../scripts/simulator/simulation.js';

const small = (overrides: Partial<SimulationConfig> = {}) =>
  makeConfig({
    stores: 4,
    skus: 12,
    storeCustomersPerDay: 160,
    onlineOrdersPerDay: 450,
    heartbeatSeconds: 60, // fewer idle steps; heartbeats change no stock figure
    journal: 'memory',
    ...overrides,
  });

/** Units in = units out, whatever the model decided. */
function expectConservation(report: ModelReport): void {
  const { initial, restocked, returned, soldInStore, soldOnline, shrunk, onShelf } = report.units;
  expect(soldInStore + soldOnline + shrunk + onShelf, report.label).to.equal(initial + restocked + returned);
}

function expectConsistentOutcome(report: ModelReport): void {
  const { online } = report;
  expect(online.accepted + online.refused).to.equal(online.requested);
  expect(online.fulfilled + online.cancelledOrders).to.equal(online.accepted);
  expect(online.oversells + online.cancelledBeforePayment).to.equal(online.cancelledOrders);
  expect(online.oversellCauses.staleView + online.oversellCauses.shrinkage).to.equal(online.oversells);
  expect(online.lostSales).to.be.at.most(online.refused);
}

describe('simulator: models', function () {
  this.timeout(60_000);

  it('gives an identical report for the same seed', async () => {
    const first = await runComparison(small());
    const second = await runComparison(small());
    const { timing: _firstTiming, ...firstResult } = first;
    const { timing: _secondTiming, ...secondResult } = second;
    expect(secondResult).to.deep.equal(firstResult);
  });

  it('sees different demand, and so different outcomes, for a different seed', async () => {
    const a = await runComparison(small({ seed: 1 }));
    const b = await runComparison(small({ seed: 2 }));
    expect(b.scenario.demand).to.not.deep.equal(a.scenario.demand);
    expect(b.legacy.online).to.not.deep.equal(a.legacy.online);
    expect(b.eventDriven.hourly).to.not.deep.equal(a.eventDriven.hourly);
  });

  it('legacy with a sync interval of 0 is perfect information: no oversell, no lost sale', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const report = runLegacy(buildScenario(small({ seed, shrinkPerStorePerDay: 0 })), 0);
        expect(report.online.oversells).to.equal(0);
        expect(report.online.lostSales).to.equal(0);
        expect(report.staleness.maxMs).to.equal(0);
        expectConservation(report);
        expectConsistentOutcome(report);
      }),
      { numRuns: 25 },
    );
  });

  it('legacy oversells with a stale view, and more as the view gets staler', () => {
    const scenario = buildScenario(small({ shrinkPerStorePerDay: 0 }));
    const [minute, hour] = [1, 60].map((interval) => runLegacy(scenario, interval));
    expect(hour!.online.oversellCauses.staleView).to.be.greaterThan(0);
    expect(hour!.online.oversells + hour!.online.lostSales).to.be.greaterThan(
      minute!.online.oversells + minute!.online.lostSales,
    );
    expect(hour!.staleness.p99Ms).to.be.greaterThan(minute!.staleness.p99Ms);
    expect(hour!.staleness.maxMs).to.be.at.most(60 * 60_000);
  });

  it('event-driven never oversells when the engine hears of every change at once', async () => {
    for (const seed of [1, 2, 3]) {
      const report = await runEventDriven(buildScenario(small({ seed, shrinkPerStorePerDay: 0 })), {
        propagationMs: 0,
        journal: 'memory',
      });
      expect(report.online.oversells, `seed ${seed}`).to.equal(0);
      expect(report.online.accepted).to.be.greaterThan(0);
      expect(report.staleness.maxMs).to.equal(0);
      expectConsistentOutcome(report);
    }
  });

  it('event-driven blames every oversell on unrecorded shrinkage when propagation is instant', async () => {
    const report = await runEventDriven(buildScenario(small({ seed: 5, shrinkPerStorePerDay: 40 })), {
      propagationMs: 0,
      journal: 'memory',
    });
    expect(report.online.oversells).to.be.greaterThan(0);
    expect(report.online.oversellCauses.staleView).to.equal(0);
  });

  it('event-driven is only as good as its information: with 15-minute propagation it oversells too', async () => {
    const report = await runEventDriven(buildScenario(small({ seed: 2, shrinkPerStorePerDay: 0 })), {
      propagationMs: 15 * 60_000,
      journal: 'memory',
    });
    expect(report.online.oversellCauses.staleView).to.be.greaterThan(0);
  });

  it('keeps the online view of the event-driven model within the propagation delay', async () => {
    const report = await runEventDriven(buildScenario(small({ seed: 3 })), {
      propagationMs: 5_000,
      journal: 'memory',
    });
    expect(report.staleness.behind).to.be.greaterThan(0);
    expect(report.staleness.maxMs).to.be.at.most(5_000);
    expect(report.engine?.journalRecords).to.be.greaterThan(0);
  });

  it('conserves units in both models: sold + shrunk + on the shelf = initial + restocked + returned', async () => {
    const report = await runComparison(small({ seed: 11 }));
    expectConservation(report.legacy);
    expectConservation(report.eventDriven);
    expectConsistentOutcome(report.legacy);
    expectConsistentOutcome(report.eventDriven);
    expect(report.legacy.units.shrunk).to.be.greaterThan(0);
    expect(report.legacy.units.returned).to.be.greaterThan(0);
  });

  it('conserves units as sold + on the shelf = initial + restocked without returns or shrinkage', async () => {
    const report = await runComparison(small({ seed: 12, returnRate: 0, shrinkPerStorePerDay: 0 }));
    for (const model of [report.legacy, report.eventDriven]) {
      const { initial, restocked, soldInStore, soldOnline, onShelf } = model.units;
      expect(soldInStore + soldOnline + onShelf).to.equal(initial + restocked);
    }
  });

  it('gives the same event-driven result on the file journal as on the in-memory one', async () => {
    const scenario = buildScenario(small({ seed: 4, hours: 14, onlineOrdersPerDay: 250 }));
    const onMemory = await runEventDriven(scenario, { propagationMs: 20, journal: 'memory' });
    const onFile = await runEventDriven(scenario, { propagationMs: 20, journal: 'file' });
    const { engine: memoryEngine, ...memoryResult } = onMemory;
    const { engine: fileEngine, ...fileResult } = onFile;
    expect(fileResult).to.deep.equal(memoryResult);
    expect(fileEngine?.journalRecords).to.equal(memoryEngine?.journalRecords);
  });

  it('sweeps the legacy intervals against one event-driven run', async () => {
    const report = await runSweep(small({ seed: 9 }));
    expect(report.legacy.map((model) => model.syncMinutes)).to.deep.equal([1, 5, 15, 60]);
    expect(report.eventDriven.model).to.equal('event-driven');
    const legacyAt15 = runLegacy(buildScenario(small({ seed: 9 })), 15);
    expect(report.legacy[2]).to.deep.equal(legacyAt15);
  });
});
