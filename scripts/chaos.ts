// The long chaos campaign: seeded runs of the real engine and store agents under injected faults, each
// checked for lost acknowledged writes, linearizability per stock level, exactly-once store events,
// replay equal to the live state, a clean journal and conservation of stock (docs/reliability.md).
//
//   npm run chaos -- --runs 20 --seed 1000 [--duration 20000] [--clients 6] [--no-faults]
//                    [--no-server-faults] [--exclude clock-jump,journal-write] [--keep] [--out report.json]
//   (or: node --import tsx scripts/chaos.ts ...)
//
// Run i uses seed S+i. A failing run prints its seed and the one-line command that replays it; its data
// directories are kept for inspection. Exit code 0 when every run passed, 1 otherwise, 2 for bad usage.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ChaosReport } from '../tests/reliability/harness/run.js';
import { runChaos } from '../tests/reliability/harness/run.js';
import type { FaultKind } from '../tests/reliability/harness/system.js';
import { SystemUnderTest } from '../tests/reliability/harness/system.js';

const faultKinds: readonly FaultKind[] = [
  'engine-kill',
  'engine-pause',
  'agent-kill',
  'agent-pause',
  'link-blackhole',
  'link-delay',
  'link-cut',
  'link-flaky',
  'link-refuse',
  'journal-fsync',
  'journal-write',
  'clock-jump',
];

const usage = `usage: chaos [--runs N] [--seed S] [--duration MS] [--clients N] [--no-faults] [--no-server-faults]
             [--exclude kind,...] [--keep] [--out FILE]
fault kinds: ${faultKinds.join(', ')}`;

function integer(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new RangeError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return parsed;
}

const summaryLine = (report: ChaosReport): string => {
  const faults = Object.values(report.faults).reduce((sum, count) => sum + count, 0);
  const worst = Math.max(0, ...report.engineRecoveriesMs);
  const verdict =
    report.checks.anomalies.length === 0 ? 'ok' : `FAILED (${report.checks.anomalies.length} anomalies)`;
  return `seed ${report.seed}: ${verdict}; ${report.totalOperations} operations, ${report.tillEvents} till events, ${faults} faults, ${report.engineRecoveriesMs.length} engine restarts (longest ${worst} ms), ${report.journalRecords} journal records, ${(report.wallMs / 1000).toFixed(1)} s`;
};

async function main(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parse>['values'];
  const parse = (args: readonly string[]) =>
    parseArgs({
      args: [...args],
      options: {
        runs: { type: 'string' },
        seed: { type: 'string' },
        duration: { type: 'string' },
        clients: { type: 'string' },
        'no-faults': { type: 'boolean' },
        'no-server-faults': { type: 'boolean' },
        exclude: { type: 'string' },
        keep: { type: 'boolean' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    });
  let runs: number;
  let seed: number;
  let durationMs: number;
  let clients: number;
  let exclude: FaultKind[];
  try {
    values = parse(argv).values;
    if (values.help) {
      console.log(usage);
      return 0;
    }
    runs = integer('runs', values.runs, 1, 1, 100_000);
    seed = integer('seed', values.seed, Date.now() % 1_000_000, 0, 2 ** 31 - 1);
    durationMs = integer('duration', values.duration, 20_000, 1_000, 3_600_000);
    clients = integer('clients', values.clients, 6, 1, 64);
    exclude = (values.exclude ?? '')
      .split(',')
      .filter((kind) => kind !== '')
      .map((kind) => {
        if (!(faultKinds as readonly string[]).includes(kind))
          throw new RangeError(`unknown fault kind ${kind}`);
        return kind as FaultKind;
      });
  } catch (error) {
    console.error(`chaos: ${error instanceof Error ? error.message : String(error)}\n${usage}`);
    return 2;
  }

  const reports: ChaosReport[] = [];
  const campaignStart = Date.now();
  for (let i = 0; i < runs; i++) {
    const report = await runChaos({
      seed: seed + i,
      durationMs,
      clients,
      faults: values['no-faults'] !== true,
      serverFaults: values['no-server-faults'] !== true,
      exclude,
      keepData: values.keep === true,
      log: (line) => console.error(line),
    });
    reports.push(report);
    console.log(summaryLine(report));
    if (report.checks.anomalies.length > 0) {
      for (const anomaly of report.checks.anomalies.slice(0, 20))
        console.log(`  check ${anomaly.check}: ${anomaly.message}`);
      console.log(`  reproduce: ${report.reproduce}`);
      if (report.dataDir) console.log(`  data kept in ${report.dataDir}`);
    }
  }

  const failed = reports.filter((report) => report.checks.anomalies.length > 0);
  const faults: Record<string, number> = {};
  for (const report of reports)
    for (const [kind, count] of Object.entries(report.faults)) faults[kind] = (faults[kind] ?? 0) + count;
  const recoveries = reports.flatMap((report) => report.engineRecoveriesMs);
  const summary = {
    runs: reports.length,
    failed: failed.map((report) => report.seed),
    seeds: `${seed}..${seed + runs - 1}`,
    operations: reports.reduce((sum, report) => sum + report.totalOperations, 0),
    tillEvents: reports.reduce((sum, report) => sum + report.tillEvents, 0),
    journalRecords: reports.reduce((sum, report) => sum + report.journalRecords, 0),
    faults,
    faultsTotal: Object.values(faults).reduce((sum, count) => sum + count, 0),
    engineRestarts: recoveries.length,
    longestEngineRecoveryMs: Math.max(0, ...recoveries),
    longestAgentRecoveryMs: Math.max(0, ...reports.flatMap((report) => report.agentRecoveriesMs)),
    unknownOutcomes: {
      applied: reports.reduce((sum, report) => sum + report.checks.unknownApplied, 0),
      notApplied: reports.reduce((sum, report) => sum + report.checks.unknownNotApplied, 0),
    },
    confirmedAtRisk: reports.reduce((sum, report) => sum + report.checks.confirmedAtRisk, 0),
    linearizability: {
      levels: reports.reduce((sum, report) => sum + report.checks.levels.length, 0),
      operations: reports.reduce(
        (sum, report) => sum + report.checks.levels.reduce((n, level) => n + level.operations, 0),
        0,
      ),
      inconclusive: reports.reduce(
        (sum, report) => sum + report.checks.levels.filter((level) => level.result === 'unknown').length,
        0,
      ),
    },
    wallSeconds: Math.round((Date.now() - campaignStart) / 1000),
  };
  console.log(`campaign: ${JSON.stringify(summary)}`);
  if (values.out) await writeFile(values.out, `${JSON.stringify({ summary, reports }, null, 2)}\n`);
  return failed.length === 0 ? 0 : 1;
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  // Interrupted: kill the run's engine and agents, never leave them behind.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`chaos: ${signal}, stopping the processes of the current run`);
      Promise.all([...SystemUnderTest.live].map((system) => system.close())).finally(() => process.exit(130));
    });
  }
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error('chaos: unexpected failure', error);
      process.exit(1);
    },
  );
}
