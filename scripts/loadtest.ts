// HTTP load test of the inventory engine (issue 6, "Load-test script"): autocannon-driven scenarios
// against a server it starts itself (or --url), with invariants checked over HTTP afterwards, the
// ceilings of a bare Express app and plain node:http (--compare), and a CPU profile (--profile).
//
//   node --import tsx scripts/loadtest.ts [--scenario all] [--duration 8] [--connections 64]
//        [--catalogue 10000] [--compare] [--profile] [--json]
//
// Progress goes to stderr; the report to stdout (JSON with --json). Exit code 0 when every invariant
// held, 1 when one did not (or a scenario failed to run), 2 on a usage error. See run.md "Load test".
import { parseOptions, usage, UsageError } from './loadtest/options.js';
import { formatReport } from './loadtest/report.js';
import { runLoadTest } from './loadtest/run.js';

const argv = process.argv.slice(2);
let options;
try {
  options = parseOptions(argv);
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${usage}`);
    process.exit(2);
  }
  throw error;
}
if (options === 'help') {
  console.log(usage);
  process.exit(0);
}
const started = performance.now();
const progress = (line: string) => {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(line.startsWith('\n') ? `\n${seconds}s ${line.slice(1)}\n` : `${seconds}s ${line}\n`);
};
process.once('SIGINT', () => {
  progress('interrupted: stopping the servers');
  process.exit(130);
});
const report = await runLoadTest(options, progress, argv);
console.log(options.json ? JSON.stringify(report, null, 2) : formatReport(report));
process.exitCode = report.invariantsOk ? 0 : 1;
