// The human-readable report (the JSON one is the LoadTestReport object itself).
import type { PhaseResult } from './cannon.js';
import type { CategoryCost, ProfileSummary } from './profile.js';
import type { LoadTestReport } from './run.js';
import { formatInt, formatMs } from './stats.js';

const pad = (text: string, width: number) =>
  text.length >= width ? text : text + ' '.repeat(width - text.length);
const lpad = (text: string, width: number) =>
  text.length >= width ? text : ' '.repeat(width - text.length) + text;

const statusText = (statuses: Record<string, number>) =>
  Object.entries(statuses)
    .map(([status, count]) => `${status}:${formatInt(count)}`)
    .join(' ');

function phaseLines(phase: PhaseResult): string[] {
  const { latency } = phase;
  const lines = [
    `  ${pad(phase.label, 44)} ${lpad(String(phase.connections), 5)} ${lpad(phase.seconds.toFixed(1), 6)} ${lpad(formatInt(phase.requestsPerSecond), 9)} ${lpad(formatMs(latency.p50Ms), 7)} ${lpad(formatMs(latency.p90Ms), 7)} ${lpad(formatMs(latency.p99Ms), 7)} ${lpad(formatMs(latency.maxMs), 8)}  ${statusText(phase.statuses)}${phase.errors ? `  errors:${phase.errors}` : ''}  (load ${phase.loadAverage}${phase.snapshots ? `, ${phase.snapshots} snapshot${phase.snapshots > 1 ? 's' : ''}` : ''})`,
  ];
  const kinds = Object.entries(phase.byKind);
  if (kinds.length > 1 || (kinds.length === 1 && kinds[0]?.[1].statuses['409'] !== undefined)) {
    for (const [kind, summary] of kinds) {
      lines.push(
        `    ${pad(kind, 42)} ${lpad('', 5)} ${lpad('', 6)} ${lpad(formatInt(summary.requestsPerSecond), 9)} ${lpad(formatMs(summary.latency.p50Ms), 7)} ${lpad(formatMs(summary.latency.p90Ms), 7)} ${lpad(formatMs(summary.latency.p99Ms), 7)} ${lpad(formatMs(summary.latency.maxMs), 8)}  ${statusText(summary.statuses)}`,
      );
    }
  }
  return lines;
}

const header = `  ${pad('phase', 44)} ${lpad('conns', 5)} ${lpad('secs', 6)} ${lpad('req/s', 9)} ${lpad('p50 ms', 7)} ${lpad('p90 ms', 7)} ${lpad('p99 ms', 7)} ${lpad('max ms', 8)}  statuses`;

const costLine = (cost: CategoryCost): string =>
  `    ${pad(cost.category, 48)} ${lpad(formatInt(cost.ms), 8)} ${lpad(`${cost.share}%`, 7)} ${lpad(cost.usPerRequest.toFixed(1), 8)}`;

function profileLines(profile: ProfileSummary): string[] {
  const lines = [
    `Profile of reserve-spread (${profile.windowed ? 'measured window only' : 'whole process'}): ${formatInt(profile.requests)} requests, ${formatInt(profile.requestsPerSecond)} req/s under the profiler`,
    `  server: ${profile.command}`,
    `  profile: ${profile.profileFile}`,
    `  main thread busy ${formatInt(profile.busyMs)} ms of ${formatInt(profile.sampledMs)} ms sampled (idle ${formatInt(profile.idleMs)} ms): ${profile.busyUsPerRequest} µs of CPU per request; ${profile.snapshotsInWindow} engine snapshot(s) written in the window`,
    '',
    '  Where the time goes (each sample charged to the innermost package or project file on its stack):',
    `    ${pad('category', 48)} ${lpad('ms', 8)} ${lpad('share', 7)} ${lpad('µs/req', 8)}`,
    ...profile.categories.map(costLine),
    '',
    `  The bare Express 5 app, profiled the same way (POST, same body): ${formatInt(profile.ceiling.requestsPerSecond)} req/s, ${profile.ceiling.busyUsPerRequest} µs of CPU per request:`,
    ...profile.ceiling.categories.filter((cost) => cost.usPerRequest >= 1).map(costLine),
    '',
    `  Single reads (GET /v1/stock/{sku}) on the same server right after: ${formatInt(profile.read.requestsPerSecond)} req/s under the profiler, ${profile.read.busyUsPerRequest} µs of CPU per request:`,
    ...profile.read.categories.filter((cost) => cost.usPerRequest >= 1).map(costLine),
    '',
    '  Top self time (leaf functions):',
    ...profile.topSelf
      .slice(0, 15)
      .map(
        (fn) =>
          `    ${lpad(`${fn.share}%`, 6)} ${lpad(fn.usPerRequest.toFixed(1), 6)} µs/req  ${pad(fn.function, 28)} ${pad(fn.where, 44)} [${fn.category}]${fn.code ? `  ${fn.code}` : ''}`,
      ),
    '',
    '  Our api/ functions, inclusive time (everything they call, next() included for middlewares):',
    ...profile.ourInclusive
      .slice(0, 12)
      .map(
        (fn) =>
          `    ${lpad(`${fn.share}%`, 6)} ${lpad(fn.usPerRequest.toFixed(1), 6)} µs/req  ${pad(fn.function, 28)} ${pad(fn.where, 34)} ${fn.code ?? ''}`,
      ),
  ];
  return lines;
}

