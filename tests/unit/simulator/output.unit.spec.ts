// What a person reads: the command line maps onto the configuration (and refuses what it cannot run),
// the command printed in a report reproduces that report's configuration, the tables line up, and the
// HTML page stands alone: inline SVG, no script, nothing fetched.
import { expect } from 'chai';
import { commandFor, DEFAULT_OUT_DIR, parseCli } from '../../../scripts/simulator/cli-options.js';
import { ConfigError, defaultConfig, makeConfig } from '../../../scripts/simulator/config.js';
import {
  formatBytes,
  formatComparison,
  formatDuration,
  formatSweep,
  renderTable,
} from '../../../scripts/simulator/format.js';
import { comparisonPage, sweepPage } from '../../../scripts/simulator/html.js';
import type { SimulationReport, SweepReport } from '../../../scripts/simulator/simulation.js';
import { runComparison, runSweep } from '../../../scripts/simulator/simulation.js';

const config = makeConfig({ stores: 3, skus: 8, hours: 18, onlineOrdersPerDay: 300, journal: 'memory' });

function expectSelfContained(html: string): void {
  expect(html.startsWith('<!doctype html>')).to.equal(true);
  expect(html).to.include('<svg');
  expect(html).to.not.match(/<script/i);
  expect(html).to.not.match(/<link/i);
  expect(html).to.not.match(/@import/i);
  expect(html).to.not.match(/\s(src|href)=/i);
  // The only URL is the SVG namespace, which is a name, not a fetch.
  const urls = html.match(/https?:\/\/[^\s"']+/g) ?? [];
  expect(new Set(urls)).to.deep.equal(new Set(['http://www.w3.org/2000/svg']));
}

describe('simulator: command line', () => {
  it('maps every option onto the configuration', () => {
    const options = parseCli([
      '--seed',
      '7',
      '--stores',
      '3',
      '--skus',
      '9',
      '--hours',
      '6',
      '--sync-minutes',
      '5',
      '--propagation-ms',
      '35',
      '--journal',
      'memory',
      '--out',
      'somewhere',
      '--sweep',
      '--json',
    ]);
    expect(options.config).to.include({
      seed: 7,
      stores: 3,
      skus: 9,
      hours: 6,
      syncMinutes: 5,
      propagationMs: 35,
      journal: 'memory',
    });
    expect(options).to.include({ sweep: true, json: true, outDir: 'somewhere', help: false });
  });

  it('runs the defaults without options', () => {
    const options = parseCli([]);
    expect(options.config).to.deep.equal(defaultConfig);
    expect(options.outDir).to.equal(DEFAULT_OUT_DIR);
  });

  it('refuses unknown options, non-numbers and out-of-range values', () => {
    expect(() => parseCli(['--colour', 'red'])).to.throw(ConfigError);
    expect(() => parseCli(['--stores', 'many'])).to.throw(ConfigError, /--stores must be a number/);
    expect(() => parseCli(['--stores', '0'])).to.throw(ConfigError, /stores must be an integer/);
    expect(() => parseCli(['--sync-minutes=-1'])).to.throw(ConfigError, /syncMinutes/);
    expect(() => parseCli(['--journal', 'tape'])).to.throw(ConfigError, /journal/);
  });

  it('prints a command that reproduces the configuration', () => {
    for (const [options, sweep] of [
      [config, false],
      [makeConfig({ seed: 3, syncMinutes: 60, safetyStock: 1, onlineOrdersPerDay: 999 }), false],
      [makeConfig({ seed: 5 }), true],
    ] as const) {
      const command = commandFor(options, sweep);
      const args = command.replace('node --import tsx scripts/simulate.ts ', '').split(' ');
      const parsed = parseCli(args);
      expect(parsed.config).to.deep.equal(options);
      expect(parsed.sweep).to.equal(sweep);
    }
  });
});

describe('simulator: report output', function () {
  this.timeout(30_000);
  let comparison: SimulationReport;
  let sweep: SweepReport;

  before(async () => {
    comparison = await runComparison(config);
    sweep = await runSweep(config);
  });

  it('writes the comparison table with both models and the change', () => {
    const table = formatComparison(comparison);
    expect(table).to.include('legacy (sync 15 min)');
    expect(table).to.include('event-driven (20 ms)');
    const oversells = table.split('\n').find((line) => line.startsWith('oversells'));
    expect(oversells).to.include(String(comparison.legacy.online.oversells));
    expect(oversells).to.include(
      String(comparison.difference.oversells === 0 ? '0' : Math.abs(comparison.difference.oversells)),
    );
  });

  it('writes one sweep row per legacy interval and one for the engine', () => {
    const rows = formatSweep(sweep).split('\n').slice(2);
    expect(rows.map((row) => row.split('  ')[0])).to.deep.equal([
      'legacy (sync 1 min)',
      'legacy (sync 5 min)',
      'legacy (sync 15 min)',
      'legacy (sync 60 min)',
      'event-driven (20 ms)',
    ]);
  });

  it('renders self-contained HTML pages with inline SVG charts', () => {
    const page = comparisonPage(comparison);
    expectSelfContained(page);
    expect(page.match(/<svg/g)?.length).to.equal(4);
    expect(page).to.include(commandFor(config, false));
    const sweepHtml = sweepPage(sweep);
    expectSelfContained(sweepHtml);
    expect(sweepHtml.match(/<svg/g)?.length).to.equal(2);
    expect(Buffer.byteLength(page) + Buffer.byteLength(sweepHtml)).to.be.below(200_000);
  });

  it('formats tables, durations and sizes for people', () => {
    expect(
      renderTable(
        ['', 'a'],
        [
          ['row', '1'],
          ['longer row', '22'],
        ],
      ),
    ).to.equal(['             a', '----------  --', 'row          1', 'longer row  22'].join('\n'));
    expect(formatDuration(0)).to.equal('0 ms');
    expect(formatDuration(19)).to.equal('19 ms');
    expect(formatDuration(59_100)).to.equal('59.1 s');
    expect(formatDuration(726_000)).to.equal('12.1 min');
    expect(formatBytes(999)).to.equal('999 B');
    expect(formatBytes(351_700)).to.equal('351.7 kB');
    expect(formatBytes(1_820_000)).to.equal('1.82 MB');
  });
});
