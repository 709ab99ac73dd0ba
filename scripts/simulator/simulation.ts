// Runs the two models on one scenario and compares them: the single run (legacy at one sync interval
// against the event-driven engine) and the sweep (legacy at 1, 5, 15 and 60 minutes against the same
// event-driven run).
import type { SimulationConfig } from './config.js';
import { sweepSyncMinutes } from './config.js';
import { runEventDriven } from './event-driven-model.js';
import { runLegacy } from './legacy-model.js';
import type { ModelReport } from './report.js';
import type { DemandKind, Scenario } from './scenario.js';
import { buildScenario } from './scenario.js';

export interface ScenarioSummary {
  readonly start: string;
  readonly end: string;
  readonly stores: number;
  readonly skus: number;
  readonly openingUnits: number;
  readonly demand: Readonly<Record<DemandKind, number>>;
  readonly flashSale: {
    readonly sku: string;
    readonly start: string;
    readonly end: string;
    readonly orders: number;
  };
}

/** Event-driven minus legacy, for the figures a reader compares. */
export interface Difference {
  readonly accepted: number;
  readonly fulfilled: number;
  readonly oversells: number;
  readonly lostSales: number;
  readonly cancelledOrders: number;
  readonly stalenessMeanMs: number;
  readonly stalenessP99Ms: number;
  readonly messages: number;
  readonly bytes: number;
}

export interface Timing {
  readonly legacyMs: number;
  readonly eventDrivenMs: number;
}

export interface SimulationReport {
  readonly kind: 'comparison';
  readonly config: SimulationConfig;
  readonly scenario: ScenarioSummary;
  readonly legacy: ModelReport;
  readonly eventDriven: ModelReport;
  readonly difference: Difference;
  /** Wall-clock time of each model, for information only: not part of the deterministic result. */
  readonly timing: Timing;
}

export interface SweepReport {
  readonly kind: 'sweep';
  readonly config: SimulationConfig;
  readonly scenario: ScenarioSummary;
  readonly eventDriven: ModelReport;
  readonly legacy: readonly ModelReport[];
  readonly timing: { readonly totalMs: number };
}

export function summarise(scenario: Scenario): ScenarioSummary {
  const demand: Record<DemandKind, number> = {
    walkIn: 0,
    online: 0,
    restock: 0,
    return: 0,
    count: 0,
    shrink: 0,
  };
  let flashOrders = 0;
  for (const event of scenario.events) {
    demand[event.kind]++;
    if (event.kind === 'online' && event.flash) flashOrders++;
  }
  const iso = (at: number) => new Date(at).toISOString();
  return {
    start: iso(scenario.startMs),
    end: iso(scenario.endMs),
    stores: scenario.stores.length,
    skus: scenario.skus.length,
    openingUnits: scenario.initialStock.flat().reduce((sum, units) => sum + units, 0),
    demand,
    flashSale: {
      sku: scenario.skus[scenario.flashSku]?.id ?? '',
      start: iso(scenario.flashWindow.startMs),
      end: iso(scenario.flashWindow.endMs),
      orders: flashOrders,
    },
  };
}

export function differenceOf(legacy: ModelReport, eventDriven: ModelReport): Difference {
  const round = (value: number) => Math.round(value * 1000) / 1000;
  return {
    accepted: eventDriven.online.accepted - legacy.online.accepted,
    fulfilled: eventDriven.online.fulfilled - legacy.online.fulfilled,
    oversells: eventDriven.online.oversells - legacy.online.oversells,
    lostSales: eventDriven.online.lostSales - legacy.online.lostSales,
    cancelledOrders: eventDriven.online.cancelledOrders - legacy.online.cancelledOrders,
    stalenessMeanMs: round(eventDriven.staleness.meanMs - legacy.staleness.meanMs),
    stalenessP99Ms: round(eventDriven.staleness.p99Ms - legacy.staleness.p99Ms),
    messages: eventDriven.traffic.messages - legacy.traffic.messages,
    bytes: eventDriven.traffic.bytes - legacy.traffic.bytes,
  };
}

export async function runComparison(config: SimulationConfig): Promise<SimulationReport> {
  const scenario = buildScenario(config);
  const legacyStarted = performance.now();
  const legacy = runLegacy(scenario, config.syncMinutes);
  const legacyMs = performance.now() - legacyStarted;
  const eventStarted = performance.now();
  const eventDriven = await runEventDriven(scenario, {
    propagationMs: config.propagationMs,
    journal: config.journal,
  });
  const eventDrivenMs = performance.now() - eventStarted;
  return {
    kind: 'comparison',
    config,
    scenario: summarise(scenario),
    legacy,
    eventDriven,
    difference: differenceOf(legacy, eventDriven),
    timing: { legacyMs: Math.round(legacyMs), eventDrivenMs: Math.round(eventDrivenMs) },
  };
}

export async function runSweep(
  config: SimulationConfig,
  intervals: readonly number[] = sweepSyncMinutes,
): Promise<SweepReport> {
  const started = performance.now();
  const scenario = buildScenario(config);
  const eventDriven = await runEventDriven(scenario, {
    propagationMs: config.propagationMs,
    journal: config.journal,
  });
  const legacy = intervals.map((minutes) => runLegacy(scenario, minutes));
  return {
    kind: 'sweep',
    config,
    scenario: summarise(scenario),
    eventDriven,
    legacy,
    timing: { totalMs: Math.round(performance.now() - started) },
  };
}
