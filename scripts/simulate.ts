// The chain simulator's command line: runs the legacy and event-driven models on the same seeded
// demand (or the sync-interval sweep), prints the tables, and writes a JSON report and an HTML page
// with charts. See run.md "Simulator" and docs/results.md.
//
//   node --import tsx scripts/simulate.ts [--seed 42] [--sync-minutes 15] [--sweep] [--out DIR] [--json]
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseCli, usage } from './simulator/cli-options.js';
import { ConfigError } from './simulator/config.js';
import { describeScenario, formatComparison, formatDuration, formatSweep } from './simulator/format.js';
import { comparisonPage, sweepPage } from './simulator/html.js';
import { runComparison, runSweep } from './simulator/simulation.js';

async function main(): Promise<number> {
  let options;
  try {
    options = parseCli(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n\n${usage}`);
    return 1;
  }
  if (options.help) {
    process.stdout.write(usage);
    return 0;
  }
  const { config, outDir } = options;
  const progress = (message: string) => {
    if (!options.json) process.stderr.write(`${message}\n`);
  };
  await mkdir(outDir, { recursive: true });
  if (options.sweep) {
    progress(
      `simulating ${config.hours} h: event-driven engine (${config.journal} journal), then legacy at 1, 5, 15, 60 min...`,
    );
    const report = await runSweep(config);
    const json = `${JSON.stringify(report, null, 2)}\n`;
    await writeFile(join(outDir, 'sweep.json'), json);
    await writeFile(join(outDir, 'sweep.html'), sweepPage(report));
    if (options.json) process.stdout.write(json);
    else {
      process.stdout.write(`${describeScenario(config, report.scenario)}\n\n${formatSweep(report)}\n\n`);
      process.stdout.write(
        `Wrote ${resolve(outDir, 'sweep.json')} and ${resolve(outDir, 'sweep.html')} (${formatDuration(report.timing.totalMs)}).\n`,
      );
    }
    return 0;
  }
  progress(
    `simulating ${config.hours} h: legacy (sync every ${config.syncMinutes} min), then the event-driven engine (${config.journal} journal)...`,
  );
  const report = await runComparison(config);
  const json = `${JSON.stringify(report, null, 2)}\n`;
  await writeFile(join(outDir, 'simulation.json'), json);
  await writeFile(join(outDir, 'simulation.html'), comparisonPage(report));
  if (options.json) process.stdout.write(json);
  else {
    process.stdout.write(`${describeScenario(config, report.scenario)}\n\n${formatComparison(report)}\n\n`);
    process.stdout.write(
      `Wrote ${resolve(outDir, 'simulation.json')} and ${resolve(outDir, 'simulation.html')} ` +
        `(legacy ${formatDuration(report.timing.legacyMs)}, event-driven ${formatDuration(report.timing.eventDrivenMs)}).\n`,
    );
  }
  return 0;
}

process.exitCode = await main();
