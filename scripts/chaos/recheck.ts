// Re-runs the checks of a failed chaos run on the data it kept, without running it again:
//   node --import tsx scripts/chaos/recheck.ts /tmp/stockline-chaos-XXXX [--level A@S1] [--dump FILE]
// --level prints that stock level's linearizability history; --dump writes it to FILE as JSON.
import { writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runChecks } from '../../tests/reliability/harness/checks.js';
import type { CheckInput } from '../../tests/reliability/harness/checks.js';
import type { LevelRef, RecordedOp } from '../../tests/reliability/harness/history.js';
import type { AgentEvent, LiveLevel, LiveReservation } from '../../tests/reliability/harness/observe.js';
import {
  readAgentEvents,
  readJournalRecords,
  runReplayCli,
} from '../../tests/reliability/harness/observe.js';
import { STORES } from '../../tests/reliability/harness/run.js';
import type { ClockChange } from '../../tests/reliability/harness/system.js';
import { ClockSchedule } from '../../tests/reliability/harness/system.js';

interface Saved {
  history: RecordedOp[];
  levels: LevelRef[];
  live: {
    readAt: number;
    levels: [string, LiveLevel][];
    reservations: [string, LiveReservation][];
    stores: [string, number][];
  };
  liveDoneAt: number;
  clockChanges: ClockChange[];
  storageFaults: { from: number; to: number }[];
}

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: { level: { type: 'string' }, dump: { type: 'string' }, steps: { type: 'string' } },
  allowPositionals: true,
});
const dir = positionals[0];
if (!dir) {
  console.error('usage: recheck.ts <kept data dir> [--level SKU@LOC] [--dump FILE] [--steps N]');
  process.exit(2);
}
const saved = JSON.parse(await readFile(path.join(dir, 'check-input.json'), 'utf8')) as Saved;
const clock = new ClockSchedule();
for (const change of saved.clockChanges) clock.changes.push(change);
const agentEvents = new Map<string, AgentEvent[]>();
for (const storeId of STORES)
  agentEvents.set(storeId, await readAgentEvents(path.join(dir, `agent-${storeId}`)));
const engineDir = path.join(dir, 'engine');
const input: CheckInput = {
  history: saved.history,
  levels: saved.levels,
  stores: STORES,
  journal: await readJournalRecords(path.join(engineDir, 'journal')),
  agentEvents,
  live: {
    readAt: saved.live.readAt,
    levels: new Map(saved.live.levels),
    reservations: new Map(saved.live.reservations),
    stores: new Map(saved.live.stores),
  },
  liveDoneAt: saved.liveDoneAt,
  clock,
  storageFaultDuring: (a, b) => saved.storageFaults.some((window) => window.from <= b && window.to >= a),
  rebuild: await runReplayCli(['rebuild', '--data', engineDir, '--json', '--quiet']),
  verify: await runReplayCli(['verify', '--data', engineDir, '--json', '--quiet']),
  offlineBuffer: 2,
  maxSearchSteps: values.steps === undefined ? undefined : Number(values.steps),
  onLevelHistory: values.level
    ? (level, ops, describe) => {
        if (level !== values.level) return;
        if (values.dump) writeFileSync(values.dump, JSON.stringify(ops));
        else ops.forEach((op, i) => console.log(`${i}: ${describe(op)}`));
      }
    : undefined,
};
const report = runChecks(input);
for (const verdict of report.levels)
  console.log(
    `${verdict.level}: ${verdict.result} (${verdict.operations} operations, ${verdict.steps} steps)`,
  );
for (const anomaly of report.anomalies) console.log(`check ${anomaly.check}: ${anomaly.message}`);
console.log(`confirmed after their hold was put at risk (known bug): ${report.confirmedAtRisk}`);
process.exit(report.anomalies.length === 0 ? 0 : 1);
