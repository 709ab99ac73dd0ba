// Plain-text tables for the terminal (and for docs/results.md, which copies them).
import type { ModelReport } from './report.js';
import type { ScenarioSummary, SimulationReport, SweepReport } from './simulation.js';

const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

export function formatCount(value: number): string {
  return thousands(value);
}

export function formatSigned(value: number, format: (value: number) => string = thousands): string {
  if (value === 0) return '0';
  return value > 0 ? `+${format(value)}` : `-${format(-value)}`;
}

export function formatDuration(ms: number): string {
  if (ms === 0) return '0 ms';
  if (ms < 0.01) return '<0.01 ms';
  if (ms < 1000) return `${+ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(2)} MB`;
}

/** `count (share%)`, with enough digits that a handful in tens of thousands does not read as zero. */
const countAndShare = (part: number, whole: number) => {
  const share = whole === 0 ? 0 : (100 * part) / whole;
  const digits = share === 0 || share >= 1 ? 1 : Math.min(4, 1 - Math.floor(Math.log10(share)));
  return `${thousands(part)} (${share.toFixed(digits)}%)`;
};

/** A table with a left-aligned first column and right-aligned others. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function describeScenario(config: SweepReport['config'], scenario: ScenarioSummary): string {
  const { demand, flashSale } = scenario;
  return [
    `Chain: ${scenario.stores} stores, ${scenario.skus} SKUs, ${formatCount(scenario.openingUnits)} units on the shelves at ` +
      `${scenario.start.slice(0, 16).replace('T', ' ')} UTC, ${config.hours} h simulated, seed ${config.seed}.`,
    `Demand: ${formatCount(demand.walkIn)} walk-in customers, ${formatCount(demand.online)} online customers ` +
      `(${formatCount(flashSale.orders)} in the flash sale of ${flashSale.sku}, ${flashSale.start.slice(11, 16)}-${flashSale.end.slice(11, 16)}), ` +
      `${formatCount(demand.restock)} deliveries, ${formatCount(demand.return)} returns, ${formatCount(demand.count)} level counts, ` +
      `${formatCount(demand.shrink)} units of unrecorded shrinkage.`,
  ].join('\n');
}

/** Heartbeats and their answers: the agent's liveness signal, not stock information. */
export function heartbeatTraffic(model: ModelReport): { messages: number; bytes: number } {
  const kinds = ['heartbeat', 'heartbeat ack'].map((kind) => model.traffic.byKind[kind]);
  return {
    messages: kinds.reduce((sum, entry) => sum + (entry?.messages ?? 0), 0),
    bytes: kinds.reduce((sum, entry) => sum + (entry?.bytes ?? 0), 0),
  };
}

const modelColumn = (model: ModelReport) =>
  model.model === 'legacy'
    ? model.syncMinutes === 0
      ? 'legacy (instant sync)'
      : `legacy (sync ${model.syncMinutes} min)`
    : `event-driven (${model.propagationMs} ms)`;

export function formatComparison(report: SimulationReport): string {
  const { legacy, eventDriven: event, difference } = report;
  const row = (label: string, pick: (model: ModelReport) => number, change: number, format = formatCount) => [
    label,
    format(pick(legacy)),
    format(pick(event)),
    formatSigned(change, format),
  ];
  const causes = (model: ModelReport) =>
    `${formatCount(model.online.oversellCauses.staleView)} / ${formatCount(model.online.oversellCauses.shrinkage)}`;
  const rows: string[][] = [
    row('online customers', (m) => m.online.requested, 0),
    row('online orders accepted', (m) => m.online.accepted, difference.accepted),
    row('online orders fulfilled', (m) => m.online.fulfilled, difference.fulfilled),
    row('oversells (paid, could not be picked)', (m) => m.online.oversells, difference.oversells),
    ['  caused by stale view / by shrinkage', causes(legacy), causes(event), ''],
    row('lost sales (refused, a store had it)', (m) => m.online.lostSales, difference.lostSales),
    row('cancelled orders', (m) => m.online.cancelledOrders, difference.cancelledOrders),
    row(
      '  of which before payment',
      (m) => m.online.cancelledBeforePayment,
      event.online.cancelledBeforePayment - legacy.online.cancelledBeforePayment,
    ),
    [
      'reads of a level behind its store',
      countAndShare(legacy.staleness.behind, legacy.staleness.samples),
      countAndShare(event.staleness.behind, event.staleness.samples),
      formatSigned(event.staleness.behind - legacy.staleness.behind),
    ],
    row(
      'staleness of the online view, mean',
      (m) => m.staleness.meanMs,
      difference.stalenessMeanMs,
      formatDuration,
    ),
    row(
      'staleness of the online view, p99',
      (m) => m.staleness.p99Ms,
      difference.stalenessP99Ms,
      formatDuration,
    ),
    row(
      'staleness of the online view, max',
      (m) => m.staleness.maxMs,
      event.staleness.maxMs - legacy.staleness.maxMs,
      formatDuration,
    ),
    row('messages store <-> centre', (m) => m.traffic.messages, difference.messages),
    row(
      '  of which heartbeats',
      (m) => heartbeatTraffic(m).messages,
      heartbeatTraffic(event).messages - heartbeatTraffic(legacy).messages,
    ),
    row('bytes store <-> centre (JSON bodies)', (m) => m.traffic.bytes, difference.bytes, formatBytes),
    row(
      '  of which heartbeats',
      (m) => heartbeatTraffic(m).bytes,
      heartbeatTraffic(event).bytes - heartbeatTraffic(legacy).bytes,
      formatBytes,
    ),
    row(
      'in-store units sold',
      (m) => m.inStore.unitsSold,
      event.inStore.unitsSold - legacy.inStore.unitsSold,
    ),
  ];
  return renderTable(['', modelColumn(legacy), modelColumn(event), 'change'], rows);
}

export function formatSweep(report: SweepReport): string {
  const models = [...report.legacy, report.eventDriven];
  const rows = models.map((model) => [
    modelColumn(model),
    formatCount(model.online.accepted),
    formatCount(model.online.fulfilled),
    formatCount(model.online.oversells),
    formatCount(model.online.lostSales),
    formatCount(model.online.cancelledOrders),
    formatCount(model.online.oversells + model.online.lostSales),
    formatDuration(model.staleness.meanMs),
    formatDuration(model.staleness.p99Ms),
    formatCount(model.traffic.messages),
    formatBytes(model.traffic.bytes),
  ]);
  return renderTable(
    [
      'model',
      'accepted',
      'fulfilled',
      'oversells',
      'lost sales',
      'cancelled',
      'loss',
      'stale mean',
      'stale p99',
      'messages',
      'bytes',
    ],
    rows,
  );
}

export function formatTraffic(model: ModelReport): string {
  const rows = Object.entries(model.traffic.byKind).map(([kind, entry]) => [
    kind,
    formatCount(entry.messages),
    formatBytes(entry.bytes),
  ]);
  return renderTable([`${modelColumn(model)} traffic`, 'messages', 'bytes'], rows);
}
