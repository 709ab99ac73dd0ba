// Self-contained HTML pages for a comparison and a sweep: the tables, inline SVG charts and the command
// that reproduces them. No script, no stylesheet or font fetched: the file opens as it is, offline.
import type { Series } from './charts.js';
import { barChart, escapeXml, lineChart } from './charts.js';
import { commandFor } from './cli-options.js';
import {
  describeScenario,
  formatBytes,
  formatComparison,
  formatCount,
  formatSweep,
  formatTraffic,
  heartbeatTraffic,
} from './format.js';
import type { ModelReport } from './report.js';
import type { SimulationReport, SweepReport } from './simulation.js';

const LEGACY = '#c0392b';
const EVENT = '#1f6fb4';
const TRUTH = '#2d3436';
const LOST = '#e67e22';
const LIGHT_EVENT = '#8fb8de';

const style = `
body { font-family: system-ui, sans-serif; max-width: 980px; margin: 2rem auto; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; margin-top: 2rem; } h3 { font-size: 1rem; margin: 1.6rem 0 .2rem; }
pre { background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: .85rem; }
svg { width: 100%; height: auto; } code { background: #f2f2f2; padding: 0 .25rem; }
`;

function page(title: string, sections: readonly string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(title)}</title>`,
    `<style>${style}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeXml(title)}</h1>`,
    ...sections,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const pre = (text: string) => `<pre>${escapeXml(text)}</pre>`;
const figure = (title: string, svg: string, caption: string) =>
  `<h3>${escapeXml(title)}</h3><figure>${svg}<figcaption>${escapeXml(caption)}</figcaption></figure>`;
const hourTicks = (hours: number) =>
  Array.from({ length: Math.floor(hours / 3) + 1 }, (_, index) => index * 3).filter((hour) => hour <= hours);
const clock = (minute: number) =>
  `${String(Math.floor(minute / 60) % 24).padStart(2, '0')}:${String(Math.round(minute % 60)).padStart(2, '0')}`;

function lossPerHour(model: ModelReport, color: string): Series {
  return {
    name: `${model.label}: oversells + lost sales`,
    color,
    steps: true,
    points: [
      ...model.hourly.map((bucket) => [bucket.hour, bucket.oversells + bucket.lostSales] as const),
      [model.hourly.length, (model.hourly.at(-1)?.oversells ?? 0) + (model.hourly.at(-1)?.lostSales ?? 0)],
    ],
  };
}

function flashChart(report: SimulationReport, model: ModelReport, color: string): string {
  const startMinute =
    (Date.parse(report.scenario.flashSale.start) - Date.parse(report.scenario.start)) / 60_000;
  const endMinute = (Date.parse(report.scenario.flashSale.end) - Date.parse(report.scenario.start)) / 60_000;
  const from = Math.max(0, startMinute - 60);
  const to = endMinute + 240;
  const window = model.flashTrace.filter((point) => point.minute >= from && point.minute <= to);
  const ticks = window.filter((point) => point.minute % 60 === 0).map((point) => point.minute);
  return lineChart(
    `${report.scenario.flashSale.sku}, the flash-sale SKU: offered online against what existed (${model.label})`,
    [
      {
        name: 'units the online view offered',
        color,
        steps: true,
        points: window.map((p) => [p.minute, p.view]),
      },
      {
        name: 'units customers could really have',
        color: TRUTH,
        steps: true,
        dashed: true,
        points: window.map((p) => [p.minute, p.truth]),
      },
    ],
    { label: 'time of day (UTC)', ticks, format: clock },
    { label: 'units, whole chain' },
  );
}

export function comparisonPage(report: SimulationReport): string {
  const { legacy, eventDriven: event, config } = report;
  const series = [
    { name: legacy.label, color: LEGACY },
    { name: event.label, color: EVENT },
  ];
  const bars = barChart(
    'Online orders that went wrong',
    [
      { label: 'oversells', values: [legacy.online.oversells, event.online.oversells] },
      { label: 'lost sales', values: [legacy.online.lostSales, event.online.lostSales] },
      { label: 'cancelled orders', values: [legacy.online.cancelledOrders, event.online.cancelledOrders] },
    ],
    series,
    'orders',
  );
  const hourly = lineChart(
    'Oversells and lost sales per hour',
    [lossPerHour(legacy, LEGACY), lossPerHour(event, EVENT)],
    {
      label: 'hour of the simulated day (UTC)',
      ticks: hourTicks(legacy.hourly.length),
      format: (h) => `${h}h`,
    },
    { label: 'orders' },
  );
  return page('Stock sync simulation: legacy periodic sync against the event-driven engine', [
    `<p>${escapeXml(describeScenario(config, report.scenario))}</p>`,
    '<h2>Result</h2>',
    pre(formatComparison(report)),
    figure(
      'Online orders that went wrong',
      bars,
      'Oversells: orders paid for whose units were gone when the store picked them. Lost sales: customers refused online while a store had the units unpromised. Cancelled: accepted orders cancelled for lack of stock.',
    ),
    figure(
      'Oversells and lost sales per hour',
      hourly,
      'Per hour in which the customer ordered. The flash sale and the busy evening are where a stale view costs most.',
    ),
    figure(
      `${report.scenario.flashSale.sku}, the flash-sale SKU, in the legacy model`,
      flashChart(report, legacy, LEGACY),
      'Legacy: between syncs the view misses walk-in sales (view above what exists: oversells) and deliveries or returns (view below: lost sales).',
    ),
    figure(
      `${report.scenario.flashSale.sku}, the flash-sale SKU, in the event-driven model`,
      flashChart(report, event, EVENT),
      'Event-driven: the engine applies each till event within the propagation delay, so the view follows what exists.',
    ),
    '<h2>Traffic between stores and the centre</h2>',
    pre(`${formatTraffic(legacy)}\n\n${formatTraffic(event)}`),
    '<h2>Reproduce</h2>',
    pre(commandFor(config, false)),
    `<p>Units: initial ${formatCount(legacy.units.initial)} + restocked ${formatCount(legacy.units.restocked)} + returned ` +
      `${formatCount(legacy.units.returned)} = sold + shrunk + on the shelf, in both models (checked by the tests).</p>`,
  ]);
}

export function sweepPage(report: SweepReport): string {
  const { legacy, eventDriven: event, config } = report;
  const intervals = legacy.map((model) => model.syncMinutes ?? 0);
  const across = (value: number) =>
    [
      [Math.min(...intervals), value],
      [Math.max(...intervals), value],
    ] as const;
  const points = (pick: (model: ModelReport) => number) =>
    legacy.map((model) => [model.syncMinutes ?? 0, pick(model)] as const);
  const loss = (model: ModelReport) => model.online.oversells + model.online.lostSales;
  const lossChart = lineChart(
    'Loss grows with staleness',
    [
      { name: 'legacy: oversells', color: LEGACY, points: points((m) => m.online.oversells) },
      { name: 'legacy: lost sales', color: LOST, points: points((m) => m.online.lostSales) },
      {
        name: `event-driven (${event.propagationMs} ms): oversells + lost sales`,
        color: EVENT,
        dashed: true,
        points: across(loss(event)),
      },
    ],
    { label: 'legacy sync interval, minutes (log scale)', ticks: intervals, log: true },
    { label: 'orders' },
  );
  const trafficChart = lineChart(
    'What freshness costs on the wire',
    [
      { name: 'legacy: bytes', color: LEGACY, points: points((m) => m.traffic.bytes / 1000) },
      { name: 'event-driven: bytes', color: EVENT, dashed: true, points: across(event.traffic.bytes / 1000) },
      {
        name: 'event-driven without heartbeats',
        color: LIGHT_EVENT,
        dashed: true,
        points: across((event.traffic.bytes - heartbeatTraffic(event).bytes) / 1000),
      },
    ],
    { label: 'legacy sync interval, minutes (log scale)', ticks: intervals, log: true },
    { label: 'kB of JSON bodies per day' },
  );
  return page('Stock sync simulation: sync interval sweep', [
    `<p>${escapeXml(describeScenario(config, report.scenario))}</p>`,
    pre(formatSweep(report)),
    figure(
      'Loss grows with staleness',
      lossChart,
      'Oversells and lost sales of the legacy model at each sync interval, against the event-driven engine on the same demand (dashed).',
    ),
    figure(
      'What freshness costs on the wire',
      trafficChart,
      `Bytes between stores and the centre. Event-driven total: ${formatBytes(event.traffic.bytes)}, of which heartbeats ` +
        `(one every ${config.heartbeatSeconds} s per store, and their answers) ${formatBytes(heartbeatTraffic(event).bytes)}.`,
    ),
    '<h2>Reproduce</h2>',
    pre(commandFor(config, true)),
  ]);
}