export function formatReport(report: LoadTestReport): string {
  const m = report.machine;
  const out: string[] = [
    `Stockline HTTP load test, ${report.date}`,
    `machine: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; load average at start ${m.loadAverageAtStart.join(' ')}`,
    `         ${m.note}`,
    `command: ${report.command}`,
    `server:  ${report.server.command ?? report.server.url}  ${Object.entries(report.server.env)
      .map(([name, value]) => `${name}=${value}`)
      .join(' ')}`,
    '',
  ];
  for (const scenario of report.scenarios) {
    out.push(`${scenario.name}: ${scenario.description}`, header);
    for (const phase of scenario.phases) out.push(...phaseLines(phase));
    out.push(
      `  figures: ${Object.entries(scenario.figures)
        .map(([name, value]) => `${name} ${value === null ? 'n/a' : value.toLocaleString('en-US')}`)
        .join(', ')}`,
    );
    out.push(`  invariants: ${scenario.invariants.ok ? 'OK' : 'FAILED'}`);
    for (const check of scenario.invariants.checks)
      out.push(`    ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}: ${check.detail}`);
    for (const example of scenario.invariants.examples) out.push(`         ${example}`);
    for (const note of scenario.notes) out.push(`  note: ${note}`);
    out.push('');
  }
  for (const failure of report.failures) out.push(`${failure.name}: FAILED TO RUN: ${failure.error}`, '');
  if (report.ceilings.length > 0) {
    out.push('Ceilings (--compare), same connections and duration, same machine:', header);
    for (const ceiling of report.ceilings) {
      out.push(...phaseLines(ceiling.post), ...phaseLines(ceiling.get));
    }
    out.push('');
  }
  if (report.ratios.length > 0) {
    out.push(
      `  ${pad('engine figure', 58)} ${lpad('req/s', 9)}  ceiling  ${lpad('vs Express', 10)} ${lpad('vs node:http', 12)}`,
    );
    for (const r of report.ratios) {
      out.push(
        `  ${pad(`${r.scenario}: ${r.figure}`, 58)} ${lpad(formatInt(r.requestsPerSecond), 9)}  ${pad(r.ceiling, 7)}  ${lpad(r.vsExpress === null ? 'n/a' : r.vsExpress.toFixed(2), 10)} ${lpad(r.vsHttp === null ? 'n/a' : r.vsHttp.toFixed(2), 12)}`,
      );
    }
    out.push('');
  }
  out.push('Targets (issue 6):');
  for (const target of report.targets) {
    const mark = target.met === null ? '[ n/a ]' : target.met ? '[ met ]' : '[MISSED]';
    out.push(`  ${mark} ${target.target}: ${target.figure}`);
  }
  out.push('');
  if (report.profile) out.push(...profileLines(report.profile), '');
  out.push(`invariants: ${report.invariantsOk ? 'all OK' : 'FAILED'}; total ${report.seconds} s`);
  return out.join('\n');
}
